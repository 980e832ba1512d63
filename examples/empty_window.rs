//! An empty eframe window built with the same eframe features as the app: the floor for the
//! start-up time, memory and binary size figures of docs/PERFORMANCE.md.
//!
//! `cargo run --release --example empty_window`
//!
//! With `FLOOR_REPAINT_SECS=N` it repaints continuously for N seconds after its first frame and
//! prints `floor frame interval N us` per frame: what one frame costs this machine's GL (on
//! Mesa's software rasterizer, most of a frame) before an app draws anything. With
//! `FLOOR_REPAINT_HZ=R` as well it repaints R times a second instead of back to back: the floor
//! for the app's CPU while an answer streams at R tokens/s (one repaint per delta).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use rustbot::ui::trace::FrameTrace;

struct Empty {
    trace: FrameTrace,
    repaint_for: Option<Duration>,
    repaint_until: Option<Instant>,
    last_frame: Option<Instant>,
    /// Time between repaints; zero repaints back to back.
    repaint_every: Duration,
}

impl eframe::App for Empty {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default_margins().show(ui, |_ui| {});
        self.trace.frame_done();
        let Some(repaint_for) = self.repaint_for else {
            return;
        };
        let now = Instant::now();
        let until = *self.repaint_until.get_or_insert(now + repaint_for);
        if let Some(last) = self.last_frame.replace(now) {
            eprintln!("floor frame interval {} us", (now - last).as_micros());
        }
        if now < until {
            ui.ctx().request_repaint_after(self.repaint_every);
        }
    }
}

fn main() -> eframe::Result {
    let trace = FrameTrace::new(Instant::now());
    let repaint_for = std::env::var("FLOOR_REPAINT_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64);
    let repaint_every = std::env::var("FLOOR_REPAINT_HZ")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|hz| *hz > 0.0)
        .map_or(Duration::ZERO, |hz| Duration::from_secs_f64(1.0 / hz));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("empty window")
            .with_inner_size([1000.0, 720.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "empty_window",
        options,
        Box::new(move |_cc| {
            Ok(Box::new(Empty {
                trace,
                repaint_for,
                repaint_until: None,
                last_frame: None,
                repaint_every,
            }))
        }),
    )
}
