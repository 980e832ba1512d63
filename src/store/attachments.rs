//! Images attached to messages: stored once by the SHA-256 of their bytes (the same picture
//! sent twice, or a branch that resends it, costs nothing more) and linked to each message.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use super::{MessageId, Result, Store, StoredAttachment};

impl Store {
    /// Links `attachments` to message `id`, in order, storing each file once.
    pub fn attach(&self, id: MessageId, attachments: &[StoredAttachment]) -> Result<()> {
        if attachments.is_empty() {
            return Ok(());
        }
        let tx = self.write_tx()?;
        for (position, a) in attachments.iter().enumerate() {
            insert_attachment(&tx, id, position, a)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The attachments of every message of a conversation that has any, by message id.
    pub fn conversation_attachments(
        &self,
        conversation_id: &str,
    ) -> Result<HashMap<MessageId, Vec<StoredAttachment>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ma.message_id, a.name, a.media_type, a.data
             FROM message_attachments ma
             JOIN attachments a ON a.hash = ma.hash
             JOIN messages m ON m.id = ma.message_id
             WHERE m.conversation_id = ?1
             ORDER BY ma.message_id, ma.position",
        )?;
        let rows = stmt.query_map([conversation_id], |r| {
            Ok((
                r.get::<_, MessageId>(0)?,
                StoredAttachment {
                    name: r.get(1)?,
                    media_type: r.get(2)?,
                    data: r.get(3)?,
                },
            ))
        })?;
        let mut out: HashMap<MessageId, Vec<StoredAttachment>> = HashMap::new();
        for row in rows {
            let (id, a) = row?;
            out.entry(id).or_default().push(a);
        }
        Ok(out)
    }
}

/// Stores `a` once (by the SHA-256 of its bytes) and links it to message `id` at `position`.
pub(super) fn insert_attachment(
    conn: &Connection,
    id: MessageId,
    position: usize,
    a: &StoredAttachment,
) -> Result<()> {
    let hash: String = Sha256::digest(&a.data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    conn.prepare_cached(
        "INSERT OR IGNORE INTO attachments (hash, name, media_type, data)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash, a.name, a.media_type, a.data])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO message_attachments (message_id, position, hash)
         VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, position as i64, hash])?;
    Ok(())
}
