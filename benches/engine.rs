//! Engine benchmarks: SSE + JSON decoding throughput, and the engine's own overhead per stream
//! chunk (queue, state machine, bus) with the network taken out. Run with
//! `cargo bench --bench engine`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use rustbot::engine::{self, Command, ConversationId, EngineConfig, EngineEvent};
use rustbot::llm::http::StreamDecoder;
use rustbot::llm::openai::OpenAiDecoder;
use rustbot::llm::sse::sse_events;
use rustbot::llm::{
    ChatRequest, EventStream, FinishReason, LlmError, ModelInfo, Provider, StreamEvent,
};
use tokio_util::sync::CancellationToken;

fn openai_stream_bytes(chunks: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..chunks {
        out.extend_from_slice(
            format!(
                "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}]}}\n\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

fn sse_decoding(c: &mut Criterion) {
    let bytes = openai_stream_bytes(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("sse_json_decode");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("openai_10k_chunks", |b| {
        b.iter(|| {
            rt.block_on(async {
                // Network-sized reads: 16 KiB.
                let parts: Vec<Result<Bytes, std::io::Error>> = bytes
                    .chunks(16 * 1024)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                let mut events = std::pin::pin!(sse_events(
                    futures::stream::iter(parts),
                    Duration::from_secs(5)
                ));
                let mut decoder = OpenAiDecoder::new("bench");
                let mut out = Vec::with_capacity(4);
                let mut n = 0usize;
                while let Some(Ok(ev)) = events.next().await {
                    let done = decoder.on_event(&ev.name, &ev.data, &mut out).unwrap();
                    n += out.len();
                    out.clear();
                    if done {
                        break;
                    }
                }
                black_box(n)
            })
        })
    });
    group.finish();
}

/// A provider that replays `chunks` text deltas from memory, so only the engine is measured.
struct MemoryProvider {
    chunks: usize,
}

#[async_trait]
impl Provider for MemoryProvider {
    fn id(&self) -> &str {
        "memory"
    }

    async fn stream(
        &self,
        _req: ChatRequest,
        _cancel: CancellationToken,
    ) -> Result<EventStream, LlmError> {
        let n = self.chunks;
        let deltas = (0..n).map(|_| Ok(StreamEvent::TextDelta("tok ".into())));
        let end = std::iter::once(Ok(StreamEvent::Finished(FinishReason::Stop)));
        Ok(futures::stream::iter(deltas.chain(end)).boxed())
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        Ok(Vec::new())
    }
}

fn engine_per_chunk(c: &mut Criterion) {
    const CHUNKS: usize = 20_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = engine::start(
        EngineConfig::new(Arc::new(MemoryProvider { chunks: CHUNKS }), "m"),
        rt.handle(),
    );
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.sample_size(20);
    group.bench_function("per_chunk_20k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let sub = handle.subscribe();
                let conv = ConversationId::new();
                let start = Instant::now();
                handle.send(Command::SendMessage {
                    conversation: conv.clone(),
                    text: "go".into(),
                    model: None,
                    images: Vec::new(),
                });
                rt.block_on(async {
                    loop {
                        if let EngineEvent::Done { text, .. } = sub.recv().await {
                            assert_eq!(text.len(), CHUNKS * 4);
                            break;
                        }
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, sse_decoding, engine_per_chunk);
criterion_main!(benches);
