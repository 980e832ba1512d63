//! The app's agent editor writes the same Markdown files a user writes by hand. Every write is
//! atomic (a hidden temporary file, then a rename), so the watcher never loads half a file.
//! None of these reload the registry: the watcher (or a fresh `AgentRegistry::load`) does.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::parse::{name_problem, to_markdown};
use super::{Agent, AgentRegistry, AgentSource};

/// Why an edit was refused or failed.
#[derive(Debug, Error)]
pub enum AgentEditError {
    /// No agent has this name.
    #[error("no agent is called `{0}`")]
    NotFound(String),
    /// Another agent already has this name.
    #[error("an agent called `{0}` already exists: choose another name")]
    NameTaken(String),
    /// The name cannot be used.
    #[error("{0}")]
    InvalidName(String),
    /// Built-in agents have no file to delete.
    #[error("`{0}` is built in and cannot be deleted (editing it saves your own copy, which wins)")]
    Builtin(String),
    /// The agent could not be encoded as front matter.
    #[error("could not encode the agent: {0}")]
    Encode(String),
    /// Reading or writing a file failed.
    #[error("could not write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A file name for an agent name: lower case, letters and digits kept, runs of anything else
/// become one `-` ("Work: Rust/Go" → `work-rust-go.md`).
pub fn file_name_for(name: &str) -> String {
    let mut stem = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            stem.push(c);
        } else if !stem.ends_with('-') {
            stem.push('-');
        }
    }
    let stem: String = stem.trim_matches('-').chars().take(60).collect();
    let stem = stem.trim_end_matches('-');
    format!("{}.md", if stem.is_empty() { "agent" } else { stem })
}

/// Creates a new agent file in `dir` (made if missing) and returns its path. The name must be
/// free, built-ins included (edit a built-in with `update` to override it).
pub fn create(
    registry: &AgentRegistry,
    dir: &Path,
    agent: &Agent,
) -> Result<PathBuf, AgentEditError> {
    check_name(&agent.name)?;
    if registry.get(&agent.name).is_some() {
        return Err(AgentEditError::NameTaken(agent.name.clone()));
    }
    let path = free_path(dir, &file_name_for(&agent.name));
    write_atomic(&path, &to_markdown(agent)?)?;
    Ok(path)
}

/// Copies agent `name` (built-in or not) as a new agent called `new_name`.
pub fn duplicate(
    registry: &AgentRegistry,
    dir: &Path,
    name: &str,
    new_name: &str,
) -> Result<PathBuf, AgentEditError> {
    let mut copy = registry
        .get(name)
        .cloned()
        .ok_or_else(|| AgentEditError::NotFound(name.to_string()))?;
    copy.name = new_name.trim().to_string();
    create(registry, dir, &copy)
}

/// Replaces agent `name` with `agent` (which may carry a new name). A user agent is rewritten
/// in its own file; a built-in gets a user file in `dir`, which then wins over it.
pub fn update(
    registry: &AgentRegistry,
    dir: &Path,
    name: &str,
    agent: &Agent,
) -> Result<PathBuf, AgentEditError> {
    check_name(&agent.name)?;
    let old = registry
        .get(name)
        .ok_or_else(|| AgentEditError::NotFound(name.to_string()))?;
    if let Some(other) = registry.get(&agent.name)
        && !other.name.eq_ignore_ascii_case(&old.name)
    {
        return Err(AgentEditError::NameTaken(agent.name.clone()));
    }
    let path = match &old.source {
        AgentSource::File(path) => path.clone(),
        AgentSource::Builtin => free_path(dir, &file_name_for(&agent.name)),
    };
    write_atomic(&path, &to_markdown(agent)?)?;
    Ok(path)
}

/// Deletes a user agent's file; a built-in (or a user copy's built-in) stays.
pub fn delete(registry: &AgentRegistry, name: &str) -> Result<(), AgentEditError> {
    let agent = registry
        .get(name)
        .ok_or_else(|| AgentEditError::NotFound(name.to_string()))?;
    match &agent.source {
        AgentSource::Builtin => Err(AgentEditError::Builtin(agent.name.clone())),
        AgentSource::File(path) => {
            std::fs::remove_file(path).map_err(|source| AgentEditError::Io {
                path: path.clone(),
                source,
            })
        }
    }
}

fn check_name(name: &str) -> Result<(), AgentEditError> {
    match name_problem(name.trim()) {
        Some(problem) => Err(AgentEditError::InvalidName(problem)),
        None => Ok(()),
    }
}

/// `dir/file`, or `dir/stem-2.md`, `-3`... when a file (perhaps hand-written under another
/// agent name) already has that name.
fn free_path(dir: &Path, file: &str) -> PathBuf {
    let first = dir.join(file);
    if !first.exists() {
        return first;
    }
    let stem = file.trim_end_matches(".md");
    (2..)
        .map(|n| dir.join(format!("{stem}-{n}.md")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Writes `text` to a hidden temporary file beside `path`, then renames it over `path`.
fn write_atomic(path: &Path, text: &str) -> Result<(), AgentEditError> {
    let io = |source| AgentEditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("agent.md");
    // Hidden and not `.md`: the registry never loads it, even if a crash leaves it behind.
    let tmp = dir.join(format!(".{file}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(file_name_for("Work: Rust/Go"), "work-rust-go.md");
        assert_eq!(file_name_for("../../etc/passwd"), "etc-passwd.md");
        assert_eq!(file_name_for("Écrivain"), "écrivain.md");
        assert_eq!(file_name_for("///"), "agent.md");
    }
}
