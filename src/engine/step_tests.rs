//! The core over a table of states × inputs: each row sets a conversation in a state, feeds
//! one input and checks the effects in order and the state after. No network, no store.

use std::time::{Duration, Instant};

use super::*;
use crate::engine::run::Run;
use crate::engine::state::StateKind;
use crate::llm::{FinishReason, ToolCall, Usage};
use crate::store::MessageId;

/// A conversation whose run 1 has reached `state` through allowed transitions.
fn conversation_in(state: StateKind) -> Conversation {
    let mut conv = Conversation::new(Instant::now());
    conv.run = Some(Run::new(1, "model".into()));
    let path: &[AgentState] = match state {
        StateKind::Idle => &[],
        StateKind::Sending => &[AgentState::Sending],
        StateKind::Streaming => &[AgentState::Sending, AgentState::Streaming],
        StateKind::Retrying => &[
            AgentState::Sending,
            AgentState::Retrying {
                attempt: 2,
                until_ms: 0,
            },
        ],
        StateKind::AwaitingApproval => &[
            AgentState::Sending,
            AgentState::Streaming,
            AgentState::AwaitingApproval,
        ],
        StateKind::RunningTool => &[
            AgentState::Sending,
            AgentState::Streaming,
            AgentState::RunningTool,
        ],
        StateKind::Failed => &[
            AgentState::Sending,
            AgentState::Failed { error: "x".into() },
        ],
        StateKind::Stopping => &[AgentState::Sending, AgentState::Stopping],
    };
    for to in path {
        assert!(conv.machine.go(to.clone()).is_ok(), "setting up {to}");
    }
    conv
}

/// One effect as a short line, so a row's expectation reads like the event log.
fn describe(effect: &Effect) -> String {
    match effect {
        Effect::Publish(EngineEvent::State { from, to, .. }) => format!("state {from}>{to}"),
        Effect::Publish(EngineEvent::Error { message, .. }) => format!("error: {message}"),
        Effect::Publish(EngineEvent::ToolResult { call_id, .. }) => {
            format!("tool_result {call_id}")
        }
        Effect::Publish(event) => event.kind().to_string(),
        Effect::FlushAnswer => "flush".into(),
        Effect::Cancel(_) => "cancel".into(),
        Effect::ResendSmaller { window, estimate } => format!("resend {window:?} {estimate}"),
        Effect::ToolCalls => "tool_calls".into(),
        Effect::Grant { tool, scope } => format!("grant {tool} {scope:?}"),
        Effect::RunTools => "run_tools".into(),
        Effect::StoreToolResult { pending, .. } => format!("store {}", pending.call.id),
        Effect::NextRound => "next_round".into(),
        Effect::Finish { status, reason, .. } => format!("finish {} {reason}", status.as_str()),
        Effect::RequestTitle => "title".into(),
    }
}

fn run_step(conv: &mut Conversation, run: u64, input: StepInput, now: Instant) -> Vec<String> {
    let mut out = Vec::new();
    step(conv, &ConversationId("c".into()), run, input, now, &mut out);
    out.iter().map(describe).collect()
}

fn text(s: &str) -> StepInput {
    StepInput::Stream(Ok(StreamEvent::TextDelta(s.into())))
}

fn finished(reason: FinishReason) -> StepInput {
    StepInput::Stream(Ok(StreamEvent::Finished(reason)))
}

fn ended() -> StepInput {
    StepInput::StreamEnded { tools_on: true }
}

