//! What goes into the engine (`Command`) and what comes out (`EngineEvent`).

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::agents::AgentProfile;
pub use crate::core::{ApprovalScope, ConversationId};
use crate::engine::queue::Priority;

/// A provider profile for one conversation (`Command::SetProfile`): the door builds the
/// provider from a `[profiles.NAME]` table (`ResolvedSettings::resolve_with_profile`, then
/// `llm::build_provider`).
#[derive(Clone)]
pub struct ProviderProfile {
    /// The profile's name.
    pub name: String,
    /// The provider its requests go to.
    pub provider: std::sync::Arc<dyn crate::llm::Provider>,
    /// The model to ask (an agent's or a message's own model still wins).
    pub model: String,
}

impl fmt::Debug for ProviderProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderProfile")
            .field("name", &self.name)
            .field("provider", &self.provider.id())
            .field("model", &self.model)
            .finish()
    }
}

impl PartialEq for ProviderProfile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.model == other.model
            && std::sync::Arc::ptr_eq(&self.provider, &other.provider)
    }
}

/// A request to the engine. The UI, `ask`, `serve` and `native-host` speak only this.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start a new, empty conversation with this id.
    NewConversation {
        /// The id the caller chose (see `ConversationId::new`).
        conversation: ConversationId,
    },
    /// Add the user's message to the conversation and start a run that answers it.
    SendMessage {
        /// The conversation to answer in.
        conversation: ConversationId,
        /// The user's text.
        text: String,
        /// The model for this run only (None: the engine's model). The HTTP API and the
        /// native host pass the client's choice here, since `SetModel` would change it for all.
        model: Option<String>,
        /// Images sent with it (text attachments are already in `text`).
        images: Vec<crate::llm::ImagePart>,
    },
    /// Start a conversation that lives in memory only (never stored), holding these earlier
    /// messages: OpenAI clients send the whole history with every request.
    Seed {
        /// The id the caller chose.
        conversation: ConversationId,
        /// The earlier messages, oldest first.
        history: Vec<crate::llm::ChatMessage>,
    },
    /// Forget a conversation held in memory (stopping its run first); the store is untouched.
    /// Doors that seed a conversation per request send this when done, so memory stays bounded.
    Forget {
        /// The conversation to forget.
        conversation: ConversationId,
    },
    /// Answer the last user message again (after a failure, or to regenerate).
    Retry {
        /// The conversation whose last answer is retried.
        conversation: ConversationId,
    },
    /// Stop the conversation's run; the partial answer is kept and marked `stopped`.
    Stop {
        /// The conversation whose run stops.
        conversation: ConversationId,
    },
    /// Approve a tool call that waits for approval.
    ApproveTool {
        /// The conversation the call belongs to.
        conversation: ConversationId,
        /// The call's id.
        call_id: String,
        /// How far the approval reaches.
        scope: ApprovalScope,
    },
    /// Deny a tool call that waits for approval.
    DenyTool {
        /// The conversation the call belongs to.
        conversation: ConversationId,
        /// The call's id.
        call_id: String,
    },
    /// Answer in this conversation as this agent from the next run on (`None`: no agent, the
    /// engine's own system prompt, model and tools). Sent before `NewConversation` (or the
    /// first `SendMessage`), the agent's name is stored with the conversation.
    SetAgent {
        /// The conversation.
        conversation: ConversationId,
        /// The agent, resolved by the door (see `agents::Agent::profile`).
        agent: Option<AgentProfile>,
    },
    /// Send this conversation's requests through this provider profile from the next run on
    /// (`None`: the engine's own provider and model).
    SetProfile {
        /// The conversation.
        conversation: ConversationId,
        /// The profile, with its provider already built.
        profile: Option<ProviderProfile>,
    },
    /// Use this model for requests from now on.
    SetModel {
        /// The model id.
        model: String,
    },
    /// Use these sampling settings for requests from now on (`None`: keep that one). An
    /// agent's own temperature still wins for its conversations.
    SetSampling {
        /// The temperature.
        temperature: Option<f32>,
        /// The most tokens an answer may have.
        max_tokens: Option<u32>,
    },
    /// Replace a sent user message (the last one when `message_id` is None) and answer it
    /// again; the old message and its answers stay as a sibling branch.
    EditMessage {
        /// The conversation.
        conversation: ConversationId,
        /// The stored id of the user message to replace.
        message_id: Option<i64>,
        /// The new text.
        text: String,
    },
    /// Make the branch through this stored message the active one.
    SelectBranch {
        /// The conversation.
        conversation: ConversationId,
        /// A stored message on the wanted branch.
        message_id: i64,
    },
    /// Delete a stored message (an answer with the tool rounds that led to it); what followed
    /// it stays, attached to its parent.
    DeleteMessage {
        /// The conversation.
        conversation: ConversationId,
        /// The stored id of the message.
        message_id: i64,
    },
    /// Give a stored conversation a new title.
    RenameConversation {
        /// The conversation.
        conversation: ConversationId,
        /// The title (trimmed; an empty one is refused).
        title: String,
    },
    /// Pin a stored conversation to the top of the list, or unpin it.
    SetPinned {
        /// The conversation.
        conversation: ConversationId,
        /// Pinned or not.
        pinned: bool,
    },
    /// Delete a conversation with its messages (a running answer is stopped first).
    DeleteConversation {
        /// The conversation.
        conversation: ConversationId,
    },
    /// Send the following requests of conversations without a profile to this provider and
    /// model (the settings page changed provider, base URL or key).
    SetProvider {
        /// The provider, already built, and its model.
        profile: ProviderProfile,
    },
    /// Like `SetProvider`, from a description the engine builds the provider from (the
    /// settings page: doors above the engine never build providers). The answer is
    /// `ProviderChanged`.
    UseProvider {
        /// The provider's id as the settings name it (`openrouter`, `custom`, ...).
        name: String,
        /// What to build.
        settings: crate::config::provider::ProviderSettings,
        /// The model for the following requests.
        model: String,
    },
    /// Ask the described provider for its models (Settings' list and connection test); the
    /// answer is `ProviderProbed`. Nothing in use changes.
    ProbeProvider {
        /// What to ask.
        settings: crate::config::provider::ProviderSettings,
    },
    /// Let the conversation's next message through even if a spending limit is reached.
    AllowOverBudget {
        /// The conversation.
        conversation: ConversationId,
    },
    /// Sampling for the conversation's next run only (the HTTP API and the native host pass
    /// the client's fields here before `SendMessage`).
    SetRunSampling {
        /// The conversation.
        conversation: ConversationId,
        /// The fields given.
        sampling: RunSampling,
    },
    /// Summarise the conversation's older turns now (`rustbot conversations compact`, the
    /// chat's "Compact now"), whatever the window's fill.
    Compact {
        /// The conversation.
        conversation: ConversationId,
    },
    /// Stop every run and end the engine.
    Shutdown,
}

