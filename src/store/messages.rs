//! Messages as a tree: appending, streaming flushes, branches and the active path.
//!
//! Nothing here overwrites a finished message: an edit or a regenerated answer is a new sibling,
//! and the conversation remembers which leaf is selected.

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use super::conversations::not_found;
use super::error::{Result, StoreError};
use super::in_place_text::{self, NulText};
use super::{
    MessageFinish, MessageId, MessageStatus, NewMessage, Role, Store, StoredMessage, now_ms,
};

/// A message's text as every reader sees it: a streaming answer's stored text followed by the
/// chunks appended since (`message_chunks`, in order); any other message's `content` as is.
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.parent_id, m.role, \
     CASE WHEN m.status = 'streaming' THEN m.content || COALESCE((SELECT group_concat(k.text, '' \
         ORDER BY k.id) FROM message_chunks k WHERE k.message_id = m.id), '') \
     ELSE m.content END, \
     m.status, m.error, m.model, m.tool_call_id, m.tool_calls, m.prompt_tokens, \
     m.completion_tokens, m.cost_usd, m.ttft_ms, m.duration_ms, m.created_at, m.updated_at, \
     m.reasoning, m.kind";

/// The final text of an answer, as the caller has it.
enum FinalText<'a> {
    /// Read in place by SQLite (NUL-terminated, no NUL inside).
    InPlace(&'a std::ffi::CStr),
    /// Bound the ordinary way (copied).
    Str(&'a str),
}

pub(crate) fn message_from_row(r: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        parent_id: r.get(2)?,
        role: r.get(3)?,
        content: r.get(4)?,
        status: r.get(5)?,
        error: r.get(6)?,
        model: r.get(7)?,
        tool_call_id: r.get(8)?,
        tool_calls: r.get(9)?,
        prompt_tokens: r.get(10)?,
        completion_tokens: r.get(11)?,
        cost_usd: r.get(12)?,
        ttft_ms: r.get(13)?,
        duration_ms: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        reasoning: r.get(17)?,
        kind: r.get(18)?,
    })
}

fn message_not_found(id: MessageId) -> StoreError {
    StoreError::NotFound {
        what: "message",
        id: id.to_string(),
    }
}

