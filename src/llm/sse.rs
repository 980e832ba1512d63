//! Server-sent events over an HTTP body, with an idle timeout at the byte level.
//!
//! Framing follows the WHATWG event-stream rules: LF, CRLF or CR line ends, comments, multi-line
//! `data:`, `event:` names, a leading BOM, bytes and UTF-8 split anywhere. `id:` and `retry:`
//! are read and ignored (we never reconnect an answer).
//!
//! This used to wrap the `eventsource-stream` crate. Under callgrind its parser was 76% of the
//! SSE + JSON benchmark's instructions: it moves the rest of its buffer with `String::split_off`
//! after every line (quadratic in the read size, 51% of all instructions were that `memcpy`),
//! parses with `nom` one `char` at a time and allocates a few strings per event. This decoder
//! finds line ends with `memchr`, parses lines in place inside the received `Bytes`, and copies
//! only a line split across reads (docs/PERFORMANCE.md, "Profiles"). The crate stays a
//! dev-dependency: the tests check this decoder against it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
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
///
/// A fault ends the stream: the consumer gets it as the last item.
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
    SseStream {
        source: Box::pin(guarded),
        decoder: SseDecoder::default(),
        done: false,
    }
}

struct SseStream<S> {
    source: Pin<Box<S>>,
    decoder: SseDecoder,
    done: bool,
}

impl<S> Stream for SseStream<S>
where
    S: Stream<Item = Result<Bytes, BodyFault>>,
{
    type Item = Result<SseEvent, BodyFault>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.decoder.next_event() {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Ok(None) => {}
                Err(fault) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(fault)));
                }
            }
            match this.source.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.decoder.feed(chunk),
                Poll::Ready(Some(Err(fault))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(fault)));
                }
                // Per the spec an event not closed by an empty line is discarded at the end.
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Incremental event-stream parser: `feed` it reads, then take events with `next_event` until
/// it answers `None`.
#[derive(Debug, Default)]
pub struct SseDecoder {
    chunk: Bytes,
    pos: usize,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The previous read ended with CR: an LF opening the next one belongs to that line end.
    skip_lf: bool,
    event: EventBuilder,
}

#[derive(Debug, Default)]
struct EventBuilder {
    started: bool,
    name: String,
    data: String,
}

impl SseDecoder {
    /// Hands over the next read; call after `next_event` returned `None`.
    pub fn feed(&mut self, chunk: Bytes) {
        debug_assert_eq!(
            self.pos,
            self.chunk.len(),
            "fed before the last read was parsed"
        );
        self.chunk = chunk;
        self.pos = 0;
    }

    /// The next complete event in what was fed, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, BodyFault> {
        loop {
            let rest = &self.chunk[self.pos..];
            let Some(&first) = rest.first() else {
                return Ok(None);
            };
            if self.skip_lf {
                self.skip_lf = false;
                if first == b'\n' {
                    self.pos += 1;
                    continue;
                }
            }
            let Some(len) = memchr::memchr2(b'\n', b'\r', rest) else {
                self.partial.extend_from_slice(rest);
                self.pos = self.chunk.len();
                return Ok(None);
            };
            let start = self.pos;
            self.pos += len + 1;
            if rest[len] == b'\r' {
                match self.chunk.get(self.pos) {
                    Some(b'\n') => self.pos += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let line = if self.partial.is_empty() {
                &self.chunk[start..start + len]
            } else {
                self.partial
                    .extend_from_slice(&self.chunk[start..start + len]);
                &self.partial[..]
            };
            let event = self.event.line(line);
            self.partial.clear();
            if let Some(event) = event? {
                return Ok(Some(event));
            }
        }
    }
}

impl EventBuilder {
    fn line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, BodyFault> {
        let mut line = std::str::from_utf8(line)
            .map_err(|e| BodyFault::Malformed(format!("invalid UTF-8: {e}")))?;
        if !self.started {
            self.started = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        let (field, value) = match line.find(':') {
            Some(0) => return Ok(None),
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                // One allocation of the right size for the usual single-line event.
                self.data.reserve(value.len() + 1);
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => {
                self.name.clear();
                self.name.push_str(value);
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.data.is_empty() {
            self.name.clear();
            return None;
        }
        self.data.pop();
        let name = if self.name.is_empty() {
            "message".to_owned()
        } else {
            std::mem::take(&mut self.name)
        };
        Some(SseEvent {
            name,
            data: std::mem::take(&mut self.data),
        })
    }
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
    async fn crlf_split_between_reads_is_one_line_end() {
        let out = decode(vec![b"data: a\r", b"\ndata: b\r\n\r", b"\n"]).await;
        assert_eq!(out, vec![ev("message", "a\nb")]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_malformed_and_ends_the_stream() {
        let out = decode(vec![b"data: \xff\n\n", b"data: a\n\n"]).await;
        assert!(matches!(out.as_slice(), [Err(BodyFault::Malformed(_))]));
    }

    #[tokio::test]
    async fn a_leading_bom_is_skipped_even_split() {
        let out = decode(vec![b"\xef\xbb", b"\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n"]).await;
        // Only the stream's first BOM is skipped: a later one makes an unknown field name.
        assert_eq!(out, vec![ev("message", "a")]);
    }

    #[tokio::test]
    async fn unfinished_event_at_the_end_is_dropped() {
        let out = decode(vec![b"data: a\n\ndata: b\n"]).await;
        assert_eq!(out, vec![ev("message", "a")]);
    }

    /// The `eventsource-stream` crate's events for the same reads: the reference.
    fn reference(parts: &[Vec<u8>]) -> Vec<(String, String)> {
        use eventsource_stream::Eventsource;
        let s = stream::iter(parts.iter().cloned().map(Ok::<_, std::io::Error>));
        futures::executor::block_on(s.eventsource().collect::<Vec<_>>())
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                (e.event, e.data)
            })
            .collect()
    }

    fn ours(parts: &[Vec<u8>]) -> Vec<(String, String)> {
        let mut decoder = SseDecoder::default();
        let mut out = Vec::new();
        for part in parts {
            decoder.feed(Bytes::copy_from_slice(part));
            while let Some(e) = decoder.next_event().unwrap() {
                out.push((e.name, e.data));
            }
        }
        out
    }

    fn line_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let text = "[a-z é世🎉:{}\"]{0,12}";
        prop_oneof![
            text.prop_map(|t| format!("data: {t}")),
            text.prop_map(|t| format!("data:{t}")),
            Just("data".to_string()),
            "[a-z_]{1,8}".prop_map(|t| format!("event: {t}")),
            text.prop_map(|t| format!(": {t}")),
            text.prop_map(|t| format!("id: {t}")),
            Just("retry: 10".to_string()),
            text.prop_map(|t| format!("other: {t}")),
            Just(String::new()),
        ]
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_eventsource_stream(
            lines in proptest::collection::vec(
                (line_strategy(), proptest::sample::select(vec!["\n", "\r\n", "\r"])),
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..2000, 0..12),
        ) {
            // No BOM here: the crate slices `[1..]` into the 3-byte BOM and panics.
            let mut text = String::new();
            for (line, end) in &lines {
                text.push_str(line);
                text.push_str(end);
            }
            // The crate waits for the byte after a final CR (it could be CRLF); end with LF
            // so both sides see the last line end.
            text.push('\n');
            let bytes = text.into_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                parts.push(bytes[at..cut].to_vec());
                at = cut;
            }
            proptest::prop_assert_eq!(ours(&parts), reference(&parts));
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
