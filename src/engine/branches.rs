//! Branches: editing a sent message and resending it adds a sibling (no answer is ever
//! overwritten), selecting a branch makes its path the history the model sees, and deleting a
//! message keeps what followed it.

use crate::engine::event_loop::Engine;
use crate::engine::events::{ConversationId, EngineEvent};
use crate::llm::{ChatMessage, Role};
use crate::store::{self, MessageId};

impl Engine {
    /// Replaces a sent user message (`message_id`, else the last one) with `text` as a new
    /// sibling and answers it. Returns false (with an error event) when nothing was changed.
    pub(crate) async fn edit_message(
        &mut self,
        id: &ConversationId,
        message_id: Option<i64>,
        text: &str,
    ) -> bool {
        let Some(store) = self.store_for(id) else {
            // Without a store the history is linear: only the last user message can change.
            let conv = self.conversation(id);
            while conv.history.last().is_some_and(|m| m.role != Role::User) {
                conv.history.pop();
            }
            if conv.history.pop().is_none() || message_id.is_some() {
                self.error(Some(id), "there is no sent message to edit".into());
                return false;
            }
            conv.history.push(ChatMessage::user(text));
            return true;
        };
        let target = message_id
            .map(MessageId)
            .or(self.conversation(id).last_user);
        let Some(target) = target else {
            self.error(Some(id), "there is no sent message to edit".into());
            return false;
        };
        let key = id.0.clone();
        let content = text.to_string();
        let edited = store
            .call(move |s| {
                let old = s
                    .message(target)?
                    .filter(|m| m.conversation_id == key && m.role == store::Role::User);
                match old {
                    Some(_) => s.edit_message(target, &content).map(Some),
                    None => Ok(None),
                }
            })
            .await
            .and_then(|r| r);
        match edited {
            Ok(Some(_)) => {
                self.load_stored(id).await;
                true
            }
            Ok(None) => {
                self.error(
                    Some(id),
                    format!("message {target} is not a message you sent in this conversation"),
                );
                false
            }
            Err(e) => {
                self.error(Some(id), format!("the edit could not be saved: {e}"));
                false
            }
        }
    }

    /// Makes the branch through `message_id` the active one (its newest leaf).
    pub(crate) async fn select_branch(&mut self, id: &ConversationId, message_id: i64) {
        let Some(store) = self.store_for(id) else {
            self.error(Some(id), "branches need the store".into());
            return;
        };
        let selected = own_message(&store, id, message_id, |s, m| s.select_branch(m)).await;
        match selected {
            Ok(Some(leaf)) => {
                self.load_stored(id).await;
                self.bus.publish(EngineEvent::BranchSelected {
                    conversation: id.clone(),
                    leaf: leaf.0,
                });
            }
            Ok(None) => self.error(
                Some(id),
                format!("message {message_id} is not in this conversation"),
            ),
            Err(e) => self.error(Some(id), format!("the branch could not be selected: {e}")),
        }
    }

    /// Deletes a stored message of the conversation and reloads what the model will see.
    pub(crate) async fn delete_message(&mut self, id: &ConversationId, message_id: i64) {
        let Some(store) = self.store_for(id) else {
            self.error(Some(id), "deleting a message needs the store".into());
            return;
        };
        let deleted = own_message(&store, id, message_id, |s, m| s.delete_message(m)).await;
        match deleted {
            Ok(Some(ids)) => {
                self.load_stored(id).await;
                self.bus.publish(EngineEvent::MessageDeleted {
                    conversation: id.clone(),
                    message_ids: ids.into_iter().map(|m| m.0).collect(),
                });
            }
            Ok(None) => self.error(
                Some(id),
                format!("message {message_id} is not in this conversation"),
            ),
            Err(e) => self.error(Some(id), format!("the message could not be deleted: {e}")),
        }
    }
}

/// Runs `f` on the stored message `message_id` if it belongs to the conversation (`None` if
/// not), so that no command can reach into another conversation.
async fn own_message<R: Send + 'static>(
    store: &store::StoreHandle,
    id: &ConversationId,
    message_id: i64,
    f: impl FnOnce(&mut store::Store, MessageId) -> store::Result<R> + Send + 'static,
) -> store::Result<Option<R>> {
    let key = id.0.clone();
    store
        .call(move |s| {
            let belongs = s
                .message(MessageId(message_id))?
                .is_some_and(|m| m.conversation_id == key);
            if !belongs {
                return Ok(None);
            }
            f(s, MessageId(message_id)).map(Some)
        })
        .await
        .and_then(|r| r)
}
