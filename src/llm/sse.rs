//! Server-sent events over an HTTP body, with an idle timeout at the byte level.
//!
//! Framing (LF/CRLF/CR, comments, multi-line `data:`, `event:` names, bytes and UTF-8 split
//! anywhere) is the maintained `eventsource-stream` crate's job; this module adds what it does
//! not know: a stall detector that counts any byte (comments included) as life, and errors in
//! our own terms.

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};

/// Why reading the body stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyFault {
    /// No byte arrived for the idle timeout.
    Idle,
    /// The connection failed (reset, closed mid-chunk, ...).
    Transport(String),
    /// The bytes were not valid UTF-8 or not valid SSE.
    Malformed(String),
}

/// One SSE event: its `event:` name (`message` when unnamed, per the spec) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` field, or `message`.
    pub name: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Decodes a byte stream into SSE events, failing with `BodyFault::Idle` after `idle` of silence.
pub fn sse_events<S, E>(
    bytes: S,
    idle: Duration,
) -> impl Stream<Item = Result<SseEvent, BodyFault>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let guarded = tokio_stream::StreamExt::timeout(bytes, idle).map(|item| match item {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => Err(BodyFault::Transport(e.to_string())),
        Err(_elapsed) => Err(BodyFault::Idle),
    });
    // A fault ends the stream: `take_while` after mapping would lose the fault item, so the
    // consumer is expected to stop at the first `Err`.
    guarded.eventsource().map(|item| match item {
        Ok(ev) => Ok(SseEvent {
            name: ev.event,
            data: ev.data,
        }),
        Err(EventStreamError::Transport(fault)) => Err(fault),
        Err(EventStreamError::Utf8(e)) => Err(BodyFault::Malformed(format!("invalid UTF-8: {e}"))),
        Err(EventStreamError::Parser(e)) => Err(BodyFault::Malformed(format!("invalid SSE: {e}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    async fn decode(chunks: Vec<&'static [u8]>) -> Vec<Result<SseEvent, BodyFault>> {
        let s = stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        sse_events(s, Duration::from_secs(5)).collect().await
    }

    fn ev(name: &str, data: &str) -> Result<SseEvent, BodyFault> {
        Ok(SseEvent {
            name: name.into(),
            data: data.into(),
        })
    }

    #[tokio::test]
    async fn line_endings_comments_and_multiline_data() {
        let out = decode(vec![
            b": OPENROUTER PROCESSING\r\n\r\ndata: a\r\ndata: b\r\n\r\n",
            b"event: ping\rdata: {}\r\rdata: x\n\n",
        ])
        .await;
        assert_eq!(
            out,
            vec![ev("message", "a\nb"), ev("ping", "{}"), ev("message", "x")]
        );
    }

    #[tokio::test]
    async fn bytes_and_utf8_split_anywhere() {
        let whole = "data: héllo 世界 🎉\n\n".as_bytes();
        for split in 1..whole.len() {
            let (a, b) = whole.split_at(split);
            let a: &'static [u8] = Box::leak(a.to_vec().into_boxed_slice());
            let b: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
            assert_eq!(
                decode(vec![a, b]).await,
                vec![ev("message", "héllo 世界 🎉")]
            );
        }
    }

    #[tokio::test]
    async fn silence_is_an_idle_fault() {
        let s = stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(
            b"data: a\n\n",
        ))])
        .chain(stream::pending());
        let out: Vec<_> = sse_events(s, Duration::from_millis(50))
            .take(2)
            .collect()
            .await;
        assert_eq!(out, vec![ev("message", "a"), Err(BodyFault::Idle)]);
    }
}
