//! `rustbot ask`: one answer streamed to stdout through the engine.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::agents::{AgentRegistry, pick_agent};
use crate::bootstrap::{self, DoorOptions};
use crate::cli::agents::report;
use crate::cli::{ApproveMode, AskArgs, GlobalOpts, ReasoningOutput, runtime};
use crate::config::ResolvedSettings;
use crate::engine::{AgentProfile, ApprovalScope, Command, ConversationId, EngineEvent, RunStatus};
use crate::tools::call_display::escape_for_display;
use crate::tools::{CliApproval, Decision, ToolFilter};

/// Exit code after Ctrl-C (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// SQLite page cache of the one-shot `ask` process, in KiB.
const ASK_PAGE_CACHE_KIB: u32 = 256;

pub(super) fn run(global: &GlobalOpts, args: AskArgs) -> anyhow::Result<ExitCode> {
    let prompt = read_prompt(&args.prompt)?;
    let tools: ToolFilter = args
        .tools
        .parse()
        .map_err(|e| anyhow::anyhow!("--tools: {e}"))?;
    let settings = global.resolve()?;
    // Every file is read and checked before anything is sent.
    let attached = args
        .attach
        .iter()
        .map(|path| crate::attachments::load(path, &settings.config.attachments))
        .collect::<Result<Vec<_>, _>>()?;
    let prompt = crate::attachments::message_text(&prompt, &attached);
    let prompt = match args.knowledge.as_deref() {
        Some(name) => format!(
            "{prompt}\n\n{}",
            super::knowledge::passages(&settings, name, &prompt)?
        ),
        None => prompt,
    };
    let images = crate::attachments::images(&attached);
    let mut agent = match args.agent.as_deref() {
        Some(name) => Some(choose_agent(global, &settings, name, &prompt)?),
        None => None,
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let started = bootstrap::start(
            &settings,
            DoorOptions {
                tools,
                approve: match args.approve {
                    ApproveMode::Ask => CliApproval::Ask,
                    ApproveMode::All => CliApproval::All,
                    ApproveMode::None => CliApproval::None,
                },
                workspace: args.workspace.clone(),
                store: true,
                // A one-shot process exits before a title could arrive.
                titles: false,
                refresh_models: false,
                remote: false,
            },
        )
        .await?;
        if let Some(store) = &started.store {
            // Peak memory of a long answer: see `Store::limit_page_cache`.
            if let Err(e) = store
                .call(|s| s.limit_page_cache(ASK_PAGE_CACHE_KIB))
                .await
                .and_then(|r| r)
            {
                tracing::warn!("could not shrink the page cache: {e}");
            }
        }
        for failure in &started.mcp_failures {
            eprintln!("warning: MCP server {}: {}", failure.server, failure.error);
        }
        let handle = started.engine;
        let events = handle.subscribe();
        let conversation = match args.conversation {
            Some(id) => {
                let store = started.store.clone();
                let key = id.clone();
                let stored = match store {
                    Some(s) => s.call(move |s| s.conversation(&key)).await??,
                    None => None,
                };
                let Some(stored) = stored else {
                    anyhow::bail!(
                        "no conversation {id} is stored: run `rustbot conversations list` to see the ids"
                    );
                };
                // The conversation goes on with the agent it was started with.
                if agent.is_none()
                    && let Some(name) = stored.agent
                {
                    match choose_agent(global, &settings, &name, "") {
                        Ok(profile) => agent = Some(profile),
                        Err(e) => eprintln!("warning: {e}; going on without an agent"),
                    }
                }
                let id = ConversationId(id);
                if agent.is_some() {
                    handle.send(Command::SetAgent {
                        conversation: id.clone(),
                        agent: agent.clone(),
                    });
                }
                id
            }
            None => {
                let id = ConversationId::new();
                eprintln!("conversation: {id}");
                // Before NewConversation, so the agent's name is stored with it.
                if agent.is_some() {
                    handle.send(Command::SetAgent {
                        conversation: id.clone(),
                        agent: agent.clone(),
                    });
                }
                handle.send(Command::NewConversation {
                    conversation: id.clone(),
                });
                id
            }
        };
        handle.send(Command::SendMessage {
            conversation: conversation.clone(),
            text: prompt,
            model: None,
            images,
        });
        let mut out = Printer::new(args.events, args.reasoning == ReasoningOutput::Show);
        let mut interrupted = false;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = &mut ctrl_c, if !interrupted => {
                    interrupted = true;
                    handle.send(Command::Stop { conversation: conversation.clone() });
                    continue;
                }
            };
            if event.conversation().is_some_and(|c| *c != conversation) {
                continue;
            }
            // Output is flushed whenever the engine has nothing more waiting: the answer shows
            // as it arrives, without a write per chunk when chunks come faster than we print.
            let printed = out.event(&event).and_then(|()| {
                if events.is_empty() {
                    out.flush()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = printed {
                if is_broken_pipe(&e) {
                    // The reader went away (`rustbot ask ... | head`): stop quietly.
                    handle.send(Command::Stop {
                        conversation: conversation.clone(),
                    });
                    handle.send(Command::Shutdown);
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e);
            }
            if let EngineEvent::ToolCall {
                call_id,
                name,
                arguments,
                decision: Some(Decision::NeedsApproval),
                ..
            } = &event
            {
                let answer = ask_approval(name, arguments).await;
                handle.send(match answer {
                    Some(scope) => Command::ApproveTool {
                        conversation: conversation.clone(),
                        call_id: call_id.clone(),
                        scope,
                    },
                    None => Command::DenyTool {
                        conversation: conversation.clone(),
                        call_id: call_id.clone(),
                    },
                });
            }
            if let EngineEvent::Done {
                status,
                error,
                metrics,
                ..
            } = &event
            {
                out.finish()?;
                if !args.events {
                    eprintln!("{}", summary(metrics));
                }
                handle.send(Command::Shutdown);
                if let Some(store) = &started.store {
                    // A barrier: every write queued before it (event log included) is done.
                    let _ = store.call(|_| ()).await;
                }
                return Ok(match status {
                    RunStatus::Complete => ExitCode::SUCCESS,
                    RunStatus::Stopped => ExitCode::from(EXIT_INTERRUPTED),
                    RunStatus::Failed => {
                        if !args.events {
                            eprintln!("error: {}", error.as_deref().unwrap_or("the answer failed"));
                        }
                        ExitCode::from(1)
                    }
                });
            }
        }
    })
}

