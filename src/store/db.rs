//! Opening the database: pragmas, version checks, moving a corrupt file aside, crash recovery.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior, params};

use super::error::{Result, StoreError};
use super::migrations::{self, SCHEMA_VERSION};
use super::now_ms;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "rustbot.db";

/// How long a write waits for another connection's lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Knobs for `Store::open_with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long a write waits for another connection before failing with `Busy`.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// The synchronous store: one SQLite connection. Use `StoreHandle` from async or UI code.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    moved_aside: Option<PathBuf>,
    pub(crate) session: Session,
}

impl Store {
    /// Opens (or creates) `data_dir/rustbot.db` with the default options.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Self::open_with(data_dir, OpenOptions::default())
    }

    /// Opens (or creates) `data_dir/rustbot.db`.
    pub fn open_with(data_dir: &Path, options: OpenOptions) -> Result<Store> {
        fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            action: "create the data directory",
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let session = Session::create(data_dir)?;

        let (conn, moved_aside) = match open_checked(&path, options) {
            Ok(conn) => (conn, None),
            Err(StoreError::Corrupt { detail }) => {
                let moved = move_aside(&path)?;
                tracing::warn!(
                    from = %path.display(),
                    to = %moved.display(),
                    %detail,
                    "the database was damaged; moved it aside and started a new one"
                );
                (open_checked(&path, options)?, Some(moved))
            }
            Err(e) => return Err(e),
        };
        let store = Store {
            conn,
            path,
            moved_aside,
            session,
        };
        store.recover_interrupted()?;
        Ok(store)
    }

    /// Starts a transaction that takes the write lock up front.
    ///
    /// A deferred transaction that reads first and writes later fails at once with
    /// SQLITE_BUSY (no waiting) when another connection wrote in between; IMMEDIATE waits.
    pub(crate) fn write_tx(&self) -> Result<Transaction<'_>> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    /// Caps SQLite's page cache at `kib` KiB for this connection (the default is 2 MiB). A
    /// one-shot door that writes one long answer and exits needs no cache: past the cap,
    /// dirty pages go to the WAL before the commit instead of piling up in memory.
    pub fn limit_page_cache(&self, kib: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -i64::from(kib))?;
        Ok(())
    }

    /// The raw connection, for benchmarks that batch fixture writes; not for application code.
    #[doc(hidden)]
    pub fn connection_for_bench(&self) -> &Connection {
        &self.conn
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a damaged database was moved when this open replaced it with a fresh one.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }

    /// Marks answers whose writing process has died (crash, kill -9) as `stopped`.
    ///
    /// Answers streamed by a process that is still running are left alone.
    fn recover_interrupted(&self) -> Result<usize> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT writer FROM messages WHERE status = 'streaming'")?;
        let writers = stmt
            .query_map([], |r| r.get::<_, Option<String>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stopped = 0;
        for writer in writers {
            let alive = writer
                .as_deref()
                .is_some_and(|w| w != self.session.id && self.session.is_alive(w));
            if alive {
                continue;
            }
            // The streamed chunks are folded into the text, so the recovered answer reads
            // (and is indexed) as one piece, as if it had stopped normally.
            let tx = self.write_tx()?;
            stopped += tx.execute(
                "UPDATE messages SET status = 'stopped', updated_at = ?1,
                     content = content || COALESCE((SELECT group_concat(k.text, '' ORDER BY k.id)
                         FROM message_chunks k WHERE k.message_id = messages.id), '')
                 WHERE status = 'streaming' AND writer IS ?2",
                params![now_ms(), writer],
            )?;
            tx.execute(
                "DELETE FROM message_chunks WHERE message_id NOT IN
                     (SELECT id FROM messages WHERE status = 'streaming')",
                [],
            )?;
            tx.commit()?;
        }
        if stopped > 0 {
            tracing::info!(stopped, "marked interrupted answers as stopped");
        }
        Ok(stopped)
    }
}

