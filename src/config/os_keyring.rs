//! API keys in the OS keyring — the Secret Service (GNOME Keyring, KWallet) on Linux and BSD,
//! the Keychain on macOS, the Credential Manager on Windows — when one is reachable.
//! `secrets.env` is the fallback, so a machine without a keyring (a server, CI, a container)
//! still keeps the key.

use crate::config::secrets::Secret;

/// The service name entries are stored under; the account is the variable's name.
pub const SERVICE: &str = "rustbot";

/// Set to `1` to leave the OS keyring alone (tests, or a keyring that prompts at every start).
pub const DISABLE_VAR: &str = "RUSTBOT_NO_KEYRING";

/// Why a key could not go to (or come from) the keyring. Never holds the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// `RUSTBOT_NO_KEYRING` is set.
    #[error("the OS keyring is turned off by {DISABLE_VAR}")]
    Disabled,
    /// No keyring answered, or it refused.
    #[error("the OS keyring is not reachable: {0}")]
    Unreachable(String),
}

fn enabled() -> Result<(), KeyringError> {
    match std::env::var(DISABLE_VAR) {
        Ok(v) if !v.trim().is_empty() && v.trim() != "0" => Err(KeyringError::Disabled),
        _ => Ok(()),
    }
}

/// Whether a D-Bus session bus, the only way to a Secret Service, can be there at all; when
/// not (servers, CI, containers), no D-Bus client is started just to fail (it costs ~0.6 MB
/// and a thread in a one-shot `ask`).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn keyring_possible() -> Result<(), KeyringError> {
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            Some(std::path::PathBuf::from(format!("/run/user/{uid}")))
        })
        .is_some_and(|dir| dir.join("bus").exists());
    if set("DBUS_SESSION_BUS_ADDRESS") || runtime_bus {
        Ok(())
    } else {
        Err(KeyringError::Unreachable("no D-Bus session bus".into()))
    }
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn keyring_possible() -> Result<(), KeyringError> {
    Ok(())
}

fn entry(var: &str) -> Result<keyring::Entry, KeyringError> {
    enabled()?;
    keyring_possible()?;
    keyring::Entry::new(SERVICE, var).map_err(|e| KeyringError::Unreachable(e.to_string()))
}

/// The key stored for `var`, if a keyring is reachable and holds one.
pub fn read(var: &str) -> Option<Secret> {
    let value = entry(var).ok()?.get_password().ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| Secret::new(value))
}

/// Stores the key for `var` in the keyring.
pub fn write(var: &str, value: &Secret) -> Result<(), KeyringError> {
    entry(var)?
        .set_password(value.expose())
        .map_err(|e| KeyringError::Unreachable(e.to_string()))
}

/// Removes the key for `var` from the keyring (nothing stored is not an error).
pub fn delete(var: &str) -> Result<(), KeyringError> {
    match entry(var)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(KeyringError::Unreachable(e.to_string())),
    }
}
