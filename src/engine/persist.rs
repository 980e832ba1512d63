//! The engine's writes to the store: the user's message before the request, the answer at
//! least every 500 ms while it streams, and its end state, metrics and usage.

use std::sync::Arc;

use crate::engine::compaction::Summary;
use crate::engine::event_loop::Engine;
use crate::engine::events::{ConversationId, EngineEvent, RunMetrics, RunStatus, StoredPlace};
use crate::engine::run::Run;
use crate::llm::{ChatMessage, ImagePart, Role, ToolCall};
use crate::store::{
    self, MessageFinish, MessageId, MessageStatus, NewConversation, NewMessage, NulText,
    StoreHandle, StoredAttachment, StoredMessage, ToolApproval, ToolCallRecord, ToolCallStatus,
    UsageRecord,
};
use crate::tools::{ApprovedBy, Decision, ToolResult};

impl Engine {
    /// The store, unless this conversation is in memory only (`Command::Seed`).
    pub(crate) fn store_for(&mut self, id: &ConversationId) -> Option<StoreHandle> {
        if self.conversation(id).ephemeral {
            return None;
        }
        self.config.store.clone()
    }

    pub(crate) fn provider_id(&self, id: &ConversationId) -> String {
        self.provider_for(id).id().to_string()
    }

    /// Creates the conversation in the store (if there is one).
    pub(crate) async fn create_conversation(&mut self, id: &ConversationId) {
        self.conversation(id);
        let Some(store) = self.store_for(id) else {
            return;
        };
        let agent = self.agent(id);
        let new = NewConversation {
            title: None,
            provider: self.provider_id(id),
            model: agent
                .and_then(|a| a.model.clone())
                .unwrap_or_else(|| self.base_model(id)),
            system_prompt: self.system_prompt_for(id).unwrap_or_default(),
            agent: agent.map(|a| a.name.clone()),
            profile: self
                .conversation(id)
                .profile
                .as_ref()
                .map(|p| p.name.clone()),
        };
        let key = id.0.clone();
        let result = store
            .call(move |s| {
                if s.conversation(&key)?.is_none() {
                    s.create_conversation(&key, &new)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await
            .and_then(|r| r);
        if let Err(e) = result {
            self.error(
                Some(id),
                format!("the conversation could not be saved: {e}"),
            );
        }
    }

    /// Loads a stored conversation's active branch the first time it is used.
    pub(crate) async fn ensure_loaded(&mut self, id: &ConversationId) {
        if self.conversations.contains_key(id) {
            return;
        }
        if !self.load_stored(id).await {
            self.create_conversation(id).await;
        }
    }

    /// Loads a stored conversation's active branch into memory. False when it is not stored
    /// (the caller creates it); true when loaded, or when loading failed (reported).
    pub(crate) async fn load_stored(&mut self, id: &ConversationId) -> bool {
        let Some(store) = self.store_for(id) else {
            return true;
        };
        let key = id.0.clone();
        let loaded = store
            .call(move |s| {
                Ok::<_, store::StoreError>(match s.conversation(&key)? {
                    Some(_) => Some((s.active_path(&key)?, s.conversation_attachments(&key)?)),
                    None => None,
                })
            })
            .await
            .and_then(|r| r);
        match loaded {
            Ok(Some((path, mut attachments))) => {
                let conv = self.conversation(id);
                conv.leaf = path.last().map(|m| m.id);
                conv.last_user = path
                    .iter()
                    .rev()
                    .find(|m| m.role == store::Role::User)
                    .map(|m| m.id);
                conv.history.clear();
                conv.summary = None;
                conv.last_prompt = None;
                for m in &path {
                    if m.is_summary() {
                        // The newest summary on the path stands for everything before it.
                        conv.summary = Some(Summary {
                            text: m.content.clone(),
                            replaces: conv.history.len(),
                        });
                        continue;
                    }
                    let Some(mut message) = to_chat_message(m) else {
                        continue;
                    };
                    message.images = attachments
                        .remove(&m.id)
                        .unwrap_or_default()
                        .iter()
                        .map(|a| ImagePart::new(&a.name, &a.media_type, &a.data))
                        .collect();
                    conv.history.push(message);
                }
                // A crash (kill -9) while a tool call waited leaves it without a result.
                self.close_unanswered_calls(id, "the app stopped before it ran")
                    .await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.error(
                    Some(id),
                    format!("the conversation could not be loaded: {e}"),
                );
                true
            }
        }
    }

    /// Commits the user's message before anything is sent; false (with an error event) if the
    /// store refused it, so that nothing is sent that could not be kept.
    pub(crate) async fn persist_user_message(&mut self, id: &ConversationId, text: &str) -> bool {
        let Some(store) = self.store_for(id) else {
            return true;
        };
        let mut new = NewMessage::new(&id.0, store::Role::User, text);
        new.parent_id = self.conversation(id).leaf;
        let key = id.0.clone();
        let title = store::fallback_title(text);
        let result = store
            .call(move |s| {
                let mid = s.append_message(&new)?;
                s.set_title_if_empty(&key, &title)?;
                Ok::<_, store::StoreError>(mid)
            })
            .await
            .and_then(|r| r);
        match result {
            Ok(mid) => {
                let conv = self.conversation(id);
                conv.leaf = Some(mid);
                conv.last_user = Some(mid);
                true
            }
            Err(e) => {
                self.error(
                    Some(id),
                    format!("your message could not be saved, so it was not sent: {e}"),
                );
                false
            }
        }
    }

    /// Adds the stored assistant message an answer streams into.
    pub(crate) async fn new_assistant_message(
        &mut self,
        id: &ConversationId,
        model: &str,
    ) -> Option<MessageId> {
        let store = self.store_for(id)?;
        let mut new = NewMessage::new(&id.0, store::Role::Assistant, "");
        new.parent_id = self.conversation(id).leaf;
        new.status = MessageStatus::Streaming;
        new.model = Some(model.to_string());
        match store
            .call(move |s| s.append_message(&new))
            .await
            .and_then(|r| r)
        {
            Ok(mid) => {
                self.conversation(id).leaf = Some(mid);
                Some(mid)
            }
            Err(e) => {
                self.error(Some(id), format!("the answer will not be saved: {e}"));
                None
            }
        }
    }

    /// Appends the text that arrived since the last flush (the core says when one is due):
    /// a write costs the new bytes, not the answer so far.
    pub(crate) fn flush_answer(&mut self, id: &ConversationId) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let Some(run) = self.conversation(id).run.as_mut() else {
            return;
        };
        let Some(mid) = run.message else {
            return;
        };
        let Some(delta) = run.text.get(run.flushed..).filter(|d| !d.is_empty()) else {
            return;
        };
        let delta = delta.to_string();
        run.flushed = run.text.len();
        store.send("save the streaming answer", move |s| {
            s.append_streaming(mid, &delta)
        });
    }

    /// Ends the current round's stored message: its text and the tool calls it made.
    pub(crate) async fn persist_round_calls(
        &mut self,
        id: &ConversationId,
        text: &str,
        calls: &[ToolCall],
    ) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let Some(mid) = self.conversation(id).run.as_ref().and_then(|r| r.message) else {
            return;
        };
        let json = serde_json::to_string(calls).unwrap_or_else(|_| "[]".into());
        let finish = MessageFinish {
            content: text.to_string(),
            status: Some(MessageStatus::Complete),
            ..Default::default()
        };
        let result = store
            .call(move |s| {
                s.set_tool_calls(mid, &json)?;
                s.finish_message(mid, &finish)
            })
            .await
            .and_then(|r| r);
        if let Err(e) = result {
            self.error(Some(id), format!("the tool calls could not be saved: {e}"));
        }
    }

    /// Stores the images sent with the user's latest message (once each, by content hash).
    pub(crate) async fn persist_images(&mut self, id: &ConversationId, images: &[ImagePart]) {
        if images.is_empty() {
            return;
        }
        let (Some(store), Some(mid)) = (self.store_for(id), self.conversation(id).last_user) else {
            return;
        };
        let stored: Vec<StoredAttachment> = images
            .iter()
            .filter_map(|i| {
                Some(StoredAttachment {
                    name: i.name.clone(),
                    media_type: i.media_type.clone(),
                    data: i.bytes()?,
                })
            })
            .collect();
        let result = store
            .call(move |s| s.attach(mid, &stored))
            .await
            .and_then(|r| r);
        if let Err(e) = result {
            self.error(
                Some(id),
                format!("the attached images could not be saved: {e}"),
            );
        }
    }

    /// Stores a tool result message under the current leaf.
    pub(crate) async fn persist_tool_result(&mut self, id: &ConversationId, msg: &ChatMessage) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let mut new = NewMessage::new(&id.0, store::Role::Tool, &msg.content);
        new.parent_id = self.conversation(id).leaf;
        new.tool_call_id = msg.tool_call_id.clone();
        match store
            .call(move |s| s.append_message(&new))
            .await
            .and_then(|r| r)
        {
            Ok(mid) => self.conversation(id).leaf = Some(mid),
            Err(e) => self.error(Some(id), format!("a tool result could not be saved: {e}")),
        }
    }

