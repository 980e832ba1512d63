//! The engine's core for one conversation, as a pure step: an input (a stream event, the end
//! of a stream, Stop, an approval, tool results) changes the conversation's state and returns
//! the effects for the shell (`event_loop.rs`, `tool_loop.rs`) to carry out: publish an event, write
//! to the store, send a request, run tools. No network, no store, no task is touched here, so
//! the decisions are tested over a table of states × inputs (tests below).

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::engine::decide::{RoundFacts, RoundNext, after_round};
use crate::engine::event_loop::FLUSH_INTERVAL;
use crate::engine::events::{ApprovalScope, ConversationId, EngineEvent, RunStatus};
use crate::engine::run::{Conversation, PendingCall};
use crate::engine::state::AgentState;
use crate::llm::{ChatMessage, LlmError, StreamEvent};
use crate::tools::{ApprovedBy, Decision, DeniedBy, ToolResult};

/// What enters a conversation's core.
#[derive(Debug)]
pub(crate) enum StepInput {
    /// One event of the current round's stream.
    Stream(Result<StreamEvent, LlmError>),
    /// The current round's stream ended (`tools_on`: whether this engine runs tools).
    StreamEnded { tools_on: bool },
    /// The user asked to stop.
    Stop,
    /// The user answered an approval question (`scope` None: denied).
    Approval {
        call_id: String,
        scope: Option<ApprovalScope>,
    },
    /// The round's approved tools ran.
    ToolsFinished(Vec<(String, ToolResult)>),
}

/// What the shell carries out, in order.
pub(crate) enum Effect {
    /// Publish this event to every door.
    Publish(EngineEvent),
    /// Write what arrived of the answer since the last flush.
    FlushAnswer,
    /// Cancel this token (a request and its tools, or a summary being written).
    Cancel(CancellationToken),
    /// The prompt was too long: learn the window (the server's, or one guessed from the
    /// refused prompt's `estimate`), compact or trim, and send once more.
    ResendSmaller { window: Option<u64>, estimate: u64 },
    /// The model asked for tools: sort the calls into decisions.
    ToolCalls,
    /// Remember the user's approval for later calls of `tool` (its scope says how long).
    Grant { tool: String, scope: ApprovalScope },
    /// Every call of the round is decided: run the approved ones.
    RunTools,
    /// Store a finished call, its decision and its result (the result message follows in
    /// the history already).
    StoreToolResult {
        pending: PendingCall,
        outcome: ToolResult,
        result: ChatMessage,
    },
    /// Every result is in: open the next stored answer and send the next round.
    NextRound,
    /// End the run: store the answer, publish `Done`.
    Finish {
        status: RunStatus,
        reason: String,
        error: Option<String>,
    },
    /// The run completed: the conversation may get a title now.
    RequestTitle,
}

/// Applies `input` to conversation `id`'s run `run_id` and appends the effects to `out`.
/// Input for a run that was stopped or replaced is stale and changes nothing; Stop applies
/// to whatever is running.
pub(crate) fn step(
    conv: &mut Conversation,
    id: &ConversationId,
    run_id: u64,
    input: StepInput,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    if let StepInput::Stop = input {
        stop(conv, id, out);
        return;
    }
    if conv.run.as_ref().map(|r| r.id) != Some(run_id) {
        return;
    }
    match input {
        StepInput::Stream(event) => stream_event(conv, id, event, now, out),
        StepInput::StreamEnded { tools_on } => stream_ended(conv, id, tools_on, out),
        StepInput::Approval { call_id, scope } => approval(conv, id, &call_id, scope, out),
        StepInput::ToolsFinished(results) => tools_finished(conv, id, results, out),
        StepInput::Stop => {}
    }
}

/// Applies a transition and says so; a refused one is reported, never applied.
pub(crate) fn go(
    conv: &mut Conversation,
    id: &ConversationId,
    to: AgentState,
    out: &mut Vec<Effect>,
) -> bool {
    match conv.machine.go(to) {
        Ok(t) => {
            out.push(Effect::Publish(EngineEvent::State {
                conversation: id.clone(),
                from: t.from.to_string(),
                to: t.to.to_string(),
                at_ms: t.at_ms,
            }));
            true
        }
        Err(e) => {
            out.push(error(id, e.to_string()));
            false
        }
    }
}

