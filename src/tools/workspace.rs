//! Confines file and shell tools to one directory: every path the model gives is resolved
//! against the workspace root after following symlinks, and refused if it leads outside.
//!
//! The check happens before the file is opened, so a process racing to swap a directory for
//! a symlink in between could still win; the tools narrow that window where they can
//! (`O_NOFOLLOW` on writes) but the workspace is meant for the model, not for adversaries
//! with their own shell in it.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The workspace root itself is unusable.
    #[error("workspace {root}: {source}")]
    Root {
        /// The root as given.
        root: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The path leads outside the workspace (`..`, an absolute path or a symlink).
    #[error("path `{0}` is outside the workspace")]
    Outside(String),
    /// The path could not be resolved.
    #[error("path `{path}`: {source}")]
    Resolve {
        /// The path as given.
        path: String,
        /// What went wrong.
        source: io::Error,
    },
}

/// A directory the tools may use, with its canonical root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Opens `root`, creating it if missing.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, WorkspaceError> {
        let root = root.as_ref();
        let err = |source| WorkspaceError::Root {
            root: root.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(root).map_err(err)?;
        let root = root.canonicalize().map_err(err)?;
        Ok(Self { root })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `path` (relative to the root, or absolute inside it) to a canonical path
    /// inside the workspace. The path need not exist; its deepest existing ancestor is
    /// canonicalized and the rest appended.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, WorkspaceError> {
        let outside = || WorkspaceError::Outside(path.to_string());
        let given = Path::new(path);
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.root.join(given)
        };
        let (base, tail) = split_existing(&joined).map_err(|source| WorkspaceError::Resolve {
            path: path.to_string(),
            source,
        })?;
        let mut resolved = base;
        for (i, part) in tail.iter().enumerate() {
            match part {
                // `..` below a path that does not exist cannot be resolved by the OS;
                // refusing it is simpler than proving it harmless.
                Component::ParentDir => return Err(outside()),
                Component::CurDir => {}
                Component::Normal(name) => {
                    resolved.push(name);
                    // The first missing component may still be a dangling symlink, whose
                    // target a write would create — possibly outside.
                    if i == 0 && resolved.symlink_metadata().is_ok() {
                        return Err(outside());
                    }
                }
                Component::RootDir | Component::Prefix(_) => return Err(outside()),
            }
        }
        if resolved.starts_with(&self.root) {
            Ok(resolved)
        } else {
            Err(outside())
        }
    }

    /// The path shown to the model for a resolved path: relative to the root.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }
}

/// Splits `path` into its deepest ancestor that canonicalizes and the components after it.
fn split_existing(path: &Path) -> io::Result<(PathBuf, Vec<Component<'_>>)> {
    let components: Vec<Component<'_>> = path.components().collect();
    for cut in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..cut].iter().collect();
        match prefix.canonicalize() {
            Ok(base) => return Ok((base, components[cut..].to_vec())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no existing ancestor",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Workspace, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path().join("ws")).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), "s").unwrap();
        (dir, ws, outside)
    }

    #[test]
    fn resolves_inside_paths() {
        let (_d, ws, _o) = setup();
        std::fs::create_dir_all(ws.root().join("a/b")).unwrap();
        assert_eq!(ws.resolve("a/b").unwrap(), ws.root().join("a/b"));
        assert_eq!(ws.resolve("a/../a/b").unwrap(), ws.root().join("a/b"));
        assert_eq!(ws.resolve(".").unwrap(), ws.root());
        assert_eq!(
            ws.resolve("new/file.txt").unwrap(),
            ws.root().join("new/file.txt")
        );
        let abs = ws.root().join("a").to_string_lossy().into_owned();
        assert_eq!(ws.resolve(&abs).unwrap(), ws.root().join("a"));
    }

    #[test]
    fn refuses_dotdot_escapes() {
        let (_d, ws, _o) = setup();
        assert!(matches!(ws.resolve(".."), Err(WorkspaceError::Outside(_))));
        assert!(matches!(
            ws.resolve("../outside/secret.txt"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            ws.resolve("missing/../../x"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            ws.resolve("../new.txt"),
            Err(WorkspaceError::Outside(_))
        ));
    }

    #[test]
    fn refuses_absolute_paths_outside() {
        let (_d, ws, o) = setup();
        let p = o.join("secret.txt").to_string_lossy().into_owned();
        assert!(matches!(ws.resolve(&p), Err(WorkspaceError::Outside(_))));
        assert!(matches!(
            ws.resolve("/etc/passwd"),
            Err(WorkspaceError::Outside(_))
        ));
    }

    #[test]
    fn refuses_symlinks_leading_outside() {
        let (_d, ws, o) = setup();
        std::os::unix::fs::symlink(&o, ws.root().join("link")).unwrap();
        std::os::unix::fs::symlink(o.join("secret.txt"), ws.root().join("file_link")).unwrap();
        std::os::unix::fs::symlink(o.join("nope.txt"), ws.root().join("dangling")).unwrap();
        assert!(matches!(
            ws.resolve("link/secret.txt"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            ws.resolve("link/new.txt"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            ws.resolve("file_link"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            ws.resolve("dangling"),
            Err(WorkspaceError::Outside(_))
        ));
    }

    #[test]
    fn allows_symlinks_inside() {
        let (_d, ws, _o) = setup();
        std::fs::create_dir(ws.root().join("real")).unwrap();
        std::os::unix::fs::symlink(ws.root().join("real"), ws.root().join("alias")).unwrap();
        assert_eq!(ws.resolve("alias/x").unwrap(), ws.root().join("real/x"));
    }
}
