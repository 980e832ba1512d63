//! What the window shows, kept apart from how it is drawn: conversations, their messages and
//! the run state of each. Pure data updated by [`EngineEvent`]s and by the user's own actions;
//! no egui in here, so it is tested without a window.

use std::collections::HashMap;

use crate::engine::{ConversationId, EngineEvent, RunStatus};
use crate::tools::Decision;

/// Milliseconds since the Unix epoch (wall clock), as shown next to messages.
pub type UnixMs = i64;

mod branches;

/// The wall clock now, in [`UnixMs`].
pub fn now_ms() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person at the keyboard.
    User,
    /// The model.
    Assistant,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// A user message sent but not yet confirmed by the engine.
    Pending,
    /// An answer still streaming in.
    Streaming,
    /// Finished normally (or a confirmed user message).
    Complete,
    /// The user stopped the answer; the text is the partial answer.
    Stopped,
    /// An error ended the answer; `error` says why.
    Failed,
}

impl From<RunStatus> for MessageStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Complete => MessageStatus::Complete,
            RunStatus::Stopped => MessageStatus::Stopped,
            RunStatus::Failed => MessageStatus::Failed,
        }
    }
}

/// A conversation listed by storage.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSummary {
    /// Its id.
    pub id: ConversationId,
    /// Its title, once one is known.
    pub title: Option<String>,
    /// When it was created.
    pub created_ms: UnixMs,
    /// When it last changed.
    pub updated_ms: UnixMs,
    /// Shown at the top.
    pub pinned: bool,
}

/// A message read from storage.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub text: String,
    /// The model that answered.
    pub model: Option<String>,
    /// When it was written.
    pub created_ms: UnixMs,
    /// How it ended.
    pub status: MessageStatus,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Its row id in the store.
    pub store_id: Option<i64>,
    /// The branches beside it (more than one: a ‹2/3› switcher).
    pub siblings: Siblings,
    /// Tokens and cost, as shown under an answer.
    pub usage: Option<String>,
}

/// The branches at a message: the store ids of it and its siblings, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Siblings {
    /// The ids (of the messages where the branches part).
    pub ids: Vec<i64>,
    /// Which of them is on the shown branch.
    pub current: usize,
}

impl Siblings {
    /// Whether there is more than one branch to switch between.
    pub fn has_branches(&self) -> bool {
        self.ids.len() > 1
    }
}

/// Where a tool call stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCallState {
    /// The model's call was not valid (unknown tool, broken arguments).
    Invalid,
    /// Waiting for the user to approve or deny it.
    NeedsApproval,
    /// Approved (by policy or the user); running until its result comes.
    Running,
    /// Denied (by policy or the user).
    Denied,
    /// Finished; `is_error` when it failed.
    Finished {
        /// Whether it failed.
        is_error: bool,
    },
}

/// A tool call the model made during an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallVm {
    /// The call's id (for ApproveTool / DenyTool).
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model wrote them.
    pub arguments: String,
    /// Where it stands.
    pub state: ToolCallState,
    /// The result text sent back to the model, once there is one.
    pub result: Option<String>,
}

impl ToolCallState {
    fn from_decision(decision: Option<&Decision>) -> Self {
        match decision {
            None => ToolCallState::Invalid,
            Some(Decision::NeedsApproval) => ToolCallState::NeedsApproval,
            Some(Decision::Approved(_)) => ToolCallState::Running,
            Some(Decision::Denied(_)) => ToolCallState::Denied,
        }
    }
}

/// One message as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageVm {
    /// Unique within the view-model; stable while the message lives (used for caches and ids).
    pub id: u64,
    /// Who wrote it.
    pub role: Role,
    /// The text (Markdown for answers).
    pub text: String,
    /// The model that answered (answers only).
    pub model: Option<String>,
    /// When it was written or began.
    pub created_ms: UnixMs,
    /// Where it stands.
    pub status: MessageStatus,
    /// The engine's sentence when it failed.
    pub error: Option<String>,
    /// Tool calls made while answering, in order.
    pub tools: Vec<ToolCallVm>,
    /// Bumped on every change, so caches of parsed or measured content know to refresh.
    pub revision: u64,
    /// The answer's tokens and cost as shown under it (live answers, once done).
    pub usage: Option<String>,
    /// Its row id in the store, once known (after loading, or refreshing when a run ends).
    pub store_id: Option<i64>,
    /// The branches beside it; more than one shows ‹ 2/3 ›.
    pub siblings: Siblings,
}

