//! `rustbot conversations`: stored history from the shell.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};

use crate::cli::GlobalOpts;
use crate::store::{ListFilter, Role, Store};

/// What to do with stored conversations.
#[derive(Debug, Subcommand)]
pub enum ConversationsCommand {
    /// List conversations, pinned first, then newest.
    List {
        /// Print a JSON array of objects (id, title, created_at, updated_at, message_count, ...).
        #[arg(long)]
        json: bool,
        /// Include archived conversations.
        #[arg(long)]
        all: bool,
    },
    /// Print a conversation's active branch.
    Show {
        /// The conversation id.
        id: String,
    },
    /// Export a conversation to stdout.
    Export {
        /// The conversation id.
        id: String,
        /// Markdown (readable) or JSON (lossless: the whole tree, usage, tool calls).
        #[arg(long, value_enum, default_value = "md")]
        format: ExportFormat,
        /// Write to this file instead of stdout; a Markdown export's attached images go into
        /// a folder beside it (`NAME_files/`) and are linked.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Delete a conversation.
    Delete {
        /// The conversation id.
        id: String,
    },
    /// Import a conversation from our JSON export or an OpenAI-style `messages` array.
    Import {
        /// The file (`-` reads stdin).
        file: String,
    },
    /// Summarise the older turns now: they are sent as one summary from then on (the
    /// originals stay stored, searchable and exported).
    Compact {
        /// The conversation id.
        id: String,
    },
    /// Search every conversation (SQLite FTS5, ranked, with the matching snippet).
    Search {
        /// Words to find.
        query: String,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Markdown.
    Md,
    /// JSON.
    Json,
}

pub(super) fn run(global: &GlobalOpts, cmd: ConversationsCommand) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let store = Store::open(&settings.paths.data_dir)?;
    match cmd {
        ConversationsCommand::Compact { id } => {
            // The engine opens the store itself.
            drop(store);
            return super::compact::run(settings, id);
        }
        ConversationsCommand::List { json, all } => {
            let list = store.list_conversations(&ListFilter {
                include_archived: all,
                ..Default::default()
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                eprintln!("no conversations yet: start one with `rustbot ask PROMPT`");
            } else {
                for c in list {
                    println!(
                        "{}\t{}\t{} messages\t{}{}",
                        c.id,
                        crate::time::format_utc_minutes(c.updated_at),
                        c.message_count,
                        c.title.as_deref().unwrap_or("(untitled)"),
                        if c.pinned { "\t📌" } else { "" }
                    );
                }
            }
        }
        ConversationsCommand::Show { id } => {
            let conv = store.conversation(&id)?.with_context(|| {
                format!("no conversation {id} is stored: run `rustbot conversations list`")
            })?;
            println!("# {}", conv.title.as_deref().unwrap_or("(untitled)"));
            for m in store.active_path(&id)? {
                let who = match m.role {
                    Role::System if m.is_summary() => "summary of the messages above",
                    Role::User => "you",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                    Role::Tool => "tool",
                };
                let status = if m.status.as_str() == "complete" {
                    String::new()
                } else {
                    format!(" [{}]", m.status)
                };
                println!("\n## {who}{status}\n{}", m.content);
                if let Some(e) = m.error {
                    println!("(error: {e})");
                }
            }
        }
        ConversationsCommand::Export { id, format, output } => match output {
            Some(path) => super::export_file::write(&store, &id, format, &path)?,
            None => {
                let text = match format {
                    ExportFormat::Md => store.export_markdown(&id)?,
                    ExportFormat::Json => store.export_json(&id)?,
                };
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
        },
        ConversationsCommand::Delete { id } => {
            store.delete_conversation(&id)?;
            eprintln!("deleted conversation {id}");
        }
        ConversationsCommand::Import { file } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("could not read stdin")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("could not read {file}"))?
            };
            let is_ours = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string))
                .is_some_and(|f| f == crate::store::EXPORT_FORMAT);
            let id = if is_ours {
                store.import_json(&text)?
            } else {
                store.import_openai_messages(&text)?
            };
            println!("{id}");
        }
        ConversationsCommand::Search { query } => {
            for hit in store.search(&query, 50)? {
                println!(
                    "{}\t{}\t{}",
                    hit.conversation_id,
                    hit.title.as_deref().unwrap_or("(untitled)"),
                    hit.snippet.replace('\n', " ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
