//! Native-messaging input: `server::framing::read_frame` over arbitrary bytes delivered in
//! arbitrary read sizes, each frame parsed as the host does (`server::native::parse_request`),
//! and `split_text` on the text a frame carries.
//!
//! Input: the first byte picks the read size (1..=32 bytes, 0 = everything at once) and the
//! `split_text` limit; the rest is stdin. Properties: no panic; frames are exactly the bytes
//! announced, in order, never over `MAX_INCOMING`; a frame written by `write_frame` reads back
//! the same; `split_text` pieces concatenate to the text, each within the limit.
#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll};

use libfuzzer_sys::fuzz_target;
use rustbot::server::framing::{FrameError, MAX_INCOMING, read_frame, split_text, write_frame};
use rustbot::server::native::parse_request;
use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};

/// A reader that hands out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let data = self.data;
        let n = data.len().min(self.step).min(buf.remaining());
        let (head, tail) = data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

fn check_split(text: &str, limit: usize) {
    let pieces = split_text(text, limit);
    assert_eq!(pieces.concat(), text);
    assert!(!pieces.is_empty());
    for piece in &pieces {
        // A 4-byte character does not fit under a smaller limit: `split_text` takes at least 4.
        assert!(piece.len() <= limit.max(4), "{} > {limit}", piece.len());
        assert!(text.len() <= limit || !piece.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let step = match usize::from(control & 31) {
        0 => usize::MAX,
        n => n,
    };
    let limit = usize::from(control >> 3) + 1;
    let mut reader = Trickle { data: input, step };
    let mut at = 0;
    loop {
        match futures::executor::block_on(read_frame(&mut reader)) {
            Ok(frame) => {
                assert!(frame.len() <= MAX_INCOMING);
                assert_eq!(&input[at + 4..at + 4 + frame.len()], &frame[..]);
                at += 4 + frame.len();
                // A frame that was read is written back identically.
                let mut written = Vec::new();
                futures::executor::block_on(write_frame(&mut written, &frame)).unwrap();
                assert_eq!(&written[..], &input[at - 4 - frame.len()..at]);
                match parse_request(&frame) {
                    Ok(request) => {
                        // The host keys running chats by the id's JSON text.
                        let _ = request.id.to_string();
                        let text = request
                            .payload
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or(request.route.as_str());
                        check_split(text, limit);
                        check_split(text, 128 * 1024);
                    }
                    Err((code, message)) => {
                        assert!(!code.is_empty() && !message.is_empty());
                    }
                }
                if let Ok(text) = std::str::from_utf8(&frame) {
                    check_split(text, limit);
                }
            }
            Err(FrameError::Eof) => {
                assert_eq!(at, input.len());
                break;
            }
            Err(FrameError::Truncated { got, expected }) => {
                assert!(got < expected);
                break;
            }
            Err(FrameError::TooLarge(n)) => {
                assert!(n > MAX_INCOMING);
                break;
            }
            Err(FrameError::Io(e)) => panic!("an in-memory read failed: {e}"),
        }
    }
});
