//! Providers over real sockets against the scripted server: both wire formats, split bytes,
//! broken connections, stalls, error statuses and retries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use rustbot::config::{NetworkSettings, Secret};
use rustbot::llm::{
    ChatMessage, ChatRequest, FinishReason, LlmError, Provider, ProviderKind, ProviderSettings,
    StreamEvent, ToolCallAccumulator, build_provider,
};
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-test-SECRET-0123456789";

fn provider(kind: ProviderKind, server: &ScriptedServer, idle_secs: u64) -> Arc<dyn Provider> {
    build_provider(ProviderSettings {
        kind,
        base_url: server.base_url(),
        api_key: Some(Secret::new(KEY)),
        network: NetworkSettings {
            connect_timeout_secs: 2,
            idle_timeout_secs: idle_secs,
            max_retries: 2,
            ..Default::default()
        },
        local: Default::default(),
    })
    .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        system: Some("be brief".into()),
        messages: vec![ChatMessage::user("hi")],
        ..Default::default()
    }
}

struct Outcome {
    text: String,
    events: Vec<StreamEvent>,
    error: Option<LlmError>,
}

async fn run(p: &Arc<dyn Provider>) -> Outcome {
    let mut out = Outcome {
        text: String::new(),
        events: Vec::new(),
        error: None,
    };
    let mut stream = match p.stream(request(), CancellationToken::new()).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::TextDelta(t)) => {
                out.text.push_str(&t);
                out.events.push(StreamEvent::TextDelta(t));
            }
            Ok(e) => out.events.push(e),
            Err(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    out
}

#[tokio::test]
async fn openai_stream_dribbled_one_to_seven_bytes() {
    let server = ScriptedServer::start(vec![openai_answer(&["Héllo", " 世界", " 🎉!"], true)]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Héllo 世界 🎉!");
    assert_eq!(
        out.events.last(),
        Some(&StreamEvent::Finished(FinishReason::Stop))
    );
    let req = &server.requests()[0];
    assert!(req.request_line.starts_with("POST /v1/chat/completions"));
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = req.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn crlf_comments_and_multiline_data() {
    let body = format!(
        ": OPENROUTER PROCESSING\r\n\r\ndata: {}\r\n\r\n: OPENROUTER PROCESSING\r\n\r\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n",
        openai_text("a"),
        openai_finish("stop")
    );
    // A JSON chunk split over two data lines is joined with a newline (valid JSON whitespace).
    let multi = format!(
        "data: {{\"choices\":[{{\"index\":0,\r\ndata: \"delta\":{{\"content\":\"b\"}}}}]}}\r\n\r\n{body}"
    );
    let server = ScriptedServer::start(vec![vec![
        Step::Bytes(sse_head()),
        Step::Dribble(multi.into_bytes()),
    ]]);
    let out = run(&provider(ProviderKind::OpenRouter, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "ba");
}

#[tokio::test]
async fn anthropic_stream_with_event_names_and_tool_use() {
    let events = [
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"c","usage":{"input_tokens":11,"output_tokens":1}}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look"}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\": "}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"a.txt\"}"}}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ];
    let body: String = events
        .iter()
        .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
        .collect();
    let server = ScriptedServer::start(vec![vec![
        Step::Bytes(sse_head()),
        Step::Dribble(body.into_bytes()),
    ]]);
    let out = run(&provider(ProviderKind::Anthropic, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Let me look");
    let mut acc = ToolCallAccumulator::default();
    out.events.iter().for_each(|e| acc.push(e));
    let calls = acc.finish();
    assert_eq!(calls[0].name, "read_file");
    assert_eq!(calls[0].arguments, r#"{"path": "a.txt"}"#);
    assert!(out.events.iter().any(
        |e| matches!(e, StreamEvent::Usage(u) if u.prompt_tokens == 11 && u.completion_tokens == 20)
    ));
    let req = &server.requests()[0];
    assert!(req.request_line.starts_with("POST /v1/messages"));
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.json()["system"], "be brief");
}

#[tokio::test]
async fn an_error_object_mid_stream_keeps_the_text_before_it() {
    let err = r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","error":{"code":"server_error","message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;
    let server = ScriptedServer::start(vec![vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&openai_text("partial "), err])),
    ]]);
    let out = run(&provider(ProviderKind::OpenRouter, &server, 5)).await;
    assert_eq!(out.text, "partial ");
    let e = out.error.expect("an error");
    assert!(e.to_string().contains("Provider disconnected"), "{e}");
}

