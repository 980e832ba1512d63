//! One stream event of a run, applied: text and reasoning into the run and the doors, tool-call
//! fragments assembled, usage counted (and the provider's token count learned), retries and
//! the finish noted.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::engine::agent::{Engine, Input, STREAM_BACKLOG};
use crate::engine::events::{ConversationId, EngineEvent};
use crate::engine::queue::{EventQueue, Priority};
use crate::engine::state::AgentState;
use crate::llm::{ChatRequest, Provider};
use crate::llm::{LlmError, StreamEvent};

impl Engine {
    pub(crate) fn stream_event(
        &mut self,
        id: &ConversationId,
        run_id: u64,
        event: Result<StreamEvent, LlmError>,
    ) {
        // Events of a run that was stopped or replaced are stale: drop them.
        if self.current_run(id) != Some(run_id) {
            return;
        }
        if matches!(
            self.conversation(id).machine.state(),
            AgentState::Retrying { .. }
        ) {
            // Any news after a retry notice means the next attempt was made.
            self.go(id, AgentState::Sending);
        }
        match event {
            Ok(StreamEvent::TextDelta(delta)) => {
                self.mark_first_token(id);
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.text.push_str(&delta);
                }
                self.flush_if_due(id);
                self.bus.publish(EngineEvent::Text {
                    conversation: id.clone(),
                    delta,
                });
            }
            Ok(StreamEvent::ReasoningDelta(delta)) => {
                // The first token of thinking is the first token: the model has started.
                self.mark_first_token(id);
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.reasoning.push_str(&delta);
                }
                self.bus.publish(EngineEvent::Reasoning {
                    conversation: id.clone(),
                    delta,
                });
            }
            Ok(StreamEvent::Citations(citations)) => {
                self.bus.publish(EngineEvent::Citations {
                    conversation: id.clone(),
                    citations,
                });
            }
            Ok(StreamEvent::Thinking(block)) => {
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.thinking.push(block);
                }
            }
            Ok(delta @ StreamEvent::ToolCallDelta { .. }) => {
                self.mark_first_token(id);
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.tool_calls.push(&delta);
                }
            }
            Ok(StreamEvent::Usage(usage)) => {
                let conv = self.conversation(id);
                let replaces = conv.summary.as_ref().map_or(0, |s| s.replaces);
                if let Some(run) = conv.run.as_mut() {
                    run.usage = Some(usage);
                    let (estimate, sent) = (run.prompt_estimate, run.sent_len);
                    if usage.prompt_tokens > 0 {
                        conv.calibrate(estimate, usage.prompt_tokens);
                        conv.last_prompt = Some(crate::engine::compaction::LastPrompt {
                            replaces,
                            sent,
                            tokens: usage.prompt_tokens,
                        });
                    }
                }
                self.bus.publish(EngineEvent::Usage {
                    conversation: id.clone(),
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    cost_usd: usage.cost_usd,
                    reasoning_tokens: usage.reasoning_tokens,
                });
            }
            Ok(StreamEvent::Retrying {
                attempt,
                delay_ms,
                reason,
            }) => {
                let until_ms = self.clock.elapsed().as_millis() as u64 + delay_ms;
                self.go(id, AgentState::Retrying { attempt, until_ms });
                self.bus.publish(EngineEvent::Retrying {
                    conversation: id.clone(),
                    attempt,
                    delay_ms,
                    reason,
                });
            }
            Ok(StreamEvent::Finished(reason)) => {
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.finish = Some(reason);
                }
            }
            Err(e) => {
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.error.get_or_insert(e);
                }
            }
        }
    }

    fn mark_first_token(&mut self, id: &ConversationId) {
        let conv = self.conversation(id);
        let Some(run) = conv.run.as_mut() else {
            return;
        };
        let first_of_run = run.first_token.is_none();
        if first_of_run {
            run.first_token = Some(Instant::now());
        }
        if matches!(conv.machine.state(), AgentState::Sending) {
            self.go(id, AgentState::Streaming);
        }
    }
}

/// Streams one answer into the queue until it ends or `cancel` fires.
pub(crate) async fn stream_task(
    provider: Arc<dyn Provider>,
    request: ChatRequest,
    cancel: CancellationToken,
    queue: Arc<EventQueue<Input>>,
    conversation: ConversationId,
    run: u64,
) {
    let backlog = Arc::new(Semaphore::new(STREAM_BACKLOG));
    let shared_id = Arc::new(conversation.clone());
    let push = |event, permit| {
        queue.push(
            Priority::Normal,
            Input::Stream {
                conversation: Arc::clone(&shared_id),
                run,
                event,
                _permit: permit,
            },
        )
    };
    let stream = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        s = provider.stream(request, cancel.clone()) => Some(s),
    };
    match stream {
        None => {}
        Some(Err(e)) => {
            if let Ok(permit) = Arc::clone(&backlog).acquire_owned().await {
                push(Err(e), permit);
            }
        }
        Some(Ok(mut events)) => loop {
            // Wait for the engine before reading on: a server faster than the engine then
            // waits in its socket buffer, not in our memory.
            let permit = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                p = Arc::clone(&backlog).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                next = events.next() => match next {
                    Some(event) => push(event, permit),
                    None => break,
                },
            }
        },
    }
    queue.push(
        Priority::Normal,
        Input::StreamEnded {
            conversation: conversation.clone(),
            run,
        },
    );
}