fn error(id: &ConversationId, message: String) -> Effect {
    Effect::Publish(EngineEvent::Error {
        conversation: Some(id.clone()),
        message,
    })
}

fn stream_event(
    conv: &mut Conversation,
    id: &ConversationId,
    event: Result<StreamEvent, LlmError>,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    if matches!(conv.machine.state(), AgentState::Retrying { .. }) {
        // Any news after a retry notice means the next attempt was made.
        go(conv, id, AgentState::Sending, out);
    }
    match event {
        Ok(StreamEvent::TextDelta(delta)) => {
            first_token(conv, id, now, out);
            if let Some(run) = conv.run.as_mut() {
                run.text.push_str(&delta);
                if run.message.is_some() && now.duration_since(run.last_flush) >= FLUSH_INTERVAL {
                    run.last_flush = now;
                    out.push(Effect::FlushAnswer);
                }
            }
            out.push(Effect::Publish(EngineEvent::Text {
                conversation: id.clone(),
                delta,
            }));
        }
        Ok(StreamEvent::ReasoningDelta(delta)) => {
            // The first token of thinking is the first token: the model has started.
            first_token(conv, id, now, out);
            if let Some(run) = conv.run.as_mut() {
                run.reasoning.push_str(&delta);
            }
            out.push(Effect::Publish(EngineEvent::Reasoning {
                conversation: id.clone(),
                delta,
            }));
        }
        Ok(StreamEvent::Citations(citations)) => {
            out.push(Effect::Publish(EngineEvent::Citations {
                conversation: id.clone(),
                citations,
            }));
        }
        Ok(StreamEvent::Thinking(block)) => {
            if let Some(run) = conv.run.as_mut() {
                run.thinking.push(block);
            }
        }
        Ok(delta @ StreamEvent::ToolCallDelta { .. }) => {
            first_token(conv, id, now, out);
            if let Some(run) = conv.run.as_mut() {
                run.tool_calls.push(&delta);
            }
        }
        Ok(StreamEvent::Usage(usage)) => {
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
            out.push(Effect::Publish(EngineEvent::Usage {
                conversation: id.clone(),
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cost_usd: usage.cost_usd,
                reasoning_tokens: usage.reasoning_tokens,
            }));
        }
        Ok(StreamEvent::Retrying {
            attempt,
            delay_ms,
            reason,
        }) => {
            let until_ms = conv.machine.elapsed_ms() + delay_ms;
            go(conv, id, AgentState::Retrying { attempt, until_ms }, out);
            out.push(Effect::Publish(EngineEvent::Retrying {
                conversation: id.clone(),
                attempt,
                delay_ms,
                reason,
            }));
        }
        Ok(StreamEvent::Finished(reason)) => {
            if let Some(run) = conv.run.as_mut() {
                run.finish = Some(reason);
            }
        }
        Err(e) => {
            if let Some(run) = conv.run.as_mut() {
                run.error.get_or_insert(e);
            }
        }
    }
}

/// The model has started: the run's first token is timed, and Sending becomes Streaming.
fn first_token(conv: &mut Conversation, id: &ConversationId, now: Instant, out: &mut Vec<Effect>) {
    if let Some(run) = conv.run.as_mut() {
        run.first_token.get_or_insert(now);
    }
    if matches!(conv.machine.state(), AgentState::Sending) {
        go(conv, id, AgentState::Streaming, out);
    }
}

fn stream_ended(
    conv: &mut Conversation,
    id: &ConversationId,
    tools_on: bool,
    out: &mut Vec<Effect>,
) {
    let Some(run) = conv.run.as_mut() else {
        return;
    };
    let next = after_round(&RoundFacts {
        error: run.error.as_ref(),
        finish: run.finish.as_ref(),
        first_token_seen: run.first_token.is_some(),
        overflow_retried: run.overflow_retried,
        tool_calls: !run.tool_calls.is_empty(),
        tools_on,
    });
    run.error = None;
    match next {
        RoundNext::ResendSmaller {
            window,
            prompt_tokens,
        } => {
            run.overflow_retried = true;
            run.finish = None;
            let estimate = run.prompt_estimate;
            if let Some(reported) = prompt_tokens {
                conv.calibrate(estimate, reported);
            }
            out.push(Effect::ResendSmaller { window, estimate });
        }
        RoundNext::Fail(message) => {
            out.push(error(id, message.clone()));
            go(
                conv,
                id,
                AgentState::Failed {
                    error: message.clone(),
                },
                out,
            );
            out.push(Effect::Finish {
                status: RunStatus::Failed,
                reason: "error".into(),
                error: Some(message),
            });
        }
        RoundNext::RunTools => out.push(Effect::ToolCalls),
        RoundNext::Complete(reason) => {
            go(conv, id, AgentState::Idle, out);
            out.push(Effect::Finish {
                status: RunStatus::Complete,
                reason,
                error: None,
            });
            out.push(Effect::RequestTitle);
        }
    }
}