/// The agent `name` (or `auto`: the best match for `prompt`, said on stderr) as the engine
/// gets it. `--system` replaces its prompt and `--model` (or `RUSTBOT_MODEL`) its model; its
/// tools narrow the `--tools` selection.
fn choose_agent(
    global: &GlobalOpts,
    settings: &ResolvedSettings,
    name: &str,
    prompt: &str,
) -> anyhow::Result<AgentProfile> {
    let (registry, problems) = AgentRegistry::load_for(&settings.paths, &settings.config);
    report(&problems);
    let agent = if name.trim().eq_ignore_ascii_case("auto") {
        let pick = pick_agent(&registry, prompt);
        eprintln!("agent: {} ({})", pick.name, pick.reason);
        registry.require(&pick.name)
    } else {
        registry.require(name)
    }
    .map_err(anyhow::Error::msg)?;
    let mut profile = agent.profile();
    if let Some(system) = global.system.clone().filter(|s| !s.trim().is_empty()) {
        profile.system_prompt = Some(system);
    }
    if global
        .model
        .as_deref()
        .is_some_and(|m| !m.trim().is_empty())
    {
        profile.model = None;
    }
    Ok(profile)
}

/// Asks on the terminal whether a tool may run; without a terminal the answer is no.
async fn ask_approval(name: &str, arguments: &str) -> Option<ApprovalScope> {
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "denied tool call `{name}`: it needs approval and there is no terminal to ask (use --approve all)"
        );
        return None;
    }
    let display = crate::tools::call_display::CallDisplay::new(name, arguments);
    let mut question = format!("\nTool `{}` wants to run", escape_for_display(name));
    if let Some(command) = &display.command {
        question.push_str(&format!(" this command:\n    {command}\n"));
    }
    if display.has_arguments() {
        question.push_str(&format!("\nwith arguments:\n{}\n", display.arguments));
    }
    eprint!("{question}\nAllow it?\n  [y] once  [c] for this conversation  [a] always  [N] no: ");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .ok()?
    .ok()?;
    match line.trim().to_lowercase().as_str() {
        "y" | "yes" => Some(ApprovalScope::Once),
        "c" => Some(ApprovalScope::Conversation),
        "a" => Some(ApprovalScope::Always),
        _ => None,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn read_prompt(words: &[String]) -> anyhow::Result<String> {
    let prompt = if words.len() == 1 && words[0] == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read the prompt from stdin")?;
        text
    } else {
        words.join(" ")
    };
    if prompt.trim().is_empty() {
        anyhow::bail!("the prompt is empty: pass some text, or `-` to read it from stdin");
    }
    Ok(prompt)
}

