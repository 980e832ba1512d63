//! Whole-process measurements for scripts/bench.sh: `RUSTBOT_TRACE_STARTUP=1` prints the time
//! from start to the first painted frame, `RUSTBOT_TRACE_FRAMES=1` prints a line per frame
//! (so idle repaints can be counted) and, for each frame that shows streamed text,
//! `delta latency N us`: from the arrival of the earliest text delta not yet shown to the start
//! of that frame. All go to stderr; off by default.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::engine::EngineEvent;

/// Traces frames of one window.
#[derive(Debug)]
pub struct FrameTrace {
    started_at: Option<Instant>,
    frames: u64,
}

fn enabled(var: &'static str) -> bool {
    static STARTUP: OnceLock<bool> = OnceLock::new();
    static FRAMES: OnceLock<bool> = OnceLock::new();
    let cell = if var == "RUSTBOT_TRACE_STARTUP" {
        &STARTUP
    } else {
        &FRAMES
    };
    *cell.get_or_init(|| std::env::var_os(var).is_some_and(|v| v != "0"))
}

impl FrameTrace {
    /// A trace timing the first frame from `started_at` (taken at the top of `main`).
    pub fn new(started_at: Instant) -> Self {
        Self {
            started_at: Some(started_at),
            frames: 0,
        }
    }

    /// Call at the end of every frame.
    pub fn frame_done(&mut self) {
        self.frames += 1;
        if let Some(started) = self.started_at.take() {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!("first frame after {ms:.1} ms");
            if enabled("RUSTBOT_TRACE_STARTUP") {
                eprintln!("first frame after {ms:.1} ms");
            }
        }
        if enabled("RUSTBOT_TRACE_FRAMES") {
            eprintln!("frame {}", self.frames);
        }
    }
}

/// Nanoseconds since [`epoch`] (plus one, so 0 means none) at which the earliest text delta
/// not yet drawn arrived.
static PENDING_TEXT_SINCE: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

/// With `RUSTBOT_TRACE_FRAMES` set, notes the arrival of each text delta the engine publishes.
/// The engine calls its sinks just before it queues the event for the window, so this is the
/// arrival at the UI's event queue.
pub fn watch_text_deltas(engine: &crate::engine::EngineHandle) {
    if !enabled("RUSTBOT_TRACE_FRAMES") {
        return;
    }
    epoch();
    engine.add_sink(|event| {
        if matches!(event, EngineEvent::Text { .. }) {
            // Only the first arrival since the last frame counts: it waited longest.
            let _ = PENDING_TEXT_SINCE.compare_exchange(
                0,
                since_epoch_ns(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    });
}

/// With `RUSTBOT_TRACE_FRAMES` set, prints the delta latency at the start of each frame that
/// drains a text delta (the frame drains every waiting event before it draws).
pub fn trace_delta_latency(ctx: &egui::Context) {
    if !enabled("RUSTBOT_TRACE_FRAMES") {
        return;
    }
    ctx.on_begin_pass(
        "rustbot delta latency",
        Arc::new(|_ui| {
            let since = PENDING_TEXT_SINCE.swap(0, Ordering::Relaxed);
            if since != 0 {
                let us = since_epoch_ns().saturating_sub(since) / 1000;
                eprintln!("delta latency {us} us");
            }
        }),
    );
}
