//! Every agent one run knows: the built-ins, overridden by the user's files of the same name.

use std::path::{Path, PathBuf};

use super::parse::parse_agent;
use super::{Agent, AgentLoadError, AgentSource};
use crate::config::{Config, Paths, UiSettings};

/// The agent new conversations use, and the one the settings' instructions and personality
/// belong to.
pub const DEFAULT_AGENT: &str = "general";

/// The built-in agents as (file name, text), embedded at build time.
pub const BUILTIN_AGENTS: [(&str, &str); 4] = [
    ("general.md", include_str!("../../assets/agents/general.md")),
    ("coder.md", include_str!("../../assets/agents/coder.md")),
    ("writer.md", include_str!("../../assets/agents/writer.md")),
    ("shell.md", include_str!("../../assets/agents/shell.md")),
];

/// The agents of one folder plus the built-ins, sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentRegistry {
    agents: Vec<Agent>,
    dir: Option<PathBuf>,
}

impl AgentRegistry {
    /// Only the built-in agents.
    pub fn builtin() -> Self {
        let mut agents = Vec::new();
        for (file, text) in BUILTIN_AGENTS {
            // The built-ins are tested to parse; one that did not would only be missing.
            match parse_agent(text, Path::new(file)) {
                Ok((mut agent, _)) => {
                    agent.source = AgentSource::Builtin;
                    agents.push(agent);
                }
                Err(e) => tracing::error!("built-in agent {file}: {e}"),
            }
        }
        let mut registry = Self { agents, dir: None };
        registry.sort();
        registry
    }

    /// The built-ins and every `*.md` file of `dir` (a missing folder is no error). Files load
    /// in file-name order; a user file replaces the built-in of the same name; of two user
    /// files with one name the second is skipped. Problems are returned, never fatal.
    pub fn load(dir: &Path) -> (AgentRegistry, Vec<AgentLoadError>) {
        let mut registry = Self::builtin();
        registry.dir = Some(dir.to_path_buf());
        let mut problems = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (registry, problems),
            Err(source) => {
                problems.push(AgentLoadError::Read {
                    path: dir.to_path_buf(),
                    source,
                });
                return (registry, problems);
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_agent_file(p))
            .collect();
        files.sort();
        for path in files {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(source) => {
                    problems.push(AgentLoadError::Read { path, source });
                    continue;
                }
            };
            match parse_agent(&text, &path) {
                Err(e) => problems.push(e),
                Ok((agent, warnings)) => {
                    problems.extend(warnings);
                    if let Some(e) = registry.insert_user(agent) {
                        problems.push(e);
                    }
                }
            }
        }
        registry.sort();
        (registry, problems)
    }

    /// `load` of the folder next to the config in use, with the config's instructions and
    /// personality applied to the default agent.
    pub fn load_for(paths: &Paths, config: &Config) -> (AgentRegistry, Vec<AgentLoadError>) {
        let (mut registry, problems) = Self::load(&paths.agents_dir());
        registry.apply_preferences(&config.ui);
        (registry, problems)
    }

    /// The agent called `name`, or an error that lists the names there are.
    pub fn require(&self, name: &str) -> Result<&Agent, String> {
        self.get(name).ok_or_else(|| {
            format!(
                "no agent is called `{name}`: the agents are {}{}",
                self.names().join(", "),
                self.dir
                    .as_ref()
                    .map(|d| format!(" (add your own as Markdown files in {})", d.display()))
                    .unwrap_or_default()
            )
        })
    }

    /// Adds a user agent; a clash with an earlier user file is returned as an error.
    fn insert_user(&mut self, agent: Agent) -> Option<AgentLoadError> {
        match self.position(&agent.name) {
            None => self.agents.push(agent),
            Some(i) => match &self.agents[i].source {
                AgentSource::Builtin => self.agents[i] = agent,
                AgentSource::File(first) => {
                    return Some(AgentLoadError::Duplicate {
                        path: match agent.source {
                            AgentSource::File(p) => p,
                            AgentSource::Builtin => PathBuf::new(),
                        },
                        name: agent.name,
                        first: first.clone(),
                    });
                }
            },
        }
        None
    }

    fn sort(&mut self) {
        self.agents
            .sort_by_key(|a| (a.name.to_lowercase(), a.name.clone()));
    }

    fn position(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.agents
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The agent called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Agent> {
        self.position(name).map(|i| &self.agents[i])
    }

    /// The default agent (`general`).
    pub fn default_agent(&self) -> Option<&Agent> {
        self.get(DEFAULT_AGENT)
    }

    /// Every agent, sorted by name.
    pub fn list(&self) -> &[Agent] {
        &self.agents
    }

    /// The names, sorted (for pickers and error messages).
    pub fn names(&self) -> Vec<&str> {
        self.agents.iter().map(|a| a.name.as_str()).collect()
    }

    /// The folder this registry was loaded from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Folds the settings panel's personality and instructions into the default agent's
    /// prompt: its own prompt first, then "## Personality", then "## Instructions from the
    /// user" (each only when set), so there is one mechanism for both.
    pub fn apply_preferences(&mut self, ui: &UiSettings) {
        let Some(i) = self.position(DEFAULT_AGENT) else {
            return;
        };
        let agent = &mut self.agents[i];
        agent.prompt = compose_prompt(&agent.prompt, &ui.personality, &ui.instructions);
    }
}

/// The default agent's prompt with personality and instructions appended.
pub fn compose_prompt(base: &str, personality: &str, instructions: &str) -> String {
    let mut prompt = base.trim().to_string();
    for (heading, text) in [
        ("Personality", personality.trim()),
        ("Instructions from the user", instructions.trim()),
    ] {
        if !text.is_empty() {
            if !prompt.is_empty() {
                prompt.push_str("\n\n");
            }
            prompt.push_str(&format!("## {heading}\n\n{text}"));
        }
    }
    prompt
}

/// A visible `*.md` file (editors' temporary and hidden files are left alone).
pub(crate) fn is_agent_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.') || n.starts_with('~'));
    !hidden
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtins_parse_and_include_the_default() {
        for (file, text) in BUILTIN_AGENTS {
            let (a, w) = parse_agent(text, Path::new(file)).unwrap();
            assert!(w.is_empty(), "{file}: {w:?}");
            assert!(!a.description.is_empty() && !a.prompt.is_empty(), "{file}");
        }
        let r = AgentRegistry::builtin();
        assert_eq!(r.list().len(), BUILTIN_AGENTS.len());
        assert!(r.default_agent().is_some());
    }

    #[test]
    fn preferences_are_appended_to_the_default_agent_only() {
        let mut r = AgentRegistry::builtin();
        let before = r.get("coder").cloned();
        r.apply_preferences(&UiSettings {
            personality: "Dry humour.".into(),
            instructions: "Answer in French.".into(),
            ..Default::default()
        });
        let p = &r.default_agent().unwrap().prompt;
        assert!(p.ends_with("## Personality\n\nDry humour.\n\n## Instructions from the user\n\nAnswer in French."), "{p}");
        assert_eq!(r.get("coder").cloned(), before);
        assert_eq!(
            compose_prompt("", "", "x"),
            "## Instructions from the user\n\nx"
        );
    }
}
