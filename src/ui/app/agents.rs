//! The app's agent and profile wiring: which agent and profile a new conversation gets, the
//! pickers' actions turned into `SetAgent` / `SetProfile`, and the background results (folder
//! reloads, built profiles, a reopened conversation's stored names) applied each frame.

use egui::Ui;

use super::{AppAction, RustbotApp};
use crate::agents::pick_agent;
use crate::engine::{Command, ConversationId};
use crate::ui::chat::agent_picker_ui;
use crate::ui::personas::{AgentChoice, DEFAULT_PROFILE, PersonaUpdate};
use crate::ui::settings::GuiSettings;
use crate::ui::sidebar::{PersonaRows, SidebarAction};
use crate::ui::view_model::now_ms;

impl RustbotApp {
    /// Applies what the background threads finished (never blocks); past `deadline` it stops
    /// after one update and says more may be waiting.
    pub(super) fn drain_personas(&mut self, deadline: std::time::Instant) -> bool {
        let Some(personas) = self.personas.as_mut() else {
            return false;
        };
        while let Some(update) = personas.try_recv() {
            match update {
                PersonaUpdate::Reloaded(raw, problems) => {
                    let old = personas.reloaded(raw, &problems);
                    self.chat.agent_names = personas
                        .registry
                        .names()
                        .into_iter()
                        .map(String::from)
                        .collect();
                    // Conversations whose agent changed on disk answer as the new version.
                    for conv in self.vm.conversations() {
                        let Some(name) = &conv.agent else { continue };
                        let new = personas.agent_profile(name);
                        if new.is_some() && new != personas.agent_profile_in(&old, name) {
                            self.engine.send(Command::SetAgent {
                                conversation: conv.id.clone(),
                                agent: new,
                            });
                        }
                    }
                }
                PersonaUpdate::ProfileBuilt(name, built) => personas.profile_built(name, built),
                PersonaUpdate::Stored {
                    conversation,
                    agent,
                    profile,
                } => {
                    let Some(conv) = self.vm.conversation(&conversation) else {
                        continue;
                    };
                    // Chosen again in this run already: that choice stands.
                    if conv.agent.is_none()
                        && let Some(name) = agent
                    {
                        let resolved = personas.agent_profile(&name);
                        let note = resolved.is_none().then(|| {
                            format!("Agent {name} no longer exists: the default prompt answers.")
                        });
                        if resolved.is_some() {
                            self.engine.send(Command::SetAgent {
                                conversation: conversation.clone(),
                                agent: resolved,
                            });
                        }
                        self.vm.set_agent(&conversation, Some(name), note);
                    }
                    if let Some(name) = profile {
                        match personas.profile(&name) {
                            Ok(p) => self.engine.send(Command::SetProfile {
                                conversation: conversation.clone(),
                                profile: Some(p),
                            }),
                            Err(e) => self.vm.global_notices.push(e),
                        }
                        self.vm.set_profile(&conversation, Some(name));
                    }
                }
                PersonaUpdate::Edited(message, failed) => self.agents_page.edited(message, failed),
            }
            if std::time::Instant::now() > deadline {
                return true;
            }
        }
        false
    }

    /// Sends the agent and profile a new conversation starts with (before `NewConversation`),
    /// choosing the agent from `first_message` in auto mode. Returns the agent's name and, for
    /// auto mode, the note saying why.
    pub(super) fn configure_new_chat(
        &mut self,
        id: &ConversationId,
        first_message: &str,
    ) -> Option<(Option<String>, Option<String>)> {
        let personas = self.personas.as_ref()?;
        let (name, note) = match &self.persisted.new_chat_agent {
            AgentChoice::Auto => {
                let pick = pick_agent(&personas.registry, first_message);
                let note = format!("Agent: {} ({})", pick.name, pick.reason);
                (pick.name, Some(note))
            }
            AgentChoice::Named(name) => (name.clone(), None),
        };
        let agent = personas.agent_profile(&name);
        let known = agent.is_some();
        if known {
            self.engine.send(Command::SetAgent {
                conversation: id.clone(),
                agent,
            });
        }
        if let Some(profile) = &self.persisted.new_chat_profile {
            match personas.profile(profile) {
                Ok(p) => self.engine.send(Command::SetProfile {
                    conversation: id.clone(),
                    profile: Some(p),
                }),
                Err(e) => self.vm.global_notices.push(e),
            }
        }
        Some((known.then_some(name), note))
    }

