//! Reasoning shown apart from the answer (issue 17), through `ask` over the scripted server in
//! the three stream styles: `reasoning_content` (DeepSeek, llama.cpp, vLLM), OpenRouter's
//! `reasoning` / `reasoning_details`, and Anthropic `thinking` blocks — whose signature must go
//! back unchanged in the tool-use turn that follows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Output, Stdio};

use common::*;
use serde_json::{Value, json};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn openai_stream(deltas: &[Value]) -> Vec<Step> {
    let mut payloads: Vec<String> = deltas
        .iter()
        .map(|d| json!({"choices": [{"index": 0, "delta": d, "finish_reason": null}]}).to_string())
        .collect();
    payloads.push(openai_finish("stop"));
    payloads.push("[DONE]".into());
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    vec![Step::Bytes(sse_head()), Step::Dribble(sse_body(&refs))]
}

fn ask(
    home: &tempfile::TempDir,
    provider: &str,
    server: &ScriptedServer,
    extra: &[&str],
) -> Output {
    isolated_rustbot(home.path())
        .env("ANTHROPIC_API_KEY", "k")
        .env("OPENROUTER_API_KEY", "k")
        .args([
            "--provider",
            provider,
            "--base-url",
            &server.base_url(),
            "--model",
            "M",
        ])
        .arg("ask")
        .args(extra)
        .arg("why?")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn reasoning_content_stays_off_stdout_and_is_in_events_and_on_stderr_when_asked() {
    let script = || {
        openai_stream(&[
            json!({"role": "assistant", "content": null, "reasoning_content": "Let me think. "}),
            json!({"reasoning_content": "Two plus two."}),
            json!({"content": "Four."}),
        ])
    };
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![script()]);
    let out = ask(&home, "custom", &server, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Four.");
    assert!(!text(&out.stderr).contains("Two plus two"));

    let server = ScriptedServer::start(vec![script()]);
    let out = ask(&home, "custom", &server, &["--reasoning", "show"]);
    assert_eq!(text(&out.stdout), "Four.");
    assert!(
        text(&out.stderr).contains("Let me think. Two plus two."),
        "{}",
        text(&out.stderr)
    );

    let server = ScriptedServer::start(vec![script()]);
    let out = ask(&home, "custom", &server, &["--events"]);
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reasoning: String = events
        .iter()
        .filter(|e| e["type"] == "reasoning")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(reasoning, "Let me think. Two plus two.");
    let done = events.iter().find(|e| e["type"] == "done").unwrap();
    assert_eq!(done["text"], "Four.", "the answer has no reasoning in it");
}

#[test]
fn openrouter_reasoning_and_details_are_read_and_effort_is_sent_its_way() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "reasoning_effort = \"high\"\n",
    )
    .unwrap();
    let server = ScriptedServer::start(vec![openai_stream(&[
        json!({"role": "assistant", "content": "", "reasoning": "First, "}),
        json!({"content": "", "reasoning_details": [{"type": "reasoning.text", "text": "then."}]}),
        json!({"content": "Done."}),
    ])]);
    let out = ask(&home, "openrouter", &server, &["--reasoning", "show"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Done.");
    assert!(
        text(&out.stderr).contains("First, then."),
        "{}",
        text(&out.stderr)
    );
    let body = server.requests()[0].json();
    assert_eq!(body["reasoning"], json!({"effort": "high"}));
    assert!(body.get("reasoning_effort").is_none(), "{body}");

    // Any other OpenAI-compatible server gets `reasoning_effort`.
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    ask(&home, "custom", &server, &[]);
    assert_eq!(server.requests()[0].json()["reasoning_effort"], "high");
}

fn anthropic_events(events: &[(&str, Value)]) -> Vec<Step> {
    let body: String = events
        .iter()
        .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
        .collect();
    vec![Step::Bytes(sse_head()), Step::Dribble(body.into_bytes())]
}

#[test]
fn anthropic_thinking_is_shown_apart_and_sent_back_signed_with_the_tool_turn() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "reasoning_effort = \"low\"\nmax_tokens = 8000\n",
    )
    .unwrap();
    let start = (
        "message_start",
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}),
    );
    let stop = ("message_stop", json!({"type": "message_stop"}));
    let server = ScriptedServer::start(vec![
        anthropic_events(&[
            start.clone(),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "I should look at the files."}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "SIG-abc=="}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "OPAQUE"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "list_dir", "input": {}}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"path\":\".\"}"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 2}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
            ),
            stop.clone(),
        ]),
        anthropic_events(&[
            start,
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Nothing there."}}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
            ),
            stop,
        ]),
    ]);
    let ws = home.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let out = ask(
        &home,
        "anthropic",
        &server,
        &[
            "--tools",
            "all",
            "--approve",
            "all",
            "--workspace",
            ws.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Nothing there.");
    let first = server.requests()[0].json();
    assert_eq!(
        first["thinking"],
        json!({"type": "enabled", "budget_tokens": 2000})
    );
    assert!(first.get("temperature").is_none());
    let second = server.requests()[1].json();
    let assistant = &second["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        assistant["content"][0],
        json!({"type": "thinking", "thinking": "I should look at the files.", "signature": "SIG-abc=="})
    );
    assert_eq!(
        assistant["content"][1],
        json!({"type": "redacted_thinking", "data": "OPAQUE"})
    );
    assert_eq!(assistant["content"][2]["type"], "tool_use");
    assert!(
        !second.to_string().contains("\"text\":\"I should look"),
        "never sent as text"
    );
}

#[test]
fn reasoning_is_stored_apart_and_exported() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_stream(&[
        json!({"role": "assistant", "content": null, "reasoning_content": "Hmm, primes."}),
        json!({"content": "Seven."}),
    ])]);
    let out = ask(&home, "custom", &server, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = conversation_id(&text(&out.stderr));
    let export = |format: &str| {
        let out = isolated_rustbot(home.path())
            .args(["conversations", "export", &id, "--format", format])
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let json: Value = serde_json::from_str(&export("json")).unwrap();
    let answer = &json["messages"][1];
    assert_eq!(answer["content"], "Seven.");
    assert_eq!(answer["reasoning"], "Hmm, primes.");
    let md = export("md");
    assert!(
        md.contains("<details><summary>Thinking</summary>") && md.contains("Hmm, primes."),
        "{md}"
    );

    // The next turn sends the answer back without its reasoning.
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = isolated_rustbot(home.path())
        .args([
            "--provider",
            "custom",
            "--base-url",
            &server.base_url(),
            "--model",
            "M",
        ])
        .args(["ask", "--conversation", &id, "and?"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent = server.requests()[0].json().to_string();
    assert!(
        sent.contains("Seven.") && !sent.contains("Hmm, primes."),
        "{sent}"
    );
}
