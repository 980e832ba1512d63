//! Writing a long text without SQLite copying it.
//!
//! rusqlite binds every string with `SQLITE_TRANSIENT`: SQLite copies it before the statement
//! runs. And a string bound with a length has no terminating NUL that SQLite knows of, so the
//! full-text index copies it once more to add one. For the final text of a long answer (a
//! megabyte in `ask`'s paced benchmark) that is two extra copies at the moment of peak memory,
//! next to the record SQLite builds. Here the text is bound `SQLITE_STATIC` and NUL-terminated
//! (`-1` length), so both copies go: the statement reads the caller's buffer in place.
//!
//! The statement is prepared, bound, stepped and finalized within one call while the text is
//! borrowed, which is what `SQLITE_STATIC` asks of the caller.

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql, ffi};

use super::error::{Result, StoreError};

/// A text with a NUL after it, so that SQLite can read it where it is.
#[derive(Debug, Clone)]
pub struct NulText(String);

impl NulText {
    /// Takes `text`, adding the NUL (no copy unless the string has no spare byte).
    pub fn new(mut text: String) -> Self {
        text.push('\0');
        Self(text)
    }

    /// The text without the NUL.
    pub fn as_str(&self) -> &str {
        self.0.strip_suffix('\0').unwrap_or(&self.0)
    }

    /// The text back, without the NUL.
    pub fn into_string(mut self) -> String {
        self.0.pop();
        self.0
    }

    /// The text as a C string; `None` when it holds a NUL of its own (it is then bound the
    /// ordinary way, as a C string would end at that NUL).
    pub(crate) fn as_c_str(&self) -> Option<&CStr> {
        CStr::from_bytes_with_nul(self.0.as_bytes()).ok()
    }
}

/// A finalizes-on-drop prepared statement.
struct Prepared(*mut ffi::sqlite3_stmt);

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: the pointer came from sqlite3_prepare_v2 and is finalized once, here.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// Runs `sql` (one statement, no rows) with parameter `text_index` bound to `text` in place
/// and the others from `params` (`(index, value)`); returns the rows changed.
pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    text_index: usize,
    text: &CStr,
    params: &[(usize, &dyn ToSql)],
) -> Result<usize> {
    let sql = CString::new(sql).map_err(|_| StoreError::Invalid("SQL with a NUL".to_string()))?;
    // SAFETY: the connection outlives this call and is used from this thread only (a
    // `Connection` is not `Sync`); the handle is not closed here.
    let db = unsafe { conn.handle() };
    let mut raw = ptr::null_mut();
    // SAFETY: `sql` is NUL-terminated; `raw` receives the statement or stays null.
    let rc = unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut raw, ptr::null_mut()) };
    check(db, rc)?;
    if raw.is_null() {
        return Err(StoreError::Invalid("an empty statement".to_string()));
    }
    let stmt = Prepared(raw);
    for (index, value) in params {
        bind(db, stmt.0, *index, &value.to_sql()?)?;
    }
    // SAFETY: `text` is NUL-terminated and borrowed for this whole call; the statement that
    // reads it is finalized before it returns (SQLITE_STATIC: SQLite keeps the pointer).
    let rc = unsafe {
        ffi::sqlite3_bind_text(
            stmt.0,
            index(text_index)?,
            text.as_ptr(),
            -1,
            ffi::SQLITE_STATIC(),
        )
    };
    check(db, rc)?;
    // SAFETY: a prepared statement with its parameters bound.
    let rc = unsafe { ffi::sqlite3_step(stmt.0) };
    if rc != ffi::SQLITE_DONE && rc != ffi::SQLITE_ROW {
        return Err(error(db, rc));
    }
    // SAFETY: the connection handle is valid (see above).
    let changed = unsafe { ffi::sqlite3_changes64(db) };
    drop(stmt);
    Ok(usize::try_from(changed).unwrap_or(0))
}

/// Binds one ordinary parameter (copied by SQLite, like rusqlite does).
fn bind(
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    at: usize,
    value: &ToSqlOutput<'_>,
) -> Result<()> {
    let value = match value {
        ToSqlOutput::Borrowed(v) => *v,
        ToSqlOutput::Owned(v) => ValueRef::from(v),
        _ => {
            return Err(StoreError::Invalid(
                "a parameter of an unsupported kind".to_string(),
            ));
        }
    };
    let at = index(at)?;
    // SAFETY: `stmt` is a live prepared statement; text and blobs are copied by SQLite
    // (SQLITE_TRANSIENT) before these calls return.
    let rc = unsafe {
        match value {
            ValueRef::Null => ffi::sqlite3_bind_null(stmt, at),
            ValueRef::Integer(i) => ffi::sqlite3_bind_int64(stmt, at, i),
            ValueRef::Real(r) => ffi::sqlite3_bind_double(stmt, at, r),
            ValueRef::Text(t) => ffi::sqlite3_bind_text64(
                stmt,
                at,
                t.as_ptr().cast(),
                t.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            ValueRef::Blob(b) => ffi::sqlite3_bind_blob64(
                stmt,
                at,
                b.as_ptr().cast(),
                b.len() as u64,
                ffi::SQLITE_TRANSIENT(),
            ),
        }
    };
    check(db, rc)
}

/// A parameter index as SQLite takes it.
fn index(at: usize) -> Result<c_int> {
    c_int::try_from(at).map_err(|_| StoreError::Invalid(format!("parameter index {at}")))
}

/// `Ok` for SQLITE_OK, else the connection's error.
fn check(db: *mut ffi::sqlite3, rc: c_int) -> Result<()> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(error(db, rc))
    }
}

/// The error SQLite reports for `rc`, with its message, as rusqlite would give it.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> StoreError {
    // SAFETY: `db` is a live connection; the message is copied out before any other call.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    StoreError::from(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message))
}
