//! Stored conversations through the CLI: history continued with `--conversation`, list/show/
//! export/import/delete, and the kill -9 guarantee with a real `rustbot ask` process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

fn rustbot(home: &tempfile::TempDir) -> Command {
    let mut cmd = isolated_rustbot(home.path());
    cmd.stdin(Stdio::null());
    cmd
}

fn ok(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn conversation_id(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .expect("a conversation line")
        .to_string()
}

#[test]
fn a_stored_conversation_is_listed_continued_exported_and_imported() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["Paris is the capital."], false),
        openai_answer(&["About 2.1 million."], false),
    ]);
    let ask = |args: &[&str]| {
        rustbot(&home)
            .args(["--provider", "custom", "--base-url", &server.base_url()])
            .arg("ask")
            .args(args)
            .output()
            .unwrap()
    };
    let first = ask(&["What is the capital of France?"]);
    let id = conversation_id(&first.stderr);
    ok(first);
    // The engine's events are logged in the store, text deltas aside.
    let store = rustbot::store::Store::open(&home.path().join("data")).unwrap();
    let kinds: Vec<String> = store
        .recent_events(100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    drop(store);
    for kind in [
        "conversation_created",
        "user_message",
        "state",
        "usage",
        "done",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert!(!kinds.iter().any(|k| k == "text"));
    let second = ask(&["--conversation", &id, "How many people live there?"]);
    assert!(!String::from_utf8_lossy(&second.stderr).contains("conversation: "));
    assert_eq!(ok(second), "About 2.1 million.");
    // The whole history was sent the second time.
    let body = server.requests()[1].json();
    let contents: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        [
            "What is the capital of France?",
            "Paris is the capital.",
            "How many people live there?"
        ]
    );

    let list: serde_json::Value = serde_json::from_str(&ok(rustbot(&home)
        .args(["conversations", "list", "--json"])
        .output()
        .unwrap()))
    .unwrap();
    let entry = &list.as_array().unwrap()[0];
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["message_count"], 4);
    assert!(entry["updated_at"].is_i64());
    assert!(
        entry["title"]
            .as_str()
            .unwrap()
            .starts_with("What is the capital")
    );

    let stats: serde_json::Value = serde_json::from_str(&ok(rustbot(&home)
        .args(["stats", "--json"])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["prompt_tokens"], 14);
    assert_eq!(stats["completion_tokens"], 2);
    assert_eq!(stats["today"]["requests"], 2);
    assert_eq!(stats["by_model"][0]["model"], "default");
    let future: serde_json::Value = serde_json::from_str(&ok(rustbot(&home)
        .args(["stats", "--json", "--since", "2999-01-01"])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(future["requests"], 0);

    let md = ok(rustbot(&home)
        .args(["conversations", "export", &id, "--format", "md"])
        .output()
        .unwrap());
    assert!(md.contains("Paris is the capital.") && md.contains("How many people"));
    let json = ok(rustbot(&home)
        .args(["conversations", "export", &id, "--format", "json"])
        .output()
        .unwrap());
    let file = home.path().join("export.json");
    std::fs::write(&file, &json).unwrap();

    let shown = ok(rustbot(&home)
        .args(["conversations", "show", &id])
        .output()
        .unwrap());
    assert!(shown.contains("About 2.1 million."));

    ok(rustbot(&home)
        .args(["conversations", "delete", &id])
        .output()
        .unwrap());
    let list = ok(rustbot(&home)
        .args(["conversations", "list", "--json"])
        .output()
        .unwrap());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list).unwrap(),
        serde_json::json!([])
    );

    let imported = ok(rustbot(&home)
        .args(["conversations", "import"])
        .arg(&file)
        .output()
        .unwrap());
    let new_id = imported.trim();
    let again = ok(rustbot(&home)
        .args(["conversations", "export", new_id, "--format", "md"])
        .output()
        .unwrap());
    assert_eq!(again, md);

    let missing = rustbot(&home)
        .args(["--provider", "custom", "--base-url", &server.base_url()])
        .args(["ask", "--conversation", "no-such-id", "hi"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("conversations list"));
}

#[test]
fn kill_9_mid_answer_keeps_the_question_and_the_flushed_answer_marked_stopped() {
    let home = tempfile::tempdir().unwrap();
    let server =
        ScriptedServer::start(vec![openai_slow("partial", 400, Duration::from_millis(25))]);
    let mut child = rustbot(&home)
        .args(["--provider", "custom", "--base-url", &server.base_url()])
        .args(["ask", "tell me a long story"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let id = conversation_id(line.as_bytes());
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = vec![0u8; 7];
    stdout.read_exact(&mut seen).unwrap();
    // Well past two flush intervals (500 ms each).
    std::thread::sleep(Duration::from_millis(1300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let json = ok(rustbot(&home)
        .args(["conversations", "export", &id, "--format", "json"])
        .output()
        .unwrap());
    let export: serde_json::Value = serde_json::from_str(&json).unwrap();
    let messages = export["messages"].as_array().unwrap();
    let users: Vec<_> = messages.iter().filter(|m| m["role"] == "user").collect();
    let answers: Vec<_> = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(users.len(), 1, "{json}");
    assert_eq!(users[0]["content"], "tell me a long story");
    assert_eq!(answers.len(), 1, "{json}");
    assert_eq!(answers[0]["status"], "stopped", "{json}");
    let text = answers[0]["content"].as_str().unwrap();
    assert!(text.starts_with("partialx"), "{text}");
    assert!(
        text.len() > 20,
        "at least a second of text was flushed: {text}"
    );
}
