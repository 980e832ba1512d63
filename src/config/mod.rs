//! Configuration: `config.toml`, `.env` files, platform paths, secrets and precedence.

pub mod attachments;
pub mod budget;
pub mod context;
pub mod knowledge;
pub mod local;
pub mod mcp;
pub mod os_keyring;
pub mod paths;
pub mod provider;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod tools;

pub use paths::Paths;
pub use secrets::Secret;
pub use settings::{
    Config, ConfigError, NetworkSettings, Overrides, ProfileSettings, ResolvedSettings, UiSettings,
};