impl Command {
    /// The queue priority of this command: Stop and Shutdown beat everything.
    pub fn priority(&self) -> Priority {
        match self {
            Command::Stop { .. } | Command::Shutdown => Priority::Critical,
            _ => Priority::High,
        }
    }
}

/// Sampling of one run; each field unset keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSampling {
    /// Temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Answer token limit.
    pub max_tokens: Option<u32>,
    /// Seed.
    pub seed: Option<u64>,
    /// Stop texts.
    pub stop: Vec<String>,
    /// A system prompt for this run in place of the configured one (the Responses API's
    /// `instructions`, which a continued response does not inherit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// One passage a retrieval found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedPassage {
    /// The file.
    pub path: String,
    /// First and last line.
    pub lines: [i64; 2],
    /// Its score.
    pub score: f64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The model finished its answer.
    Complete,
    /// The user stopped it; the partial answer is kept.
    Stopped,
    /// An error ended it; the partial answer is kept.
    Failed,
}

impl RunStatus {
    /// The lower-case name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Complete => "complete",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
        }
    }
}

/// Measurements of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// The model that answered.
    pub model: String,
    /// Milliseconds from sending to the first token, if one came.
    pub ttft_ms: Option<u64>,
    /// Milliseconds from sending to the end.
    pub duration_ms: u64,
    /// Prompt tokens (from the server, else estimated).
    pub prompt_tokens: u64,
    /// Answer tokens (from the server, else estimated).
    pub completion_tokens: u64,
    /// Of those, tokens spent reasoning (when the server said).
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Whether the token counts came from the server.
    pub tokens_reported: bool,
    /// Answer tokens per second, counted from the first token.
    pub tokens_per_sec: Option<f64>,
    /// Cost in USD: the server's figure, else computed from the model's price, if known.
    pub cost_usd: Option<f64>,
}