/// Model text for a terminal: line breaks, tabs and printable text pass; escape and other
/// control characters (C0 and C1) are replaced by visible `^[`-style pictures, so no sequence
/// the model writes reaches the terminal.
fn neutralise_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !bad(c) => out.push(c),
            '\u{1b}' => out.push_str("^["),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One line: model, tokens in/out, cost, time to first token, tokens/s.
fn summary(m: &crate::engine::RunMetrics) -> String {
    let approx = if m.tokens_reported { "" } else { "~" };
    let cost = m
        .cost_usd
        .map_or_else(|| "cost n/a".to_string(), |c| format!("${c:.6}"));
    let ttft = m
        .ttft_ms
        .map_or_else(|| "n/a".to_string(), |t| format!("{t} ms"));
    let speed = m
        .tokens_per_sec
        .map_or_else(|| "n/a".to_string(), |s| format!("{s:.1} tok/s"));
    format!(
        "[{} · {} in / {approx}{} out tokens · {cost} · first token {ttft} · {speed}]",
        m.model, m.prompt_tokens, m.completion_tokens
    )
}

/// Writes text deltas (or JSON lines) to stdout, flushed per event so the answer shows as it
/// arrives; a broken pipe ends the run quietly.
struct Printer {
    json: bool,
    stdout: std::io::BufWriter<std::io::Stdout>,
    ends_with_newline: bool,
    wrote_text: bool,
    /// Whether stdout is a terminal (then control sequences in model text are neutralised).
    terminal: bool,
    /// `--reasoning show`.
    show_reasoning: bool,
    /// Whether stderr is a terminal (the reasoning is dimmed there).
    stderr_terminal: bool,
    /// Reasoning was printed and no answer text yet.
    reasoning_shown: bool,
}

impl Printer {
    fn new(json: bool, show_reasoning: bool) -> Self {
        Self {
            json,
            stdout: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            ends_with_newline: true,
            wrote_text: false,
            terminal: std::io::stdout().is_terminal(),
            show_reasoning,
            stderr_terminal: std::io::stderr().is_terminal(),
            reasoning_shown: false,
        }
    }

    fn event(&mut self, event: &EngineEvent) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.stdout, event)?;
            self.stdout.write_all(b"\n")?;
        } else if let EngineEvent::Reasoning { delta, .. } = event {
            if self.show_reasoning {
                // On a terminal dimmed (SGR 2), and neutralised like the answer.
                let mut err = std::io::stderr().lock();
                if self.stderr_terminal {
                    write!(err, "\x1b[2m{}\x1b[0m", neutralise_controls(delta))?;
                } else {
                    err.write_all(delta.as_bytes())?;
                }
                self.reasoning_shown = true;
            }
        } else if let EngineEvent::Text { delta, .. } = event {
            if std::mem::take(&mut self.reasoning_shown) {
                // The answer begins: end the reasoning's line on stderr.
                let _ = writeln!(std::io::stderr());
            }
            if self.terminal {
                // Model text must not drive the terminal (OSC 52 sets the clipboard, other
                // sequences rewrite the screen): escape characters are shown, not obeyed.
                self.stdout
                    .write_all(neutralise_controls(delta).as_bytes())?;
            } else {
                self.stdout.write_all(delta.as_bytes())?;
            }
            self.ends_with_newline = delta.ends_with('\n');
            self.wrote_text = true;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.stdout.flush()?;
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if !self.json
            && self.wrote_text
            && !self.ends_with_newline
            && std::io::stdout().is_terminal()
        {
            self.stdout.write_all(b"\n")?;
        }
        self.stdout.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::neutralise_controls;

    #[test]
    fn terminal_control_sequences_are_shown_not_obeyed() {
        // OSC 52 (set the clipboard), a screen clear and a carriage return.
        let text = "hi\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\rx\u{9b}31m\n\tok";
        let shown = neutralise_controls(text);
        assert_eq!(shown, "hi^[]52;c;ZXZpbA==^G^[[2J^Mx\\u{9b}31m\n\tok");
        assert!(matches!(
            neutralise_controls("plain **text**\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