    /// The sidebar's agent list: the current conversation's agent, or the next new one's.
    pub(super) fn pick_agent(&mut self, name: String) {
        match self.vm.selected_id().cloned() {
            Some(id) => self.set_agent(&id, &name, None),
            None => self.persisted.new_chat_agent = AgentChoice::Named(name),
        }
    }

    /// Answers in `conversation` as agent `name` from the next run on.
    pub(super) fn set_agent(
        &mut self,
        conversation: &ConversationId,
        name: &str,
        note: Option<String>,
    ) {
        let Some(agent) = self.personas.as_ref().and_then(|p| p.agent_profile(name)) else {
            return;
        };
        self.engine.send(Command::SetAgent {
            conversation: conversation.clone(),
            agent: Some(agent),
        });
        self.vm
            .set_agent(conversation, Some(name.to_string()), note);
    }

    /// The profile switcher: the current conversation's profile, and new conversations'.
    pub(super) fn pick_profile(&mut self, name: &str) {
        let Some(personas) = &self.personas else {
            return;
        };
        let profile = if name == DEFAULT_PROFILE {
            None
        } else {
            match personas.profile(name) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.vm.global_notices.push(e);
                    return;
                }
            }
        };
        let chosen = profile.as_ref().map(|p| p.name.clone());
        if let Some(id) = self.vm.selected_id().cloned() {
            self.engine.send(Command::SetProfile {
                conversation: id.clone(),
                profile,
            });
            self.vm.set_profile(&id, chosen.clone());
        }
        self.persisted.new_chat_profile = chosen;
    }

    /// New personality or instructions: the default agent's prompt changes with them.
    pub(super) fn preferences_changed(&mut self, settings: &GuiSettings) {
        let Some(personas) = self.personas.as_mut() else {
            return;
        };
        let changed = personas.set_preferences(crate::config::UiSettings {
            instructions: settings.instructions.clone(),
            personality: settings.personality.clone(),
            ..Default::default()
        });
        if !changed {
            return;
        }
        let default = crate::agents::DEFAULT_AGENT;
        for conv in self.vm.conversations() {
            if conv
                .agent
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(default))
            {
                self.engine.send(Command::SetAgent {
                    conversation: conv.id.clone(),
                    agent: personas.agent_profile(default),
                });
            }
        }
    }

    /// The sidebar, with the agent list and profile switcher when agents are loaded.
    pub(super) fn sidebar_ui(&mut self, ui: &mut Ui) -> Option<SidebarAction> {
        let (page, now) = (self.persisted.page, now_ms());
        let Some(personas) = &self.personas else {
            return self.sidebar.ui(ui, &self.vm, page, now, None);
        };
        let selected = self.vm.selected();
        let current_agent = match selected {
            Some(c) => c.agent.as_deref().unwrap_or("Default"),
            None => self.persisted.new_chat_agent.label(),
        };
        let current_profile = match selected {
            Some(c) => c.profile.as_deref(),
            None => self.persisted.new_chat_profile.as_deref(),
        };
        let profiles: Vec<String> = std::iter::once(DEFAULT_PROFILE.to_string())
            .chain(personas.profile_names.iter().cloned())
            .collect();
        let rows = PersonaRows {
            agents: personas.registry.list(),
            current_agent,
            profiles: &profiles,
            current_profile: current_profile.unwrap_or(DEFAULT_PROFILE),
        };
        self.sidebar.ui(ui, &self.vm, page, now, Some(&rows))
    }

    /// Above the empty new chat: the agent it will get ("Auto" included).
    pub(super) fn new_chat_header_ui(&mut self, ui: &mut Ui, actions: &mut Vec<AppAction>) {
        if self.personas.is_none() {
            return;
        }
        ui.horizontal(|ui| {
            let current = self.persisted.new_chat_agent.label().to_string();
            if let Some(choice) =
                agent_picker_ui(ui, "new_chat", &current, &self.chat.agent_names, true)
            {
                actions.push(AppAction::NewChatAgent(choice));
            }
        });
    }

    /// The Agents page.
    pub(super) fn agents_page_ui(&mut self, ui: &mut Ui, actions: &mut Vec<AppAction>) {
        let Some(personas) = &self.personas else {
            ui.heading("Agents");
            ui.weak("Agents are not loaded in this window.");
            return;
        };
        let writable = personas.dir.is_some();
        if let Some(edit) =
            self.agents_page
                .ui(ui, &personas.registry, &personas.problems, writable)
        {
            actions.push(AppAction::Agents(edit));
        }
    }
}