/// What a conversation's run is doing, for the Send/Stop button and the status line.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RunState {
    /// Nothing running: the user may send.
    #[default]
    Idle,
    /// A message was sent; waiting for the engine to start the request.
    Sending,
    /// The request is out; waiting for the first token.
    Waiting {
        /// The model asked.
        model: String,
    },
    /// A failed request will be tried again.
    Retrying {
        /// The attempt about to be made.
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
    /// Tokens are arriving.
    Streaming,
    /// Stop was asked for; waiting for the engine to end the run.
    Stopping,
}

impl RunState {
    /// Whether a run is in flight (the Send button is a Stop button then).
    pub fn is_active(&self) -> bool {
        !matches!(self, RunState::Idle)
    }
}

/// One conversation as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationVm {
    /// Its id.
    pub id: ConversationId,
    /// The title shown in the sidebar.
    pub title: String,
    /// When it was created.
    pub created_ms: UnixMs,
    /// When something last happened in it.
    pub updated_ms: UnixMs,
    /// Its messages, oldest first.
    pub messages: Vec<MessageVm>,
    /// What its run is doing.
    pub run: RunState,
    /// An error sentence not tied to a message (e.g. the engine refused the request).
    pub notice: Option<String>,
    /// Older turns left out of the last request, if any.
    pub trimmed_turns: Option<usize>,
    /// Stored messages exist that are not loaded yet.
    pub history_pending: bool,
    /// Shown at the top of the sidebar.
    pub pinned: bool,
    /// A warning to show above the conversation (e.g. a budget nearly spent).
    pub warning: Option<String>,
    /// The agent answering here, when one was chosen (`Command::SetAgent`).
    pub agent: Option<String>,
    /// The provider profile answering here (`None`: the default provider).
    pub profile: Option<String>,
    /// Why this agent was chosen, when auto mode chose it ("Agent: coder (matched: rust)").
    pub agent_note: Option<String>,
}

/// The title a conversation gets before it has a user message.
pub const UNTITLED: &str = "New chat";

impl ConversationVm {
    fn new(id: ConversationId, now: UnixMs) -> Self {
        Self {
            id,
            title: UNTITLED.to_string(),
            created_ms: now,
            updated_ms: now,
            messages: Vec::new(),
            run: RunState::Idle,
            notice: None,
            trimmed_turns: None,
            history_pending: false,
            pinned: false,
            warning: None,
            agent: None,
            profile: None,
            agent_note: None,
        }
    }

    /// The answer being streamed now, if any.
    pub fn streaming_answer(&self) -> Option<&MessageVm> {
        self.messages
            .last()
            .filter(|m| m.role == Role::Assistant && m.status == MessageStatus::Streaming)
    }

    /// The text of the last user message (for "Up edits the last message").
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.text.as_str())
    }
}

