//! `web_search` against scripted SearXNG, Brave and Tavily servers in their documented JSON
//! shapes: requests as each API wants them, results as a numbered list, every failure kind as
//! an error result the model can act on, the key never shown; a whole tool turn through `ask`
//! in both wire formats; `rustbot tools` saying why the tool is not offered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use rustbot::config::Secret;
use rustbot::llm::types::ToolCall;
use rustbot::tools::builtin::{SearchBackend, WebSearch};
use rustbot::tools::{ToolContext, ToolRegistry, ToolResult};
use serde_json::json;

const BRAVE_KEY: &str = "BSA-secret-brave-key-0123456789";

fn ok_json(body: &serde_json::Value) -> Vec<Step> {
    vec![Step::Bytes(json_response("200 OK", "", &body.to_string()))]
}

fn searx_results() -> serde_json::Value {
    json!({"query": "rust", "number_of_results": 2, "results": [
        {"title": "Rust Programming Language", "url": "https://www.rust-lang.org/", "content": "A language empowering everyone.", "engine": "duckduckgo"},
        {"title": "Rust (video game)", "url": "https://en.wikipedia.org/wiki/Rust_(video_game)", "content": "A survival game.", "engine": "wikipedia", "publishedDate": "2024-05-01T00:00:00"}
    ]})
}

async fn search(tool: WebSearch, args: serde_json::Value, timeout: Duration) -> ToolResult {
    let mut reg = ToolRegistry::new();
    reg.register(std::sync::Arc::new(tool));
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ToolContext::new(dir.path());
    ctx.timeout = timeout;
    let call = ToolCall {
        id: "s1".into(),
        name: "web_search".into(),
        arguments: args.to_string(),
    };
    reg.call(&call, &ctx).await
}

fn searx(server: &ScriptedServer) -> WebSearch {
    WebSearch::new(
        SearchBackend::Searxng,
        format!("{}/search", server.base_url().trim_end_matches("/v1")),
        None,
    )
}

#[tokio::test]
async fn searxng_results_come_back_numbered_with_engine_and_date() {
    let server = ScriptedServer::start(vec![ok_json(&searx_results())]);
    let r = search(
        searx(&server),
        json!({"query": "rust lang", "freshness": "week"}),
        Duration::from_secs(5),
    )
    .await;
    assert!(!r.is_error, "{r:?}");
    assert!(
        r.content
            .contains("[1] Rust Programming Language\nhttps://www.rust-lang.org/"),
        "{}",
        r.content
    );
    assert!(
        r.content.contains("(wikipedia · 2024-05-01T00:00:00)"),
        "{}",
        r.content
    );
    let line = &server.requests()[0].request_line;
    assert!(
        line.starts_with("GET /search?q=rust+lang&format=json&time_range=week"),
        "{line}"
    );
}

#[tokio::test]
async fn brave_gets_its_token_header_count_and_freshness() {
    let body = json!({"type": "search", "web": {"results": [
        {"title": "Brave result", "url": "https://b.example/", "description": "snippet", "age": "3 days ago"}
    ]}});
    let server = ScriptedServer::start(vec![ok_json(&body)]);
    let tool = WebSearch::new(
        SearchBackend::Brave,
        format!("{}/res/v1/web/search", server.base_url()),
        Some(Secret::new(BRAVE_KEY)),
    );
    let r = search(
        tool,
        json!({"query": "q", "count": 3, "freshness": "day"}),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        r.content.contains("[1] Brave result") && r.content.contains("(brave · 3 days ago)"),
        "{}",
        r.content
    );
    let req = &server.requests()[0];
    assert_eq!(req.header("x-subscription-token"), Some(BRAVE_KEY));
    assert!(
        req.request_line.contains("q=q&count=3&freshness=pd"),
        "{}",
        req.request_line
    );
}

