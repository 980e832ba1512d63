//! What the window shows, kept apart from how it is drawn: conversations, their messages and
//! the run state of each. Pure data updated by [`EngineEvent`]s and by the user's own actions;
//! no egui in here, so it is tested without a window.

use std::collections::HashMap;

use crate::engine::{ConversationId, EngineEvent, RunStatus};

/// Milliseconds since the Unix epoch (wall clock), as shown next to messages.
pub type UnixMs = i64;

mod branches;
mod events;
#[cfg(test)]
mod tests;
mod types;

pub use types::*;

/// The wall clock now, in [`UnixMs`].
pub fn now_ms() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Everything the window shows that comes from the engine or the user's actions.
#[derive(Debug, Default)]
pub struct ViewModel {
    conversations: Vec<ConversationVm>,
    index: HashMap<ConversationId, usize>,
    selected: Option<ConversationId>,
    next_message_id: u64,
    next_revision: u64,
    /// Errors not tied to a conversation, newest last.
    pub global_notices: Vec<String>,
    /// Events the engine dropped for us since the start (we fell behind).
    pub lagged_events: u64,
}

const TITLE_CHARS: usize = 48;

impl ViewModel {
    /// An empty view-model.
    pub fn new() -> Self {
        Self::default()
    }

    /// All conversations in the order they were first seen.
    pub fn conversations(&self) -> &[ConversationVm] {
        &self.conversations
    }

    /// One conversation.
    pub fn conversation(&self, id: &ConversationId) -> Option<&ConversationVm> {
        self.index.get(id).map(|&i| &self.conversations[i])
    }

    /// The conversation shown in the chat view.
    pub fn selected(&self) -> Option<&ConversationVm> {
        self.selected.as_ref().and_then(|id| self.conversation(id))
    }

    /// The id of the conversation shown in the chat view.
    pub fn selected_id(&self) -> Option<&ConversationId> {
        self.selected.as_ref()
    }

    /// Shows this conversation (adding it if unknown).
    pub fn select(&mut self, id: ConversationId, now: UnixMs) {
        self.ensure(&id, now);
        self.selected = Some(id);
    }

    /// Shows no conversation (a new chat not yet sent).
    pub fn clear_selection(&mut self) {
        self.selected = None;
    }

    /// Sidebar rows: newest activity first, filtered by `query` (case-insensitive, in titles
    /// and message text).
    pub fn summaries(&self, query: &str) -> Vec<ConversationSummary> {
        let query = query.trim().to_lowercase();
        let mut rows: Vec<ConversationSummary> = self
            .conversations
            .iter()
            .filter(|c| {
                query.is_empty()
                    || c.title.to_lowercase().contains(&query)
                    || c.messages
                        .iter()
                        .any(|m| m.text.to_lowercase().contains(&query))
            })
            .map(|c| ConversationSummary {
                id: c.id.clone(),
                title: c.title.clone(),
                updated_ms: c.updated_ms,
                running: c.run.is_active(),
                pinned: c.pinned,
            })
            .collect();
        rows.sort_by(|a, b| (b.pinned, b.updated_ms, &b.id).cmp(&(a.pinned, a.updated_ms, &a.id)));
        rows
    }

    /// Adds a conversation the engine (or storage) knows about, keeping an existing one.
    pub fn add_conversation(&mut self, id: ConversationId, title: Option<String>, now: UnixMs) {
        let conv = self.ensure(&id, now);
        if let Some(title) = title {
            conv.title = title;
        }
    }

    /// Renames a conversation.
    pub fn rename(&mut self, id: &ConversationId, title: &str) {
        if let Some(&i) = self.index.get(id)
            && !title.trim().is_empty()
        {
            self.conversations[i].title = title.trim().to_string();
        }
    }

    /// Pins or unpins a conversation.
    pub fn set_pinned(&mut self, id: &ConversationId, pinned: bool) {
        if let Some(&i) = self.index.get(id) {
            self.conversations[i].pinned = pinned;
        }
    }

    /// Records the conversation's agent (and, from auto mode, why it was chosen).
    pub fn set_agent(&mut self, id: &ConversationId, agent: Option<String>, note: Option<String>) {
        if let Some(&i) = self.index.get(id) {
            let conv = &mut self.conversations[i];
            conv.agent = agent;
            conv.agent_note = note;
        }
    }

    /// Records the conversation's provider profile (`None`: the default provider).
    pub fn set_profile(&mut self, id: &ConversationId, profile: Option<String>) {
        if let Some(&i) = self.index.get(id) {
            self.conversations[i].profile = profile;
        }
    }

    /// Takes a conversation out of the list (to delete it, or put it back with
    /// [`Self::restore`]).
    pub fn remove(&mut self, id: &ConversationId) -> Option<ConversationVm> {
        let i = self.index.remove(id)?;
        let conv = self.conversations.remove(i);
        for (j, c) in self.conversations.iter().enumerate().skip(i) {
            self.index.insert(c.id.clone(), j);
        }
        if self.selected.as_ref() == Some(id) {
            self.selected = None;
        }
        Some(conv)
    }

    /// Puts back a conversation taken out with [`Self::remove`].
    pub fn restore(&mut self, conv: ConversationVm) {
        if self.index.contains_key(&conv.id) {
            return;
        }
        self.index.insert(conv.id.clone(), self.conversations.len());
        self.conversations.push(conv);
    }

    /// Adds stored conversations to the list (ones already known keep their live state).
    pub fn load_summaries(&mut self, rows: Vec<StoredSummary>) {
        for row in rows {
            let StoredSummary {
                id,
                title,
                created_ms,
                updated_ms,
                pinned,
            } = row;
            if self.index.contains_key(&id) {
                continue;
            }
            let conv = self.ensure(&id, created_ms);
            conv.updated_ms = updated_ms;
            conv.pinned = pinned;
            conv.history_pending = true;
            if let Some(title) = title.filter(|t| !t.trim().is_empty()) {
                conv.title = title;
            }
        }
    }

