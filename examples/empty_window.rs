//! An empty eframe window built with the same eframe features as the app: the floor for the
//! start-up time, memory and binary size figures of docs/PERFORMANCE.md.
//!
//! `cargo run --release --example empty_window`

use rustbot::ui::trace::FrameTrace;

struct Empty {
    trace: FrameTrace,
}

impl eframe::App for Empty {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default_margins().show(ui, |_ui| {});
        self.trace.frame_done();
    }
}

fn main() -> eframe::Result {
    let trace = FrameTrace::new(std::time::Instant::now());
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
        Box::new(|_cc| Ok(Box::new(Empty { trace }))),
    )
}
