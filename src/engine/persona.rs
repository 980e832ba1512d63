//! Per-conversation agents: which system prompt, model, temperature and tools a conversation's
//! runs use (`Command::SetAgent`), and the tool allow-list the engine enforces.

use crate::engine::agent::Engine;
use crate::engine::events::{AgentProfile, ConversationId};

impl Engine {
    /// The conversation's agent, if one was set (a lookup: never creates the conversation).
    pub(crate) fn agent(&self, id: &ConversationId) -> Option<&AgentProfile> {
        self.conversations.get(id).and_then(|c| c.agent.as_ref())
    }

    /// The agent's system prompt, else the engine's.
    pub(crate) fn system_prompt_for(&self, id: &ConversationId) -> Option<String> {
        self.agent(id)
            .and_then(|a| a.system_prompt.clone())
            .or_else(|| self.config.system_prompt.clone())
    }

    /// Whether the conversation's agent lets the model call `tool` (no agent: yes).
    pub(crate) fn agent_allows(&self, id: &ConversationId, tool: &str) -> bool {
        self.agent(id).is_none_or(|a| a.tools.allows(tool))
    }

    /// Sets the conversation's agent for its next runs. A conversation the engine has not seen
    /// is loaded from the store, or created there with the agent's name.
    pub(crate) async fn set_agent(&mut self, id: &ConversationId, agent: Option<AgentProfile>) {
        if self.conversations.contains_key(id) {
            self.conversation(id).agent = agent;
            return;
        }
        let stored = self.load_stored(id).await;
        self.conversation(id).agent = agent;
        if !stored {
            self.create_conversation(id).await;
        }
    }
}
