//! Compaction (issue 18), through `rustbot ask --conversation` and `rustbot conversations`
//! over the scripted server: a window learned from the cached model list or from a
//! llama.cpp-style refusal, the summary request and what is sent after it, the summary node
//! in the store, exports and search, and a branch from before the summary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use rustbot::engine::{self, Command, ConversationId, EngineConfig, EngineEvent};
use rustbot::store::StoreHandle;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One long question (~130 estimated tokens).
fn question(i: usize) -> String {
    format!("question {i}: {}", format!("topic{i} ").repeat(60))
}

fn rustbot(home: &tempfile::TempDir, server: &ScriptedServer) -> std::process::Command {
    let mut cmd = isolated_rustbot(home.path());
    cmd.args([
        "--provider",
        "custom",
        "--base-url",
        &server.base_url(),
        "--model",
        "m",
    ]);
    cmd.stdin(Stdio::null());
    cmd
}

fn ask(
    home: &tempfile::TempDir,
    server: &ScriptedServer,
    conversation: Option<&str>,
    prompt: &str,
) -> Output {
    let mut cmd = rustbot(home, server);
    cmd.args(["ask", "--events"]);
    if let Some(id) = conversation {
        cmd.args(["--conversation", id]);
    }
    cmd.arg(prompt).output().unwrap()
}

fn events(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn of_type(events: &[Value], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

/// The data dir of an isolated home (as `isolated_rustbot` sets it).
fn data_dir(home: &tempfile::TempDir) -> std::path::PathBuf {
    home.path().join("data")
}

fn all_text(request: &Recorded) -> String {
    let body = request.json();
    let mut out = body["messages"].to_string();
    out.push_str(&body["system"].to_string());
    out
}

#[test]
fn a_small_advertised_window_is_compacted_before_it_overflows() {
    let home = tempfile::tempdir().unwrap();
    // The window comes from the provider's model list, as `models` caches it.
    let data = data_dir(&home);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("models.json"),
        r#"[{"id":"m","name":null,"context_length":600,"prompt_price_usd":null,"completion_price_usd":null}]"#,
    )
    .unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["answer one"], false),
        openai_answer(&["answer two"], false),
        openai_answer(&["SUMMARY: the user asked about topic0 and topic1."], false),
        openai_answer(&["answer three"], false),
    ]);
    let first = ask(&home, &server, None, &question(0));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let id = conversation_id(&text(&first.stderr));
    for i in 1..3 {
        let out = ask(&home, &server, Some(&id), &question(i));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let compacted = of_type(&events(&out), "compacted");
        if i < 2 {
            assert!(compacted.is_empty(), "turn {i}: {compacted:?}");
            continue;
        }
        // Turn 3 passes 80 % of 600 tokens: the first turn is summarised first.
        assert_eq!(compacted.len(), 1, "{}", text(&out.stdout));
        assert_eq!(compacted[0]["replaced_messages"], 2);
        assert_eq!(compacted[0]["window_tokens"], 600);
        assert!(compacted[0]["summary_tokens"].as_u64().unwrap() > 0);
        let usage = of_type(&events(&out), "context_usage");
        assert_eq!(usage[0]["window_tokens"], 600);
        assert!(text(&out.stdout).contains("answer three"));
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "two turns, a summary, the third turn");
    // The summary request reads the replaced turn, not the kept ones.
    let summary_request = all_text(&requests[2]);
    assert!(summary_request.contains("topic0"));
    assert!(summary_request.contains("Summarise the conversation"));
    assert!(!summary_request.contains("topic2"));
    // The request after it: the summary in the system prompt, then the newest turns only.
    let after = requests[3].json();
    let messages = after["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(
        system.contains("SUMMARY: the user asked about topic0"),
        "{system}"
    );
    let sent = after["messages"].to_string();
    assert!(
        !sent.contains("topic0 topic0"),
        "the replaced turn is not sent"
    );
    assert!(sent.contains("topic1") && sent.contains("topic2"));

    // Stored as a summary node; the originals stay in exports and in search.
    let json = rustbot(&home, &server)
        .args(["conversations", "export", &id, "--format", "json"])
        .output()
        .unwrap();
    let export: Value = serde_json::from_slice(&json.stdout).unwrap();
    let stored = export["messages"].as_array().unwrap();
    let summaries: Vec<_> = stored.iter().filter(|m| m["kind"] == "summary").collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["role"], "system");
    assert!(
        stored
            .iter()
            .any(|m| m["content"].as_str().unwrap().starts_with("question 0"))
    );
    let md = rustbot(&home, &server)
        .args(["conversations", "export", &id])
        .output()
        .unwrap();
    let md = text(&md.stdout);
    assert!(md.contains("## Summary of the earlier messages"), "{md}");
    assert!(md.contains("question 0: topic0"));
    let found = rustbot(&home, &server)
        .args(["conversations", "search", "topic0"])
        .output()
        .unwrap();
    assert!(text(&found.stdout).contains(&id), "{}", text(&found.stderr));
}

