//! Commands from the doors (UI, `ask`, `serve`, native host), served in queue order by the
//! engine task: what each one changes and which run it starts.

use std::sync::Arc;

use crate::engine::event_loop::Engine;
use crate::engine::events::{Command, ConversationId, EngineEvent};
use crate::engine::spending::refresh_models;
use crate::llm::{ChatMessage, Role};

/// How long a message with images waits for the model list when its model is not in it.
const IMAGE_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Engine {
    /// Serves one command from a door.
    pub(crate) async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::NewConversation { conversation } => {
                self.create_conversation(&conversation).await;
                self.bus
                    .publish(EngineEvent::ConversationCreated { conversation });
            }
            Command::SendMessage {
                conversation,
                text,
                model,
                images,
            } => {
                if !self.ready_for_change(&conversation).await {
                    return;
                }
                if !images.is_empty()
                    && self
                        .model_refuses_images(&conversation, model.as_deref())
                        .await
                {
                    let message = "this model does not take images (its provider's model list says so), so nothing was sent: pick a model with image input or send the text alone".to_string();
                    self.refuse(&conversation, "attachments", message);
                    return;
                }
                let (allowed, headroom) = self.budget_allows(&conversation).await;
                if !allowed {
                    return;
                }
                if !self.persist_user_message(&conversation, &text).await {
                    return;
                }
                self.persist_images(&conversation, &images).await;
                let mut message = ChatMessage::user(text.clone());
                message.images = images;
                self.conversation(&conversation).history.push(message);
                self.bus.publish(EngineEvent::UserMessage {
                    conversation: conversation.clone(),
                    text,
                });
                self.start_run(&conversation, model, headroom).await;
            }
            Command::Seed {
                conversation,
                history,
            } => {
                if self.conversations.contains_key(&conversation) {
                    self.error(
                        Some(&conversation),
                        "this conversation already exists: seed a new id".into(),
                    );
                    return;
                }
                let conv = self.conversation(&conversation);
                conv.ephemeral = true;
                conv.history = history;
            }
            Command::Forget { conversation } => {
                self.stop(&conversation).await;
                self.conversations.remove(&conversation);
            }
            Command::Retry { conversation } => {
                if !self.ready_for_change(&conversation).await {
                    return;
                }
                let (allowed, headroom) = self.budget_allows(&conversation).await;
                if !allowed {
                    return;
                }
                let conv = self.conversation(&conversation);
                // The answer being retried (partial or complete) is dropped from what is sent;
                // in the store it stays, and the new answer becomes its sibling.
                while conv.history.last().is_some_and(|m| m.role != Role::User) {
                    conv.history.pop();
                }
                conv.leaf = conv.last_user;
                if conv.history.is_empty() {
                    self.error(Some(&conversation), "there is no message to retry".into());
                    return;
                }
                self.start_run(&conversation, None, headroom).await;
            }
            Command::Stop { conversation } => self.stop(&conversation).await,
            Command::EditMessage {
                conversation,
                message_id,
                text,
            } => {
                if !self.ready_for_change(&conversation).await {
                    return;
                }
                let (allowed, headroom) = self.budget_allows(&conversation).await;
                if !allowed || !self.edit_message(&conversation, message_id, &text).await {
                    return;
                }
                self.bus.publish(EngineEvent::UserMessage {
                    conversation: conversation.clone(),
                    text,
                });
                self.start_run(&conversation, None, headroom).await;
            }
            Command::SelectBranch {
                conversation,
                message_id,
            } => {
                if !self.ready_for_change(&conversation).await {
                    return;
                }
                self.select_branch(&conversation, message_id).await;
            }
            Command::DeleteMessage {
                conversation,
                message_id,
            } => {
                if !self.ready_for_change(&conversation).await {
                    return;
                }
                self.delete_message(&conversation, message_id).await;
            }
            Command::SetProvider { profile } => self.set_provider(profile),
            Command::UseProvider {
                name,
                settings,
                model,
            } => match crate::llm::build_provider(settings) {
                Ok(provider) => {
                    self.set_provider(crate::engine::ProviderProfile {
                        name,
                        provider,
                        model,
                    });
                    self.bus
                        .publish(EngineEvent::ProviderChanged { error: None });
                }
                Err(e) => self.bus.publish(EngineEvent::ProviderChanged {
                    error: Some(e.to_string()),
                }),
            },
            Command::ProbeProvider { settings } => {
                let bus = self.bus.clone();
                tokio::spawn(async move {
                    let result = match crate::llm::build_provider(settings) {
                        Ok(provider) => provider.models().await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    bus.publish(match result {
                        Ok(mut models) => {
                            models.sort_by(|a, b| a.id.cmp(&b.id));
                            EngineEvent::ProviderProbed {
                                models,
                                error: None,
                            }
                        }
                        Err(error) => EngineEvent::ProviderProbed {
                            models: Vec::new(),
                            error: Some(error),
                        },
                    });
                });
            }
            Command::AllowOverBudget { conversation } => {
                self.conversation(&conversation).budget_override = true;
            }
            Command::SetAgent {
                conversation,
                agent,
            } => self.configure(&conversation, |c| c.agent = agent).await,
            Command::SetProfile {
                conversation,
                profile,
            } => self.configure(&conversation, |c| c.profile = profile).await,
            Command::SetModel { model } => self.config.model = model,
            Command::SetSampling {
                temperature,
                max_tokens,
            } => {
                if temperature.is_some() {
                    self.config.temperature = temperature;
                }
                if max_tokens.is_some() {
                    self.config.max_tokens = max_tokens;
                }
            }
            Command::ApproveTool {
                conversation,
                call_id,
                scope,
            } => {
                self.answer_approval(&conversation, &call_id, Some(scope))
                    .await
            }
            Command::DenyTool {
                conversation,
                call_id,
            } => self.answer_approval(&conversation, &call_id, None).await,
            Command::Compact { conversation } => self.compact_now(&conversation).await,
            Command::SetRunSampling {
                conversation,
                sampling,
            } => {
                // Loaded first: a stored conversation's history must come from the store.
                self.ensure_loaded(&conversation).await;
                self.conversation(&conversation).next_sampling = Some(sampling);
            }
            Command::RenameConversation {
                conversation,
                title,
            } => {
                let title = title.trim().to_string();
                if title.is_empty() {
                    self.error(Some(&conversation), "a title cannot be empty".into());
                    return;
                }
                self.store_write(&conversation, "rename the conversation", move |s, id| {
                    s.rename(id, &title)
                });
            }
            Command::SetPinned {
                conversation,
                pinned,
            } => self.store_write(&conversation, "pin the conversation", move |s, id| {
                s.set_pinned(id, pinned)
            }),
            Command::DeleteConversation { conversation } => {
                // Its run ends first, so nothing writes to the conversation after it is gone.
                if let Some(c) = self.conversations.get(&conversation)
                    && let Some(run) = &c.run
                {
                    run.cancel.cancel();
                }
                self.store_write(&conversation, "delete the conversation", |s, id| {
                    s.delete_conversation(id)
                });
                self.conversations.remove(&conversation);
            }
            Command::Shutdown => {}
        }
    }

    /// Runs a write to a stored conversation in the background; a failure becomes an error
    /// event naming what was being done.
    fn store_write(
        &self,
        conversation: &ConversationId,
        what: &'static str,
        write: impl FnOnce(&mut crate::store::Store, &str) -> crate::store::Result<()> + Send + 'static,
    ) {
        // With history off there is nothing stored to change: the window's list is all.
        let Some(store) = self.config.store.clone() else {
            tracing::debug!("not stored, so nothing to {what}");
            return;
        };
        // Queued now, so writes keep the order of their commands.
        let (bus, id, key) = (
            self.bus.clone(),
            conversation.clone(),
            conversation.0.clone(),
        );
        let queued = store.queue(
            move |s| write(s, &key),
            move |result| {
                if let Err(e) = result.and_then(|r| r) {
                    bus.publish(EngineEvent::Error {
                        conversation: Some(id),
                        message: format!("could not {what}: {e}"),
                    });
                }
            },
        );
        if let Err(e) = queued {
            self.error(Some(conversation), format!("could not {what}: {e}"));
        }
    }

    /// Loads the conversation and checks that nothing runs in it (else an error event and
    /// false): sending, editing and branch changes all need that.
    async fn ready_for_change(&mut self, id: &ConversationId) -> bool {
        self.ensure_loaded(id).await;
        !self.refuse_if_active(id)
    }

    /// Later requests of conversations without a profile go to `profile`.
    fn set_provider(&mut self, profile: crate::engine::ProviderProfile) {
        self.config.provider = profile.provider;
        self.config.model = profile.model;
        // Prices and context lengths are the new provider's from now on.
        if self.config.refresh_models {
            refresh_models(Arc::clone(&self.config.provider), Arc::clone(&self.queue));
        }
    }

    /// Whether the model this message would go to is known not to take images. A model not
    /// in the list yet (a first `ask` races the background refresh) is looked up once, at
    /// most [`IMAGE_CHECK_WAIT`], so an image is refused here rather than by the server.
    async fn model_refuses_images(&mut self, id: &ConversationId, model: Option<&str>) -> bool {
        let model = model
            .map(str::to_string)
            .or_else(|| self.agent(id).and_then(|a| a.model.clone()))
            .unwrap_or_else(|| self.base_model(id));
        if !self.models.contains_key(&model) && !self.models_looked_up {
            self.models_looked_up = true;
            let provider = Arc::clone(&self.config.provider);
            match tokio::time::timeout(IMAGE_CHECK_WAIT, provider.models()).await {
                Ok(Ok(models)) => self.set_models(models),
                Ok(Err(e)) => tracing::info!("the model list could not be fetched: {e}"),
                Err(_) => tracing::info!("the model list did not come in time; sending as is"),
            }
        }
        self.models.get(&model).is_some_and(|m| m.refuses_images())
    }

    pub(crate) fn refuse_if_active(&mut self, id: &ConversationId) -> bool {
        let active = self.conversation(id).run.is_some();
        if active {
            self.error(
                Some(id),
                "an answer is still being written in this conversation: stop it first or wait"
                    .into(),
            );
        }
        active
    }
}
