//! Measures the Events page's frame time (layout and tessellation, no GPU) with 100,000 rows.
//! `cargo run --example events_frame_time`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Instant;

use rustbot::engine::{ConversationId, EngineEvent};
use rustbot::ui::events_panel::EventsPanel;

fn main() {
    let mut panel = EventsPanel::default();
    let conversations: Vec<ConversationId> = (0..20).map(|_| ConversationId::new()).collect();
    for i in 0..100_000u64 {
        let conversation = conversations[(i % 20) as usize].clone();
        let event = match i % 4 {
            0 => EngineEvent::State {
                conversation,
                from: "Sending".into(),
                to: "Streaming".into(),
                at_ms: i,
            },
            1 => EngineEvent::RunStarted {
                conversation,
                model: "vendor/model".into(),
            },
            2 => EngineEvent::Usage {
                conversation,
                prompt_tokens: i,
                completion_tokens: 7,
                cost_usd: Some(0.001),
                reasoning_tokens: 0,
            },
            _ => EngineEvent::ToolCall {
                conversation,
                call_id: format!("call_{i}"),
                name: "read_file".into(),
                arguments: "{\"path\":\"src/main.rs\"}".into(),
                decision: None,
            },
        };
        panel.push(&event, 1_700_000_000_000 + i as i64);
    }
    assert_eq!(panel.log().len(), 100_000);
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1000.0, 720.0),
        )),
        ..Default::default()
    };
    let frame = |panel: &mut EventsPanel| {
        let mut out = ctx.run_ui(input(), |ui| {
            egui::CentralPanel::default().show(ui, |ui| panel.ui(ui, None));
        });
        out.textures_delta.clear();
        ctx.tessellate(out.shapes, out.pixels_per_point).len()
    };
    for _ in 0..10 {
        frame(&mut panel);
    }
    let frames = 200;
    let start = Instant::now();
    let mut prims = 0;
    for _ in 0..frames {
        prims += frame(&mut panel);
    }
    let per = start.elapsed() / frames;
    println!(
        "events panel, {} rows: {:.3} ms per frame (layout + tessellation, {} primitives/frame)",
        panel.log().len(),
        per.as_secs_f64() * 1000.0,
        prims / frames as usize
    );
}