#[test]
fn every_state_with_a_run_answers_each_input_as_the_table_says() {
    use StateKind::*;
    let overflow = || {
        StepInput::Stream(Err(LlmError::ContextLength {
            detail: "too long".into(),
            window: Some(1024),
            prompt_tokens: Some(1500),
        }))
    };
    // (state, inputs fed first, the input under test, its effects, the state after)
    type Row = (
        StateKind,
        Vec<StepInput>,
        StepInput,
        &'static [&'static str],
        StateKind,
    );
    let rows: Vec<Row> = vec![
        (
            Sending,
            vec![],
            text("hi"),
            &["state Sending>Streaming", "text"],
            Streaming,
        ),
        (Streaming, vec![], text("hi"), &["text"], Streaming),
        (
            Retrying,
            vec![],
            text("hi"),
            &["state Retrying>Sending", "state Sending>Streaming", "text"],
            Streaming,
        ),
        (
            Sending,
            vec![],
            StepInput::Stream(Ok(StreamEvent::Retrying {
                attempt: 1,
                delay_ms: 500,
                reason: "429".into(),
            })),
            &["state Sending>Retrying", "retrying"],
            Retrying,
        ),
        (
            Streaming,
            vec![],
            StepInput::Stream(Ok(StreamEvent::Usage(Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
                cost_usd: None,
                reasoning_tokens: 0,
            }))),
            &["usage"],
            Streaming,
        ),
        (
            Streaming,
            vec![finished(FinishReason::Stop)],
            ended(),
            &["state Streaming>Idle", "finish complete stop", "title"],
            Idle,
        ),
        (
            Streaming,
            vec![],
            ended(),
            &[
                "error: the answer was cut off: the answer ended without a finish signal (the text so far is kept). Try again",
                "state Streaming>Failed",
                "finish failed error",
            ],
            Failed,
        ),
        (
            Sending,
            vec![overflow()],
            ended(),
            &["resend Some(1024) 0"],
            Sending,
        ),
        (
            Streaming,
            vec![
                StepInput::Stream(Ok(StreamEvent::ToolCallDelta {
                    index: 0,
                    id: Some("a".into()),
                    name: Some("read_file".into()),
                    arguments_fragment: "{}".into(),
                })),
                finished(FinishReason::ToolCalls),
            ],
            ended(),
            &["tool_calls"],
            Streaming,
        ),
        // A stale run's input changes nothing.
        (
            Streaming,
            vec![],
            StepInput::StreamEnded { tools_on: true },
            &[],
            Streaming,
        ),
    ];
    for (i, (state, before, input, expected, after)) in rows.into_iter().enumerate() {
        let mut conv = conversation_in(state);
        let now = Instant::now();
        for b in before {
            run_step(&mut conv, 1, b, now);
        }
        // The last row sends its input to a run that is no longer current.
        let run = if expected.is_empty() { 2 } else { 1 };
        let got = run_step(&mut conv, run, input, now);
        assert_eq!(got, expected, "row {i} ({state:?})");
        assert_eq!(conv.machine.state().kind(), after, "row {i} state after");
    }
}

#[test]
fn stop_cancels_and_ends_the_run_from_every_active_state() {
    use StateKind::*;
    for state in [Sending, Streaming, Retrying, AwaitingApproval, RunningTool] {
        let mut conv = conversation_in(state);
        let token = conv.run.as_ref().map(|r| r.cancel.clone());
        let got = run_step(&mut conv, 0, StepInput::Stop, Instant::now());
        let expected = [
            "cancel".to_string(),
            format!("state {state}>Stopping"),
            "state Stopping>Idle".into(),
            "finish stopped stopped".into(),
        ];
        assert_eq!(got, expected, "{state:?}");
        assert_eq!(conv.machine.state().kind(), Idle);
        // The token is the run's own: cancelling it reaches the stream task and the tools.
        let mut out = Vec::new();
        step(
            &mut conv,
            &ConversationId("c".into()),
            0,
            StepInput::Stop,
            Instant::now(),
            &mut out,
        );
        if let (Some(Effect::Cancel(sent)), Some(own)) = (out.first(), token) {
            sent.cancel();
            assert!(own.is_cancelled());
        } else {
            panic!("{state:?}: the second stop must cancel the same run's token");
        }
    }
    // Nothing runs: Stop does nothing.
    let mut idle = Conversation::new(Instant::now());
    assert!(run_step(&mut idle, 0, StepInput::Stop, Instant::now()).is_empty());
}

#[test]
fn text_accumulates_times_the_first_token_and_flushes_every_interval() {
    let mut conv = conversation_in(StateKind::Sending);
    let t0 = Instant::now();
    if let Some(run) = conv.run.as_mut() {
        run.message = Some(MessageId(7));
        run.last_flush = t0;
    }
    assert_eq!(
        run_step(&mut conv, 1, text("a"), t0),
        ["state Sending>Streaming", "text"]
    );
    let half = t0 + FLUSH_INTERVAL / 2;
    assert_eq!(run_step(&mut conv, 1, text("b"), half), ["text"]);
    let due = t0 + FLUSH_INTERVAL + Duration::from_millis(1);
    assert_eq!(run_step(&mut conv, 1, text("c"), due), ["flush", "text"]);
    assert_eq!(run_step(&mut conv, 1, text("d"), due), ["text"]);
    let run = conv.run.as_ref().map(|r| (r.text.clone(), r.first_token));
    assert_eq!(run, Some(("abcd".to_string(), Some(t0))));
    // An answer with no stored message (an ephemeral conversation) is never flushed.
    let mut ephemeral = conversation_in(StateKind::Streaming);
    let later = Instant::now() + FLUSH_INTERVAL * 2;
    assert_eq!(run_step(&mut ephemeral, 1, text("x"), later), ["text"]);
}

