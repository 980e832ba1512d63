//! Shared by the stream-decoder targets: the transport's path from SSE bytes to `StreamEvent`s.

use bytes::Bytes;
use rustbot::llm::http::StreamDecoder;
use rustbot::llm::sse::SseDecoder;
use rustbot::llm::{StreamEvent, ToolCallAccumulator, Usage};
use rustbot::server::openai::UsageOut;

/// Checks what one decoder produced: `Finished` at most once and only last (when `ended`,
/// exactly once), usage bounded, and the accumulator assembles complete calls.
pub fn check_events(out: &[StreamEvent], ended: bool) {
    let finished = out
        .iter()
        .filter(|e| matches!(e, StreamEvent::Finished(_)))
        .count();
    assert!(finished <= 1, "{finished} Finished events");
    if finished == 1 {
        assert!(matches!(out.last(), Some(StreamEvent::Finished(_))));
    }
    if ended {
        assert_eq!(finished, 1, "a terminated stream did not finish");
    }
    for event in out {
        if let StreamEvent::Usage(u) = event {
            // Summed per round, turn, conversation and day, and stored as SQLite integers.
            assert!(u.prompt_tokens <= Usage::MAX_REPORTED_TOKENS, "{u:?}");
            assert!(u.completion_tokens <= Usage::MAX_REPORTED_TOKENS, "{u:?}");
            assert!(
                u.cost_usd.is_none_or(|c| c.is_finite() && c >= 0.0),
                "{u:?}"
            );
            let _ = UsageOut::new(u.prompt_tokens, u.completion_tokens);
        }
    }
    let mut calls = ToolCallAccumulator::default();
    for event in out {
        calls.push(event);
    }
    for call in calls.finish() {
        assert!(!call.id.is_empty());
        assert!(!call.arguments.trim().is_empty());
    }
}

/// Runs `data` as an SSE body through a fresh decoder, event by event, as the transport does:
/// it stops at the terminator, the first error, or the end (asking whether it may end there).
pub fn drive_stream<D: StreamDecoder>(data: &[u8], decoder: impl FnOnce() -> D) {
    let mut decoder = decoder();
    let mut sse = SseDecoder::default();
    sse.feed(Bytes::copy_from_slice(data));
    let mut out = Vec::new();
    loop {
        match sse.next_event() {
            Ok(Some(event)) => match decoder.on_event(&event.name, &event.data, &mut out) {
                Ok(true) => return check_events(&out, true),
                Ok(false) => {}
                Err(e) => {
                    let _ = e.to_string();
                    return check_events(&out, false);
                }
            },
            Ok(None) | Err(_) => break,
        }
    }
    let ended = decoder.complete_without_terminator(&mut out);
    check_events(&out, ended);
}

/// `data` as a whole non-streaming answer.
pub fn whole_body<D: StreamDecoder>(data: &[u8], mut decoder: D) {
    let mut out = Vec::new();
    match decoder.on_json_body(data, &mut out) {
        Ok(()) => check_events(&out, true),
        Err(e) => {
            let _ = e.to_string();
            check_events(&out, false);
        }
    }
}
