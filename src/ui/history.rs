//! Stored conversations for the sidebar and the chat view, read from the store on the async
//! runtime (never on the UI thread) and handed to the app through a channel.

use crate::engine::ConversationId;
use crate::store::{self, ListFilter, StoreReader};
use crate::ui::images::ImageVm;
use crate::ui::link::Background;
use crate::ui::view_model::{
    Author, LoadedMessage, MessageStatus, Siblings, StoredSummary, usage_line,
};

/// A result from the store.
#[derive(Debug)]
pub enum HistoryUpdate {
    /// The stored conversations, newest first.
    Conversations(Vec<StoredSummary>),
    /// One conversation's active branch.
    Messages {
        /// The conversation.
        conversation: ConversationId,
        /// Its messages, oldest first.
        messages: Vec<LoadedMessage>,
    },
    /// Reading failed (the sentence to show).
    Failed(String),
}

/// Reads the store off the UI thread.
pub struct History {
    store: StoreReader,
    results: Background<HistoryUpdate>,
}

/// Conversations listed in the sidebar at most.
const LIST_LIMIT: u32 = 500;

impl History {
    /// Reads from `store` with tasks on `runtime`.
    pub fn new(store: impl Into<StoreReader>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            store: store.into(),
            results: Background::new(runtime),
        }
    }

    /// Lets results wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.results.attach(ctx);
    }

    /// The next result, if one is ready.
    pub fn try_recv(&self) -> Option<HistoryUpdate> {
        self.results.try_recv()
    }

    /// Asks for the conversation list.
    pub fn request_list(&self) {
        self.spawn(|s| {
            let rows = s.list_conversations(&ListFilter {
                limit: Some(LIST_LIMIT),
                ..ListFilter::default()
            })?;
            Ok(HistoryUpdate::Conversations(
                rows.into_iter()
                    .map(|r| StoredSummary {
                        id: ConversationId(r.id),
                        title: r.title,
                        created_ms: r.created_at,
                        updated_ms: r.updated_at,
                        pinned: r.pinned,
                    })
                    .collect(),
            ))
        });
    }

    /// Asks for one conversation's messages (its active branch, with sibling ids).
    pub fn request_messages(&self, conversation: &ConversationId) {
        let conversation = conversation.clone();
        self.spawn(move |s| {
            let mut attached = s.conversation_attachments(&conversation.0)?;
            let mut messages = shown_messages(s.active_path_with_siblings(&conversation.0)?);
            for message in &mut messages {
                let stored = message
                    .store_id
                    .and_then(|id| attached.remove(&store::MessageId(id)))
                    .unwrap_or_default();
                // Thumbnails are decoded here, on the runtime, never on the UI thread.
                message.images = stored
                    .into_iter()
                    .map(|a| ImageVm::decode(&a.name, &a.media_type, a.data.into()))
                    .collect();
            }
            Ok(HistoryUpdate::Messages {
                conversation,
                messages,
            })
        });
    }

    /// A reader for the Events and Stats pages over the same store and runtime.
    pub fn panel_data(&self) -> crate::ui::stats_data::PanelData {
        crate::ui::stats_data::PanelData::new(self.store.clone(), self.results.runtime().clone())
    }

    fn spawn(
        &self,
        f: impl FnOnce(&store::Store) -> store::Result<HistoryUpdate> + Send + 'static,
    ) {
        self.results.read_store(&self.store, f, |e| {
            HistoryUpdate::Failed(format!("Could not read the history: {e}"))
        });
    }
}

/// The messages the chat view shows. A branch can start at a hidden message (an answer that
/// began with a tool call): its siblings then belong to the next message shown.
fn shown_messages(path: Vec<store::PathMessage>) -> Vec<LoadedMessage> {
    let mut shown = Vec::with_capacity(path.len());
    let mut pending = Siblings::default();
    for store::PathMessage { message, siblings } in path {
        if siblings.len() > pending.ids.len() || message.role == store::Role::User {
            pending = Siblings {
                current: siblings.iter().position(|s| *s == message.id).unwrap_or(0),
                ids: siblings.into_iter().map(|m| m.0).collect(),
            };
        }
        if let Some(mut loaded) = loaded_message(message) {
            loaded.siblings = std::mem::take(&mut pending);
            shown.push(loaded);
        }
    }
    shown
}

/// A stored message as the chat view shows it (system and tool messages are not shown).
fn loaded_message(m: store::StoredMessage) -> Option<LoadedMessage> {
    let role = match m.role {
        store::Role::User => Author::User,
        store::Role::Assistant if m.content.is_empty() && m.error.is_none() => return None,
        store::Role::Assistant => Author::Assistant,
        store::Role::System if m.is_summary() => Author::Summary,
        store::Role::System | store::Role::Tool => return None,
    };
    let status = match m.status {
        // A "streaming" row after a restart is an answer cut short by a crash.
        store::MessageStatus::Streaming | store::MessageStatus::Stopped => MessageStatus::Stopped,
        store::MessageStatus::Complete => MessageStatus::Complete,
        store::MessageStatus::Failed => MessageStatus::Failed,
    };
    let usage = (role == Author::Assistant && m.completion_tokens.is_some()).then(|| {
        let tokens = |t: Option<i64>| u64::try_from(t.unwrap_or(0)).unwrap_or(0);
        usage_line(
            tokens(m.prompt_tokens),
            tokens(m.completion_tokens),
            m.cost_usd,
        )
    });
    Some(LoadedMessage {
        role,
        text: m.content,
        model: m.model,
        created_ms: m.created_at,
        status,
        error: m.error,
        store_id: Some(m.id.0),
        siblings: Siblings::default(),
        usage,
        images: Vec::new(),
    })
}