#[tokio::test]
async fn a_reset_connection_is_an_error_and_the_text_is_kept() {
    let server = ScriptedServer::start(vec![vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&openai_text("half an ans")])),
        Step::Sleep(Duration::from_millis(50)),
        Step::Reset,
    ]]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert_eq!(out.text, "half an ans");
    assert!(
        matches!(out.error, Some(LlmError::Incomplete { .. })),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn a_stream_without_its_terminator_is_an_error() {
    let server = ScriptedServer::start(vec![vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&openai_text("cut")])),
    ]]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert_eq!(out.text, "cut");
    let e = out.error.expect("an error");
    assert!(e.to_string().contains("cut off"), "{e}");
}

#[tokio::test]
async fn a_stall_ends_with_an_idle_error() {
    let server = ScriptedServer::start(vec![vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&openai_text("waiting")])),
        Step::Hang,
    ]]);
    let started = std::time::Instant::now();
    let out = run(&provider(ProviderKind::Custom, &server, 1)).await;
    assert_eq!(out.text, "waiting");
    assert!(
        matches!(out.error, Some(LlmError::Idle { secs: 1 })),
        "{:?}",
        out.error
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_rejected_key_says_where_to_set_it_and_never_shows_it() {
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
    );
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "401 Unauthorized",
        "",
        &body,
    ))]]);
    let out = run(&provider(ProviderKind::OpenRouter, &server, 5)).await;
    let msg = out.error.expect("an error").to_string();
    assert!(
        msg.contains("OPENROUTER_API_KEY") && msg.contains("401"),
        "{msg}"
    );
    assert!(!msg.contains(KEY));
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn an_unknown_model_suggests_rustbot_models() {
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "404 Not Found",
        "",
        r#"{"error":{"message":"The model `nope` does not exist","type":"invalid_request_error"}}"#,
    ))]]);
    let msg = run(&provider(ProviderKind::Custom, &server, 5))
        .await
        .error
        .expect("an error")
        .to_string();
    assert!(
        msg.contains("rustbot models") && msg.contains("test-model"),
        "{msg}"
    );
}

#[tokio::test]
async fn rate_limits_are_retried_after_retry_after_then_succeed() {
    let server = ScriptedServer::start(vec![
        vec![Step::Bytes(json_response(
            "429 Too Many Requests",
            "Retry-After: 0\r\n",
            r#"{"error":{"message":"slow down"}}"#,
        ))],
        vec![Step::Bytes(json_response(
            "500 Internal Server Error",
            "",
            r#"{"error":{"message":"boom"}}"#,
        ))],
        openai_answer(&["ok"], false),
    ]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "ok");
    let retries: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Retrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![1, 2]);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn anthropic_overloaded_529_is_retried() {
    let overloaded = json_response(
        "529 Overloaded",
        "Retry-After: 0\r\n",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    let ok = format!(
        "event: message_start\ndata: {}\n\nevent: content_block_delta\ndata: {}\n\nevent: message_stop\ndata: {}\n\n",
        r#"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"fine"}}"#,
        r#"{"type":"message_stop"}"#
    );
    let server = ScriptedServer::start(vec![
        vec![Step::Bytes(overloaded)],
        vec![Step::Bytes(sse_head()), Step::Bytes(ok.into_bytes())],
    ]);
    let out = run(&provider(ProviderKind::Anthropic, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "fine");
}

#[tokio::test]
async fn retries_give_up_with_the_last_error() {
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "503 Service Unavailable",
        "Retry-After: 0\r\n",
        r#"{"error":{"message":"down for maintenance"}}"#,
    ))]]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    let msg = out.error.expect("an error").to_string();
    assert!(
        msg.contains("503") && msg.contains("down for maintenance"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn a_plain_json_answer_to_a_streaming_request_is_accepted() {
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response("200 OK", "", body))]]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "whole answer");
}

