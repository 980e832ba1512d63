//! API keys: loaded from the environment, `.env` files and `secrets.env`; never printed.

use std::fmt;
use std::io::Write;
use std::path::Path;

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

/// Loads `.env` from the working directory and the config directory, then `secrets.env`.
/// Variables already set in the environment win (dotenvy never overrides).
pub fn load_env_files(paths: &Paths) {
    let _ = dotenvy::from_filename(".env");
    let _ = dotenvy::from_path(paths.config_dir.join(".env"));
    let _ = dotenvy::from_path(paths.secrets_file());
}

/// Reads a key from the environment; empty values count as unset.
pub fn key_from_env(var: &str) -> Option<Secret> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(Secret::new)
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
        f.write_all((lines.join("\n") + "\n").as_bytes())
            .map_err(write_err)?;
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
}
