//! Per-conversation agents and profiles: which system prompt, model, temperature and tools a
//! conversation's runs use (`Command::SetAgent`), the tool allow-list the engine enforces, and
//! which provider they go to (`Command::SetProfile`).

use std::sync::Arc;

use crate::engine::event_loop::Engine;
use crate::engine::events::{AgentProfile, ConversationId};
use crate::engine::run::Conversation;
use crate::llm::Provider;

impl Engine {
    /// The conversation's agent, if one was set (a lookup: never creates the conversation).
    pub(crate) fn agent(&self, id: &ConversationId) -> Option<&AgentProfile> {
        self.conversations.get(id).and_then(|c| c.agent.as_ref())
    }

    /// The provider of the conversation's profile, else the engine's.
    pub(crate) fn provider_for(&self, id: &ConversationId) -> Arc<dyn Provider> {
        self.conversations
            .get(id)
            .and_then(|c| c.profile.as_ref())
            .map_or_else(
                || Arc::clone(&self.config.provider),
                |p| Arc::clone(&p.provider),
            )
    }

    /// The model of the conversation's profile, else the engine's (before any agent's).
    pub(crate) fn base_model(&self, id: &ConversationId) -> String {
        self.conversations
            .get(id)
            .and_then(|c| c.profile.as_ref())
            .map_or_else(|| self.config.model.clone(), |p| p.model.clone())
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

    /// Applies `change` to a conversation's settings for its next runs. One the engine has not
    /// seen is loaded from the store first, or else created there after the change (so the
    /// agent's name and the profile's provider are stored with it).
    pub(crate) async fn configure(
        &mut self,
        id: &ConversationId,
        change: impl FnOnce(&mut Conversation),
    ) {
        if self.conversations.contains_key(id) {
            change(self.conversation(id));
            self.save_persona_names(id);
            return;
        }
        let stored = self.load_stored(id).await;
        change(self.conversation(id));
        if stored {
            self.save_persona_names(id);
        } else {
            self.create_conversation(id).await;
        }
    }

    /// Records the conversation's agent and profile names in the store, when it is stored.
    fn save_persona_names(&mut self, id: &ConversationId) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let conv = self.conversation(id);
        let agent = conv.agent.as_ref().map(|a| a.name.clone());
        let profile = conv.profile.as_ref().map(|p| p.name.clone());
        let key = id.0.clone();
        store.send("save the conversation's agent and profile", move |s| {
            if s.conversation(&key)?.is_some() {
                s.set_agent(&key, agent.as_deref())?;
                s.set_profile(&key, profile.as_deref())?;
            }
            Ok(())
        });
    }
}
