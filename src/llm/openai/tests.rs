//! Decoding captured OpenAI, OpenRouter, llama.cpp and llama-cpp-python payloads.

use super::*;
use crate::llm::tool_calls::ToolCallAccumulator;
use crate::llm::types::{ChatMessage, ToolCall};

fn decode_all(events: &[&str]) -> Result<Vec<StreamEvent>, LlmError> {
    let mut d = OpenAiDecoder::new("openai");
    let mut out = Vec::new();
    for e in events {
        if d.on_event("", e, &mut out)? {
            break;
        }
    }
    Ok(out)
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

// From OpenAI's API reference (chat completion chunk object, with include_usage).
const OPENAI_STREAM: &[&str] = &[
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
    "[DONE]",
];

#[test]
fn openai_stream_with_usage() {
    let out = decode_all(OPENAI_STREAM).unwrap();
    assert_eq!(text_of(&out), "Hello there");
    let n = out.len();
    assert_eq!(
        out[n - 2],
        StreamEvent::Usage(Usage {
            prompt_tokens: 9,
            completion_tokens: 2,
            cost_usd: None,
            reasoning_tokens: 0,
        })
    );
    assert_eq!(out[n - 1], StreamEvent::Finished(FinishReason::Stop));
}

#[test]
fn openrouter_usage_carries_cost() {
    let out = decode_all(&[
        r#"{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
        r#"{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop","native_finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9,"cost":0.0000018,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0},"cost_details":{"upstream_inference_cost":null},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        "[DONE]",
    ])
    .unwrap();
    assert!(out.contains(&StreamEvent::Usage(Usage {
        prompt_tokens: 8,
        completion_tokens: 1,
        cost_usd: Some(0.0000018),
        reasoning_tokens: 0,
    })));
}

#[test]
fn openrouter_error_inside_the_stream_is_an_error_not_text() {
    let err = decode_all(&[
        r#"{"id":"cmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","provider":"openai","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("Provider disconnected unexpectedly")
    );
}

#[test]
fn llama_server_null_content_and_empty_finish_delta() {
    let out = decode_all(&[
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-x","model":"SmolLM2-135M-Instruct","system_fingerprint":"b1-x","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hi"}}],"created":1,"id":"chatcmpl-x","model":"SmolLM2-135M-Instruct","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x","model":"SmolLM2-135M-Instruct","object":"chat.completion.chunk","timings":{"prompt_n":5}}"#,
        r#"{"choices":[],"created":1,"id":"chatcmpl-x","model":"SmolLM2-135M-Instruct","object":"chat.completion.chunk","usage":{"completion_tokens":1,"prompt_tokens":5,"total_tokens":6}}"#,
        "[DONE]",
    ])
    .unwrap();
    assert_eq!(text_of(&out), "Hi");
    assert_eq!(out.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
}

#[test]
fn openai_tool_call_fragments_assemble() {
    // From OpenAI's function-calling guide (streaming).
    let out = decode_all(&[
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"location"}}]},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}"#,
        "[DONE]",
    ])
    .unwrap();
    let mut acc = ToolCallAccumulator::default();
    out.iter().for_each(|e| acc.push(e));
    assert_eq!(
        acc.finish(),
        vec![ToolCall {
            id: "call_DdmO9pD3xa9XTPNJ32zg2hcA".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"Paris"}"#.into()
        }]
    );
    assert_eq!(
        out.last(),
        Some(&StreamEvent::Finished(FinishReason::ToolCalls))
    );
}