fn stop(conv: &mut Conversation, id: &ConversationId, out: &mut Vec<Effect>) {
    if let Some(compacting) = conv.compacting.take() {
        out.push(Effect::Cancel(compacting.cancel));
    }
    let Some(run) = conv.run.as_ref() else {
        return;
    };
    // Cancelling drops the HTTP response in the stream task (the socket closes now, not at
    // the next chunk) and kills running tools.
    out.push(Effect::Cancel(run.cancel.clone()));
    go(conv, id, AgentState::Stopping, out);
    go(conv, id, AgentState::Idle, out);
    out.push(Effect::Finish {
        status: RunStatus::Stopped,
        reason: "stopped".into(),
        error: None,
    });
}

fn approval(
    conv: &mut Conversation,
    id: &ConversationId,
    call_id: &str,
    scope: Option<ApprovalScope>,
    out: &mut Vec<Effect>,
) {
    let Some(run) = conv.run.as_mut() else {
        return;
    };
    let waiting = run
        .pending
        .iter_mut()
        .find(|p| p.call.id == call_id && p.decision == Some(Decision::NeedsApproval));
    let Some(p) = waiting else {
        out.push(error(id, not_waiting(call_id)));
        return;
    };
    let decision = match scope {
        Some(scope) => Decision::Approved(ApprovedBy::User(scope)),
        None => Decision::Denied(DeniedBy::User),
    };
    p.decision = Some(decision);
    match scope {
        Some(scope) => out.push(Effect::Grant {
            tool: p.call.name.clone(),
            scope,
        }),
        None => p.result = Some(denial(&decision)),
    }
    out.push(Effect::Publish(EngineEvent::ToolDecision {
        conversation: id.clone(),
        call_id: call_id.to_string(),
        decision,
    }));
    let still_waiting = run
        .pending
        .iter()
        .any(|p| p.decision == Some(Decision::NeedsApproval));
    if !still_waiting {
        out.push(Effect::RunTools);
    }
}

fn tools_finished(
    conv: &mut Conversation,
    id: &ConversationId,
    results: Vec<(String, ToolResult)>,
    out: &mut Vec<Effect>,
) {
    let Some(run) = conv.run.as_mut() else {
        return;
    };
    for (call_id, result) in results {
        if let Some(p) = run.pending.iter_mut().find(|p| p.call.id == call_id) {
            p.result = Some(result);
        }
    }
    for mut p in std::mem::take(&mut run.pending) {
        let result = p.result.take().unwrap_or_else(|| ToolResult {
            content: "error: the tool did not run".into(),
            is_error: true,
        });
        out.push(Effect::Publish(EngineEvent::ToolResult {
            conversation: id.clone(),
            call_id: p.call.id.clone(),
            name: p.call.name.clone(),
            content: result.content.clone(),
            is_error: result.is_error,
        }));
        let message = ChatMessage::tool_result(p.call.id.clone(), result.content.clone());
        conv.history.push(message.clone());
        out.push(Effect::StoreToolResult {
            pending: p,
            outcome: result,
            result: message,
        });
    }
    out.push(Effect::NextRound);
}

/// The answer to an approval for a call that is not waiting for one.
pub(crate) fn not_waiting(call_id: &str) -> String {
    format!("no tool call `{call_id}` is waiting for approval in this conversation")
}

/// What the model is told about a denied call.
pub(crate) fn denial(decision: &Decision) -> ToolResult {
    let who = match decision {
        Decision::Denied(DeniedBy::Config) => "the configuration denies this tool",
        Decision::Denied(DeniedBy::Cli) => "tool calls needing approval are denied in this run",
        _ => "the user denied this call",
    };
    ToolResult {
        content: format!("error: not run: {who}"),
        is_error: true,
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
