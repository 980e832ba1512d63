//! Storage: one SQLite database (`rustbot.db` in the data dir) holding conversations as message
//! trees, usage, tool calls and the engine's event log. See `docs/storage.md`.
//!
//! `Store` is the synchronous core; async and UI code go through `StoreHandle`, which runs every
//! call in order on one dedicated thread.

mod attachments;
mod compaction;
mod conversations;
mod db;
mod error;
mod events;
mod export;
mod handle;
mod in_place_text;
mod markdown;
mod messages;
pub mod migrations;
mod reader;
mod search;
mod stats;
mod tree;
mod types;
mod usage;

pub use conversations::fallback_title;
pub use db::{DB_FILE, DEFAULT_BUSY_TIMEOUT, OpenOptions, Store};
pub use error::{Result, StoreError};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION};
pub use handle::StoreHandle;
pub use in_place_text::NulText;
pub use markdown::{ExportedFile, MarkdownExport};
pub use reader::StoreReader;
pub use stats::{AnswerTiming, ConversationUsage, DAY_MS, DailyModelUsage, ToolCallCount};
pub use tree::PathMessage;
pub use types::*;

/// Current time as unix milliseconds, the unit of every timestamp in the store.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
