//! `rustbot conversations compact ID`: summarise a stored conversation's older turns now,
//! with the same engine code the chat's "Compact now" runs.

use std::process::ExitCode;

use crate::bootstrap::{self, DoorOptions};
use crate::cli::runtime;
use crate::config::ResolvedSettings;
use crate::engine::{Command, ConversationId, EngineEvent};
use crate::tools::{CliApproval, ToolFilter};

/// Compacts `id` and says what was replaced; exit 1 with the engine's sentence when it could
/// not be.
pub(super) fn run(settings: ResolvedSettings, id: String) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        let started = bootstrap::start(
            &settings,
            DoorOptions {
                tools: ToolFilter::None,
                approve: CliApproval::None,
                workspace: None,
                store: true,
                titles: false,
                refresh_models: false,
                remote: false,
            },
        )
        .await?;
        let store = started.store.clone();
        let key = id.clone();
        let stored = match store {
            Some(s) => s.call(move |s| s.conversation(&key)).await??,
            None => None,
        };
        if stored.is_none() {
            anyhow::bail!(
                "no conversation {id} is stored: run `rustbot conversations list` to see the ids"
            );
        }
        let handle = started.engine;
        let events = handle.subscribe();
        let conversation = ConversationId(id);
        handle.send(Command::Compact {
            conversation: conversation.clone(),
        });
        loop {
            match events.recv().await {
                EngineEvent::Compacted {
                    conversation: c,
                    replaced_messages,
                    summary_tokens,
                    window_tokens,
                } if c == conversation => {
                    println!(
                        "compacted: {replaced_messages} messages are now sent as a summary of ~{summary_tokens} tokens (window {window_tokens} tokens); the originals stay stored"
                    );
                    handle.send(Command::Shutdown);
                    return Ok(ExitCode::SUCCESS);
                }
                EngineEvent::Error {
                    conversation: Some(c),
                    message,
                } if c == conversation => {
                    eprintln!("error: {message}");
                    handle.send(Command::Shutdown);
                    return Ok(ExitCode::from(1));
                }
                _ => {}
            }
        }
    })
}
