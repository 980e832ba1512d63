//! `rustbot agents list|show NAME`: the agents (personas) from the built-ins and the `agents/`
//! folder next to the config.

use std::process::ExitCode;

use clap::Subcommand;

use crate::agents::{AgentLoadError, AgentRegistry, to_markdown};
use crate::cli::GlobalOpts;
use crate::config::{Config, Paths, secrets};

/// `rustbot agents ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum AgentsCommand {
    /// List every agent: name, source (builtin or its file) and description.
    List {
        /// Print a JSON array instead.
        #[arg(long)]
        json: bool,
    },
    /// Print one agent as its file: front matter, then the prompt.
    Show {
        /// The agent's name.
        name: String,
    },
}

/// The registry for this run's config; load problems go to stderr as warnings.
pub(super) fn load(global: &GlobalOpts) -> anyhow::Result<AgentRegistry> {
    let paths = Paths::resolve(global.config.clone(), global.data_dir.clone())?;
    secrets::load_env_files(&paths);
    let config = Config::load(&paths.config_file)?;
    let (registry, problems) = AgentRegistry::load_for(&paths, &config);
    report(&problems);
    Ok(registry)
}

/// Prints load problems as `warning:` lines on stderr.
pub(super) fn report(problems: &[AgentLoadError]) {
    for p in problems {
        eprintln!("warning: {p}");
    }
}

pub(super) fn run(global: &GlobalOpts, command: AgentsCommand) -> anyhow::Result<ExitCode> {
    let registry = load(global)?;
    match command {
        AgentsCommand::List { json } => {
            if json {
                let rows: Vec<serde_json::Value> = registry
                    .list()
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "name": a.name,
                            "description": a.description,
                            "source": a.source.to_string(),
                            "model": a.model,
                            "temperature": a.temperature,
                            "tools": a.tools,
                            "tags": a.tags,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let width = registry.names().iter().map(|n| n.len()).max().unwrap_or(4);
                for a in registry.list() {
                    println!("{:width$}  {}  {}", a.name, a.source, a.description);
                }
            }
        }
        AgentsCommand::Show { name } => {
            let agent = registry.require(&name).map_err(anyhow::Error::msg)?;
            eprintln!("source: {}", agent.source);
            print!("{}", to_markdown(agent)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
