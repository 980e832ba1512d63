//! Whole-process measurements for scripts/bench.sh: `RUSTBOT_TRACE_STARTUP=1` prints the time
//! from start to the first painted frame, `RUSTBOT_TRACE_FRAMES=1` prints a line per frame
//! (so idle repaints can be counted). Both go to stderr; off by default.

use std::sync::OnceLock;
use std::time::Instant;

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