#[tokio::test]
async fn a_server_rejecting_stream_options_is_asked_again_without_them() {
    let server = ScriptedServer::start(vec![
        vec![Step::Bytes(json_response(
            "400 Bad Request",
            "",
            r#"{"error":{"message":"Unrecognized request argument supplied: stream_options"}}"#,
        ))],
        openai_answer(&["fine"], false),
    ]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "fine");
    let reqs = server.requests();
    assert!(reqs[0].json().get("stream_options").is_some());
    assert!(reqs[1].json().get("stream_options").is_none());
}

#[tokio::test]
async fn connection_refused_names_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let p = build_provider(ProviderSettings {
        kind: ProviderKind::Custom,
        base_url: format!("http://127.0.0.1:{port}/v1"),
        api_key: None,
        network: NetworkSettings {
            connect_timeout_secs: 2,
            idle_timeout_secs: 2,
            max_retries: 0,
            ..Default::default()
        },
        local: Default::default(),
    })
    .unwrap();
    let msg = run(&p).await.error.expect("an error").to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}/v1/chat/completions")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_missing_key_is_reported_before_anything_is_sent() {
    let server = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let p = build_provider(ProviderSettings {
        kind: ProviderKind::OpenRouter,
        base_url: server.base_url(),
        api_key: None,
        network: NetworkSettings::default(),
        local: Default::default(),
    })
    .unwrap();
    let msg = run(&p).await.error.expect("an error").to_string();
    assert!(msg.contains("OPENROUTER_API_KEY"), "{msg}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn models_are_listed_with_context_and_prices() {
    let body = r#"{"data":[{"id":"openai/gpt-4o-mini","name":"GPT-4o mini","context_length":128000,"pricing":{"prompt":"0.00000015","completion":"0.0000006"}},{"id":"local"}]}"#;
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response("200 OK", "", body))]]);
    let models = provider(ProviderKind::OpenRouter, &server, 5)
        .models()
        .await
        .unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].context_length, Some(128_000));
    assert!((models[0].prompt_price_usd.unwrap() - 1.5e-7).abs() < 1e-12);
    assert!(
        server.requests()[0]
            .request_line
            .starts_with("GET /v1/models")
    );
}

/// Replays bytes captured from a real server (tests/fixtures), dribbled.
fn captured(name: &str) -> Vec<Step> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    vec![
        Step::Bytes(sse_head()),
        Step::Dribble(std::fs::read(path).unwrap()),
    ]
}

#[tokio::test]
async fn captured_llama_server_stream_with_usage_and_timings() {
    let server = ScriptedServer::start(vec![captured("llama_server_text.sse")]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(!out.text.trim().is_empty());
    assert!(
        out.events
            .contains(&StreamEvent::Usage(rustbot::llm::Usage {
                prompt_tokens: 35,
                completion_tokens: 29,
                cost_usd: None,
                reasoning_tokens: 0,
            }))
    );
    assert_eq!(
        out.events.last(),
        Some(&StreamEvent::Finished(FinishReason::Stop))
    );
}

#[tokio::test]
async fn captured_llama_cpp_python_tool_call_with_repeated_names() {
    let server = ScriptedServer::start(vec![captured("llama_cpp_python_tool_call.sse")]);
    let out = run(&provider(ProviderKind::Custom, &server, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let mut acc = ToolCallAccumulator::default();
    out.events.iter().for_each(|e| acc.push(e));
    let calls = acc.finish();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].name, "read_file",
        "the repeated name is not doubled"
    );
    let args: serde_json::Value = serde_json::from_str(&calls[0].arguments).unwrap();
    assert!(args["path"].is_string(), "{args}");
    assert_eq!(
        out.events.last(),
        Some(&StreamEvent::Finished(FinishReason::ToolCalls))
    );
}
