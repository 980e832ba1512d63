//! Compaction's records: summary nodes placed in the message tree, and the context windows
//! learned from servers.

use rusqlite::{OptionalExtension, params};

use super::error::{Result, StoreError};
use super::messages::insert_message;
use super::{MessageId, MessageStatus, NewMessage, Role, SUMMARY_KIND, Store, now_ms};

impl Store {
    /// Puts a summary node between `after` (the last message it replaces) and `before` (the
    /// first message it keeps): `before` becomes its child, so every path through `before`
    /// sends the summary, and a branch made from an earlier message sends the originals. The
    /// selected branch stays as it is.
    pub fn insert_summary(
        &self,
        conversation_id: &str,
        after: MessageId,
        before: MessageId,
        text: &str,
        model: &str,
    ) -> Result<MessageId> {
        let tx = self.write_tx()?;
        let parent_of_before: Option<MessageId> = tx
            .query_row(
                "SELECT parent_id FROM messages WHERE id = ?1 AND conversation_id = ?2",
                params![before, conversation_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if parent_of_before != Some(after) {
            return Err(StoreError::Invalid(format!(
                "Message {before} does not follow message {after}, so no summary can go between them."
            )));
        }
        let leaf: Option<MessageId> = tx.query_row(
            "SELECT selected_leaf_id FROM conversations WHERE id = ?1",
            [conversation_id],
            |r| r.get(0),
        )?;
        let mut new = NewMessage::new(conversation_id, Role::System, text);
        new.parent_id = Some(after);
        new.status = MessageStatus::Complete;
        new.model = Some(model.to_string());
        let id = insert_message(&tx, &self.session.id, &new)?;
        tx.execute(
            "UPDATE messages SET kind = ?2 WHERE id = ?1",
            params![id, SUMMARY_KIND],
        )?;
        tx.execute(
            "UPDATE messages SET parent_id = ?2 WHERE id = ?1",
            params![before, id],
        )?;
        tx.execute(
            "UPDATE conversations SET selected_leaf_id = ?2 WHERE id = ?1",
            params![conversation_id, leaf],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The context window learned for `model` at `provider`, if one was.
    pub fn learned_window(&self, provider: &str, model: &str) -> Result<Option<u64>> {
        let tokens: Option<i64> = self
            .conn
            .prepare_cached("SELECT tokens FROM model_windows WHERE provider = ?1 AND model = ?2")?
            .query_row([provider, model], |r| r.get(0))
            .optional()?;
        Ok(tokens.and_then(|t| u64::try_from(t).ok()))
    }

    /// Remembers the context window a server told us `model` has.
    pub fn learn_window(&self, provider: &str, model: &str, tokens: u64) -> Result<()> {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "INSERT INTO model_windows (provider, model, tokens, learned_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (provider, model) DO UPDATE SET tokens = ?3, learned_at = ?4",
            )?
            .execute(params![provider, model, tokens, now_ms()])?;
        Ok(())
    }

    /// How many summaries the conversations hold (the Stats page's compaction count).
    pub fn summary_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM messages WHERE kind = ?1",
            [SUMMARY_KIND],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{NewConversation, NewMessage, Role, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_conversation("c", &NewConversation::default())
            .unwrap();
        (dir, store)
    }

    #[test]
    fn a_summary_sits_between_replaced_and_kept_messages_and_the_leaf_stays() {
        let (_dir, store) = store();
        let mut parent = None;
        let mut ids = Vec::new();
        for (i, role) in [Role::User, Role::Assistant, Role::User, Role::Assistant]
            .into_iter()
            .enumerate()
        {
            let mut m = NewMessage::new("c", role, &format!("m{i}"));
            m.parent_id = parent;
            let id = store.append_message(&m).unwrap();
            parent = Some(id);
            ids.push(id);
        }
        let summary = store
            .insert_summary("c", ids[1], ids[2], "they said m0 and m1", "m")
            .unwrap();
        let path = store.active_path("c").unwrap();
        let roles: Vec<_> = path.iter().map(|m| (m.id, m.is_summary())).collect();
        assert_eq!(
            roles,
            vec![
                (ids[0], false),
                (ids[1], false),
                (summary, true),
                (ids[2], false),
                (ids[3], false)
            ]
        );
        // Not adjacent: refused, nothing changed.
        assert!(store.insert_summary("c", ids[0], ids[3], "x", "m").is_err());
        assert_eq!(store.summary_count().unwrap(), 1);
    }

    #[test]
    fn learned_windows_are_remembered_per_provider_and_model() {
        let (_dir, store) = store();
        assert_eq!(store.learned_window("custom", "a").unwrap(), None);
        store.learn_window("custom", "a", 1024).unwrap();
        store.learn_window("custom", "a", 2048).unwrap();
        assert_eq!(store.learned_window("custom", "a").unwrap(), Some(2048));
        assert_eq!(store.learned_window("openai", "a").unwrap(), None);
    }
}
