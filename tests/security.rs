//! Hostile input gets nowhere (issue 14), through the real binary: a provider's absurd
//! `Retry-After`, `--approve none` with a read-only tool, tool calls left without a result
//! across a restart, and model text that tries to drive the terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rustbot(home: &tempfile::TempDir, server: &ScriptedServer) -> Command {
    let mut cmd = isolated_rustbot(home.path());
    cmd.args(["--provider", "custom", "--base-url", &server.base_url()])
        .args(["--model", "M"])
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// An OpenAI-format stream with one tool call.
fn tool_call(id: &str, name: &str, args: &str) -> Vec<Step> {
    let call = serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":id,"type":"function","function":{"name":name,"arguments":args}}]},"finish_reason":null}]}).to_string();
    let finish = openai_finish("tool_calls");
    vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&call, &finish, "[DONE]"])),
    ]
}

#[test]
fn a_huge_retry_after_fails_at_once_with_a_sentence() {
    for value in [
        "1e20",
        "18446744073709551616",
        "-1",
        "NaN",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let home = tempfile::tempdir().unwrap();
        let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
            "429 Too Many Requests",
            &format!("Retry-After: {value}\r\n"),
            r#"{"error":{"message":"slow down"}}"#,
        ))]]);
        let started = Instant::now();
        // No retries: a valid-but-absent wait would otherwise back off (and hit the empty
        // script), which is not what is measured here.
        std::fs::write(
            home.path().join("config.toml"),
            "[network]\nmax_retries = 0\n",
        )
        .unwrap();
        let out = run(rustbot(&home, &server).args(["ask", "hi"]));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{value}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(20), "{value}");
        assert!(
            stderr.contains("rate-limiting") && !stderr.contains("panicked"),
            "{value}: {stderr}"
        );
    }
}

#[test]
fn a_retry_after_over_the_cap_is_not_waited_for() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        vec![Step::Bytes(json_response(
            "429 Too Many Requests",
            "Retry-After: 3600\r\n",
            r#"{"error":{"message":"slow down"}}"#,
        ))],
        openai_answer(&["never"], false),
    ]);
    let started = Instant::now();
    let out = run(rustbot(&home, &server).args(["ask", "hi"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(text(&out.stderr).contains("3600"), "{}", text(&out.stderr));
    assert_eq!(
        server.requests().len(),
        1,
        "no retry after an hour-long demand"
    );
}

#[test]
fn approve_none_runs_no_read_only_tool_unless_config_allows_it() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.txt"), "the secret word is kiwi").unwrap();
    let server = ScriptedServer::start(vec![
        tool_call("c1", "read_file", r#"{"path":"notes.txt"}"#),
        openai_answer(&["ok"], false),
    ]);
    let out = run(rustbot(&home, &server)
        .args(["ask", "--tools", "all", "--approve", "none", "--workspace"])
        .arg(&ws)
        .arg("read notes.txt"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second = server.requests()[1].json();
    let sent = second["messages"].to_string();
    assert!(
        !sent.contains("kiwi"),
        "the file reached the provider: {sent}"
    );
    assert!(sent.contains("c1"), "the call is answered (denied): {sent}");

    // Allowed by name in config: it runs under --approve none.
    let server = ScriptedServer::start(vec![
        tool_call("c1", "read_file", r#"{"path":"notes.txt"}"#),
        openai_answer(&["ok"], false),
    ]);
    std::fs::write(
        home.path().join("config.toml"),
        "[tools.approval]\nread_file = \"allow\"\n",
    )
    .unwrap();
    let out = run(rustbot(&home, &server)
        .args(["ask", "--tools", "all", "--approve", "none", "--workspace"])
        .arg(&ws)
        .arg("read notes.txt"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        server.requests()[1].json()["messages"]
            .to_string()
            .contains("kiwi")
    );
}

#[test]
fn a_call_left_without_a_result_is_closed_in_the_store() {
    // The round limit ends the turn with the last round's call not run; the next `ask` in the
    // same conversation (a new process: the history comes from the store) must send a result
    // for it, or a real provider rejects the request with 400.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), "max_tool_rounds = 1\n").unwrap();
    let ws = home.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let server = ScriptedServer::start(vec![
        tool_call("r1", "list_dir", r#"{"path":"."}"#),
        tool_call("r2", "list_dir", r#"{"path":"."}"#),
        openai_answer(&["fine"], false),
    ]);
    let out = run(rustbot(&home, &server)
        .args(["ask", "--tools", "all", "--approve", "all", "--workspace"])
        .arg(&ws)
        .arg("loop"));
    let stderr = text(&out.stderr);
    let id = conversation_id(&stderr);
    let out = run(rustbot(&home, &server).args([
        "ask",
        "--conversation",
        &id,
        "--tools",
        "none",
        "next question",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = server.requests();
    let last = requests.last().unwrap().json();
    let messages = last["messages"].as_array().unwrap();
    for (i, m) in messages.iter().enumerate() {
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            let call_id = call["id"].as_str().unwrap();
            assert!(
                messages[i + 1..]
                    .iter()
                    .any(|r| r["role"] == "tool" && r["tool_call_id"] == call_id),
                "call {call_id} has no result in {messages:#?}"
            );
        }
    }
}

#[test]
fn a_planted_dot_env_in_a_parent_directory_is_not_read() {
    let home = tempfile::tempdir().unwrap();
    // Planted in a parent of the working directory (not the config directory, which is
    // `home` here): ignored, so no key is sent.
    let parent = home.path().join("shared");
    let cwd = parent.join("project");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(parent.join(".env"), "RUSTBOT_API_KEY=planted\n").unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = run(rustbot(&home, &server)
        .current_dir(&cwd)
        .args(["ask", "hi"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[test]
fn a_dot_env_sets_only_rustbot_variables_and_keys() {
    let home = tempfile::tempdir().unwrap();
    // A proxy variable from `.env` would send the request to a dead port: it is not taken.
    std::fs::write(
        home.path().join(".env"),
        "RUSTBOT_API_KEY=from-dotenv\nHTTP_PROXY=http://127.0.0.1:9\nALL_PROXY=http://127.0.0.1:9\n",
    )
    .unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = run(rustbot(&home, &server).args(["ask", "hi"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer from-dotenv")
    );
}

#[test]
fn run_shell_does_not_see_the_api_keys() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let server = ScriptedServer::start(vec![
        tool_call("s1", "run_shell", r#"{"command":"env > env.txt"}"#),
        openai_answer(&["done"], false),
    ]);
    let out = run(rustbot(&home, &server)
        .env("RUSTBOT_API_KEY", "sk-secret-custom")
        .env("OPENAI_API_KEY", "sk-secret-openai")
        .env("RUSTBOT_SERVE_TOKEN", "rb-secret-token")
        .args(["ask", "--tools", "all", "--approve", "all", "--workspace"])
        .arg(&ws)
        .arg("dump the environment"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let env = std::fs::read_to_string(ws.join("env.txt")).unwrap();
    assert!(env.contains("PATH="), "the command ran: {env}");
    assert!(!env.contains("secret"), "{env}");
}
