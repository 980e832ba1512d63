//! Model text rendered as the chat view does, without a window: `normalize_fences`, then
//! `egui_commonmark::CommonMarkViewer::show` inside a headless `egui::Context` pass (layout,
//! tables, lists, code blocks through the syntect highlighter).
//!
//! Property: no panic.
#![no_main]

use std::cell::RefCell;

use egui_commonmark::{CommonMarkCache, CommonMarkViewer};
use libfuzzer_sys::fuzz_target;
use rustbot::ui::code_fences::normalize_fences;

thread_local! {
    // One context for the whole run: fonts and the highlighter load once.
    static CTX: RefCell<egui::Context> = RefCell::new(egui::Context::default());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let text = normalize_fences(text);
    CTX.with(|ctx| {
        let ctx = ctx.borrow();
        let mut cache = CommonMarkCache::default();
        // Two passes: the second lays out with the sizes the first measured.
        for _ in 0..2 {
            let mut output = ctx.run_ui(egui::RawInput::default(), |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    CommonMarkViewer::new().show(ui, &mut cache, &text);
                });
            });
            // No renderer takes the font atlas here: epaint asserts that deltas are applied
            // or cleared (the app's renderer applies them every frame).
            output.textures_delta.clear();
        }
    });
});