#[test]
fn llama_cpp_python_repeats_the_full_name_every_fragment() {
    let out = decode_all(&[
        r#"{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": null, "content": null, "function_call": {"name": "read_file", "arguments": "{\"pa"}, "tool_calls": [{"index": 0, "id": "call__0_read_file_cmpl-1", "type": "function", "function": {"name": "read_file", "arguments": "{\"pa"}}]}, "logprobs": null, "finish_reason": null}]}"#,
        r#"{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": null, "content": null, "function_call": {"name": "read_file", "arguments": "th\": \"a.txt\"}"}, "tool_calls": [{"index": 0, "id": "call__0_read_file_cmpl-1", "type": "function", "function": {"name": "read_file", "arguments": "th\": \"a.txt\"}"}}]}, "logprobs": null, "finish_reason": null}]}"#,
        r#"{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": null, "content": null, "function_call": null, "tool_calls": null}, "logprobs": null, "finish_reason": "tool_calls"}]}"#,
        "[DONE]",
    ])
    .unwrap();
    let mut acc = ToolCallAccumulator::default();
    out.iter().for_each(|e| acc.push(e));
    let calls = acc.finish();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "read_file");
    assert_eq!(calls[0].arguments, r#"{"path": "a.txt"}"#);
}

#[test]
fn a_malformed_chunk_is_a_protocol_error() {
    let err = decode_all(&["{not json"]).unwrap_err();
    assert!(matches!(err, LlmError::Protocol { .. }), "{err:?}");
}

#[test]
fn a_plain_json_completion_is_one_whole_answer() {
    // From OpenAI's API reference (chat completion object).
    let body = br#"{"id":"chatcmpl-123","object":"chat.completion","created":1677652288,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how may I assist you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;
    let mut d = OpenAiDecoder::new("custom");
    let mut out = Vec::new();
    d.on_json_body(body, &mut out).unwrap();
    assert_eq!(text_of(&out), "Hello there, how may I assist you today?");
    assert_eq!(out.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
}

#[test]
fn request_body_has_system_first_and_string_content_next_to_tool_calls() {
    let req = ChatRequest {
        model: "m".into(),
        system: Some("be brief".into()),
        messages: vec![
            ChatMessage::user("hi"),
            ChatMessage {
                role: Role::Assistant,
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "t".into(),
                    arguments: "{}".into(),
                }],
                tool_call_id: None,
                images: Vec::new(),
                thinking: Vec::new(),
            },
            ChatMessage::tool_result("c1", "ok"),
        ],
        ..Default::default()
    };
    let v = serde_json::to_value(build_body(&req, true)).unwrap();
    assert_eq!(v["messages"][0]["role"], "system");
    assert_eq!(v["messages"][2]["content"], "");
    assert_eq!(v["messages"][2]["tool_calls"][0]["function"]["name"], "t");
    assert_eq!(v["messages"][3]["tool_call_id"], "c1");
    assert_eq!(v["stream_options"]["include_usage"], true);
    let v = serde_json::to_value(build_body(&req, false)).unwrap();
    assert!(v.get("stream_options").is_none());
    assert!(v.get("tools").is_none());
}

/// Found writing the `openai_stream` fuzz target (its usage property): a server's `u64::MAX`
/// token counts overflowed the sums serve and the store make of them; a negative cost would
/// lower a budget's spend.
#[test]
fn hostile_usage_is_bounded() {
    let out = decode_all(&[
        r#"{"choices":[],"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551615,"cost":-5}}"#,
        "[DONE]",
    ])
    .unwrap();
    let usage = out
        .iter()
        .find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .unwrap();
    assert_eq!(usage.prompt_tokens, Usage::MAX_REPORTED_TOKENS);
    assert_eq!(usage.completion_tokens, Usage::MAX_REPORTED_TOKENS);
    assert_eq!(usage.cost_usd, None);
    let total = crate::server::openai::UsageOut::new(u64::MAX, u64::MAX).total_tokens;
    assert_eq!(total, u64::MAX);
}

#[test]
fn reasoning_tokens_are_read_from_the_completion_details() {
    let out = decode_all(&[
        r#"{"choices":[{"index":0,"delta":{"content":"4"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":40,"completion_tokens_details":{"reasoning_tokens":36}}}"#,
        "[DONE]",
    ])
    .unwrap();
    let usage = out
        .iter()
        .find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .unwrap();
    assert_eq!((usage.completion_tokens, usage.reasoning_tokens), (40, 36));
}
