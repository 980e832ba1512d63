//! The Anthropic stream decoder (`llm::anthropic::AnthropicDecoder`) and the tool-call
//! accumulator, on arbitrary event data. Same harness as `openai_stream`.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;
use common::{check_events, drive_stream, whole_body};
use rustbot::llm::anthropic::AnthropicDecoder;
use rustbot::llm::http::StreamDecoder;

fuzz_target!(|data: &[u8]| {
    drive_stream(data, AnthropicDecoder::default);
    whole_body(data, AnthropicDecoder::default());
    if let Ok(text) = std::str::from_utf8(data) {
        let mut out = Vec::new();
        let mut decoder = AnthropicDecoder::default();
        let _ = decoder.on_event("content_block_delta", text, &mut out);
        check_events(&out, false);
    }
});
