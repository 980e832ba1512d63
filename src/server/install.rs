//! `rustbot native-host install`: writes the host manifest where the browser looks for it, and a
//! launcher script. A browser starts the manifest's `path` with only the caller's origin (Firefox:
//! manifest path and extension id) as arguments, so the launcher adds `native-host` and the
//! config and data paths in use at install time.

use std::path::{Path, PathBuf};

use serde_json::json;

/// The host's name in manifests and in `connectNative`.
pub const HOST_NAME: &str = "org.rustbot.host";

/// A browser that speaks native messaging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Browser {
    /// Google Chrome.
    Chrome,
    /// Chromium.
    Chromium,
    /// Mozilla Firefox.
    Firefox,
}

/// Why the install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// No home folder and no `--manifest-dir`.
    #[error("no home folder was found: pass --manifest-dir")]
    NoHome,
    /// The platform keeps manifests in the registry.
    #[error(
        "on this platform the manifest must be registered by hand (see docs/native-messaging.md): pass --manifest-dir"
    )]
    Unsupported,
    /// An extension id that cannot be right.
    #[error(
        "`{0}` is not an extension id (Chrome: 32 letters a-p; Firefox: an id like name@example.org)"
    )]
    BadId(String),
    /// A file could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What `install` wrote.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The manifest.
    pub manifest: PathBuf,
    /// The launcher.
    pub launcher: PathBuf,
    /// The origin to allow in `[native_host] allowed_origins`.
    pub origin: String,
}

/// Where `browser` looks for user-level manifests on this platform.
pub fn manifest_dir(browser: Browser) -> Result<PathBuf, InstallError> {
    let home = directories::BaseDirs::new()
        .ok_or(InstallError::NoHome)?
        .home_dir()
        .to_path_buf();
    let rel = if cfg!(target_os = "macos") {
        match browser {
            Browser::Chrome => "Library/Application Support/Google/Chrome/NativeMessagingHosts",
            Browser::Chromium => "Library/Application Support/Chromium/NativeMessagingHosts",
            Browser::Firefox => "Library/Application Support/Mozilla/NativeMessagingHosts",
        }
    } else if cfg!(unix) {
        match browser {
            Browser::Chrome => ".config/google-chrome/NativeMessagingHosts",
            Browser::Chromium => ".config/chromium/NativeMessagingHosts",
            Browser::Firefox => ".mozilla/native-messaging-hosts",
        }
    } else {
        return Err(InstallError::Unsupported);
    };
    Ok(home.join(rel))
}

/// The origin the browser passes for `extension_id`.
pub fn origin_for(browser: Browser, extension_id: &str) -> Result<String, InstallError> {
    let ok = match browser {
        Browser::Chrome | Browser::Chromium => {
            extension_id.len() == 32 && extension_id.chars().all(|c| ('a'..='p').contains(&c))
        }
        Browser::Firefox => {
            !extension_id.is_empty()
                && !extension_id
                    .chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"')
        }
    };
    if !ok {
        return Err(InstallError::BadId(extension_id.to_string()));
    }
    Ok(match browser {
        Browser::Firefox => extension_id.to_string(),
        _ => format!("chrome-extension://{extension_id}/"),
    })
}

/// Writes the launcher (in `launcher_dir`) and the manifest (in `manifest_dir`).
pub fn install(
    browser: Browser,
    extension_id: &str,
    manifest_dir: &Path,
    launcher_dir: &Path,
    exe: &Path,
    config_file: &Path,
    data_dir: &Path,
) -> Result<Installed, InstallError> {
    let origin = origin_for(browser, extension_id)?;
    let launcher = launcher_dir.join("rustbot-native-host.sh");
    let script = format!(
        "#!/bin/sh\n# Started by the browser for native messaging; see docs/native-messaging.md.\nexec {} --config {} --data-dir {} native-host \"$@\"\n",
        sh_quote(&exe.to_string_lossy()),
        sh_quote(&config_file.to_string_lossy()),
        sh_quote(&data_dir.to_string_lossy()),
    );
    write(&launcher, script.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| InstallError::Write {
                path: launcher.clone(),
                source,
            },
        )?;
    }
    let mut manifest = json!({
        "name": HOST_NAME,
        "description": "Rustbot: a native AI chatbot",
        "path": launcher,
        "type": "stdio",
    });
    match browser {
        Browser::Firefox => manifest["allowed_extensions"] = json!([extension_id]),
        _ => manifest["allowed_origins"] = json!([origin]),
    }
    let manifest_path = manifest_dir.join(format!("{HOST_NAME}.json"));
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    write(&manifest_path, text.as_bytes())?;
    Ok(Installed {
        manifest: manifest_path,
        launcher,
        origin,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let err = |source| InstallError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_turned_into_origins() {
        let id = "abcdefghijklmnopabcdefghijklmnop";
        assert_eq!(
            origin_for(Browser::Chrome, id).unwrap(),
            format!("chrome-extension://{id}/")
        );
        assert!(origin_for(Browser::Chrome, "xyz").is_err());
        assert_eq!(origin_for(Browser::Firefox, "a@b.org").unwrap(), "a@b.org");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }
}