/// Inserts a message inside the caller's transaction and selects it as the leaf.
pub(crate) fn insert_message(
    conn: &Connection,
    writer: &str,
    new: &NewMessage,
) -> Result<MessageId> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM conversations WHERE id = ?1")?
        .query_row([&new.conversation_id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(not_found(&new.conversation_id));
    }
    if let Some(parent) = new.parent_id {
        let owner: Option<String> = conn
            .prepare_cached("SELECT conversation_id FROM messages WHERE id = ?1")?
            .query_row([parent], |r| r.get(0))
            .optional()?;
        match owner {
            None => return Err(message_not_found(parent)),
            Some(owner) if owner != new.conversation_id => {
                return Err(StoreError::Invalid(format!(
                    "Message {parent} belongs to another conversation, so it cannot be the parent of a message in {}.",
                    new.conversation_id
                )));
            }
            Some(_) => {}
        }
    }
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO messages (conversation_id, parent_id, role, content, status, error, model,
                               tool_call_id, tool_calls, created_at, updated_at, writer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
    )?
    .execute(params![
        new.conversation_id,
        new.parent_id,
        new.role,
        new.content,
        new.status,
        new.error,
        new.model,
        new.tool_call_id,
        new.tool_calls,
        now,
        writer,
    ])?;
    let id = MessageId(conn.last_insert_rowid());
    conn.prepare_cached(
        "UPDATE conversations SET selected_leaf_id = ?2, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![new.conversation_id, id, now])?;
    Ok(id)
}

/// Deletes a message's streamed chunks (its text has been written whole).
fn delete_chunks(conn: &Connection, id: MessageId) -> Result<()> {
    conn.prepare_cached("DELETE FROM message_chunks WHERE message_id = ?1")?
        .execute([id])?;
    Ok(())
}

impl Store {
    /// Adds a message and makes it the conversation's selected leaf.
    pub fn append_message(&self, new: &NewMessage) -> Result<MessageId> {
        let tx = self.write_tx()?;
        let id = insert_message(&tx, &self.session.id, new)?;
        tx.commit()?;
        Ok(id)
    }

    /// Replaces the whole text of an answer that is still streaming (and any appended chunks).
    ///
    /// The engine's periodic flush uses `append_streaming`, which writes only the new text.
    pub fn update_streaming(&self, id: MessageId, content: &str) -> Result<()> {
        let tx = self.write_tx()?;
        let changed = tx
            .prepare_cached(
                "UPDATE messages SET content = ?2, updated_at = ?3
                 WHERE id = ?1 AND status = 'streaming'",
            )?
            .execute(params![id, content, now_ms()])?;
        if changed == 0 {
            drop(tx);
            return Err(self.not_streaming(id));
        }
        delete_chunks(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Adds `delta` to the end of an answer that is still streaming (the periodic flush).
    ///
    /// One new row in `message_chunks`: the write costs the new bytes (one page while the
    /// chunks are small), not the answer so far. The message row itself is not touched.
    pub fn append_streaming(&self, id: MessageId, delta: &str) -> Result<()> {
        let changed = self
            .conn
            .prepare_cached(
                "INSERT INTO message_chunks (message_id, text)
                 SELECT ?1, ?2 WHERE EXISTS
                     (SELECT 1 FROM messages WHERE id = ?1 AND status = 'streaming')",
            )?
            .execute(params![id, delta])?;
        if changed == 0 {
            return Err(self.not_streaming(id));
        }
        Ok(())
    }

    fn not_streaming(&self, id: MessageId) -> StoreError {
        match self.message(id) {
            Err(e) => e,
            Ok(None) => message_not_found(id),
            Ok(Some(m)) => StoreError::Invalid(format!(
                "Message {id} is already {}, so streamed text can no longer be added to it.",
                m.status
            )),
        }
    }

    /// Records the tool calls an assistant message made (JSON array of calls).
    pub fn set_tool_calls(&self, id: MessageId, tool_calls_json: &str) -> Result<()> {
        let changed = self
            .conn
            .prepare_cached("UPDATE messages SET tool_calls = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, tool_calls_json, now_ms()])?;
        if changed == 0 {
            return Err(message_not_found(id));
        }
        Ok(())
    }

    /// Writes the final text, status and metrics of an answer.
    pub fn finish_message(&self, id: MessageId, finish: &MessageFinish) -> Result<()> {
        self.finish_with(id, FinalText::Str(&finish.content), finish)
    }

    /// `finish_message` with the text given apart (`finish.content` is not read) and read in
    /// place: a long answer is neither copied into a `MessageFinish` nor by SQLite (see
    /// `in_place_text`), the peak memory of `ask`.
    pub fn finish_message_text(
        &self,
        id: MessageId,
        text: &NulText,
        finish: &MessageFinish,
    ) -> Result<()> {
        let text = match text.as_c_str() {
            Some(c) => FinalText::InPlace(c),
            None => FinalText::Str(text.as_str()),
        };
        self.finish_with(id, text, finish)
    }

    fn finish_with(
        &self,
        id: MessageId,
        text: FinalText<'_>,
        finish: &MessageFinish,
    ) -> Result<()> {
        let status = finish.status.unwrap_or(MessageStatus::Complete);
        if status == MessageStatus::Streaming {
            return Err(StoreError::Invalid(
                "A message cannot be finished with status `streaming`.".to_string(),
            ));
        }
        let tx = self.write_tx()?;
        let now = now_ms();
        let params: [(usize, &dyn ToSql); 10] = [
            (1, &id),
            (3, &status),
            (4, &finish.error),
            (5, &finish.prompt_tokens),
            (6, &finish.completion_tokens),
            (7, &finish.cost_usd),
            (8, &finish.ttft_ms),
            (9, &finish.duration_ms),
            (10, &now),
            (11, &finish.reasoning),
        ];
        const SQL: &str = "UPDATE messages SET content = ?2, status = ?3, error = ?4, \
            prompt_tokens = ?5, completion_tokens = ?6, cost_usd = ?7, ttft_ms = ?8, \
            duration_ms = ?9, updated_at = ?10, reasoning = COALESCE(?11, reasoning) WHERE id = ?1";
        let changed = match text {
            FinalText::InPlace(c) => in_place_text::execute(&tx, SQL, 2, c, &params)?,
            FinalText::Str(t) => {
                let mut stmt = tx.prepare_cached(SQL)?;
                for (at, value) in params {
                    stmt.raw_bind_parameter(at, value)?;
                }
                stmt.raw_bind_parameter(2, t)?;
                stmt.raw_execute()?
            }
        };
        if changed == 0 {
            return Err(message_not_found(id));
        }
        // The text is whole now: the streamed chunks are folded into it.
        delete_chunks(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// One message by id.
    pub fn message(&self, id: MessageId) -> Result<Option<StoredMessage>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], message_from_row)
            .optional()?)
    }

    /// Every message of the conversation, all branches, oldest first.
    pub fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 ORDER BY m.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([conversation_id], message_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The selected branch, root first; this is what the UI shows and the model is sent.
    pub fn active_path(&self, conversation_id: &str) -> Result<Vec<StoredMessage>> {
        let Some(leaf) = self.selected_leaf(conversation_id)? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "WITH RECURSIVE path(id, depth) AS (
                 SELECT ?1, 0
                 UNION ALL
                 SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
                 WHERE m.parent_id IS NOT NULL
             )
             SELECT {MESSAGE_COLUMNS} FROM path JOIN messages m ON m.id = path.id
             ORDER BY path.depth DESC"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([leaf], message_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The selected leaf, falling back to the newest leaf if none is stored (or it was lost).
    fn selected_leaf(&self, conversation_id: &str) -> Result<Option<MessageId>> {
        let stored: Option<Option<MessageId>> = self
            .conn
            .prepare_cached(
                "SELECT (SELECT m.id FROM messages m
                         WHERE m.id = c.selected_leaf_id AND m.conversation_id = c.id)
                 FROM conversations c WHERE c.id = ?1",
            )?
            .query_row([conversation_id], |r| r.get(0))
            .optional()?;
        match stored {
            None => Err(not_found(conversation_id)),
            Some(Some(leaf)) => Ok(Some(leaf)),
            Some(None) => Ok(self
                .conn
                .prepare_cached("SELECT MAX(id) FROM messages WHERE conversation_id = ?1")?
                .query_row([conversation_id], |r| r.get(0))?),
        }
    }

    /// The message and its siblings (same parent), oldest first, and the message's index: the
    /// ‹2/3› switcher.
    pub fn siblings(&self, id: MessageId) -> Result<(Vec<MessageId>, usize)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.id FROM messages me JOIN messages s
                 ON s.conversation_id = me.conversation_id AND s.parent_id IS me.parent_id
             WHERE me.id = ?1 ORDER BY s.id",
        )?;
        let ids = stmt
            .query_map([id], |r| r.get::<_, MessageId>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let index = ids
            .iter()
            .position(|s| *s == id)
            .ok_or_else(|| message_not_found(id))?;
        Ok((ids, index))
    }

    /// Shows the branch through `id`: selects the newest leaf below it and returns that leaf.
    pub fn select_branch(&self, id: MessageId) -> Result<MessageId> {
        let leaf = self.newest_leaf_under(id).map_err(|e| match e {
            StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows) => message_not_found(id),
            e => e,
        })?;
        self.conn
            .prepare_cached(
                "UPDATE conversations SET selected_leaf_id = ?2
                 WHERE id = (SELECT conversation_id FROM messages WHERE id = ?1)",
            )?
            .execute(params![leaf, leaf])?;
        Ok(leaf)
    }

    /// The last user message on the active path (what Retry answers again).
    pub fn last_user_message(&self, conversation_id: &str) -> Result<Option<StoredMessage>> {
        Ok(self
            .active_path(conversation_id)?
            .into_iter()
            .rev()
            .find(|m| m.role == Role::User))
    }

    /// Edit-and-resend: adds a sibling of `id` with the new text and selects it.
    pub fn edit_message(&self, id: MessageId, content: &str) -> Result<MessageId> {
        let old = self.message(id)?.ok_or_else(|| message_not_found(id))?;
        let new = self.append_message(&NewMessage {
            conversation_id: old.conversation_id,
            parent_id: old.parent_id,
            role: old.role,
            content: content.to_string(),
            status: MessageStatus::Complete,
            error: None,
            model: old.model,
            tool_call_id: old.tool_call_id,
            tool_calls: None,
        })?;
        // An edit replaces the words: the attached images stay with the new version (they
        // are stored once; this only links them).
        self.conn
            .prepare_cached(
                "INSERT INTO message_attachments (message_id, position, hash)
                 SELECT ?2, position, hash FROM message_attachments WHERE message_id = ?1",
            )?
            .execute(rusqlite::params![id, new])?;
        Ok(new)
    }
}
