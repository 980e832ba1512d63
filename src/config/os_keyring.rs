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

fn entry(var: &str) -> Result<keyring::Entry, KeyringError> {
    enabled()?;
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
