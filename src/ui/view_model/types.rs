//! The shapes the window draws: conversations, messages, tool calls and run states.

use super::UnixMs;
use crate::engine::{ConversationId, RunStatus};
use crate::tools::Decision;

/// Who wrote a message as the chat shows it: a compaction's summary is its own author (the
/// crate's `Role` is the wire and store word: system, user, assistant, tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The person at the keyboard.
    User,
    /// The model.
    Assistant,
    /// A compaction's summary of the messages before it (sent in their place).
    Summary,
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
    pub role: Author,
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
    /// Images attached to it (user messages).
    pub images: Vec<crate::ui::images::ImageVm>,
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
    pub(super) fn from_decision(decision: Option<&Decision>) -> Self {
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
    pub role: Author,
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
    /// A reasoning model's thinking, shown apart above the answer.
    pub reasoning: Option<ReasoningVm>,
    /// Sources the answer cites (OpenRouter's web search), `[1]` first.
    pub citations: Vec<crate::core::Citation>,
    /// Images attached to it (user messages); text files are inside `text`.
    pub images: Vec<crate::ui::images::ImageVm>,
}

/// The thinking before (and between) an answer's words.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReasoningVm {
    /// What the model thought.
    pub text: String,
    /// When the first thought arrived.
    pub started_ms: UnixMs,
    /// When the answer began (or the run ended); None while it still thinks.
    pub ended_ms: Option<UnixMs>,
}

impl ReasoningVm {
    /// Seconds of thinking, once it ended.
    pub fn seconds(&self) -> Option<u64> {
        self.ended_ms
            .map(|end| (end.saturating_sub(self.started_ms) as u64).div_ceil(1000))
    }
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
    /// The model is thinking (reasoning tokens arrive, no answer yet).
    Thinking,
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
    /// How full the model's context window was with the last request.
    pub context: Option<ContextMeter>,
    /// Compactions seen in this session.
    pub compactions: u32,
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

/// The context meter in the chat header: tokens the last request took of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextMeter {
    /// Tokens used.
    pub used: u64,
    /// The model's window.
    pub window: u64,
}

impl ContextMeter {
    /// Percent of the window used (may pass 100 before compaction).
    pub fn percent(&self) -> u64 {
        self.used.saturating_mul(100) / self.window.max(1)
    }
}

/// The title a conversation gets before it has a user message.
pub const UNTITLED: &str = "New chat";

impl ConversationVm {
    pub(super) fn new(id: ConversationId, now: UnixMs) -> Self {
        Self {
            id,
            title: UNTITLED.to_string(),
            created_ms: now,
            updated_ms: now,
            messages: Vec::new(),
            run: RunState::Idle,
            notice: None,
            trimmed_turns: None,
            context: None,
            compactions: 0,
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
            .filter(|m| m.role == Author::Assistant && m.status == MessageStatus::Streaming)
    }

    /// The text of the last user message (for "Up edits the last message").
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Author::User)
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
