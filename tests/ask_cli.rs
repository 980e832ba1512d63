//! `rustbot ask` as a process: exit codes, stdout text, stderr lines, `--events`, Ctrl-C, and
//! keys never shown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const KEY: &str = "sk-or-v1-TOPSECRET-abcdef0123456789";

fn rustbot(home: &tempfile::TempDir) -> Command {
    isolated_rustbot(home.path())
}

fn custom(cmd: &mut Command, server: &ScriptedServer) {
    cmd.args(["--provider", "custom", "--base-url", &server.base_url()])
        .args(["--model", "M"]);
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn streams_the_answer_to_stdout_with_a_summary_on_stderr() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["Hello", ", world"], true)]);
    let mut cmd = rustbot(&home);
    custom(&mut cmd, &server);
    let out = run(cmd.args(["ask", "hi", "there"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, world");
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap();
    assert!(first.starts_with("conversation: "), "{stderr}");
    assert!(
        stderr.contains("M · 7 in / 2 out tokens") && stderr.contains("first token"),
        "{stderr}"
    );
    let body = server.requests()[0].json();
    assert_eq!(body["model"], "M");
    assert_eq!(body["messages"][0]["content"], "hi there");
}

#[test]
fn events_are_json_lines_with_states_text_usage_and_done() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["a", "b"], false)]);
    let mut cmd = rustbot(&home);
    custom(&mut cmd, &server);
    let out = run(cmd.args(["ask", "--events", "hi"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        types.contains(&"text") && types.contains(&"usage"),
        "{types:?}"
    );
    assert_eq!(types.last(), Some(&"done"));
    let first_state = events.iter().find(|e| e["type"] == "state").unwrap();
    assert_eq!(first_state["from"], "Idle");
    assert_eq!(first_state["to"], "Sending");
    assert!(first_state["at_ms"].is_u64());
    assert_eq!(events.last().unwrap()["reason"], "stop");
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "ab");
}

#[test]
fn a_rejected_key_is_one_clear_line_and_the_key_never_shows() {
    let home = tempfile::tempdir().unwrap();
    let body = format!(r#"{{"error":{{"message":"User not found for key {KEY}","code":401}}}}"#);
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "401 Unauthorized",
        "",
        &body,
    ))]]);
    for events in [false, true] {
        let mut cmd = rustbot(&home);
        cmd.env("OPENROUTER_API_KEY", KEY)
            .env("RUST_LOG", "trace")
            .args(["--provider", "openrouter", "--base-url", &server.base_url()]);
        if events {
            cmd.arg("ask").arg("--events").arg("hi");
        } else {
            cmd.args(["ask", "hi"]);
        }
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(1));
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !stdout.contains("TOPSECRET") && !stderr.contains("TOPSECRET"),
            "key leaked:\n{stdout}\n{stderr}"
        );
        if !events {
            let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{stderr}");
            assert!(errors[0].contains("OPENROUTER_API_KEY"), "{stderr}");
        } else {
            assert!(stdout.contains(r#""type":"error""#), "{stdout}");
        }
    }
    // The key did go to the server, as a bearer token.
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn the_custom_key_comes_from_rustbot_api_key() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let mut cmd = rustbot(&home);
    custom(&mut cmd, &server);
    let out = run(cmd.env("RUSTBOT_API_KEY", "local-key").args(["ask", "hi"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer local-key")
    );
}

#[test]
fn a_key_in_dot_env_is_loaded() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".env"), "RUSTBOT_API_KEY=from-dotenv\n").unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let mut cmd = rustbot(&home);
    custom(&mut cmd, &server);
    assert_eq!(run(cmd.args(["ask", "hi"])).status.code(), Some(0));
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer from-dotenv")
    );
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let mut cmd = rustbot(&home);
    custom(&mut cmd, &server);
    let mut child = cmd
        .args(["ask", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from a pipe\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        server.requests()[0].json()["messages"][0]["content"],
        "from a pipe\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(run(rustbot(&home).arg("ask")).status.code(), Some(2));
    assert_eq!(
        run(rustbot(&home).args(["ask", "--approve", "maybe", "x"]))
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn version_prints_the_version_file() {
    let home = tempfile::tempdir().unwrap();
    let out = run(rustbot(&home).arg("--version"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), include_str!("../VERSION"));
}

#[test]
fn a_broken_config_names_file_line_and_field() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        "provider = \"custom\"\n[network]\nmax_retries = \"many\"\n",
    )
    .unwrap();
    let out = run(rustbot(&home).args(["ask", "hi"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&config.display().to_string())
            && stderr.contains("line 3")
            && stderr.contains("network.max_retries"),
        "{stderr}"
    );
}

#[test]
fn connection_refused_names_the_url_tried() {
    let home = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    std::fs::write(
        home.path().join("config.toml"),
        "[network]\nmax_retries = 0\n",
    )
    .unwrap();
    let out = run(rustbot(&home).args(["--provider", "custom", "--base-url", &url, "ask", "hi"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{url}/chat/completions")),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_stops_keeps_the_partial_answer_and_exits_130() {
    let home = tempfile::tempdir().unwrap();
    let server =
        ScriptedServer::start(vec![openai_slow("partial", 200, Duration::from_millis(50))]);
    let mut cmd = rustbot(&home);
    custom(&mut cmd, &server);
    let mut child = cmd
        .args(["ask", "hi"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 7];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"partial");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(rest.chars().all(|c| c == 'x'), "{rest}");
}
