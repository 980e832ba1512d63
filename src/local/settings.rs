//! The `[local]` section, owned by `config` (`config/local.rs`).

pub use crate::config::local::{DEFAULT_MODEL_URL, LocalSettings};