#[tokio::test]
async fn tavily_gets_a_json_post_with_a_bearer_key() {
    let body = json!({"query": "q", "results": [
        {"title": "T", "url": "https://t.example/", "content": "c", "score": 0.9, "published_date": "2025-01-01"}
    ]});
    let server = ScriptedServer::start(vec![ok_json(&body)]);
    let tool = WebSearch::new(
        SearchBackend::Tavily,
        format!("{}/search", server.base_url()),
        Some(Secret::new("tvly-secret")),
    );
    let r = search(
        tool,
        json!({"query": "q", "count": 2, "freshness": "month"}),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        r.content.contains("[1] T\nhttps://t.example/")
            && r.content.contains("(tavily · 2025-01-01)"),
        "{}",
        r.content
    );
    let req = &server.requests()[0];
    assert!(
        req.request_line.starts_with("POST "),
        "{}",
        req.request_line
    );
    assert_eq!(req.header("authorization"), Some("Bearer tvly-secret"));
    assert_eq!(
        req.json(),
        json!({"query": "q", "max_results": 2, "time_range": "month"})
    );
}

#[tokio::test]
async fn every_failure_is_an_error_result_with_a_sentence() {
    let cases: Vec<(Vec<Step>, &str)> = vec![
        (
            vec![Step::Bytes(json_response(
                "500 Internal Server Error",
                "",
                "{\"error\":\"boom\"}",
            ))],
            "answered 500",
        ),
        (
            vec![Step::Bytes(json_response(
                "200 OK",
                "",
                "<html>not json</html>",
            ))],
            "not its JSON",
        ),
        (
            vec![Step::Bytes(json_response(
                "429 Too Many Requests",
                "Retry-After: 30\r\n",
                "{}",
            ))],
            "asks to wait 30 s",
        ),
        (
            vec![Step::Sleep(Duration::from_secs(5))],
            "did not answer within 1 s",
        ),
    ];
    for (reply, expected) in cases {
        let server = ScriptedServer::start(vec![reply]);
        let r = search(
            searx(&server),
            json!({"query": "q"}),
            Duration::from_secs(1),
        )
        .await;
        assert!(
            r.is_error && r.content.contains(expected),
            "{expected}: {r:?}"
        );
    }
    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = WebSearch::new(
        SearchBackend::Searxng,
        format!("http://127.0.0.1:{port}/search"),
        None,
    );
    let r = search(down, json!({"query": "q"}), Duration::from_secs(2)).await;
    assert!(
        r.is_error && r.content.contains("cannot be reached"),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_key_echoed_by_the_backend_never_reaches_the_model() {
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "401 Unauthorized",
        "",
        &format!("{{\"error\":\"bad token {BRAVE_KEY}\"}}"),
    ))]]);
    let tool = WebSearch::new(
        SearchBackend::Brave,
        format!("{}/s", server.base_url()),
        Some(Secret::new(BRAVE_KEY)),
    );
    let r = search(tool, json!({"query": "q"}), Duration::from_secs(5)).await;
    assert!(r.is_error && r.content.contains("BRAVE_API_KEY"), "{r:?}");
    assert!(!r.content.contains(BRAVE_KEY), "{r:?}");
}

/// A scripted LLM reply with one web_search call, in the OpenAI format.
fn openai_search_call() -> Vec<Step> {
    let call = json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"ws1","type":"function","function":{"name":"web_search","arguments":"{\"query\":\"rust\"}"}}]},"finish_reason":null}]}).to_string();
    let finish = openai_finish("tool_calls");
    vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&call, &finish, "[DONE]"])),
    ]
}

/// The same in the Anthropic format.
fn anthropic_search_call() -> Vec<Step> {
    let events = [
        (
            "message_start",
            json!({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}),
        ),
        (
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_ws","name":"web_search","input":{}}}),
        ),
        (
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"rust\"}"}}),
        ),
        (
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}),
        ),
        ("message_stop", json!({"type":"message_stop"})),
    ];
    let body: String = events
        .iter()
        .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
        .collect();
    vec![Step::Bytes(sse_head()), Step::Bytes(body.into_bytes())]
}

fn anthropic_text(text: &str) -> Vec<Step> {
    let events = [
        (
            "message_start",
            json!({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}),
        ),
        (
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}),
        ),
        (
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}),
        ),
        ("message_stop", json!({"type":"message_stop"})),
    ];
    let body: String = events
        .iter()
        .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
        .collect();
    vec![Step::Bytes(sse_head()), Step::Bytes(body.into_bytes())]
}

