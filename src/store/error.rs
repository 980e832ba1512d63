//! The one error type the storage module returns; every message is a sentence a user can act on.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database was written by a newer Rustbot; nothing was changed.
    #[error(
        "The database {path} was written by a newer Rustbot (schema version {found}, this version understands up to {supported}); it was left untouched. Update Rustbot, or point --data-dir at another directory."
    )]
    TooNew {
        /// Schema version found in the file.
        found: i64,
        /// Highest schema version this build knows.
        supported: i64,
        /// The database file.
        path: PathBuf,
    },
    /// Another connection held the write lock for longer than the busy timeout.
    #[error(
        "The database is locked by another Rustbot window or command and stayed locked longer than the wait limit (5 seconds by default); nothing was changed. Close the other program or wait for it to finish, then try again."
    )]
    Busy,
    /// SQLite reported SQLITE_FULL.
    #[error(
        "The disk holding the database is full, so the last change was not saved; everything saved before it is intact. Free some disk space and try again."
    )]
    DiskFull,
    /// The file is damaged in a way only noticed while it was in use.
    #[error(
        "The database file is damaged ({detail}); nothing was deleted. Quit Rustbot and copy rustbot.db somewhere safe before trying again."
    )]
    Corrupt {
        /// SQLite's description of the damage.
        detail: String,
    },
    /// A conversation, message or other row the caller named does not exist.
    #[error(
        "The {what} {id} does not exist; it may have been deleted. Refresh the list and try again."
    )]
    NotFound {
        /// Kind of thing that was looked up ("conversation", "message").
        what: &'static str,
        /// The id that was not found.
        id: String,
    },
    /// The caller asked for something the store refuses (duplicate id, parent in another conversation...).
    #[error("{0}")]
    Invalid(String),
    /// An import file could not be understood.
    #[error(
        "The file could not be imported: {0}. Check that it is a Rustbot JSON export or an OpenAI-style messages array."
    )]
    Import(String),
    /// A file-system operation around the database failed.
    #[error(
        "Could not {action} {path}: {source}. Check that the directory exists and is writable."
    )]
    Io {
        /// What we were doing, as a verb phrase ("create the data directory").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Any other SQLite failure.
    #[error(
        "The database reported an error: {0}. Nothing was deleted; try again, and report a bug if it keeps happening."
    )]
    Sqlite(rusqlite::Error),
    /// The storage thread behind a `StoreHandle` is gone.
    #[error("The storage thread has stopped, so the change was not saved. Restart Rustbot.")]
    Closed,
    /// A closure run on the storage thread panicked; the store itself is still usable.
    #[error(
        "An internal error interrupted a storage operation ({0}); nothing already saved was lost. Please report this bug."
    )]
    Panicked(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                detail: err.to_string(),
            },
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Import(err.to_string())
    }
}

/// The module's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
