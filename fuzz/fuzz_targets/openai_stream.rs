//! The OpenAI-format stream decoder (`llm::openai::OpenAiDecoder`) and the tool-call
//! accumulator, on arbitrary event data.
//!
//! Input: an SSE body (the seeds are real OpenRouter and llama.cpp streams); each event goes
//! through the decoder as the transport hands it over, every `StreamEvent` into the
//! accumulator. The same bytes are also decoded as a whole non-streaming JSON answer and as
//! one event's data. Properties: no panic; `Finished` comes only last, once; assembled calls
//! have an id and non-empty arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;
use common::{check_events, drive_stream, whole_body};
use rustbot::llm::http::StreamDecoder;
use rustbot::llm::openai::OpenAiDecoder;

fuzz_target!(|data: &[u8]| {
    drive_stream(data, || OpenAiDecoder::new("openrouter"));
    whole_body(data, OpenAiDecoder::new("openrouter"));
    // The bytes as one event's data (the fuzzer need not find the SSE framing first).
    if let Ok(text) = std::str::from_utf8(data) {
        let mut out = Vec::new();
        let mut decoder = OpenAiDecoder::new("openrouter");
        let _ = decoder.on_event("message", text, &mut out);
        check_events(&out, false);
    }
});