/// Something that happened in the engine. Serialized as JSON with a `type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A conversation was created.
    ConversationCreated {
        /// Its id.
        conversation: ConversationId,
    },
    /// The user's message was accepted (and, with storage, committed) before the request.
    UserMessage {
        /// The conversation.
        conversation: ConversationId,
        /// The message text.
        text: String,
    },
    /// The agent state of a conversation changed.
    State {
        /// The conversation.
        conversation: ConversationId,
        /// The state left.
        from: String,
        /// The state entered.
        to: String,
        /// Milliseconds since the engine started.
        at_ms: u64,
    },
    /// A request is about to be sent.
    RunStarted {
        /// The conversation.
        conversation: ConversationId,
        /// The model asked.
        model: String,
    },
    /// Older turns were left out of the request to fit the model's context window.
    ContextTrimmed {
        /// The conversation.
        conversation: ConversationId,
        /// How many turns were left out.
        dropped_turns: usize,
    },
    /// Older messages were summarised to fit the model's context window; the summary is sent
    /// in their place (the originals stay in the store).
    Compacted {
        /// The conversation.
        conversation: ConversationId,
        /// How many messages of the history the summary stands for.
        replaced_messages: usize,
        /// Estimated tokens of the summary.
        summary_tokens: u64,
        /// The context window it was made for.
        window_tokens: u64,
    },
    /// How full the model's context window is with what the next request would send.
    ContextUsage {
        /// The conversation.
        conversation: ConversationId,
        /// Tokens the request takes (the provider's count where known, else an estimate).
        used_tokens: u64,
        /// The model's window.
        window_tokens: u64,
    },
    /// A piece of the answer's text (adjacent deltas may be coalesced for slow subscribers).
    Text {
        /// The conversation.
        conversation: ConversationId,
        /// The text.
        delta: String,
    },
    /// A piece of the model's reasoning, apart from the answer (not part of `Done`'s text).
    Reasoning {
        /// The conversation.
        conversation: ConversationId,
        /// The reasoning text.
        delta: String,
    },
    /// Passages of the agent's knowledge bases were found for the question (they go into
    /// the run's requests with their sources).
    Retrieval {
        /// The conversation.
        conversation: ConversationId,
        /// What was searched for (the user's question).
        query: String,
        /// The bases searched.
        bases: Vec<String>,
        /// What was found, best first.
        passages: Vec<RetrievedPassage>,
        /// How long the search took.
        ms: u64,
    },
    /// Sources the answer cites (OpenRouter's web search), numbered in order from 1.
    Citations {
        /// The conversation.
        conversation: ConversationId,
        /// The sources.
        citations: Vec<crate::llm::Citation>,
    },
    /// Token usage reported by the server.
    Usage {
        /// The conversation.
        conversation: ConversationId,
        /// Prompt tokens.
        prompt_tokens: u64,
        /// Answer tokens.
        completion_tokens: u64,
        /// Cost in USD, when the server reports it.
        cost_usd: Option<f64>,
        /// Of the answer tokens, those spent reasoning (0 when the server does not say).
        #[serde(default)]
        reasoning_tokens: u64,
    },
    /// The request failed before any token and will be retried.
    Retrying {
        /// The conversation.
        conversation: ConversationId,
        /// The attempt about to be made (1 for the first retry).
        attempt: u32,
        /// Milliseconds until it is made.
        delay_ms: u64,
        /// What went wrong.
        reason: String,
    },
    /// The model asked for a tool call; `decision` is None when the call was invalid.
    ToolCall {
        /// The conversation.
        conversation: ConversationId,
        /// The call's id.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The arguments as the model wrote them.
        arguments: String,
        /// Approved, needs approval, or denied (and by whom).
        decision: Option<crate::tools::Decision>,
    },
    /// The user answered an approval question.
    ToolDecision {
        /// The conversation.
        conversation: ConversationId,
        /// The call's id.
        call_id: String,
        /// The answer.
        decision: crate::tools::Decision,
    },
    /// A tool call's result, as sent back to the model.
    ToolResult {
        /// The conversation.
        conversation: ConversationId,
        /// The call's id.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The result text.
        content: String,
        /// Whether the call failed (or was denied).
        is_error: bool,
    },
    /// Spending is at 80% of a budget or more (the run still goes ahead).
    BudgetWarning {
        /// The conversation.
        conversation: ConversationId,
        /// Which budget.
        scope: crate::engine::budget::BudgetScope,
        /// Spent so far in USD.
        spent_usd: f64,
        /// The limit in USD.
        limit_usd: f64,
    },
    /// Another branch of the conversation became the active one; reload its messages.
    BranchSelected {
        /// The conversation.
        conversation: ConversationId,
        /// The stored id of the branch's newest message.
        leaf: i64,
    },
    /// Messages were deleted from the conversation; reload its messages.
    MessageDeleted {
        /// The conversation.
        conversation: ConversationId,
        /// The stored ids deleted.
        message_ids: Vec<i64>,
    },
    /// The conversation got a title from the model.
    TitleChanged {
        /// The conversation.
        conversation: ConversationId,
        /// The new title.
        title: String,
    },
    /// The run ended; `text` is the whole answer as kept.
    Done {
        /// The conversation.
        conversation: ConversationId,
        /// How it ended.
        status: RunStatus,
        /// The provider's finish reason, or `stopped` / `error`.
        reason: String,
        /// The whole answer text as kept (partial when stopped or failed).
        text: String,
        /// The error sentence, when it failed.
        error: Option<String>,
        /// Measurements of the run.
        metrics: RunMetrics,
    },
    /// Something went wrong that the user should see (a sentence saying what to do).
    Error {
        /// The conversation, if the error belongs to one.
        conversation: Option<ConversationId>,
        /// The sentence.
        message: String,
    },
    /// Where a run's question and answer sit in the store (after `Done`, when there is a
    /// store): the ids and branches the chat view needs, so it never reads the conversation
    /// again after an answer.
    RunStored {
        /// The conversation.
        conversation: ConversationId,
        /// The user message the run answered.
        question: StoredPlace,
        /// The answer shown (absent when nothing was stored for it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<StoredPlace>,
    },
    /// The answer to `UseProvider`: `error` when the provider could not be built (the old
    /// one stays in use).
    ProviderChanged {
        /// Why the new provider is not used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The answer to `ProbeProvider`: its models (sorted by id), or the exact error.
    ProviderProbed {
        /// The models listed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        models: Vec<crate::core::ModelInfo>,
        /// Why there is no list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// This subscriber fell behind and `dropped` events were discarded for it.
    Lagged {
        /// How many events were discarded since the last `Lagged`.
        dropped: u64,
    },
}

/// A stored message and the branches where it starts, for the ‹ 2/3 › switcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPlace {
    /// Its row id.
    pub id: i64,
    /// The message where its branch parts from the others (the message itself, or for an
    /// answer that began with tool calls, the first message of that turn).
    pub branch: i64,
    /// The branch point and its siblings, oldest first.
    pub siblings: Vec<i64>,
}

