//! The command line (design.md §3): options every command takes, and the subcommands.

mod agents;
mod ask;
mod compact;
mod conversations;
mod export_file;
mod knowledge;
mod models;
mod native_host;
mod serve;
mod stats;
mod tools;

pub use agents::AgentsCommand;
pub use conversations::{ConversationsCommand, ExportFormat};
pub use models::ModelsCommand;
pub use native_host::NativeHostCommand;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, Overrides, Paths, ResolvedSettings, secrets};

pub use crate::core::VERSION;

/// `rustbot`: a native AI chat client. Without a subcommand it opens the desktop app.
#[derive(Debug, Parser)]
#[command(name = "rustbot", disable_version_flag = true)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(long, short = 'V')]
    pub version: bool,
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// What to do (default: open the desktop app).
    #[command(subcommand)]
    pub command: Option<Commands>,
}

/// Options that override the config file for one run.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// Provider id: openrouter, openai, anthropic, ollama, custom or local.
    #[arg(long, global = true, env = "RUSTBOT_PROVIDER")]
    pub provider: Option<String>,
    /// Base URL of the provider's API (e.g. http://127.0.0.1:8080/v1).
    #[arg(long, global = true, env = "RUSTBOT_BASE_URL")]
    pub base_url: Option<String>,
    /// Model id.
    #[arg(long, global = true, env = "RUSTBOT_MODEL")]
    pub model: Option<String>,
    /// System prompt.
    #[arg(long, global = true)]
    pub system: Option<String>,
    /// Provider profile: a `[profiles.NAME]` table of the config (flags still win).
    #[arg(long, global = true, env = "RUSTBOT_PROFILE")]
    pub profile: Option<String>,
    /// Config file (default: the platform config dir's config.toml).
    #[arg(long, global = true, env = "RUSTBOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Folder for the database, logs and everything written at run time.
    #[arg(long, global = true, env = "RUSTBOT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Stream one answer to stdout.
    Ask(AskArgs),
    /// List the provider's models; `pull` and `rm` manage local models.
    Models {
        /// `pull URL` or `rm NAME` (nothing: list).
        #[command(subcommand)]
        command: Option<ModelsCommand>,
    },
    /// Stored conversations: list, show, export, delete, import, search.
    Conversations {
        /// What to do.
        #[command(subcommand)]
        command: ConversationsCommand,
    },
    /// Knowledge bases: add folders of documents, search them, use them in `ask --knowledge`.
    Knowledge {
        /// What to do.
        #[command(subcommand)]
        command: knowledge::KnowledgeCommand,
    },
    /// Token and cost totals: today, this month, and all time (or since a date).
    Stats {
        /// Only usage from this UTC date on (YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List every tool the model may call, with source, approval mode and schema.
    Tools {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Agents (personas): list them or show one.
    Agents {
        /// What to do.
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Serve an OpenAI-compatible HTTP API over the engine (docs/serve.md).
    Serve {
        /// Address to listen on (default: [serve] listen, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Browser native-messaging host on stdin/stdout (docs/native-messaging.md).
    NativeHost {
        /// `install`, or nothing to serve a browser.
        #[command(subcommand)]
        command: Option<NativeHostCommand>,
        /// What the browser passes: the caller's origin (Firefox: manifest path, extension id).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// How tool calls that need approval are answered in a non-interactive run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApproveMode {
    /// Ask on the terminal when there is one, else deny.
    Ask,
    /// Approve every call.
    All,
    /// Deny every call.
    None,
}

/// Where `ask` puts a reasoning model's thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasoningOutput {
    /// Not printed (it is still in `--events` and the store).
    Hide,
    /// Printed on stderr.
    Show,
}

/// Arguments of `rustbot ask`.
#[derive(Debug, Clone, Args)]
pub struct AskArgs {
    /// The prompt (`-` reads it from stdin).
    #[arg(required = true, num_args = 1..)]
    pub prompt: Vec<String>,
    /// Continue this stored conversation.
    #[arg(long)]
    pub conversation: Option<String>,
    /// Answer as this agent (`rustbot agents list`), or `auto` to pick one for the prompt.
    #[arg(long)]
    pub agent: Option<String>,
    /// Print engine events as JSON lines instead of text.
    #[arg(long)]
    pub events: bool,
    /// Tools the model may call: comma-separated names, `all` or `none`.
    #[arg(long, default_value = "none")]
    pub tools: String,
    /// How tool calls needing approval are answered.
    #[arg(long, value_enum, default_value = "ask")]
    pub approve: ApproveMode,
    /// Root folder for the file and shell tools.
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// `show` prints a reasoning model's thinking on stderr (dimmed on a terminal); stdout
    /// carries only the answer either way.
    #[arg(long, value_enum, default_value = "hide")]
    pub reasoning: ReasoningOutput,
    /// Attach a file (repeatable): text and code inline, PDF as its text, images as images.
    #[arg(long = "attach", value_name = "PATH")]
    pub attach: Vec<PathBuf>,
    /// Put the best passages of this knowledge base, with their sources, into the question.
    #[arg(long, value_name = "NAME")]
    pub knowledge: Option<String>,
}

impl GlobalOpts {
    /// The overrides these options make.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            provider: self.provider.clone(),
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            system: self.system.clone(),
        }
    }

    /// Loads `.env` files and the config, and applies precedence.
    pub fn resolve(&self) -> anyhow::Result<ResolvedSettings> {
        let paths = Paths::resolve(self.config.clone(), self.data_dir.clone())?;
        secrets::load_env_files(&paths);
        let config = Config::load(&paths.config_file)?;
        Ok(ResolvedSettings::resolve_with_profile(
            config,
            &self.overrides(),
            self.profile.as_deref(),
            paths,
        )?)
    }
}

/// Runs a parsed command line (not the GUI) and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    if cli.version {
        print!("{VERSION}");
        return ExitCode::SUCCESS;
    }
    crate::logging::init_stderr();
    let result = match cli.command {
        Some(Commands::Ask(args)) => ask::run(&cli.global, args),
        Some(Commands::Models { command }) => models::run(&cli.global, command),
        Some(Commands::Conversations { command }) => conversations::run(&cli.global, command),
        Some(Commands::Tools { json }) => tools::run(&cli.global, json),
        Some(Commands::Knowledge { command }) => knowledge::run(&cli.global, command),
        Some(Commands::Stats { since, json }) => stats::run(&cli.global, since, json),
        Some(Commands::Agents { command }) => agents::run(&cli.global, command),
        Some(Commands::Serve { listen }) => serve::run(&cli.global, listen),
        Some(Commands::NativeHost { command, args }) => {
            native_host::run(&cli.global, command, args)
        }
        None => Ok(ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes as one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// A current-thread runtime for one command.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}
