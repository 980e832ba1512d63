//! Provider-neutral request and stream types: the engine sees only these, never wire formats.

use serde::{Deserialize, Serialize};

pub use crate::core::Role;

/// A tool call the model asked for, fully assembled from its streamed fragments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for this call; results refer back to it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as a JSON text (as the model wrote it; may be invalid JSON).
    pub arguments: String,
}

/// One message of the history sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its text (may be empty for an assistant message that only calls tools).
    pub content: String,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `Tool` message: the id of the call this is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Images sent with a user message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImagePart>,
    /// An assistant message's thinking blocks (Anthropic), sent back unchanged, signature and
    /// all, in the tool-use turn that follows; never shown or sent as text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thinking: Vec<ThinkingBlock>,
}

/// An image sent with a user message (OpenAI `image_url` data URL, Anthropic base64 `image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePart {
    /// The file's name.
    pub name: String,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`.
    pub media_type: String,
    /// The bytes, base64-encoded once (shared, not copied, with every history copy).
    pub data: std::sync::Arc<str>,
}

impl ImagePart {
    /// An image part for `bytes`.
    pub fn new(name: &str, media_type: &str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        Self {
            name: name.to_string(),
            media_type: media_type.to_string(),
            data: base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into(),
        }
    }

    /// The image's bytes (None if `data` is not valid base64, which `new` never writes).
    pub fn bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(self.data.as_bytes())
            .ok()
    }

    /// `data:image/png;base64,...`.
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.media_type, self.data)
    }
}

/// One block of a model's thinking as the provider must get it back (Anthropic requires the
/// thinking that preceded a tool call, with its signature, in the next request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    /// The thinking text (empty for a redacted block).
    #[serde(default)]
    pub text: String,
    /// The provider's signature over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// A `redacted_thinking` block's opaque data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

pub use crate::core::{ModelInfo, ReasoningEffort};

impl ChatMessage {
    /// A plain text message.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            images: Vec::new(),
            thinking: Vec::new(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }

    /// The result of the tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
            images: Vec::new(),
            thinking: Vec::new(),
        }
    }
}

/// A tool the model may call, as described to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// One request for a streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model id, as the provider names it.
    pub model: String,
    /// The system prompt, if any (kept apart because Anthropic takes it apart).
    pub system: Option<String>,
    /// The conversation so far, oldest first, without the system prompt.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on the answer's tokens.
    pub max_tokens: Option<u32>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// How hard a reasoning model should think; None: the provider's default (not sent).
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Ask the provider to search the web itself (OpenRouter's `web` plugin); others ignore it.
    pub web_search: bool,
    /// Nucleus sampling (None: the provider's default).
    pub top_p: Option<f32>,
    /// Seed for repeatable sampling, where the provider supports it.
    pub seed: Option<u64>,
    /// Texts that end the answer when generated.
    pub stop: Vec<String>,
}

/// Why an answer ended, as the provider said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished its answer.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model wants tools to be run.
    ToolCalls,
    /// The provider filtered the answer.
    ContentFilter,
    /// Any other reason, verbatim.
    Other(String),
}

impl FinishReason {
    /// Maps a provider's finish/stop reason string to a `FinishReason`.
    pub fn from_wire(reason: &str) -> Self {
        match reason {
            "stop" | "end_turn" | "stop_sequence" => Self::Stop,
            "length" | "max_tokens" => Self::Length,
            "tool_calls" | "tool_use" | "function_call" => Self::ToolCalls,
            "content_filter" | "refusal" => Self::ContentFilter,
            other => Self::Other(other.to_string()),
        }
    }

    /// The short name used in events and summaries.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Other(s) => s,
        }
    }
}

/// Token counts (and cost when the server reports it) for one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
    /// Cost in US dollars as reported by the server (OpenRouter), if it did.
    pub cost_usd: Option<f64>,
    /// Of the answer's tokens, those the model spent reasoning, when the server says
    /// (`completion_tokens_details.reasoning_tokens`); 0 otherwise.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Largest token count taken from a server (2^40, a thousand times any context window):
    /// counts are summed per turn, conversation and day, so a hostile `u64::MAX` must not
    /// overflow those sums (a panic with overflow checks, a wrapped total without).
    pub const MAX_REPORTED_TOKENS: u64 = 1 << 40;

    /// Usage as a server reported it, bounded: token counts capped at `MAX_REPORTED_TOKENS`,
    /// a cost kept only when it is a finite, non-negative amount.
    pub fn reported(prompt_tokens: u64, completion_tokens: u64, cost_usd: Option<f64>) -> Self {
        Self {
            prompt_tokens: prompt_tokens.min(Self::MAX_REPORTED_TOKENS),
            completion_tokens: completion_tokens.min(Self::MAX_REPORTED_TOKENS),
            cost_usd: cost_usd.filter(|c| c.is_finite() && *c >= 0.0),
            reasoning_tokens: 0,
        }
    }

    /// The same usage with `reasoning_tokens` of the answer's tokens spent reasoning (bounded
    /// by the answer's own count).
    pub fn with_reasoning(mut self, reasoning_tokens: u64) -> Self {
        self.reasoning_tokens = reasoning_tokens.min(self.completion_tokens);
        self
    }
}

/// One event of a streamed answer, provider-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of the answer's text.
    TextDelta(String),
    /// A piece of the model's reasoning (`reasoning_content`, OpenRouter `reasoning`,
    /// Anthropic `thinking`): shown apart from the answer, never part of it.
    ReasoningDelta(String),
    /// A whole thinking block with its signature (Anthropic), to send back in the next turn.
    Thinking(ThinkingBlock),
    /// Sources the answer cites (OpenRouter's web search annotations), in citation order.
    Citations(Vec<crate::llm::Citation>),
    /// A fragment of a tool call; fragments with the same `index` belong together.
    ToolCallDelta {
        /// Position of the call in the answer (content block index for Anthropic).
        index: usize,
        /// The call id, when this fragment carries it.
        id: Option<String>,
        /// The tool name, when this fragment carries it (complete, never a fragment).
        name: Option<String>,
        /// The next piece of the JSON arguments text.
        arguments_fragment: String,
    },
    /// Token usage (may come in several parts; later values replace earlier non-zero ones).
    Usage(Usage),
    /// The request failed before any token and will be tried again after `delay_ms`.
    Retrying {
        /// The attempt about to be made (1 for the first retry).
        attempt: u32,
        /// How long until it is made.
        delay_ms: u64,
        /// What went wrong, as a sentence.
        reason: String,
    },
    /// The answer is complete.
    Finished(FinishReason),
}
