//! Conversations: create, read, list, rename, pin, archive, delete.

use rusqlite::{OptionalExtension, Row, params};

use super::error::{Result, StoreError};
use super::{Conversation, ConversationSummary, ListFilter, NewConversation, Store, now_ms};

pub(crate) const CONVERSATION_COLUMNS: &str = "id, title, provider, model, system_prompt, agent, \
     created_at, updated_at, pinned, archived, selected_leaf_id";

pub(crate) fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        title: r.get(1)?,
        provider: r.get(2)?,
        model: r.get(3)?,
        system_prompt: r.get(4)?,
        agent: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        pinned: r.get(8)?,
        archived: r.get(9)?,
        selected_leaf_id: r.get(10)?,
    })
}

/// A plain title from the first words of a message, for when asking the model fails.
pub fn fallback_title(text: &str) -> String {
    const MAX_WORDS: usize = 8;
    const MAX_CHARS: usize = 60;
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut title = words
        .iter()
        .take(MAX_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if title.chars().count() > MAX_CHARS {
        title = title.chars().take(MAX_CHARS).collect();
        title = title.trim_end().to_string();
    }
    if words.len() > MAX_WORDS || title.len() < words.join(" ").len() {
        title.push('…');
    }
    if title.is_empty() {
        "New conversation".to_string()
    } else {
        title
    }
}

impl Store {
    /// Creates a conversation with the caller's id (a UUIDv7 string).
    pub fn create_conversation(&self, id: &str, new: &NewConversation) -> Result<()> {
        if id.trim().is_empty() {
            return Err(StoreError::Invalid(
                "A conversation needs a non-empty id.".to_string(),
            ));
        }
        let now = now_ms();
        let inserted = self.conn.execute(
            "INSERT INTO conversations
                (id, title, provider, model, system_prompt, agent, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT(id) DO NOTHING",
            params![
                id,
                new.title,
                new.provider,
                new.model,
                new.system_prompt,
                new.agent,
                now
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Invalid(format!(
                "A conversation with id {id} already exists; choose a new id."
            )));
        }
        Ok(())
    }

    /// The conversation with this id, if it exists.
    pub fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], conversation_from_row)
            .optional()?)
    }

    /// Conversations for the sidebar: pinned first, then most recently updated.
    pub fn list_conversations(&self, filter: &ListFilter) -> Result<Vec<ConversationSummary>> {
        let archived_clause = if filter.archived_only {
            "WHERE c.archived = 1"
        } else if filter.include_archived {
            ""
        } else {
            "WHERE c.archived = 0"
        };
        let limit = filter.limit.map_or(-1, i64::from);
        let sql = format!(
            "SELECT c.id, c.title, c.created_at, c.updated_at, c.pinned, c.archived,
                    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
             FROM conversations c {archived_clause}
             ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC
             LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([limit], |r| {
            Ok(ConversationSummary {
                id: r.get(0)?,
                title: r.get(1)?,
                created_at: r.get(2)?,
                updated_at: r.get(3)?,
                pinned: r.get(4)?,
                archived: r.get(5)?,
                message_count: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Sets the title (the user renamed it).
    pub fn rename(&self, id: &str, title: &str) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE conversations SET title = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, title, now_ms()],
        )?;
        expect_one(changed, id)
    }

    /// Sets the title only if there is none yet; returns whether it was set.
    ///
    /// The generated title arrives after the first answer; it must not undo a rename.
    pub fn set_title_if_empty(&self, id: &str, title: &str) -> Result<bool> {
        let changed = self.conn.execute(
            "UPDATE conversations SET title = ?2
             WHERE id = ?1 AND (title IS NULL OR trim(title) = '')",
            params![id, title],
        )?;
        if changed == 0 && self.conversation(id)?.is_none() {
            return Err(not_found(id));
        }
        Ok(changed == 1)
    }

    /// Pins or unpins a conversation.
    pub fn set_pinned(&self, id: &str, pinned: bool) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE conversations SET pinned = ?2 WHERE id = ?1",
            params![id, pinned],
        )?;
        expect_one(changed, id)
    }

    /// Archives or restores a conversation.
    pub fn set_archived(&self, id: &str, archived: bool) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE conversations SET archived = ?2 WHERE id = ?1",
            params![id, archived],
        )?;
        expect_one(changed, id)
    }

    /// Deletes a conversation with its messages and tool calls; usage totals keep its spend.
    pub fn delete_conversation(&self, id: &str) -> Result<()> {
        let changed = self
            .conn
            .execute("DELETE FROM conversations WHERE id = ?1", [id])?;
        expect_one(changed, id)
    }
}

pub(crate) fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "conversation",
        id: id.to_string(),
    }
}

fn expect_one(changed: usize, id: &str) -> Result<()> {
    if changed == 0 {
        Err(not_found(id))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fallback_title;

    #[test]
    fn fallback_title_takes_first_words() {
        assert_eq!(
            fallback_title("  How do I sort a Vec?  "),
            "How do I sort a Vec?"
        );
        assert_eq!(
            fallback_title("one two three four five six seven eight nine ten"),
            "one two three four five six seven eight…"
        );
        assert_eq!(fallback_title("   "), "New conversation");
    }
}
