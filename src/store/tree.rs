//! The message tree as the chat view needs it: the active path with each message's siblings
//! (the ‹2/3› switcher), and deleting one message while keeping what follows it.

use std::collections::HashMap;

use rusqlite::params;

use super::error::{Result, StoreError};
use super::{MessageId, Role, Store, StoredMessage};

/// A message on the active path and the branches beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct PathMessage {
    /// The message.
    pub message: StoredMessage,
    /// It and its siblings (same parent), oldest first; one entry when there is no branch.
    pub siblings: Vec<MessageId>,
}

impl Store {
    /// The selected branch, root first, each message with its siblings.
    pub fn active_path_with_siblings(&self, conversation_id: &str) -> Result<Vec<PathMessage>> {
        let path = self.active_path(conversation_id)?;
        // One pass over the conversation's (id, parent) pairs rather than a query per message:
        // a 10,000-message conversation loads in one statement.
        let mut children: HashMap<Option<MessageId>, Vec<MessageId>> = HashMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, parent_id FROM messages WHERE conversation_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([conversation_id], |r| {
            Ok((r.get::<_, MessageId>(0)?, r.get::<_, Option<MessageId>>(1)?))
        })?;
        for row in rows {
            let (id, parent) = row?;
            children.entry(parent).or_default().push(id);
        }
        Ok(path
            .into_iter()
            .map(|message| {
                let siblings = children
                    .get(&message.parent_id)
                    .cloned()
                    .unwrap_or_else(|| vec![message.id]);
                PathMessage { message, siblings }
            })
            .collect())
    }

    /// The messages that share `id`'s parent (it included), oldest first.
    pub fn siblings_of(&self, id: MessageId) -> Result<Vec<MessageId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.id FROM messages m JOIN messages s
               ON s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id
             WHERE m.id = ?1 ORDER BY s.id",
        )?;
        let rows = stmt.query_map([id], |r| r.get::<_, MessageId>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a message and keeps what came after it (its replies move up to its parent).
    /// An answer goes together with the tool calls and results that led to it, since neither
    /// means anything alone. Returns the ids deleted, oldest first.
    pub fn delete_message(&self, id: MessageId) -> Result<Vec<MessageId>> {
        let tx = self.write_tx()?;
        let target = self.message(id)?.ok_or_else(|| StoreError::NotFound {
            what: "message",
            id: id.to_string(),
        })?;
        let mut chain = vec![target.clone()];
        if target.role != Role::User {
            while let Some(parent) = chain[0].parent_id {
                match self.message(parent)? {
                    Some(p) if matches!(p.role, Role::Assistant | Role::Tool) => chain.insert(0, p),
                    _ => break,
                }
            }
        }
        let new_parent = chain[0].parent_id;
        let deleted: Vec<MessageId> = chain.iter().map(|m| m.id).collect();

        let selected: Option<MessageId> = tx.query_row(
            "SELECT selected_leaf_id FROM conversations WHERE id = ?1",
            [&target.conversation_id],
            |r| r.get(0),
        )?;
        let first_child: Option<MessageId> = tx
            .query_row(
                "SELECT MIN(id) FROM messages WHERE parent_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap_or(None);
        tx.execute(
            "UPDATE messages SET parent_id = ?1 WHERE parent_id = ?2",
            params![new_parent, id],
        )?;
        // Bottom-up, so the ON DELETE CASCADE of parent_id only reaches side branches that hang
        // off the deleted tool rounds.
        for m in deleted.iter().rev() {
            tx.execute("DELETE FROM messages WHERE id = ?1", [m])?;
        }
        if selected.is_none_or(|leaf| deleted.contains(&leaf)) {
            // Where the view was: the deleted message's replies if it had any, else its parent.
            let leaf = match first_child {
                Some(child) => Some(self.newest_leaf_under(child)?),
                None => new_parent,
            };
            tx.execute(
                "UPDATE conversations SET selected_leaf_id = ?2 WHERE id = ?1",
                params![target.conversation_id, leaf],
            )?;
        }
        tx.execute(
            "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
            params![target.conversation_id, super::now_ms()],
        )?;
        tx.commit()?;
        Ok(deleted)
    }

    /// The newest leaf in the subtree under `id` (`id` itself when it has no replies).
    pub(crate) fn newest_leaf_under(&self, id: MessageId) -> Result<MessageId> {
        Ok(self
            .conn
            .prepare_cached(
                "WITH RECURSIVE sub(id) AS (
                 SELECT ?1
                 UNION ALL
                 SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id
             )
             SELECT m.id FROM sub JOIN messages m ON m.id = sub.id
             WHERE NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id)
             ORDER BY m.created_at DESC, m.id DESC LIMIT 1",
            )?
            .query_row([id], |r| r.get(0))?)
    }
}
