//! One run (a user turn, possibly several model rounds with tools between them) and the
//! per-conversation state the engine keeps.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::engine::compaction::{Compacting, LastPrompt, Summary};
use crate::engine::context::estimate_tokens;
use crate::engine::events::{AgentProfile, ProviderProfile, RunMetrics};
use crate::engine::state::StateMachine;
use crate::llm::{
    ChatMessage, FinishReason, LlmError, ModelInfo, ToolCall, ToolCallAccumulator, Usage,
};
use crate::store::MessageId;
use crate::tools::{Decision, ToolResult, ValidatedCall};

/// A tool call of the current round and what became of it.
pub(crate) struct PendingCall {
    pub call: ToolCall,
    pub validated: Option<ValidatedCall>,
    pub decision: Option<Decision>,
    pub result: Option<ToolResult>,
}

/// A run in flight.
pub(crate) struct Run {
    pub id: u64,
    pub cancel: CancellationToken,
    pub model: String,
    pub started: Instant,
    pub first_token: Option<Instant>,
    /// Text of the current round.
    pub text: String,
    /// The whole run's reasoning (every round), kept apart from the answer.
    pub reasoning: String,
    /// Thinking blocks of the current round, to send back with its tool calls.
    pub thinking: Vec<crate::llm::ThinkingBlock>,
    pub tool_calls: ToolCallAccumulator,
    /// Usage of the current round.
    pub usage: Option<Usage>,
    /// Usage of the rounds already finished.
    pub usage_before: Usage,
    pub usage_seen: bool,
    pub finish: Option<FinishReason>,
    pub error: Option<LlmError>,
    /// The stored assistant message this round streams into.
    pub message: Option<MessageId>,
    /// The run's first stored message: where its branch starts in the tree.
    pub first_message: Option<MessageId>,
    pub last_flush: Instant,
    /// How much of `text` is in the store already (the next flush appends the rest).
    pub flushed: usize,
    pub round: u32,
    pub pending: Vec<PendingCall>,
    /// USD this run may spend before a budget is reached (None: no limit).
    pub budget_headroom_usd: Option<f64>,
    /// Estimated prompt tokens of the current round.
    pub prompt_estimate: u64,
    /// History messages the current round's request holds.
    pub sent_len: usize,
    /// This round's history was summarised already (a second overflow trims instead).
    pub compacted: bool,
    /// A context-exceeded refusal was answered by compacting and sending again once.
    pub overflow_retried: bool,
    /// Knowledge passages for this run's question, sent after the system prompt.
    pub knowledge: Option<String>,
    /// Sampling asked for this run only (`Command::SetRunSampling`).
    pub sampling: crate::engine::events::RunSampling,
}

impl Run {
    pub fn new(id: u64, model: String) -> Self {
        let now = Instant::now();
        Self {
            id,
            cancel: CancellationToken::new(),
            model,
            started: now,
            first_token: None,
            text: String::new(),
            reasoning: String::new(),
            thinking: Vec::new(),
            tool_calls: ToolCallAccumulator::default(),
            usage: None,
            usage_before: Usage::default(),
            usage_seen: false,
            finish: None,
            error: None,
            message: None,
            first_message: None,
            last_flush: now,
            flushed: 0,
            round: 0,
            pending: Vec::new(),
            budget_headroom_usd: None,
            prompt_estimate: 0,
            sent_len: 0,
            compacted: false,
            overflow_retried: false,
            knowledge: None,
            sampling: Default::default(),
        }
    }

    /// Takes the current round's text (the round ends; the next one streams into a new
    /// stored message, so nothing of it is flushed yet).
    pub fn take_text(&mut self) -> String {
        self.flushed = 0;
        std::mem::take(&mut self.text)
    }

    /// Adds the current round's usage to the run's total and clears it for the next round.
    pub fn close_round_usage(&mut self) {
        if let Some(u) = self.usage.take() {
            self.usage_seen = true;
            self.usage_before.prompt_tokens += u.prompt_tokens;
            self.usage_before.completion_tokens += u.completion_tokens;
            self.usage_before.reasoning_tokens += u.reasoning_tokens;
            self.usage_before.cost_usd = match (self.usage_before.cost_usd, u.cost_usd) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        } else if !self.text.is_empty() {
            self.usage_before.completion_tokens += estimate_tokens(&self.text);
        }
    }

    /// The run's measurements at its end (call after `close_round_usage`).
    pub fn metrics(&self, now: Instant, info: Option<&ModelInfo>) -> RunMetrics {
        let usage = self.usage_before;
        let tokens_per_sec = self.first_token.and_then(|first| {
            let secs = now.duration_since(first).as_secs_f64();
            (secs > 0.0 && usage.completion_tokens > 0)
                .then(|| usage.completion_tokens as f64 / secs)
        });
        let cost_usd = if self.usage_seen {
            crate::llm::pricing::cost_usd(&self.model, &usage, info)
        } else {
            None
        };
        RunMetrics {
            model: self.model.clone(),
            ttft_ms: self
                .first_token
                .map(|t| t.duration_since(self.started).as_millis() as u64),
            duration_ms: now.duration_since(self.started).as_millis() as u64,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            tokens_reported: self.usage_seen,
            tokens_per_sec,
            cost_usd,
        }
    }
}

/// What the engine keeps per conversation.
pub(crate) struct Conversation {
    pub history: Vec<ChatMessage>,
    pub machine: StateMachine,
    pub run: Option<Run>,
    /// The newest stored message on the active branch.
    pub leaf: Option<MessageId>,
    /// The newest stored user message (a retry answers it again, as a sibling).
    pub last_user: Option<MessageId>,
    /// Kept in memory only, never stored (`Command::Seed`).
    pub ephemeral: bool,
    /// The next run may go over a spending limit (`Command::AllowOverBudget`).
    pub budget_override: bool,
    /// The agent answering here (`Command::SetAgent`).
    pub agent: Option<AgentProfile>,
    /// The provider profile answering here (`Command::SetProfile`).
    pub profile: Option<ProviderProfile>,
    /// The summary sent in place of the oldest messages, if the history was compacted.
    pub summary: Option<Summary>,
    /// The last request's prompt size as the provider counted it.
    pub last_prompt: Option<LastPrompt>,
    /// A summary being written.
    pub compacting: Option<Compacting>,
    /// Sampling for the next run only.
    pub next_sampling: Option<crate::engine::events::RunSampling>,
    /// The provider's token count over our estimate for the same request (1: not known yet);
    /// scales estimates to the model's tokenizer.
    pub token_ratio: f64,
}

impl Conversation {
    /// Learns how the provider's token count compares with our estimate of a request.
    pub fn calibrate(&mut self, estimated: u64, reported: u64) {
        if estimated > 0 && reported > 0 {
            self.token_ratio = (reported as f64 / estimated as f64).clamp(0.5, 4.0);
        }
    }

    /// `tokens` of the model's counting as tokens of our estimate.
    pub fn in_estimate(&self, tokens: u64) -> u64 {
        (tokens as f64 / self.token_ratio) as u64
    }
}

impl Conversation {
    pub fn new(clock: Instant) -> Self {
        Self {
            history: Vec::new(),
            machine: StateMachine::new(clock),
            run: None,
            leaf: None,
            last_user: None,
            ephemeral: false,
            budget_override: false,
            agent: None,
            profile: None,
            summary: None,
            last_prompt: None,
            compacting: None,
            token_ratio: 1.0,
            next_sampling: None,
        }
    }
}
