//! The `[serve]` and `[native_host]` tables, owned by `config` (`config/serve.rs`).

pub use crate::config::serve::{NativeHostSettings, ServeSettings, ServerApproval};