impl EngineEvent {
    /// The conversation this event belongs to, if any.
    pub fn conversation(&self) -> Option<&ConversationId> {
        match self {
            EngineEvent::ConversationCreated { conversation }
            | EngineEvent::UserMessage { conversation, .. }
            | EngineEvent::State { conversation, .. }
            | EngineEvent::RunStarted { conversation, .. }
            | EngineEvent::ContextTrimmed { conversation, .. }
            | EngineEvent::Compacted { conversation, .. }
            | EngineEvent::ContextUsage { conversation, .. }
            | EngineEvent::Text { conversation, .. }
            | EngineEvent::Reasoning { conversation, .. }
            | EngineEvent::Citations { conversation, .. }
            | EngineEvent::Retrieval { conversation, .. }
            | EngineEvent::Usage { conversation, .. }
            | EngineEvent::Retrying { conversation, .. }
            | EngineEvent::ToolCall { conversation, .. }
            | EngineEvent::ToolDecision { conversation, .. }
            | EngineEvent::ToolResult { conversation, .. }
            | EngineEvent::TitleChanged { conversation, .. }
            | EngineEvent::BudgetWarning { conversation, .. }
            | EngineEvent::BranchSelected { conversation, .. }
            | EngineEvent::MessageDeleted { conversation, .. }
            | EngineEvent::Done { conversation, .. }
            | EngineEvent::RunStored { conversation, .. } => Some(conversation),
            EngineEvent::Error { conversation, .. } => conversation.as_ref(),
            EngineEvent::Lagged { .. }
            | EngineEvent::ProviderChanged { .. }
            | EngineEvent::ProviderProbed { .. } => None,
        }
    }

    /// The event's `type` name as serialized.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineEvent::ConversationCreated { .. } => "conversation_created",
            EngineEvent::UserMessage { .. } => "user_message",
            EngineEvent::State { .. } => "state",
            EngineEvent::RunStarted { .. } => "run_started",
            EngineEvent::ContextTrimmed { .. } => "context_trimmed",
            EngineEvent::Compacted { .. } => "compacted",
            EngineEvent::ContextUsage { .. } => "context_usage",
            EngineEvent::Text { .. } => "text",
            EngineEvent::Reasoning { .. } => "reasoning",
            EngineEvent::Citations { .. } => "citations",
            EngineEvent::Retrieval { .. } => "retrieval",
            EngineEvent::Usage { .. } => "usage",
            EngineEvent::Retrying { .. } => "retrying",
            EngineEvent::ToolCall { .. } => "tool_call",
            EngineEvent::ToolDecision { .. } => "tool_decision",
            EngineEvent::ToolResult { .. } => "tool_result",
            EngineEvent::TitleChanged { .. } => "title_changed",
            EngineEvent::BudgetWarning { .. } => "budget_warning",
            EngineEvent::BranchSelected { .. } => "branch_selected",
            EngineEvent::MessageDeleted { .. } => "message_deleted",
            EngineEvent::Done { .. } => "done",
            EngineEvent::Error { .. } => "error",
            EngineEvent::RunStored { .. } => "run_stored",
            EngineEvent::ProviderChanged { .. } => "provider_changed",
            EngineEvent::ProviderProbed { .. } => "provider_probed",
            EngineEvent::Lagged { .. } => "lagged",
        }
    }
}
