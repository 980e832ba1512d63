//! What goes into the engine: `Command`, sent by every door (the UI, `ask`, `serve`, the
//! native host), and the provider profiles and run sampling commands carry.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::agents::AgentProfile;
use crate::core::{ApprovalScope, ConversationId};
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
