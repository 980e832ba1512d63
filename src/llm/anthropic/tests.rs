//! Decoding payloads captured from Anthropic's Messages streaming documentation.

use super::*;
use crate::llm::tool_calls::ToolCallAccumulator;
use crate::llm::types::{ChatMessage, ToolCall};

fn decode_all(events: &[&str]) -> Result<Vec<StreamEvent>, LlmError> {
    let mut d = AnthropicDecoder::default();
    let mut out = Vec::new();
    for e in events {
        if d.on_event("", e, &mut out)? {
            break;
        }
    }
    Ok(out)
}

#[test]
fn text_stream_with_usage_split_across_events() {
    let out = decode_all(&[
        r#"{"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-1-20250805", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}"#,
        r#"{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}"#,
        r#"{"type": "ping"}"#,
        r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}"#,
        r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}"#,
        r#"{"type": "content_block_stop", "index": 0}"#,
        r#"{"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}"#,
        r#"{"type": "message_stop"}"#,
    ])
    .unwrap();
    assert_eq!(
        out,
        vec![
            StreamEvent::TextDelta("Hello".into()),
            StreamEvent::TextDelta("!".into()),
            StreamEvent::Usage(Usage {
                prompt_tokens: 25,
                completion_tokens: 15,
                cost_usd: None,
                reasoning_tokens: 0,
            }),
            StreamEvent::Finished(FinishReason::Stop),
        ]
    );
}

#[test]
fn tool_use_blocks_assemble_by_content_block_index() {
    let out = decode_all(&[
        r#"{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check the weather:"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
        r#"{"type":"message_stop"}"#,
    ])
    .unwrap();
    let mut acc = ToolCallAccumulator::default();
    out.iter().for_each(|e| acc.push(e));
    assert_eq!(
        acc.finish(),
        vec![ToolCall {
            id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
            name: "get_weather".into(),
            arguments: r#"{"location": "San Francisco, CA"}"#.into(),
        }]
    );
    assert_eq!(
        out.last(),
        Some(&StreamEvent::Finished(FinishReason::ToolCalls))
    );
}

#[test]
fn an_error_event_is_an_error() {
    let err = decode_all(&[
        r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
    ])
    .unwrap_err();
    assert!(err.to_string().contains("Overloaded"), "{err}");
}

#[test]
fn a_whole_json_message_is_accepted() {
    let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":3}}"#;
    let mut out = Vec::new();
    AnthropicDecoder::default()
        .on_json_body(body, &mut out)
        .unwrap();
    assert_eq!(out[0], StreamEvent::TextDelta("Hi!".into()));
    assert_eq!(out.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
}

#[test]
fn body_merges_tool_results_into_user_turns() {
    let req = ChatRequest {
        model: "claude".into(),
        system: Some("sys".into()),
        messages: vec![
            ChatMessage::user("weather?"),
            ChatMessage {
                role: Role::Assistant,
                content: "checking".into(),
                tool_calls: vec![
                    ToolCall {
                        id: "t1".into(),
                        name: "w".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                    ToolCall {
                        id: "t2".into(),
                        name: "w".into(),
                        arguments: r#"{"city":"Rome"}"#.into(),
                    },
                ],
                tool_call_id: None,
                images: Vec::new(),
                thinking: Vec::new(),
            },
            ChatMessage::tool_result("t1", "sunny"),
            ChatMessage::tool_result("t2", "rain"),
        ],
        ..Default::default()
    };
    let v = serde_json::to_value(build_body(&req)).unwrap();
    assert_eq!(v["system"], "sys");
    assert_eq!(v["max_tokens"], 4096);
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[1]["content"][1]["input"]["city"], "Paris");
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(msgs[2]["content"].as_array().unwrap().len(), 2);
    assert_eq!(msgs[2]["content"][1]["tool_use_id"], "t2");
}

/// The `anthropic_stream` fuzz target checks this too: token counts are bounded like OpenAI's.
#[test]
fn hostile_usage_is_bounded() {
    let out = decode_all(&[
        r#"{"type":"message_start","message":{"usage":{"input_tokens":18446744073709551615}}}"#,
        r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":18446744073709551615}}"#,
        r#"{"type":"message_stop"}"#,
    ])
    .unwrap();
    assert!(out.contains(&StreamEvent::Usage(Usage {
        prompt_tokens: Usage::MAX_REPORTED_TOKENS,
        completion_tokens: Usage::MAX_REPORTED_TOKENS,
        cost_usd: None,
        reasoning_tokens: 0,
    })));
}