    /// Records a finished tool call with its decision and result, next to the message that made it.
    pub(crate) fn persist_tool_call(
        &mut self,
        id: &ConversationId,
        call: &ToolCall,
        decision: Option<Decision>,
        result: &ToolResult,
    ) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let message_id = self.conversation(id).run.as_ref().and_then(|r| r.message);
        let approval = match decision {
            Some(Decision::Approved(ApprovedBy::User(_))) => ToolApproval::Approved,
            Some(Decision::Denied(_)) => ToolApproval::Denied,
            Some(Decision::NeedsApproval) => ToolApproval::Pending,
            Some(Decision::Approved(_)) | None => ToolApproval::Auto,
        };
        let status = match (approval, result.is_error) {
            (ToolApproval::Denied, _) => ToolCallStatus::Denied,
            (_, true) => ToolCallStatus::Failed,
            (_, false) => ToolCallStatus::Succeeded,
        };
        let now = store::now_ms();
        let record = ToolCallRecord {
            conversation_id: id.0.clone(),
            message_id,
            call_id: Some(call.id.clone()),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            result: Some(result.content.clone()),
            approval,
            status,
            started_at: now,
            finished_at: Some(now),
        };
        store.send("record a tool call", move |s| {
            s.record_tool_call(&record).map(|_| ())
        });
    }

    /// Writes the answer's final text, status, metrics and usage; awaited so that a door that
    /// exits on `Done` loses nothing.
    ///
    /// The text is shared with the store thread rather than copied: a long answer is then
    /// held once while SQLite makes its own copies (peak memory of `ask`).
    pub(crate) async fn persist_finish(
        &mut self,
        id: &ConversationId,
        run: &Run,
        text: Arc<NulText>,
        status: RunStatus,
        error: Option<String>,
        metrics: &RunMetrics,
    ) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let Some(mid) = run.message else {
            return;
        };
        let finish = MessageFinish {
            status: Some(match status {
                RunStatus::Complete => MessageStatus::Complete,
                RunStatus::Stopped => MessageStatus::Stopped,
                RunStatus::Failed => MessageStatus::Failed,
            }),
            error,
            prompt_tokens: Some(metrics.prompt_tokens as i64),
            completion_tokens: Some(metrics.completion_tokens as i64),
            cost_usd: metrics.cost_usd,
            ttft_ms: metrics.ttft_ms.map(|t| t as i64),
            duration_ms: Some(metrics.duration_ms as i64),
            reasoning: (!run.reasoning.is_empty()).then(|| run.reasoning.clone()),
            ..Default::default()
        };
        let usage = (metrics.tokens_reported).then(|| UsageRecord {
            conversation_id: Some(id.0.clone()),
            message_id: Some(mid),
            provider: self.provider_id(id),
            model: metrics.model.clone(),
            prompt_tokens: metrics.prompt_tokens as i64,
            completion_tokens: metrics.completion_tokens as i64,
            cost_usd: metrics.cost_usd,
            at: store::now_ms(),
            reasoning_tokens: metrics.reasoning_tokens as i64,
        });
        let result = store
            .call(move |s| {
                s.finish_message_text(mid, &text, &finish)?;
                if let Some(u) = usage {
                    s.record_usage(&u)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await
            .and_then(|r| r);
        if let Err(e) = result {
            self.error(Some(id), format!("the answer could not be saved: {e}"));
        }
    }
}

/// Whether a stored message is part of the history the model is sent (summaries and failed
/// empty answers are not).
pub(crate) fn is_history(m: &StoredMessage) -> bool {
    !m.is_summary() && to_chat_message(m).is_some()
}

/// A stored message as history for the model (failed empty answers are left out).
fn to_chat_message(m: &StoredMessage) -> Option<ChatMessage> {
    let role = m.role;
    let tool_calls: Vec<ToolCall> = m
        .tool_calls
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    if role == Role::Assistant && m.content.is_empty() && tool_calls.is_empty() {
        return None;
    }
    Some(ChatMessage {
        role,
        content: m.content.clone(),
        tool_calls,
        tool_call_id: m.tool_call_id.clone(),
        images: Vec::new(),
        thinking: Vec::new(),
    })
}

impl Engine {
    /// Publishes where the run's question and answer (`(shown, first)` message ids) sit in
    /// the store, read after its writes, so the view learns ids and branches without
    /// reading the conversation again.
    pub(crate) async fn publish_stored(
        &mut self,
        id: &ConversationId,
        answer: Option<(MessageId, MessageId)>,
    ) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let Some(question) = self.conversation(id).last_user else {
            return;
        };
        let places = store
            .call(move |s| {
                let question_siblings = s.siblings_of(question)?;
                let answer = match answer {
                    Some((shown, first)) => Some((shown, first, s.siblings_of(first)?)),
                    None => None,
                };
                Ok::<_, store::StoreError>((question_siblings, answer))
            })
            .await
            .and_then(|r| r);
        match places {
            Ok((question_siblings, answer)) => {
                let ids = |v: Vec<MessageId>| v.into_iter().map(|m| m.0).collect();
                self.bus.publish(EngineEvent::RunStored {
                    conversation: id.clone(),
                    question: StoredPlace {
                        id: question.0,
                        branch: question.0,
                        siblings: ids(question_siblings),
                    },
                    answer: answer.map(|(shown, first, siblings)| StoredPlace {
                        id: shown.0,
                        branch: first.0,
                        siblings: ids(siblings),
                    }),
                });
            }
            Err(e) => tracing::warn!("the stored places of the answer could not be read: {e}"),
        }
    }
}
