//! The Markdown path of model text before the chat view renders it: `ui::code_fences::
//! normalize_fences`, then pulldown-cmark with the options egui_commonmark parses with,
//! offsets included (the viewer slices the text by them).
//!
//! Properties: no panic; text without fences comes back borrowed and unchanged; normalizing
//! twice changes nothing more; every event's range lies inside the text on char boundaries.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use pulldown_cmark::{Options, Parser};
use rustbot::ui::code_fences::normalize_fences;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let normalized = normalize_fences(text);
    if !text.contains("```") && !text.contains("~~~") {
        assert!(matches!(normalized, Cow::Borrowed(t) if t == text));
    }
    assert_eq!(normalize_fences(&normalized), normalized, "not idempotent");
    // egui_commonmark_backend::parser_options() plus what CommonMarkViewer may add.
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_DEFINITION_LIST
        | Options::ENABLE_MATH
        | Options::ENABLE_HEADING_ATTRIBUTES;
    for (event, range) in Parser::new_ext(&normalized, options).into_offset_iter() {
        assert!(
            normalized.get(range.clone()).is_some(),
            "{event:?} {range:?}"
        );
    }
});
