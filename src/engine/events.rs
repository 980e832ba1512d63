//! What comes out of the engine (`EngineEvent`); what goes in (`Command`) is in `command.rs`
//! and re-exported here.

use serde::{Deserialize, Serialize};

pub use crate::agents::AgentProfile;
pub use crate::core::{ApprovalScope, ConversationId};
pub use crate::engine::command::{Command, ProviderProfile, RunSampling};

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