#[test]
fn errors_and_usage_change_the_run_without_publishing_twice() {
    let mut conv = conversation_in(StateKind::Streaming);
    let cut = || {
        StepInput::Stream(Err(LlmError::Incomplete {
            detail: "first".into(),
        }))
    };
    assert!(run_step(&mut conv, 1, cut(), Instant::now()).is_empty());
    assert!(run_step(&mut conv, 1, cut(), Instant::now()).is_empty());
    // The first error is the one reported, once.
    let got = run_step(&mut conv, 1, ended(), Instant::now());
    assert!(
        got[0].starts_with("error: the answer was cut off: first"),
        "{got:?}"
    );
    assert_eq!(got.iter().filter(|e| e.starts_with("error")).count(), 1);
    // Usage calibrates the estimate to the provider's count.
    let mut conv = conversation_in(StateKind::Streaming);
    if let Some(run) = conv.run.as_mut() {
        run.prompt_estimate = 100;
    }
    let usage = Usage {
        prompt_tokens: 150,
        completion_tokens: 1,
        cost_usd: None,
        reasoning_tokens: 0,
    };
    run_step(
        &mut conv,
        1,
        StepInput::Stream(Ok(StreamEvent::Usage(usage))),
        Instant::now(),
    );
    assert!((conv.token_ratio - 1.5).abs() < 1e-9);
    assert_eq!(conv.last_prompt.map(|p| p.tokens), Some(150));
}

fn pending(id: &str, decision: Decision, result: Option<ToolResult>) -> PendingCall {
    PendingCall {
        call: ToolCall {
            id: id.into(),
            name: "shell".into(),
            arguments: "{}".into(),
        },
        validated: None,
        decision: Some(decision),
        result,
    }
}

#[test]
fn approvals_run_the_tools_when_the_last_question_is_answered() {
    let mut conv = conversation_in(StateKind::AwaitingApproval);
    if let Some(run) = conv.run.as_mut() {
        run.pending = vec![
            pending("a", Decision::NeedsApproval, None),
            pending("b", Decision::NeedsApproval, None),
        ];
    }
    let answer = |call: &str, scope| StepInput::Approval {
        call_id: call.into(),
        scope,
    };
    let now = Instant::now();
    assert_eq!(
        run_step(&mut conv, 1, answer("a", Some(ApprovalScope::Once)), now),
        ["grant shell Once", "tool_decision"]
    );
    assert_eq!(
        run_step(&mut conv, 1, answer("zz", None), now),
        ["error: no tool call `zz` is waiting for approval in this conversation"]
    );
    assert_eq!(
        run_step(&mut conv, 1, answer("b", None), now),
        ["tool_decision", "run_tools"]
    );
    let denied = conv.run.as_ref().and_then(|r| r.pending[1].result.clone());
    assert_eq!(
        denied.map(|r| r.content),
        Some("error: not run: the user denied this call".into())
    );
    // Answered already: asking again is an error, not a second run.
    assert_eq!(run_step(&mut conv, 1, answer("a", None), now).len(), 1);
}

#[test]
fn tool_results_go_to_the_history_in_call_order_then_the_next_round() {
    let mut conv = conversation_in(StateKind::RunningTool);
    let refused = ToolResult {
        content: "error: not run".into(),
        is_error: true,
    };
    if let Some(run) = conv.run.as_mut() {
        run.pending = vec![
            pending("a", Decision::Approved(ApprovedBy::Config), None),
            pending("b", Decision::Denied(DeniedBy::User), Some(refused)),
            pending("c", Decision::Approved(ApprovedBy::Config), None),
        ];
    }
    let ok = ToolResult {
        content: "done".into(),
        is_error: false,
    };
    // "c" never reports: it is closed as not run, so the next request stays valid.
    let got = run_step(
        &mut conv,
        1,
        StepInput::ToolsFinished(vec![("a".into(), ok)]),
        Instant::now(),
    );
    assert_eq!(
        got,
        [
            "tool_result a",
            "store a",
            "tool_result b",
            "store b",
            "tool_result c",
            "store c",
            "next_round"
        ]
    );
    let history: Vec<_> = conv.history.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        history,
        ["done", "error: not run", "error: the tool did not run"]
    );
    assert!(conv.run.as_ref().is_some_and(|r| r.pending.is_empty()));
}
