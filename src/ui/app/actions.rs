//! What the app does with the actions its pages return: commands to the engine, changes to
//! the view-model and the store, page switches.

use std::time::Instant;

use super::{AppAction, PendingDelete, RustbotApp, UNDO_WINDOW};
use crate::engine::{Command, ConversationId};
use crate::ui::chat::ChatAction;
use crate::ui::input::InputAction;
use crate::ui::settings::{ProbeStatus, SettingsAction};
use crate::ui::sidebar::{Page, SidebarAction};
use crate::ui::view_model::now_ms;

impl RustbotApp {
    pub(super) fn apply(&mut self, ctx: &egui::Context, action: AppAction) {
        let now = now_ms();
        match action {
            AppAction::Sidebar(SidebarAction::NewChat) => {
                self.persisted.page = Page::Chat;
                // A conversation is created when its first message is sent, so an empty
                // "New chat" leaves nothing behind.
                self.vm.clear_selection();
                self.input.request_focus();
            }
            AppAction::Sidebar(SidebarAction::Select(id)) => {
                self.persisted.page = Page::Chat;
                if let Some(history) = &self.history
                    && self.vm.conversation(&id).is_some_and(|c| c.history_pending)
                {
                    history.request_messages(&id);
                }
                let stored = self.vm.conversation(&id).is_some_and(|c| c.history_pending);
                if stored && let Some(personas) = &self.personas {
                    personas.request_stored(&id);
                }
                self.vm.select(id, now);
                self.chat.scroll_to_latest();
                self.input.request_focus();
            }
            AppAction::Sidebar(SidebarAction::Navigate(page)) => {
                self.persisted.page = page;
                if page == Page::Settings
                    && self.settings_page.probe == ProbeStatus::NotTried
                    && self.applied.missing_key_message().is_none()
                    && self.models.is_some()
                {
                    // Fill the model list (and show whether the connection works) once.
                    self.probe(&self.applied.clone());
                }
                if page == Page::Chat {
                    self.input.request_focus();
                }
            }
            AppAction::Sidebar(SidebarAction::Rename(id, title)) => {
                if !title.trim().is_empty() {
                    self.vm.rename(&id, &title);
                    self.engine.send(Command::RenameConversation {
                        conversation: id,
                        title: title.trim().to_string(),
                    });
                }
            }
            AppAction::Sidebar(SidebarAction::SetPinned(id, pinned)) => {
                self.vm.set_pinned(&id, pinned);
                self.engine.send(Command::SetPinned {
                    conversation: id,
                    pinned,
                });
            }
            AppAction::Sidebar(SidebarAction::Delete(id)) => {
                self.finish_delete();
                if self.vm.conversation(&id).is_some_and(|c| c.run.is_active()) {
                    self.engine.send(Command::Stop {
                        conversation: id.clone(),
                    });
                }
                if let Some(conversation) = self.vm.remove(&id) {
                    self.pending_delete = Some(PendingDelete {
                        conversation,
                        deadline: Instant::now() + UNDO_WINDOW,
                    });
                    ctx.request_repaint_after(UNDO_WINDOW);
                }
            }
            AppAction::Input(InputAction::Send(words)) => {
                let files = self.tray.take();
                let text = crate::attachments::message_text(&words, &files.attachments);
                let images = crate::attachments::images(&files.attachments);
                let conversation = match self.vm.selected_id() {
                    Some(id) => id.clone(),
                    None => {
                        let id = ConversationId::new();
                        // Agent and profile go first, so their names are stored with it.
                        let note = self.configure_new_chat(&id, &text);
                        self.engine.send(Command::NewConversation {
                            conversation: id.clone(),
                        });
                        self.vm.select(id.clone(), now);
                        if let Some((agent, note)) = note {
                            self.vm.set_agent(&id, agent, note);
                        }
                        self.vm
                            .set_profile(&id, self.persisted.new_chat_profile.clone());
                        id
                    }
                };
                self.vm
                    .user_sent_with_images(&conversation, &text, files.images, now);
                self.engine.send(Command::SendMessage {
                    conversation,
                    text,
                    model: None,
                    images,
                });
                self.chat.scroll_to_latest();
            }
            AppAction::Input(InputAction::Edit { message, text }) => {
                let Some(conversation) = self.vm.selected_id().cloned() else {
                    return;
                };
                let message_id = match message {
                    None => None,
                    Some(shown) => match self.vm.store_id_of(&conversation, shown) {
                        Some(id) => {
                            self.vm.edit_requested_at(&conversation, shown, &text, now);
                            Some(id)
                        }
                        None => {
                            self.vm.global_notices.push(
                                "That message is no longer in the conversation, so it was not edited.".into(),
                            );
                            return;
                        }
                    },
                };
                if message_id.is_none() {
                    self.vm.edit_requested(&conversation, &text, now);
                }
                self.engine.send(Command::EditMessage {
                    conversation,
                    message_id,
                    text,
                });
                self.chat.scroll_to_latest();
            }
            AppAction::Input(InputAction::Stop) => {
                if let Some(id) = self.vm.selected_id().cloned() {
                    self.stop(id);
                }
            }
            AppAction::Chat(ChatAction::Retry(conversation)) => {
                self.vm.retry_requested(&conversation, now);
                self.engine.send(Command::Retry { conversation });
                self.chat.scroll_to_latest();
                self.input.request_focus();
            }
            AppAction::Chat(ChatAction::Compact(conversation)) => {
                self.engine.send(Command::Compact { conversation });
            }
            AppAction::Chat(ChatAction::SelectBranch {
                conversation,
                message_id,
            }) => {
                self.engine.send(Command::SelectBranch {
                    conversation,
                    message_id,
                });
                self.input.request_focus();
            }
            AppAction::Chat(ChatAction::Edit {
                conversation,
                message,
                text,
            }) => {
                if self.vm.selected_id() == Some(&conversation) {
                    self.input.start_editing(message, &text);
                }
            }
            AppAction::Chat(ChatAction::Delete {
                conversation,
                message_id,
            }) => {
                self.engine.send(Command::DeleteMessage {
                    conversation,
                    message_id,
                });
                self.input.request_focus();
            }
            AppAction::Chat(ChatAction::ApproveTool {
                conversation,
                call_id,
                scope,
            }) => {
                self.engine.send(Command::ApproveTool {
                    conversation,
                    call_id,
                    scope,
                });
            }
            AppAction::Chat(ChatAction::DenyTool {
                conversation,
                call_id,
            }) => {
                self.engine.send(Command::DenyTool {
                    conversation,
                    call_id,
                });
            }
            AppAction::Sidebar(SidebarAction::PickAgent(name)) => self.pick_agent(name),
            AppAction::Sidebar(SidebarAction::PickProfile(name)) => self.pick_profile(&name),
            AppAction::Chat(ChatAction::SetAgent {
                conversation,
                agent,
            }) => self.set_agent(&conversation, &agent, None),
            AppAction::NewChatAgent(choice) => self.persisted.new_chat_agent = choice,
            AppAction::Agents(edit) => match &self.personas {
                Some(personas) => personas.edit(edit),
                None => self.vm.global_notices.push("Agents are not loaded.".into()),
            },
            AppAction::Settings(SettingsAction::Changed(settings)) => {
                self.apply_settings(ctx, settings);
            }
            AppAction::Settings(SettingsAction::Probe(settings)) => self.probe(&settings),
        }
    }

    /// Asks the engine for the models of the provider `settings` describe; the answer
    /// (`ProviderProbed`) fills the settings page.
    fn probe(&mut self, settings: &crate::ui::GuiSettings) {
        let Some(models) = &self.models else {
            self.settings_page
                .probe_finished(crate::ui::models::ProbeResult::Failed(
                    "Model lists are not available in this window.".into(),
                ));
            return;
        };
        self.settings_page.probe_started();
        if let Err(e) = models.request(&self.engine, settings) {
            self.settings_page
                .probe_finished(crate::ui::models::ProbeResult::Failed(e));
        }
    }

    /// Deletes the conversation waiting in the undo window for good.
    pub(super) fn finish_delete(&mut self) {
        if let Some(pending) = self.pending_delete.take() {
            self.engine.send(Command::DeleteConversation {
                conversation: pending.conversation.id,
            });
        }
    }

    pub(super) fn stop(&mut self, conversation: ConversationId) {
        self.vm.stop_requested(&conversation);
        self.engine.send(Command::Stop { conversation });
        self.input.request_focus();
    }
}
