//! Agents (personas): Markdown files with YAML front matter in the `agents/` folder next to the
//! config file, plus a few built-ins. The body of a file is the agent's system prompt.
//!
//! - `parse`: one file's text to an [`Agent`] and back.
//! - `registry`: every agent of a folder plus the built-ins ([`AgentRegistry`]).
//! - `watch`: reloads the folder when it changes ([`AgentWatcher`]).
//! - `edit`: the app's editor writes the same files (`create`, `duplicate`, `update`, `delete`).
//! - `pick`: the cheap local "auto" choice for a first message ([`pick_agent`]).

mod edit;
mod parse;
mod pick;
mod profile;
mod registry;
mod watch;

use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

pub use edit::{AgentEditError, create, delete, duplicate, file_name_for, update};
pub use parse::{parse_agent, to_markdown};
pub use pick::{AgentPick, pick_agent};
pub use registry::{AgentRegistry, BUILTIN_AGENTS, DEFAULT_AGENT, compose_prompt};
pub use watch::{AgentWatchError, AgentWatcher, DEBOUNCE, Reloads};

use crate::tools::ToolFilter;
pub use profile::AgentProfile;

/// Where an agent was defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum AgentSource {
    /// Shipped with Rustbot (`assets/agents/`).
    Builtin,
    /// A file in the user's agents folder.
    File(PathBuf),
}

impl std::fmt::Display for AgentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentSource::Builtin => f.write_str("builtin"),
            AgentSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One persona: who the model is, which model and tools it uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    /// Unique name (what `--agent NAME` takes).
    pub name: String,
    /// One line shown in lists; also what auto mode matches against.
    pub description: String,
    /// Model id to use instead of the configured one.
    pub model: Option<String>,
    /// Sampling temperature to use instead of the configured one.
    pub temperature: Option<f32>,
    /// Tool names or globs the agent may call; `None` means whatever the run offers,
    /// `Some(vec![])` means no tool.
    pub tools: Option<Vec<String>>,
    /// Keywords for auto mode and search.
    pub tags: Vec<String>,
    /// Knowledge bases whose passages go with each question (`knowledge: [NAME]`).
    pub knowledge: Vec<String>,
    /// The system prompt (the Markdown body).
    pub prompt: String,
    /// Where it was defined.
    pub source: AgentSource,
}

impl Agent {
    /// A new agent with a name and prompt and nothing else set (for the editor).
    pub fn new(name: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            model: None,
            temperature: None,
            tools: None,
            tags: Vec::new(),
            knowledge: Vec::new(),
            prompt: prompt.into(),
            source: AgentSource::Builtin,
        }
    }

    /// The tools this agent allows, as a filter.
    pub fn tool_filter(&self) -> ToolFilter {
        match &self.tools {
            None => ToolFilter::All,
            Some(list) if list.is_empty() => ToolFilter::None,
            Some(list) => ToolFilter::Names(list.clone()),
        }
    }

    /// What the engine needs to answer as this agent (`Command::SetAgent`).
    pub fn profile(&self) -> AgentProfile {
        let prompt = self.prompt.trim();
        AgentProfile {
            name: self.name.clone(),
            system_prompt: (!prompt.is_empty()).then(|| prompt.to_string()),
            model: self.model.clone(),
            temperature: self.temperature,
            tools: self.tool_filter(),
            knowledge: self.knowledge.clone(),
        }
    }
}

/// A problem found while loading the agents folder. Warnings leave the agent loaded; every
/// other kind means the file was skipped.
#[derive(Debug, Error)]
pub enum AgentLoadError {
    /// The file does not parse (bad YAML, a wrong type, no front matter, no name).
    #[error("{}:{line}: {message}; the file was skipped", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A front-matter field Rustbot does not know (a typo?); the agent still loads.
    #[error(
        "{}:{line}: unknown field `{field}` (known: name, description, model, temperature, tools, tags); it was ignored",
        path.display()
    )]
    UnknownField {
        /// The file.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// The field name.
        field: String,
    },
    /// A second user file with a name already taken by another user file.
    #[error(
        "{}: the name `{name}` is already used by {}; this file was skipped (rename one of them)",
        path.display(), first.display()
    )]
    Duplicate {
        /// The skipped file.
        path: PathBuf,
        /// The name both use.
        name: String,
        /// The file that was kept.
        first: PathBuf,
    },
    /// The file or folder cannot be read.
    #[error("could not read {}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl AgentLoadError {
    /// True when the agent was loaded anyway (the problem is only reported).
    pub fn is_warning(&self) -> bool {
        matches!(self, AgentLoadError::UnknownField { .. })
    }
}
