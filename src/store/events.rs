//! The engine's event log: append, read the newest, prune by age.

use rusqlite::params;

use super::error::Result;
use super::{Store, StoredEvent, now_ms};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Store {
    /// Appends one event (JSON text) to the log.
    pub fn append_event(
        &self,
        conversation_id: Option<&str>,
        kind: &str,
        json: &str,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (conversation_id, kind, json, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![conversation_id, kind, json, now_ms()])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest `limit` events, newest first.
    pub fn recent_events(&self, limit: u32) -> Result<Vec<StoredEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, conversation_id, kind, json, at FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(StoredEvent {
                id: r.get(0)?,
                conversation_id: r.get(1)?,
                kind: r.get(2)?,
                json: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Deletes events older than `keep_days` days; returns how many were deleted.
    pub fn prune_events(&self, keep_days: u32) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(i64::from(keep_days).saturating_mul(DAY_MS));
        Ok(self
            .conn
            .execute("DELETE FROM events WHERE at < ?1", [cutoff])?)
    }
}