#[test]
fn a_context_exceeded_refusal_is_learned_compacted_and_sent_once_more() {
    let home = tempfile::tempdir().unwrap();
    let refusal = json_response(
        "400 Bad Request",
        "",
        r#"{"error":{"code":400,"message":"request (700 tokens) exceeds the available context size (500 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":700,"n_ctx":500}}"#,
    );
    let server = ScriptedServer::start(vec![
        openai_answer(&["answer one"], false),
        openai_answer(&["answer two"], false),
        openai_answer(&["answer three"], false),
        vec![Step::Bytes(refusal)],
        openai_answer(&["SUMMARY: topics zero and one."], false),
        openai_answer(&["answer four"], false),
    ]);
    let first = ask(&home, &server, None, &question(0));
    let id = conversation_id(&text(&first.stderr));
    for i in 1..3 {
        let out = ask(&home, &server, Some(&id), &question(i));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    // The fourth turn is refused by the server; the user still gets one answer.
    let out = ask(&home, &server, Some(&id), &question(3));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = events(&out);
    assert!(of_type(&seen, "error").is_empty(), "{}", text(&out.stdout));
    let compacted = of_type(&seen, "compacted");
    assert_eq!(compacted.len(), 1, "{}", text(&out.stdout));
    assert_eq!(compacted[0]["window_tokens"], 500);
    let done = of_type(&seen, "done");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["status"], "complete");
    assert_eq!(done[0]["text"], "answer four");
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    assert!(all_text(&requests[4]).contains("Summarise the conversation"));
    let resent = all_text(&requests[5]);
    assert!(resent.contains("SUMMARY: topics zero and one."));
    assert!(resent.contains("topic3"));

    // The window is remembered: the next process starts from 500, not the default.
    let server = ScriptedServer::start(vec![openai_answer(&["answer five"], false)]);
    let out = ask(&home, &server, Some(&id), "short");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let usage = of_type(&events(&out), "context_usage");
    assert_eq!(usage[0]["window_tokens"], 500, "{}", text(&out.stdout));
}

#[tokio::test]
async fn compact_now_from_the_shell_and_an_edit_before_the_summary_sends_the_originals() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["answer one"], false),
        openai_answer(&["answer two"], false),
        openai_answer(&["answer three"], false),
        openai_answer(&["SUMMARY: earlier turns."], false),
        openai_answer(&["edited answer"], false),
    ]);
    let first = ask(&home, &server, None, &question(0));
    let id = conversation_id(&text(&first.stderr));
    for i in 1..3 {
        ask(&home, &server, Some(&id), &question(i));
    }
    let out = rustbot(&home, &server)
        .args(["conversations", "compact", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("compacted: "),
        "{}",
        text(&out.stdout)
    );
    let show = rustbot(&home, &server)
        .args(["conversations", "show", &id])
        .output()
        .unwrap();
    assert!(text(&show.stdout).contains("## summary of the messages above"));
    // The summary request was the fourth; it read the first turns.
    assert!(all_text(&server.requests()[3]).contains("topic0"));

    let out = rustbot(&home, &server)
        .args(["conversations", "compact", "no-such-id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no conversation no-such-id is stored"));

    // An edit of a message the summary replaced branches from the originals: the request
    // holds the original first turn and no summary.
    let store = StoreHandle::open(&data_dir(&home)).unwrap();
    let key = id.clone();
    let path = store
        .call(move |s| s.active_path(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(path.iter().filter(|m| m.is_summary()).count(), 1);
    let second_question = path
        .iter()
        .find(|m| m.content.starts_with("question 1"))
        .map(|m| m.id.0)
        .unwrap();
    let h = engine::start(
        EngineConfig {
            store: Some(store.clone()),
            ..EngineConfig::new(scripted_provider(&server, 0), "m")
        },
        &tokio::runtime::Handle::current(),
    );
    let sub = h.subscribe();
    let conv = ConversationId(id.clone());
    h.send(Command::EditMessage {
        conversation: conv.clone(),
        message_id: Some(second_question),
        text: "question 1, asked again".into(),
    });
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("the answer within 20 s");
        if let EngineEvent::Done { text, .. } = event {
            assert_eq!(text, "edited answer");
            break;
        }
    }
    let last = server.requests().last().unwrap().json();
    let sent = last["messages"].to_string();
    assert!(sent.contains("question 0: topic0"), "{sent}");
    assert!(sent.contains("question 1, asked again"));
    assert!(!sent.contains("SUMMARY: earlier turns."), "{sent}");
}
