//! `rustbot serve` as a process over real HTTP: OpenAI chunk format (parsed as SSE), whole
//! answers, every error case, 50 concurrent streams, disconnect cancels, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::serve::serve;
use common::*;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn chat_body(stream: bool) -> Value {
    json!({"model": "M", "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]})
}

/// Posts a streaming request and returns every SSE data payload.
async fn stream_payloads(c: &reqwest::Client, base: &str, body: &Value) -> Vec<String> {
    let response = c
        .post(format!("{base}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut events = response.bytes_stream().eventsource();
    let mut out = Vec::new();
    while let Some(event) = events.next().await {
        out.push(event.unwrap().data);
    }
    out
}

#[tokio::test]
async fn a_stream_is_in_openais_chunk_format_with_usage_and_done() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hel", "lo"], true)]);
    let s = serve(&upstream, "", &[]);
    let payloads = stream_payloads(&client(), &s.base, &chat_body(true)).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "M");
        assert!(c["created"].as_u64().unwrap() > 0);
        assert!(c.as_object().unwrap().contains_key("usage"));
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["usage"], Value::Null);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9})
    );
    // The client's history reached the model.
    let sent = upstream.requests()[0].json();
    assert_eq!(sent["messages"][0]["content"], "be brief");
    assert_eq!(
        sent["messages"].as_array().unwrap().last().unwrap()["content"],
        "hi"
    );
}

#[tokio::test]
async fn a_whole_answer_is_a_chat_completion() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hel", "lo"], false)]);
    let s = serve(&upstream, "", &[]);
    let r: Value = client()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["object"], "chat.completion");
    assert_eq!(r["choices"][0]["message"]["role"], "assistant");
    assert_eq!(r["choices"][0]["message"]["content"], "Hello");
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["total_tokens"], 9);
    let health: Value = client()
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}

async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["type"].is_string(), "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn bad_requests_get_openai_shaped_errors() {
    let models = json_response("200 OK", "", r#"{"data":[{"id":"M"},{"id":"other"}]}"#);
    let upstream = ScriptedServer::start(vec![vec![Step::Bytes(models)]]);
    let s = serve(&upstream, "[serve]\nmax_body_bytes = 2000\n", &[]);
    let c = client();
    let url = format!("{}/v1/chat/completions", s.base);
    let post = |body: String| {
        c.post(&url)
            .header("content-type", "application/json")
            .body(body)
    };
    let e = error_of(post("{not json".into()).send().await.unwrap(), 400).await;
    assert_eq!(e["code"], "invalid_json");
    let e = error_of(post(r#"{"model":"M"}"#.into()).send().await.unwrap(), 400).await;
    assert_eq!(e["param"], "messages");
    let e = error_of(post(r#"{"messages":[]}"#.into()).send().await.unwrap(), 400).await;
    assert_eq!(e["param"], "messages");
    let body = json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]});
    let e = error_of(post(body.to_string()).send().await.unwrap(), 404).await;
    assert_eq!(e["code"], "model_not_found");
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(5000)}]});
    let e = error_of(post(big.to_string()).send().await.unwrap(), 413).await;
    assert_eq!(e["code"], "request_too_large");
    let e = error_of(
        c.get(format!("{}/v2/nothing", s.base))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(e["code"], "unknown_url");
    let list: Value = c
        .get(format!("{}/v1/models", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][1]["id"], "other");
}

#[tokio::test]
async fn a_token_is_required_when_configured_and_the_rate_is_limited() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let config = "[serve]\nrequire_token = true\nrequests_per_minute = 3\n";
    let s = serve(
        &upstream,
        config,
        &[("RUSTBOT_SERVE_TOKEN", "rb-test-token")],
    );
    let c = client();
    let url = format!("{}/v1/models", s.base);
    let e = error_of(c.get(&url).send().await.unwrap(), 401).await;
    assert_eq!(e["code"], "missing_api_key");
    let e = error_of(c.get(&url).bearer_auth("wrong").send().await.unwrap(), 401).await;
    assert_eq!(e["code"], "invalid_api_key");
    let ok = c
        .get(&url)
        .bearer_auth("rb-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let _ = c
        .get(&url)
        .bearer_auth("rb-test-token")
        .send()
        .await
        .unwrap();
    let limited = c
        .get(&url)
        .bearer_auth("rb-test-token")
        .send()
        .await
        .unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    let e = error_of(limited, 429).await;
    assert_eq!(e["type"], "rate_limit_error");
}

#[tokio::test]
async fn fifty_concurrent_streams_each_get_their_own_answer() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["a", "b", "c"], false)]);
    let s = serve(&upstream, "", &[]);
    let c = client();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (c, base) = (c.clone(), s.base.clone());
            tokio::spawn(async move {
                let body = json!({"stream": true, "messages": [{"role": "user", "content": format!("q{i}")}]});
                stream_payloads(&c, &base, &body).await
            })
        })
        .collect();
    for task in tasks {
        let payloads = task.await.unwrap();
        assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
        let text: String = payloads[..payloads.len() - 1]
            .iter()
            .map(|p| serde_json::from_str::<Value>(p).unwrap())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(text, "abc");
    }
    assert_eq!(upstream.requests().len(), 50);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_run() {
    let upstream =
        ScriptedServer::start(vec![openai_slow("first", 200, Duration::from_millis(50))]);
    let s = serve(&upstream, "", &[]);
    let response = client()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({"stream": true, "messages": [{"role": "user", "content": "long"}]}))
        .send()
        .await
        .unwrap();
    let mut events = response.bytes_stream().eventsource();
    loop {
        let data = events.next().await.unwrap().unwrap().data;
        if data.contains("first") {
            break;
        }
    }
    drop(events);
    let t0 = Instant::now();
    while upstream.peer_closed().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the upstream request was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_ends_open_streams_cleanly_and_exits() {
    let upstream =
        ScriptedServer::start(vec![openai_slow("first", 200, Duration::from_millis(50))]);
    let mut s = serve(&upstream, "", &[]);
    let response = client()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({"stream": true, "messages": [{"role": "user", "content": "long"}]}))
        .send()
        .await
        .unwrap();
    let mut events = response.bytes_stream().eventsource();
    let mut seen = Vec::new();
    while !seen.iter().any(|d: &String| d.contains("first")) {
        seen.push(events.next().await.unwrap().unwrap().data);
    }
    // SAFETY: kill(2) with a pid we started.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    while let Some(event) = events.next().await {
        seen.push(event.unwrap().data);
    }
    assert_eq!(seen.last().map(String::as_str), Some("[DONE]"));
    let finish: Value = serde_json::from_str(&seen[seen.len() - 2]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let t0 = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
