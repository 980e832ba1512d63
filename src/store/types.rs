//! Plain data types that cross the store's boundary.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// Row id of a message; unique across the whole database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl ToSql for MessageId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.0.into())
    }
}

impl FromSql for MessageId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(MessageId)
    }
}

/// Declares a string-backed enum stored as TEXT, with `as_str`, `FromStr` and SQL conversions.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The text stored in the database and in exports.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

pub use crate::core::Role;

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Role {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

text_enum! {
    /// Where a message is in its life.
    MessageStatus {
        /// An answer still arriving; flushed periodically.
        Streaming => "streaming",
        /// Finished normally.
        Complete => "complete",
        /// Cut short by the user, a shutdown or a crash; the text so far is kept.
        Stopped => "stopped",
        /// Ended by an error; the text so far is kept beside the error.
        Failed => "failed",
    }
}

text_enum! {
    /// How a tool call was (or was not) allowed to run.
    ToolApproval {
        /// The tool needs no approval.
        Auto => "auto",
        /// The user (or `--approve all`) allowed it.
        Approved => "approved",
        /// The user (or `--approve none`) refused it.
        Denied => "denied",
        /// Still waiting for an answer.
        Pending => "pending",
    }
}

text_enum! {
    /// Outcome of a tool call.
    ToolCallStatus {
        /// Not started yet (waiting for approval).
        Pending => "pending",
        /// Running now.
        Running => "running",
        /// Returned a result.
        Succeeded => "succeeded",
        /// Returned an error.
        Failed => "failed",
        /// Never ran because approval was denied.
        Denied => "denied",
        /// Stopped before it finished.
        Cancelled => "cancelled",
    }
}

/// What the caller supplies to create a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewConversation {
    /// Title, if already known; usually set later with `set_title_if_empty`.
    pub title: Option<String>,
    /// Provider id (`openrouter`, `openai`...).
    pub provider: String,
    /// Model id.
    pub model: String,
    /// System prompt sent before the messages.
    pub system_prompt: String,
    /// Agent (persona) name, if one was chosen.
    pub agent: Option<String>,
    /// Provider profile name, if one was chosen.
    pub profile: Option<String>,
}

/// A stored conversation with all its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// UUIDv7 text chosen by the creator.
    pub id: String,
    /// Title, once one is known.
    pub title: Option<String>,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// System prompt.
    pub system_prompt: String,
    /// Agent (persona) name.
    pub agent: Option<String>,
    /// Provider profile name.
    #[serde(default)]
    pub profile: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last change (new message, rename), unix ms.
    pub updated_at: i64,
    /// Shown at the top of the list.
    pub pinned: bool,
    /// Hidden from the default list.
    pub archived: bool,
    /// Leaf of the branch the user is looking at.
    pub selected_leaf_id: Option<MessageId>,
}

/// One row of the conversation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Conversation id.
    pub id: String,
    /// Title, once one is known.
    pub title: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last change, unix ms.
    pub updated_at: i64,
    /// Shown at the top of the list.
    pub pinned: bool,
    /// Hidden from the default list.
    pub archived: bool,
    /// Messages in the whole tree, all branches.
    pub message_count: i64,
}

/// Which conversations `list_conversations` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Include archived conversations (default: hide them).
    pub include_archived: bool,
    /// Only archived conversations (for an "Archive" view); implies `include_archived`.
    pub archived_only: bool,
    /// At most this many rows.
    pub limit: Option<u32>,
}

/// What the caller supplies to add a message.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Conversation the message belongs to.
    pub conversation_id: String,
    /// Message it answers or follows; `None` for a first message.
    pub parent_id: Option<MessageId>,
    /// Author.
    pub role: Role,
    /// Text (may be empty while streaming starts).
    pub content: String,
    /// Usually `Complete` for user messages and `Streaming` for a starting answer.
    pub status: MessageStatus,
    /// Error text, for a message stored already failed.
    pub error: Option<String>,
    /// Model that wrote it (assistant messages).
    pub model: Option<String>,
    /// For `Tool` messages: the call this result answers.
    pub tool_call_id: Option<String>,
    /// For assistant messages that call tools: the provider-neutral JSON array of calls.
    pub tool_calls: Option<String>,
}

impl NewMessage {
    /// A complete message with no parent, model or tool data; adjust fields as needed.
    pub fn new(conversation_id: &str, role: Role, content: &str) -> Self {
        Self {
            conversation_id: conversation_id.to_string(),
            parent_id: None,
            role,
            content: content.to_string(),
            status: MessageStatus::Complete,
            error: None,
            model: None,
            tool_call_id: None,
            tool_calls: None,
        }
    }
}

