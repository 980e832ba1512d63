//! One stream event of a run, applied: text and reasoning into the run and the doors, tool-call
//! fragments assembled, usage counted (and the provider's token count learned), retries and
//! the finish noted.

use std::time::Instant;

use crate::engine::agent::Engine;
use crate::engine::events::{ConversationId, EngineEvent};
use crate::engine::state::AgentState;
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
