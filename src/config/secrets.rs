//! API keys: loaded from the environment, `.env` files, `secrets.env` and the OS keyring;
//! never printed.

use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::config::os_keyring;
use crate::config::paths::Paths;
use crate::config::settings::ConfigError;

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text` (e.g. a server echoing the key back).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Variables that hold secrets: the provider and search keys and the serve token. They are
/// taken from `.env` files, and kept out of the environment of every child process
/// (`run_shell`, MCP servers) unless a server's config names them.
pub const SECRET_VARS: [&str; 7] = [
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "RUSTBOT_API_KEY",
    "RUSTBOT_SERVE_TOKEN",
    "BRAVE_API_KEY",
    "TAVILY_API_KEY",
];

/// Loads `.env` from the working directory (not its parents: a file planted higher up must
/// not swap the key) and the config directory, then `secrets.env`. Only `RUSTBOT_*` and the
/// key variables are taken; anything else in such a file (`HTTPS_PROXY`, `SSL_CERT_FILE`,
/// `LD_PRELOAD`...) is ignored. Variables already set in the environment win.
///
/// Called once at start, before any thread is spawned (the environment is process-global).
pub fn load_env_files(paths: &Paths) {
    if let Ok(cwd) = std::env::current_dir() {
        load_env_file(&cwd.join(".env"));
    }
    load_env_file(&paths.config_dir.join(".env"));
    load_env_file(&paths.secrets_file());
}

/// Whether a `.env` file may set `name`.
fn taken_from_env_file(name: &str) -> bool {
    name.starts_with("RUSTBOT_") || SECRET_VARS.contains(&name)
}

fn load_env_file(path: &Path) {
    let Ok(entries) = dotenvy::from_path_iter(path) else {
        return;
    };
    for (name, value) in entries.flatten() {
        // A project's own `.env` in the working directory holds many other variables:
        // ignored without a word.
        if taken_from_env_file(&name) && std::env::var_os(&name).is_none() {
            // SAFETY: called at start-up, before the runtime or any other thread exists.
            unsafe { std::env::set_var(&name, value) };
        }
    }
}

/// Reads a key from the environment (which holds `.env` and `secrets.env` too), else from the
/// OS keyring; empty values count as unset.
pub fn key_from_env(var: &str) -> Option<Secret> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .or_else(|| os_keyring::read(var))
}

/// Where [`store_key`] put a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLocation {
    /// The OS keyring.
    Keyring,
    /// `secrets.env` (mode 0600) in the config directory.
    SecretsFile,
}

/// Keeps a key entered by the user: in the OS keyring when one is reachable (and then out of
/// `secrets.env`, where an older value would otherwise win at the next start), else in
/// `secrets.env`.
pub fn store_key(
    secrets_file: &Path,
    var: &str,
    value: &Secret,
) -> Result<KeyLocation, ConfigError> {
    match os_keyring::write(var, value) {
        Ok(()) => {
            remove_secret(secrets_file, var)?;
            Ok(KeyLocation::Keyring)
        }
        Err(reason) => {
            tracing::info!("{reason}; the key goes to {}", secrets_file.display());
            save_secret(secrets_file, var, value)?;
            Ok(KeyLocation::SecretsFile)
        }
    }
}

/// Removes `var` from `secrets.env` (a missing file or variable is fine).
pub fn remove_secret(file: &Path, var: &str) -> Result<(), ConfigError> {
    let Ok(existing) = std::fs::read_to_string(file) else {
        return Ok(());
    };
    let prefix = format!("{var}=");
    if !existing
        .lines()
        .any(|l| l.trim_start().starts_with(&prefix))
    {
        return Ok(());
    }
    let kept: Vec<&str> = existing
        .lines()
        .filter(|l| !l.trim_start().starts_with(&prefix))
        .collect();
    write_private(file, &kept)
}

/// Stores `var=value` in `secrets.env` (mode 0600), replacing an earlier value of `var`.
pub fn save_secret(file: &Path, var: &str, value: &Secret) -> Result<(), ConfigError> {
    let existing = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|l| !l.trim_start().starts_with(&format!("{var}=")))
        .map(str::to_string)
        .collect();
    lines.push(format!("{var}={}", value.expose()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    write_private(file, &lines)
}

/// Writes `lines` to `file` atomically with mode 0600.
fn write_private(file: &Path, lines: &[&str]) -> Result<(), ConfigError> {
    let write_err = |source: std::io::Error| ConfigError::Write {
        path: file.to_path_buf(),
        source,
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let tmp = file.with_extension("env.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(write_err)?;
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        f.write_all(text.as_bytes()).map_err(write_err)?;
        f.sync_all().map_err(write_err)?;
    }
    std::fs::rename(&tmp, file).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_its_value() {
        let s = Secret::new("sk-very-secret");
        assert!(!format!("{s} {s:?}").contains("sk-very"));
        assert_eq!(s.redact("key sk-very-secret bad"), "key [redacted] bad");
    }

    #[test]
    fn saved_secrets_replace_old_values_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.env");
        save_secret(&file, "A_KEY", &Secret::new("one")).unwrap();
        save_secret(&file, "B_KEY", &Secret::new("two")).unwrap();
        save_secret(&file, "A_KEY", &Secret::new("three")).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, "B_KEY=two\nA_KEY=three\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn removing_a_secret_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.env");
        remove_secret(&file, "A_KEY").unwrap();
        assert!(!file.exists(), "nothing to remove, nothing written");
        save_secret(&file, "A_KEY", &Secret::new("one")).unwrap();
        save_secret(&file, "B_KEY", &Secret::new("two")).unwrap();
        remove_secret(&file, "A_KEY").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "B_KEY=two\n");
        remove_secret(&file, "B_KEY").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
    }
}