/// Opens the connection and brings the schema up to date; a damaged file shows as `Corrupt`.
fn open_checked(path: &Path, options: OpenOptions) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(e, path))?;
    conn.busy_timeout(options.busy_timeout)?;
    // Read the version before anything writes, so a newer database is left untouched.
    let found = migrations::schema_version(&conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
            path: path.to_path_buf(),
        });
    }
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "the database could not switch to WAL mode");
    }
    // FULL: every commit (the user's message, each 500 ms flush) survives a power cut too.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if found < SCHEMA_VERSION {
        migrations::migrate(&mut conn)?;
    }
    Ok(conn)
}

fn open_error(err: rusqlite::Error, path: &Path) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Io {
                action: "open the database",
                path: path.to_path_buf(),
                source: std::io::Error::other(err.to_string()),
            }
        }
        _ => err.into(),
    }
}

/// Renames the database and its WAL/SHM files to `rustbot.db.corrupt-<ms>`; never deletes.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = now_ms();
    let target = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    fs::rename(path, &target).map_err(|source| StoreError::Io {
        action: "move the damaged database aside from",
        path: path.to_path_buf(),
        source,
    })?;
    // A stale WAL would be replayed into the new database, so it moves with the file.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            let side_target = PathBuf::from(format!("{}{suffix}", target.display()));
            fs::rename(&side, &side_target).map_err(|source| StoreError::Io {
                action: "move the damaged database's side file aside from",
                path: side.clone(),
                source,
            })?;
        }
    }
    Ok(target)
}

/// A lock file held for the life of a `Store`, so other processes can tell whether the writer
/// of a `streaming` message is still running.
pub(crate) struct Session {
    pub(crate) id: String,
    dir: PathBuf,
    _file: File,
}

impl Session {
    fn create(data_dir: &Path) -> Result<Session> {
        let dir = data_dir.join("sessions");
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        fs::create_dir_all(&dir).map_err(io("create the sessions directory", &dir))?;
        let id = uuid::Uuid::now_v7().to_string();
        // Lock under a temporary name, then rename: nobody can see the final name unlocked.
        let tmp = dir.join(format!("{id}.tmp"));
        let file = File::create(&tmp).map_err(io("create the session lock", &tmp))?;
        file.lock().map_err(io("lock the session file", &tmp))?;
        let final_path = dir.join(format!("{id}.lock"));
        fs::rename(&tmp, &final_path).map_err(io("rename the session lock", &tmp))?;
        let session = Session {
            id,
            dir,
            _file: file,
        };
        session.remove_stale();
        Ok(session)
    }

    /// True when the process that owns session `id` still holds its lock.
    fn is_alive(&self, id: &str) -> bool {
        let path = self.dir.join(format!("{id}.lock"));
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            // Unknown: assume alive, so a running answer is never marked stopped by mistake.
            Err(std::fs::TryLockError::Error(_)) => true,
        }
    }

    /// Deletes lock files of sessions that ended without cleaning up.
    fn remove_stale(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".lock"))
            else {
                continue;
            };
            if id != self.id && !self.is_alive(id) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join(format!("{}.lock", self.id)));
    }
}

#[cfg(test)]
mod tests {
    use super::Store;
    use crate::store::{NewConversation, NewMessage, Role, StoreError};

    #[test]
    fn disk_full_is_reported_and_nothing_saved_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_conversation("c", &NewConversation::default())
            .unwrap();
        let kept = store
            .append_message(&NewMessage::new("c", Role::User, "saved before"))
            .unwrap();
        // Cap the file at its current size: the next growth fails with SQLITE_FULL.
        let pages: i64 = store
            .conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let big = "x".repeat(1 << 20);
        let err = store
            .append_message(&NewMessage::new("c", Role::User, &big))
            .unwrap_err();
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("disk") && msg.contains("full") && msg.contains("intact"),
            "{msg}"
        );
        assert_eq!(store.messages("c").unwrap().len(), 1);
        assert_eq!(
            store.message(kept).unwrap().unwrap().content,
            "saved before"
        );
    }
}