    /// Fills a stored conversation's messages, unless live events already did.
    pub fn load_messages(&mut self, id: &ConversationId, messages: Vec<LoadedMessage>) {
        let Some(&i) = self.index.get(id) else {
            return;
        };
        if !self.conversations[i].history_pending {
            return;
        }
        let mut loaded = Vec::with_capacity(messages.len());
        for m in messages {
            loaded.push(self.message_from_store(m));
        }
        let conv = &mut self.conversations[i];
        conv.history_pending = false;
        if conv.title == UNTITLED
            && let Some(first) = loaded.iter().find(|m| m.role == Author::User)
        {
            conv.title = title_from(&first.text);
        }
        // Anything that arrived live while loading comes after the stored part (which may
        // already hold the live messages: keep only what is older than them).
        if let Some(first_live) = conv.messages.first() {
            loaded.retain(|m| m.created_ms < first_live.created_ms);
        }
        loaded.append(&mut conv.messages);
        conv.messages = loaded;
    }

    /// Records the user's message the moment it is sent, before the engine confirms it.
    pub fn user_sent(&mut self, id: &ConversationId, text: &str, now: UnixMs) {
        self.user_sent_with_images(id, text, Vec::new(), now);
    }

    /// Records the user's message with its attached images the moment it is sent.
    pub fn user_sent_with_images(
        &mut self,
        id: &ConversationId,
        text: &str,
        images: Vec<crate::ui::images::ImageVm>,
        now: UnixMs,
    ) {
        let message = self.new_message(Author::User, text.to_string(), None, now);
        let conv = self.ensure(id, now);
        conv.messages.push(MessageVm {
            status: MessageStatus::Pending,
            images,
            ..message
        });
        conv.run = RunState::Sending;
        conv.notice = None;
        conv.updated_ms = now;
        if conv.title == UNTITLED {
            conv.title = title_from(text);
        }
    }

    /// Records that the user asked to answer the last message again.
    /// The answer after the last user message leaves the view (the store keeps it as a sibling
    /// of the new one).
    pub fn retry_requested(&mut self, id: &ConversationId, now: UnixMs) {
        let conv = self.ensure(id, now);
        while conv
            .messages
            .last()
            .is_some_and(|m| m.role == Author::Assistant)
        {
            conv.messages.pop();
        }
        conv.run = RunState::Sending;
        conv.notice = None;
    }

    /// Records that the user replaced their last message: it and its answer leave the view (the
    /// store keeps them as a sibling branch) and the new text takes its place.
    pub fn edit_requested(&mut self, id: &ConversationId, text: &str, now: UnixMs) {
        let conv = self.ensure(id, now);
        while conv.messages.last().is_some_and(|m| m.role != Author::User) {
            conv.messages.pop();
        }
        // The edit replaces the words; the images stay (the store links them to the new
        // version too).
        let images = conv.messages.pop().map(|m| m.images).unwrap_or_default();
        self.user_sent_with_images(id, text, images, now);
    }

    /// Records that the user asked to stop the run.
    pub fn stop_requested(&mut self, id: &ConversationId) {
        if let Some(&i) = self.index.get(id)
            && self.conversations[i].run.is_active()
        {
            self.conversations[i].run = RunState::Stopping;
        }
    }

    fn ensure(&mut self, id: &ConversationId, now: UnixMs) -> &mut ConversationVm {
        let i = match self.index.get(id) {
            Some(&i) => i,
            None => {
                self.conversations
                    .push(ConversationVm::new(id.clone(), now));
                let i = self.conversations.len() - 1;
                self.index.insert(id.clone(), i);
                i
            }
        };
        &mut self.conversations[i]
    }

    fn bump(&mut self) -> u64 {
        self.next_revision += 1;
        self.next_revision
    }

    fn new_message(
        &mut self,
        role: Author,
        text: String,
        model: Option<&String>,
        now: UnixMs,
    ) -> MessageVm {
        self.next_message_id += 1;
        let revision = self.bump();
        MessageVm {
            id: self.next_message_id,
            role,
            text,
            model: model.cloned(),
            created_ms: now,
            status: MessageStatus::Complete,
            error: None,
            tools: Vec::new(),
            revision,
            usage: None,
            reasoning: None,
            citations: Vec::new(),
            images: Vec::new(),
            store_id: None,
            siblings: Siblings::default(),
        }
    }

    /// A view message for a stored one.
    fn message_from_store(&mut self, m: LoadedMessage) -> MessageVm {
        let message = self.new_message(m.role, m.text, m.model.as_ref(), m.created_ms);
        MessageVm {
            status: m.status,
            error: m.error,
            usage: m.usage,
            store_id: m.store_id,
            siblings: m.siblings,
            images: m.images,
            ..message
        }
    }
}

/// The line under an answer: tokens in and out, and the cost when known.
pub fn usage_line(prompt_tokens: u64, completion_tokens: u64, cost_usd: Option<f64>) -> String {
    format!(
        "{prompt_tokens} + {completion_tokens} tokens · {}",
        cost_usd.map_or("cost unknown".to_string(), |c| format!("${c:.4}"))
    )
}

/// A sidebar title from the first user message: its first line, shortened.
pub fn title_from(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let Some(line) = line else {
        return UNTITLED.to_string();
    };
    if line.chars().count() <= TITLE_CHARS {
        line.to_string()
    } else {
        let mut short: String = line.chars().take(TITLE_CHARS - 1).collect();
        short.push('…');
        short
    }
}