#[test]
fn a_search_turn_reaches_the_model_in_both_wire_formats() {
    for anthropic in [false, true] {
        let searx_server = ScriptedServer::start(vec![ok_json(&searx_results())]);
        let llm = if anthropic {
            ScriptedServer::start(vec![
                anthropic_search_call(),
                anthropic_text("Rust is a language [1]."),
            ])
        } else {
            ScriptedServer::start(vec![
                openai_search_call(),
                openai_answer(&["Rust is a language [1]."], false),
            ])
        };
        let home = tempfile::tempdir().unwrap();
        let searx_base = searx_server.base_url().trim_end_matches("/v1").to_string();
        std::fs::write(
            home.path().join("config.toml"),
            format!("[tools.web_search]\nbackend = \"searxng\"\nurl = \"{searx_base}\"\n"),
        )
        .unwrap();
        let provider = if anthropic { "anthropic" } else { "custom" };
        let out = isolated_rustbot(home.path())
            .env("ANTHROPIC_API_KEY", "k")
            .args([
                "--provider",
                provider,
                "--base-url",
                &llm.base_url(),
                "--model",
                "M",
            ])
            .args([
                "ask",
                "--tools",
                "web_search",
                "--approve",
                "all",
                "what is rust?",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let second = llm.requests()[1].json().to_string();
        assert!(
            second.contains("[1] Rust Programming Language"),
            "{anthropic}: {second}"
        );
        assert!(
            second.contains("https://www.rust-lang.org/"),
            "{anthropic}: {second}"
        );
    }
}

#[test]
fn rustbot_tools_says_why_web_search_is_not_offered() {
    let home = tempfile::tempdir().unwrap();
    let out = isolated_rustbot(home.path())
        .args(["tools"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web_search: not offered: set [tools.web_search] backend"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("web_search"));

    std::fs::write(
        home.path().join("config.toml"),
        "[tools.web_search]\nbackend = \"brave\"\n",
    )
    .unwrap();
    let out = isolated_rustbot(home.path())
        .args(["tools"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs BRAVE_API_KEY"));
    let out = isolated_rustbot(home.path())
        .env("BRAVE_API_KEY", BRAVE_KEY)
        .args(["tools"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("web_search\tbuiltin\tAsk"), "{stdout}");
    assert!(
        !stdout.contains(BRAVE_KEY) && !String::from_utf8_lossy(&out.stderr).contains(BRAVE_KEY)
    );
}

/// OpenRouter's own web search: an `:online` model id and the `web` plugin go through as the
/// user set them, and the sources it annotates come out as a `citations` event.
#[test]
fn openrouter_web_search_passes_through_and_its_sources_come_back() {
    let annotated = vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[
            &openai_text("Rust is fast [1]."),
            &serde_json::json!({"choices": [{"index": 0, "delta": {"annotations": [
                {"type": "url_citation", "url_citation": {"url": "https://www.rust-lang.org/", "title": "Rust", "start_index": 0, "end_index": 4}}
            ]}, "finish_reason": null}]})
            .to_string(),
            &openai_finish("stop"),
            "[DONE]",
        ])),
    ];
    for (plugin, provider) in [
        (true, "openrouter"),
        (false, "openrouter"),
        (true, "custom"),
    ] {
        let llm = ScriptedServer::start(vec![annotated.clone()]);
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("config.toml"),
            format!("[tools.web_search]\nopenrouter_plugin = {plugin}\n"),
        )
        .unwrap();
        let out = isolated_rustbot(home.path())
            .env("OPENROUTER_API_KEY", "k")
            .args(["--provider", provider, "--base-url", &llm.base_url()])
            .args([
                "--model",
                "openai/gpt-4o:online",
                "ask",
                "--events",
                "is rust fast?",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = llm.requests()[0].json();
        assert_eq!(
            body["model"], "openai/gpt-4o:online",
            "the id is not touched"
        );
        let expected = if plugin && provider == "openrouter" {
            serde_json::json!([{"id": "web"}])
        } else {
            serde_json::Value::Null
        };
        assert_eq!(body["plugins"], expected, "{plugin} {provider}");
        let citations: Vec<serde_json::Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["type"] == "citations")
            .collect();
        assert_eq!(citations.len(), 1, "{stdout}");
        assert_eq!(
            citations[0]["citations"][0]["url"],
            "https://www.rust-lang.org/"
        );
        assert_eq!(citations[0]["citations"][0]["title"], "Rust");
    }
}
