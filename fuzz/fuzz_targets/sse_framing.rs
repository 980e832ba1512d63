//! SSE framing (`llm::sse::SseDecoder`) over arbitrary bytes split at arbitrary points.
//!
//! Input: two bytes seed the split sizes, the rest is the body. Properties: no panic; the
//! events (and whether the stream faults) are the same however the body is split; an event's
//! name and data never hold a CR, and its name never a LF.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rustbot::llm::sse::{SseDecoder, SseEvent};

/// Events of `parts` fed in order, and whether the decoder faulted.
fn decode<'a>(parts: impl Iterator<Item = &'a [u8]>) -> (Vec<SseEvent>, bool) {
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    for part in parts {
        decoder.feed(Bytes::copy_from_slice(part));
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(_) => return (events, true),
            }
        }
    }
    (events, false)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (seed, body) = data.split_at(2);
    // Split sizes from a small generator seeded by the first two bytes: 1..=max bytes each.
    let max = usize::from(seed[0] % 16) + 1;
    let mut state = u32::from(seed[1]) | 1;
    let mut parts = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % max + 1).min(rest.len());
        let (head, tail) = rest.split_at(n);
        parts.push(head);
        rest = tail;
    }
    let split = decode(parts.iter().copied());
    let whole = decode(std::iter::once(body));
    // Byte at a time: the hardest split for a line end (CR then LF in the next read).
    let bytewise = decode(body.chunks(1));
    assert_eq!(split, whole, "events depend on where the body was split");
    assert_eq!(bytewise, whole, "events depend on where the body was split");
    for event in &whole.0 {
        assert!(!event.name.contains(['\r', '\n']), "{event:?}");
        assert!(!event.data.contains('\r'), "{event:?}");
        assert!(!event.name.is_empty());
    }
});