/// A row of the sidebar's conversation list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    /// Its id.
    pub id: ConversationId,
    /// Its title.
    pub title: String,
    /// When something last happened in it.
    pub updated_ms: UnixMs,
    /// Whether a run is in flight.
    pub running: bool,
    /// Shown at the top.
    pub pinned: bool,
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
            && let Some(first) = loaded.iter().find(|m| m.role == Role::User)
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
        let message = self.new_message(Role::User, text.to_string(), None, now);
        let conv = self.ensure(id, now);
        conv.messages.push(MessageVm {
            status: MessageStatus::Pending,
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
            .is_some_and(|m| m.role == Role::Assistant)
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
        while conv.messages.last().is_some_and(|m| m.role != Role::User) {
            conv.messages.pop();
        }
        conv.messages.pop();
        self.user_sent(id, text, now);
    }

    /// Records that the user asked to stop the run.
    pub fn stop_requested(&mut self, id: &ConversationId) {
        if let Some(&i) = self.index.get(id)
            && self.conversations[i].run.is_active()
        {
            self.conversations[i].run = RunState::Stopping;
        }
    }

    /// Applies one engine event. Events of conversations not yet seen add them.
    pub fn apply(&mut self, event: &EngineEvent, now: UnixMs) {
        match event {
            EngineEvent::ConversationCreated { conversation } => {
                self.ensure(conversation, now);
            }
            EngineEvent::UserMessage { conversation, text } => {
                let revision = self.bump();
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                if let Some(pending) = conv
                    .messages
                    .iter_mut()
                    .find(|m| m.status == MessageStatus::Pending && m.text == *text)
                {
                    pending.status = MessageStatus::Complete;
                    pending.revision = revision;
                } else {
                    // Sent by another door (serve, native host) or before we subscribed.
                    let message = self.new_message(Role::User, text.clone(), None, now);
                    let conv = self.ensure(conversation, now);
                    if conv.title == UNTITLED {
                        conv.title = title_from(text);
                    }
                    conv.messages.push(message);
                }
            }
            EngineEvent::State { .. } => {}
            EngineEvent::RunStarted {
                conversation,
                model,
            } => {
                let message = self.new_message(Role::Assistant, String::new(), Some(model), now);
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                conv.notice = None;
                if conv.streaming_answer().is_none() {
                    conv.messages.push(MessageVm {
                        status: MessageStatus::Streaming,
                        ..message
                    });
                }
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Waiting {
                        model: model.clone(),
                    };
                }
            }
            EngineEvent::ContextTrimmed {
                conversation,
                dropped_turns,
            } => {
                self.ensure(conversation, now).trimmed_turns = Some(*dropped_turns);
            }
            EngineEvent::Text {
                conversation,
                delta,
            } => {
                let revision = self.bump();
                let message = self.new_message(Role::Assistant, String::new(), None, now);
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                if conv.streaming_answer().is_none() {
                    conv.messages.push(MessageVm {
                        status: MessageStatus::Streaming,
                        ..message
                    });
                }
                if let Some(last) = conv.messages.last_mut() {
                    last.text.push_str(delta);
                    last.revision = revision;
                }
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Streaming;
                }
            }
            EngineEvent::Usage { .. } => {}
            EngineEvent::TitleChanged {
                conversation,
                title,
            } => {
                if !title.trim().is_empty() {
                    self.ensure(conversation, now).title = title.trim().to_string();
                }
            }
            // The app reloads the conversation's messages from the store.
            EngineEvent::BranchSelected { .. } | EngineEvent::MessageDeleted { .. } => {}
            EngineEvent::BudgetWarning {
                conversation,
                scope,
                spent_usd,
                limit_usd,
            } => {
                self.ensure(conversation, now).warning = Some(format!(
                    "The {} budget is nearly spent: ${spent_usd:.2} of ${limit_usd:.2}.",
                    scope.as_str()
                ));
            }
            EngineEvent::ToolCall {
                conversation,
                call_id,
                name,
                arguments,
                decision,
            } => {
                let call = ToolCallVm {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                    state: ToolCallState::from_decision(decision.as_ref()),
                    result: None,
                };
                self.with_answer(conversation, now, |m| m.tools.push(call));
            }
            EngineEvent::ToolDecision {
                conversation,
                call_id,
                decision,
            } => {
                let state = ToolCallState::from_decision(Some(decision));
                self.with_call(conversation, call_id, now, |c| c.state = state);
            }
            EngineEvent::ToolResult {
                conversation,
                call_id,
                content,
                is_error,
                ..
            } => {
                self.with_call(conversation, call_id, now, |c| {
                    c.state = ToolCallState::Finished {
                        is_error: *is_error,
                    };
                    c.result = Some(content.clone());
                });
            }
            EngineEvent::Retrying {
                conversation,
                attempt,
                reason,
                ..
            } => {
                let conv = self.ensure(conversation, now);
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Retrying {
                        attempt: *attempt,
                        reason: reason.clone(),
                    };
                }
            }
            EngineEvent::Done {
                conversation,
                status,
                text,
                error,
                metrics,
                ..
            } => {
                let revision = self.bump();
                let message = self.new_message(Role::Assistant, String::new(), None, now);
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                conv.run = RunState::Idle;
                if conv.streaming_answer().is_none() {
                    if text.is_empty() && error.is_none() && *status == RunStatus::Complete {
                        return;
                    }
                    conv.messages.push(message);
                }
                if let Some(last) = conv.messages.last_mut() {
                    last.text.clone_from(text);
                    last.status = (*status).into();
                    last.error.clone_from(error);
                    if !metrics.model.is_empty() {
                        last.model = Some(metrics.model.clone());
                    }
                    last.usage = Some(usage_line(
                        metrics.prompt_tokens,
                        metrics.completion_tokens,
                        metrics.cost_usd,
                    ));
                    last.revision = revision;
                }
            }
            EngineEvent::Error {
                conversation: Some(conversation),
                message,
            } => {
                let conv = self.ensure(conversation, now);
                conv.notice = Some(message.clone());
                if matches!(conv.run, RunState::Sending | RunState::Stopping)
                    && conv.streaming_answer().is_none()
                {
                    conv.run = RunState::Idle;
                }
            }
            EngineEvent::Error {
                conversation: None,
                message,
            } => self.global_notices.push(message.clone()),
            EngineEvent::Lagged { dropped } => self.lagged_events += dropped,
        }
    }

    /// Changes the answer being streamed (adding one if none is), bumping its revision.
    fn with_answer(
        &mut self,
        id: &ConversationId,
        now: UnixMs,
        change: impl FnOnce(&mut MessageVm),
    ) {
        let message = self.new_message(Role::Assistant, String::new(), None, now);
        let revision = self.bump();
        let conv = self.ensure(id, now);
        conv.updated_ms = now;
        if conv.streaming_answer().is_none() {
            conv.messages.push(MessageVm {
                status: MessageStatus::Streaming,
                ..message
            });
        }
        if let Some(last) = conv.messages.last_mut() {
            change(last);
            last.revision = revision;
        }
    }

    /// Changes the tool call `call_id` of the conversation's latest answers.
    fn with_call(
        &mut self,
        id: &ConversationId,
        call_id: &str,
        now: UnixMs,
        change: impl FnOnce(&mut ToolCallVm),
    ) {
        let revision = self.bump();
        let conv = self.ensure(id, now);
        let found = conv.messages.iter_mut().rev().find_map(|m| {
            let i = m.tools.iter().position(|c| c.call_id == call_id)?;
            Some((m, i))
        });
        if let Some((message, i)) = found {
            change(&mut message.tools[i]);
            message.revision = revision;
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
        role: Role,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMetrics;

    fn conv(s: &str) -> ConversationId {
        ConversationId::from(s)
    }

    fn text(c: &str, delta: &str) -> EngineEvent {
        EngineEvent::Text {
            conversation: conv(c),
            delta: delta.into(),
        }
    }

    fn done(c: &str, status: RunStatus, text: &str, error: Option<&str>) -> EngineEvent {
        EngineEvent::Done {
            conversation: conv(c),
            status,
            reason: "x".into(),
            text: text.into(),
            error: error.map(String::from),
            metrics: RunMetrics {
                model: "m1".into(),
                ..RunMetrics::default()
            },
        }
    }

    fn started(c: &str) -> EngineEvent {
        EngineEvent::RunStarted {
            conversation: conv(c),
            model: "m1".into(),
        }
    }

    #[test]
    fn a_sent_message_streams_an_answer_and_ends_idle() {
        let mut vm = ViewModel::new();
        vm.select(conv("a"), 1);
        vm.user_sent(&conv("a"), "Hello there", 2);
        assert_eq!(
            vm.selected().map(|c| c.run.clone()),
            Some(RunState::Sending)
        );
        vm.apply(
            &EngineEvent::UserMessage {
                conversation: conv("a"),
                text: "Hello there".into(),
            },
            3,
        );
        vm.apply(&started("a"), 4);
        let c = vm.conversation(&conv("a")).unwrap();
        assert!(matches!(c.run, RunState::Waiting { .. }));
        assert_eq!(
            c.messages.len(),
            2,
            "user message confirmed, not duplicated"
        );
        assert_eq!(c.messages[0].status, MessageStatus::Complete);
        vm.apply(&text("a", "Hi"), 5);
        vm.apply(&text("a", "!"), 6);
        let c = vm.conversation(&conv("a")).unwrap();
        assert_eq!(c.run, RunState::Streaming);
        assert_eq!(c.messages[1].text, "Hi!");
        assert_eq!(c.messages[1].status, MessageStatus::Streaming);
        let rev = c.messages[1].revision;
        vm.apply(&done("a", RunStatus::Complete, "Hi!", None), 7);
        let c = vm.conversation(&conv("a")).unwrap();
        assert_eq!(c.run, RunState::Idle);
        assert_eq!(c.messages[1].status, MessageStatus::Complete);
        assert_eq!(c.messages[1].model.as_deref(), Some("m1"));
        assert!(c.messages[1].revision > rev);
        assert_eq!(c.title, "Hello there");
    }

    #[test]
    fn stop_keeps_the_partial_answer_marked_stopped() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "q", 1);
        vm.apply(&started("a"), 2);
        vm.apply(&text("a", "par"), 3);
        vm.stop_requested(&conv("a"));
        vm.apply(&text("a", "tial"), 4);
        assert_eq!(vm.conversation(&conv("a")).unwrap().run, RunState::Stopping);
        vm.apply(&done("a", RunStatus::Stopped, "partial", None), 5);
        let c = vm.conversation(&conv("a")).unwrap();
        assert_eq!(c.messages[1].text, "partial");
        assert_eq!(c.messages[1].status, MessageStatus::Stopped);
        assert_eq!(c.run, RunState::Idle);
    }

    #[test]
    fn a_failure_before_any_token_still_shows_an_answer_with_the_error() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "q", 1);
        vm.apply(
            &done("a", RunStatus::Failed, "", Some("The key was refused.")),
            2,
        );
        let c = vm.conversation(&conv("a")).unwrap();
        assert_eq!(c.messages.len(), 2);
        assert_eq!(c.messages[1].status, MessageStatus::Failed);
        assert_eq!(c.messages[1].error.as_deref(), Some("The key was refused."));
    }

    #[test]
    fn interleaved_conversations_keep_their_texts_apart() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "qa", 1);
        vm.user_sent(&conv("b"), "qb", 1);
        vm.apply(&started("a"), 2);
        vm.apply(&started("b"), 2);
        vm.apply(&text("a", "A1"), 3);
        vm.apply(&text("b", "B1"), 3);
        vm.apply(&text("a", "A2"), 4);
        vm.apply(&done("b", RunStatus::Complete, "B1", None), 5);
        vm.apply(&text("a", "A3"), 6);
        assert_eq!(
            vm.conversation(&conv("a")).unwrap().messages[1].text,
            "A1A2A3"
        );
        assert_eq!(vm.conversation(&conv("b")).unwrap().messages[1].text, "B1");
        assert!(vm.conversation(&conv("a")).unwrap().run.is_active());
        assert!(!vm.conversation(&conv("b")).unwrap().run.is_active());
    }

    #[test]
    fn summaries_are_newest_first_and_searchable() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "Rust lifetimes", 10);
        vm.user_sent(&conv("b"), "Bread recipe", 20);
        let rows = vm.summaries("");
        assert_eq!(rows[0].title, "Bread recipe");
        assert_eq!(rows[1].title, "Rust lifetimes");
        let rows = vm.summaries("LIFE");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, conv("a"));
    }

    #[test]
    fn tool_calls_attach_to_the_answer_and_follow_decisions_and_results() {
        use crate::tools::{ApprovedBy, DeniedBy};
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "list files", 1);
        vm.apply(&started("a"), 2);
        let call = |id: &str, decision| EngineEvent::ToolCall {
            conversation: conv("a"),
            call_id: id.into(),
            name: "fs__list".into(),
            arguments: "{}".into(),
            decision,
        };
        vm.apply(&call("c1", Some(Decision::NeedsApproval)), 3);
        vm.apply(
            &call("c2", Some(Decision::Approved(ApprovedBy::ReadOnly))),
            3,
        );
        vm.apply(&call("c3", None), 3);
        let tools = &vm.conversation(&conv("a")).unwrap().messages[1].tools;
        assert_eq!(tools[0].state, ToolCallState::NeedsApproval);
        assert_eq!(tools[1].state, ToolCallState::Running);
        assert_eq!(tools[2].state, ToolCallState::Invalid);
        vm.apply(
            &EngineEvent::ToolDecision {
                conversation: conv("a"),
                call_id: "c1".into(),
                decision: Decision::Denied(DeniedBy::User),
            },
            4,
        );
        vm.apply(
            &EngineEvent::ToolResult {
                conversation: conv("a"),
                call_id: "c2".into(),
                name: "fs__list".into(),
                content: "a.txt".into(),
                is_error: false,
            },
            5,
        );
        vm.apply(&started("a"), 6);
        vm.apply(&text("a", "There is a.txt."), 7);
        let c = vm.conversation(&conv("a")).unwrap();
        assert_eq!(c.messages.len(), 2, "one answer across tool rounds");
        let tools = &c.messages[1].tools;
        assert_eq!(tools[0].state, ToolCallState::Denied);
        assert_eq!(tools[1].state, ToolCallState::Finished { is_error: false });
        assert_eq!(tools[1].result.as_deref(), Some("a.txt"));
        assert_eq!(c.messages[1].text, "There is a.txt.");
    }

    #[test]
    fn stored_conversations_list_and_load_without_clobbering_live_ones() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("live"), "live question", 50);
        let row = |id: &str, title: &str, updated_ms| StoredSummary {
            id: conv(id),
            title: Some(title.into()),
            created_ms: 1,
            updated_ms,
            pinned: false,
        };
        vm.load_summaries(vec![
            row("old", "Old chat", 10),
            row("live", "stored title", 40),
        ]);
        assert_eq!(
            vm.conversation(&conv("live")).unwrap().title,
            "live question"
        );
        let old = vm.conversation(&conv("old")).unwrap();
        assert!(old.history_pending);
        assert_eq!(old.title, "Old chat");
        let loaded = vec![
            LoadedMessage {
                role: Role::User,
                text: "hi".into(),
                model: None,
                created_ms: 2,
                status: MessageStatus::Complete,
                error: None,
                store_id: None,
                siblings: Siblings::default(),
                usage: None,
            },
            LoadedMessage {
                role: Role::Assistant,
                text: "hello".into(),
                model: Some("m".into()),
                created_ms: 3,
                status: MessageStatus::Complete,
                error: None,
                store_id: None,
                siblings: Siblings::default(),
                usage: None,
            },
        ];
        vm.load_messages(&conv("old"), loaded.clone());
        let old = vm.conversation(&conv("old")).unwrap();
        assert_eq!(old.messages.len(), 2);
        assert!(!old.history_pending);
        vm.load_messages(&conv("old"), loaded);
        assert_eq!(
            vm.conversation(&conv("old")).unwrap().messages.len(),
            2,
            "loaded once"
        );
    }

    #[test]
    fn a_retry_replaces_the_last_answer() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "q", 1);
        vm.apply(&done("a", RunStatus::Failed, "par", Some("boom")), 2);
        vm.retry_requested(&conv("a"), 3);
        assert_eq!(vm.conversation(&conv("a")).unwrap().messages.len(), 1);
        vm.apply(&started("a"), 4);
        vm.apply(&done("a", RunStatus::Complete, "full", None), 5);
        let c = vm.conversation(&conv("a")).unwrap();
        assert_eq!(c.messages.len(), 2);
        assert_eq!(c.messages[1].text, "full");
    }

    #[test]
    fn pinned_first_and_removed_conversations_can_come_back() {
        let mut vm = ViewModel::new();
        vm.user_sent(&conv("a"), "older", 1);
        vm.user_sent(&conv("b"), "newer", 2);
        vm.user_sent(&conv("c"), "newest", 3);
        vm.set_pinned(&conv("a"), true);
        vm.rename(&conv("b"), "  Renamed ");
        let ids: Vec<_> = vm.summaries("").into_iter().map(|r| r.id).collect();
        assert_eq!(ids, [conv("a"), conv("c"), conv("b")]);
        vm.select(conv("b"), 4);
        let removed = vm.remove(&conv("b")).unwrap();
        assert!(vm.selected().is_none());
        assert!(vm.conversation(&conv("b")).is_none());
        assert_eq!(
            vm.conversation(&conv("c")).unwrap().title,
            "newest",
            "index kept right"
        );
        vm.restore(removed);
        assert_eq!(vm.conversation(&conv("b")).unwrap().title, "Renamed");
    }

    #[test]
    fn titles_are_the_first_line_shortened() {
        assert_eq!(title_from("\n  hi\nthere"), "hi");
        assert_eq!(title_from("   "), UNTITLED);
        let long = "x".repeat(100);
        assert_eq!(title_from(&long).chars().count(), TITLE_CHARS);
    }

    #[test]
    fn messages_from_other_doors_appear_and_lag_is_counted() {
        let mut vm = ViewModel::new();
        vm.apply(
            &EngineEvent::UserMessage {
                conversation: conv("z"),
                text: "from serve".into(),
            },
            1,
        );
        vm.apply(&EngineEvent::Lagged { dropped: 3 }, 2);
        let c = vm.conversation(&conv("z")).unwrap();
        assert_eq!(c.messages[0].text, "from serve");
        assert_eq!(c.title, "from serve");
        assert_eq!(vm.lagged_events, 3);
    }
}