/// The final state of a streamed answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFinish {
    /// Full text.
    pub content: String,
    /// `Complete`, `Stopped` or `Failed`.
    pub status: Option<MessageStatus>,
    /// Error text for `Failed` (or a stop reason).
    pub error: Option<String>,
    /// Prompt tokens the provider reported.
    pub prompt_tokens: Option<i64>,
    /// Completion tokens the provider reported.
    pub completion_tokens: Option<i64>,
    /// Cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Time to first token, ms.
    pub ttft_ms: Option<i64>,
    /// Whole request duration, ms.
    pub duration_ms: Option<i64>,
    /// The model's reasoning, kept apart from the text (None: leave as is).
    pub reasoning: Option<String>,
}

/// A file stored with a message (an image), content-addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Row id.
    pub id: MessageId,
    /// Conversation it belongs to.
    pub conversation_id: String,
    /// Parent in the tree.
    pub parent_id: Option<MessageId>,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Life-cycle state.
    pub status: MessageStatus,
    /// Error text.
    pub error: Option<String>,
    /// Model that wrote it.
    pub model: Option<String>,
    /// Tool call this result answers.
    pub tool_call_id: Option<String>,
    /// JSON array of tool calls this message makes.
    pub tool_calls: Option<String>,
    /// Prompt tokens.
    pub prompt_tokens: Option<i64>,
    /// Completion tokens.
    pub completion_tokens: Option<i64>,
    /// Cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Time to first token, ms.
    pub ttft_ms: Option<i64>,
    /// Request duration, ms.
    pub duration_ms: Option<i64>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last change, unix ms.
    pub updated_at: i64,
    /// The model's reasoning before this answer, apart from its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// What kind of node this is beyond its role: `summary` for a compaction's summary of the
    /// messages before it (None: an ordinary message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `StoredMessage::kind` of a compaction's summary.
pub const SUMMARY_KIND: &str = "summary";

impl StoredMessage {
    /// Whether this node is a compaction's summary of the messages before it.
    pub fn is_summary(&self) -> bool {
        self.kind.as_deref() == Some(SUMMARY_KIND)
    }
}

/// One billed request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Conversation it belongs to (kept as `None` after the conversation is deleted).
    pub conversation_id: Option<String>,
    /// Answer it produced.
    pub message_id: Option<MessageId>,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cost in US dollars, when known.
    pub cost_usd: Option<f64>,
    /// When, unix ms.
    pub at: i64,
    /// Of the completion tokens, those spent reasoning (0 when the server did not say).
    #[serde(default)]
    pub reasoning_tokens: i64,
}

/// Token and cost totals for one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Number of requests.
    pub requests: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Of those, tokens spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: i64,
    /// Cost in US dollars (requests without a known cost count as 0).
    pub cost_usd: f64,
}

/// Token and cost totals, overall and per model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    /// Number of requests.
    pub requests: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Of those, tokens spent reasoning.
    pub reasoning_tokens: i64,
    /// Cost in US dollars.
    pub cost_usd: f64,
    /// Per model, most expensive first.
    pub by_model: Vec<ModelUsage>,
}

/// A tool call to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// Conversation it belongs to.
    pub conversation_id: String,
    /// Assistant message that asked for it.
    pub message_id: Option<MessageId>,
    /// The provider's call id.
    pub call_id: Option<String>,
    /// Tool name (`server__tool` for MCP tools).
    pub name: String,
    /// Arguments, JSON text.
    pub arguments: String,
    /// Result text, once there is one.
    pub result: Option<String>,
    /// How it was approved.
    pub approval: ToolApproval,
    /// Outcome.
    pub status: ToolCallStatus,
    /// Start time, unix ms.
    pub started_at: i64,
    /// End time, unix ms.
    pub finished_at: Option<i64>,
}

/// A recorded tool call with its row id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToolCall {
    /// Row id.
    pub id: i64,
    /// The recorded data.
    #[serde(flatten)]
    pub record: ToolCallRecord,
}

/// One engine event from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Row id (increasing).
    pub id: i64,
    /// Conversation it concerns, if any.
    pub conversation_id: Option<String>,
    /// Event type (`state`, `error`...).
    pub kind: String,
    /// The event as JSON text.
    pub json: String,
    /// When, unix ms.
    pub at: i64,
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Conversation that matched.
    pub conversation_id: String,
    /// Message that matched; `None` when the title matched.
    pub message_id: Option<MessageId>,
    /// Conversation title.
    pub title: Option<String>,
    /// Matching text with the hits between `[` and `]`.
    pub snippet: String,
    /// bm25 score; lower is better.
    pub score: f64,
}
