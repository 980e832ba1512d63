//! Engine events applied to the view-model: streamed text, tool calls, run ends.

use super::*;

impl ViewModel {
    /// Applies one engine event. Events of conversations not yet seen add them.
    pub fn apply(&mut self, event: &EngineEvent, now: UnixMs) {
        match event {
            EngineEvent::ConversationCreated { conversation } => {
                self.ensure(conversation, now);
            }
            EngineEvent::UserMessage { conversation, text } => {
                let revision = self.bump();
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                // The oldest message still waiting is this one: the engine serves a
                // conversation's commands in order, and a refused one stops waiting.
                if let Some(pending) = conv
                    .messages
                    .iter_mut()
                    .find(|m| m.status == MessageStatus::Pending)
                {
                    pending.status = MessageStatus::Complete;
                    pending.revision = revision;
                } else {
                    // Sent by another door (serve, native host) or before we subscribed.
                    let message = self.new_message(Author::User, text.clone(), None, now);
                    let conv = self.ensure(conversation, now);
                    if conv.title == UNTITLED {
                        conv.title = title_from(text);
                    }
                    conv.messages.push(message);
                }
            }
            EngineEvent::State { .. } => {}
            EngineEvent::RunStarted {
                conversation,
                model,
            } => {
                let message = self.new_message(Author::Assistant, String::new(), Some(model), now);
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                conv.notice = None;
                if conv.streaming_answer().is_none() {
                    conv.messages.push(MessageVm {
                        status: MessageStatus::Streaming,
                        ..message
                    });
                }
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Waiting {
                        model: model.clone(),
                    };
                }
            }
            EngineEvent::ContextTrimmed {
                conversation,
                dropped_turns,
            } => {
                self.ensure(conversation, now).trimmed_turns = Some(*dropped_turns);
            }
            EngineEvent::ContextUsage {
                conversation,
                used_tokens,
                window_tokens,
            } => {
                self.ensure(conversation, now).context = Some(ContextMeter {
                    used: *used_tokens,
                    window: *window_tokens,
                });
            }
            EngineEvent::Compacted {
                conversation,
                summary_tokens,
                window_tokens,
                ..
            } => {
                let conv = self.ensure(conversation, now);
                conv.compactions += 1;
                conv.trimmed_turns = None;
                // The next request sends the summary and the newest turns; until it is made,
                // the summary is the best figure there is.
                conv.context = Some(ContextMeter {
                    used: *summary_tokens,
                    window: *window_tokens,
                });
            }
            EngineEvent::Retrieval {
                conversation,
                passages,
                ..
            } => {
                // The knowledge passages sent with the question are the answer's sources:
                // `[n]` links to the n-th, and each opens its file.
                self.with_answer(conversation, now, |answer| {
                    answer.citations = passages
                        .iter()
                        .map(|p| crate::core::Citation {
                            url: format!("file://{}", p.path),
                            title: Some(format!("{}:{}-{}", p.path, p.lines[0], p.lines[1])),
                        })
                        .collect();
                });
            }
            EngineEvent::Citations {
                conversation,
                citations,
            } => {
                self.with_answer(conversation, now, |answer| {
                    answer.citations.extend(citations.iter().cloned());
                });
            }
            EngineEvent::Reasoning {
                conversation,
                delta,
            } => {
                self.with_answer(conversation, now, |answer| {
                    let reasoning = answer.reasoning.get_or_insert_with(|| ReasoningVm {
                        started_ms: now,
                        ..ReasoningVm::default()
                    });
                    reasoning.text.push_str(delta);
                });
                let conv = self.ensure(conversation, now);
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Thinking;
                }
            }
            EngineEvent::Text {
                conversation,
                delta,
            } => {
                self.with_answer(conversation, now, |answer| {
                    answer.text.push_str(delta);
                    end_thinking(answer, now);
                });
                let conv = self.ensure(conversation, now);
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Streaming;
                }
            }
            EngineEvent::Usage { .. } => {}
            EngineEvent::TitleChanged {
                conversation,
                title,
            } => {
                if !title.trim().is_empty() {
                    self.ensure(conversation, now).title = title.trim().to_string();
                }
            }
            // The app reloads the conversation's messages from the store.
            EngineEvent::BranchSelected { .. } | EngineEvent::MessageDeleted { .. } => {}
            EngineEvent::BudgetWarning {
                conversation,
                scope,
                spent_usd,
                limit_usd,
            } => {
                self.ensure(conversation, now).warning = Some(format!(
                    "The {} budget is nearly spent: ${spent_usd:.2} of ${limit_usd:.2}.",
                    scope.as_str()
                ));
            }
            EngineEvent::ToolCall {
                conversation,
                call_id,
                name,
                arguments,
                decision,
            } => {
                let call = ToolCallVm {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                    state: ToolCallState::from_decision(decision.as_ref()),
                    result: None,
                };
                self.with_answer(conversation, now, |m| m.tools.push(call));
            }
            EngineEvent::ToolDecision {
                conversation,
                call_id,
                decision,
            } => {
                let state = ToolCallState::from_decision(Some(decision));
                self.with_call(conversation, call_id, now, |c| c.state = state);
            }
            EngineEvent::ToolResult {
                conversation,
                call_id,
                content,
                is_error,
                ..
            } => {
                self.with_call(conversation, call_id, now, |c| {
                    c.state = ToolCallState::Finished {
                        is_error: *is_error,
                    };
                    c.result = Some(content.clone());
                });
            }
            EngineEvent::Retrying {
                conversation,
                attempt,
                reason,
                ..
            } => {
                let conv = self.ensure(conversation, now);
                if conv.run != RunState::Stopping {
                    conv.run = RunState::Retrying {
                        attempt: *attempt,
                        reason: reason.clone(),
                    };
                }
            }
            EngineEvent::Done {
                conversation,
                status,
                text,
                error,
                metrics,
                ..
            } => {
                let revision = self.bump();
                let message = self.new_message(Author::Assistant, String::new(), None, now);
                let conv = self.ensure(conversation, now);
                conv.updated_ms = now;
                conv.run = RunState::Idle;
                if error.is_some() && conv.notice == *error {
                    // The answer's error card says it, with Retry: once is enough.
                    conv.notice = None;
                }
                if conv.streaming_answer().is_none() {
                    if text.is_empty() && error.is_none() && *status == RunStatus::Complete {
                        return;
                    }
                    conv.messages.push(message);
                }
                if let Some(last) = conv.messages.last_mut() {
                    end_thinking(last, now);
                    last.text.clone_from(text);
                    last.status = (*status).into();
                    last.error.clone_from(error);
                    if !metrics.model.is_empty() {
                        last.model = Some(metrics.model.clone());
                    }
                    last.usage = Some(usage_line(
                        metrics.prompt_tokens,
                        metrics.completion_tokens,
                        metrics.cost_usd,
                    ));
                    last.revision = revision;
                }
            }
            EngineEvent::Error {
                conversation: Some(conversation),
                message,
            } => {
                let revision = self.bump();
                let conv = self.ensure(conversation, now);
                // Refused before it went out (budget, an image the model does not take, a
                // run still active): the message says so itself, and is no longer waiting for
                // its echo, so the next one's echo finds the right message.
                let refused = (conv.run == RunState::Sending && conv.streaming_answer().is_none())
                    .then(|| {
                        conv.messages
                            .iter_mut()
                            .rev()
                            .find(|m| m.status == MessageStatus::Pending)
                    })
                    .flatten();
                match refused {
                    Some(m) => {
                        m.status = MessageStatus::Failed;
                        m.error = Some(format!("Not sent: {message}"));
                        m.revision = revision;
                    }
                    None => conv.notice = Some(message.clone()),
                }
                if matches!(conv.run, RunState::Sending | RunState::Stopping)
                    && conv.streaming_answer().is_none()
                {
                    conv.run = RunState::Idle;
                }
            }
            EngineEvent::Error {
                conversation: None,
                message,
            } => self.global_notices.push(message.clone()),
            EngineEvent::Lagged { dropped } => self.lagged_events += dropped,
            EngineEvent::RunStored {
                conversation,
                question,
                answer,
            } => self.learn_stored(conversation, question, answer.as_ref()),
            // The settings page's answers: the app hands them to it.
            EngineEvent::ProviderChanged { .. } | EngineEvent::ProviderProbed { .. } => {}
        }
    }

    /// Changes the answer being streamed (adding one if none is), bumping its revision.
    fn with_answer(
        &mut self,
        id: &ConversationId,
        now: UnixMs,
        change: impl FnOnce(&mut MessageVm),
    ) {
        // Only the first delta of an answer makes its message (this runs for every delta).
        if self.ensure(id, now).streaming_answer().is_none() {
            let message = self.new_message(Author::Assistant, String::new(), None, now);
            self.ensure(id, now).messages.push(MessageVm {
                status: MessageStatus::Streaming,
                ..message
            });
        }
        let revision = self.bump();
        let conv = self.ensure(id, now);
        conv.updated_ms = now;
        if let Some(last) = conv.messages.last_mut() {
            change(last);
            last.revision = revision;
        }
    }

    /// Changes the tool call `call_id` of the conversation's latest answers.
    fn with_call(
        &mut self,
        id: &ConversationId,
        call_id: &str,
        now: UnixMs,
        change: impl FnOnce(&mut ToolCallVm),
    ) {
        let revision = self.bump();
        let conv = self.ensure(id, now);
        let found = conv.messages.iter_mut().rev().find_map(|m| {
            let i = m.tools.iter().position(|c| c.call_id == call_id)?;
            Some((m, i))
        });
        if let Some((message, i)) = found {
            change(&mut message.tools[i]);
            message.revision = revision;
        }
    }
}

/// The answer began (or the run ended): the thinking before it is over.
fn end_thinking(answer: &mut MessageVm, now: UnixMs) {
    if let Some(reasoning) = answer.reasoning.as_mut()
        && reasoning.ended_ms.is_none()
    {
        reasoning.ended_ms = Some(now);
    }
}
