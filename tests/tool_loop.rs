//! The tool-calling loop end to end: scripted model turns in both wire formats, real tools in a
//! real workspace, approvals, the round limit and Stop during a shell command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rustbot::config::{NetworkSettings, Secret};
use rustbot::engine::{self, Command, ConversationId, EngineConfig, EngineEvent, ToolSetup};
use rustbot::llm::{ProviderKind, ProviderSettings, build_provider};
use rustbot::tools::{ApprovalPolicy, CliApproval, ToolFilter, ToolRegistry};

/// An OpenAI-format tool call whose arguments arrive in many small fragments.
fn openai_tool_calls(calls: &[(&str, &str, &str)]) -> Vec<Step> {
    let mut payloads = Vec::new();
    for (index, (id, name, args)) in calls.iter().enumerate() {
        payloads.push(serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":index,"id":id,"type":"function","function":{"name":name,"arguments":""}}]},"finish_reason":null}]}).to_string());
        for piece in args.as_bytes().chunks(3) {
            let piece = std::str::from_utf8(piece).unwrap();
            payloads.push(serde_json::json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":index,"function":{"arguments":piece}}]},"finish_reason":null}]}).to_string());
        }
    }
    payloads.push(openai_finish("tool_calls"));
    payloads.push("[DONE]".into());
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    vec![Step::Bytes(sse_head()), Step::Dribble(sse_body(&refs))]
}

fn anthropic_reply(text: Option<&str>, tool: Option<(&str, &str, &str)>) -> Vec<Step> {
    let mut events = vec![(
        "message_start",
        r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#
            .to_string(),
    )];
    if let Some(t) = text {
        events.push(("content_block_delta", serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":t}}).to_string()));
    }
    let stop = if let Some((id, name, args)) = tool {
        events.push(("content_block_start", serde_json::json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":id,"name":name,"input":{}}}).to_string()));
        for piece in args.as_bytes().chunks(4) {
            let piece = std::str::from_utf8(piece).unwrap();
            events.push(("content_block_delta", serde_json::json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":piece}}).to_string()));
        }
        "tool_use"
    } else {
        "end_turn"
    };
    events.push(("message_delta", serde_json::json!({"type":"message_delta","delta":{"stop_reason":stop},"usage":{"output_tokens":9}}).to_string()));
    events.push(("message_stop", r#"{"type":"message_stop"}"#.to_string()));
    let body: String = events
        .iter()
        .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
        .collect();
    vec![Step::Bytes(sse_head()), Step::Dribble(body.into_bytes())]
}

fn isolated(home: &tempfile::TempDir) -> Process {
    let mut cmd = isolated_rustbot(home.path());
    cmd.stdin(Stdio::null());
    cmd
}

#[test]
fn ask_runs_a_streamed_read_file_call_and_answers_with_its_result() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.txt"), "the secret word is kiwi").unwrap();
    let server = ScriptedServer::start(vec![
        openai_tool_calls(&[("call_1", "read_file", r#"{"path": "notes.txt"}"#)]),
        openai_answer(&["The word is ", "kiwi."], true),
    ]);
    let out = isolated(&home)
        .args(["--provider", "custom", "--base-url", &server.base_url()])
        .args(["ask", "--tools", "all", "--approve", "all", "--workspace"])
        .arg(&ws)
        .arg("What is the secret word in notes.txt?")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "The word is kiwi.");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let first = reqs[0].json();
    assert!(
        first["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["function"]["name"] == "read_file")
    );
    let msgs = reqs[1].json()["messages"].as_array().unwrap().clone();
    let call = &msgs[1];
    assert_eq!(call["tool_calls"][0]["function"]["name"], "read_file");
    assert_eq!(
        call["tool_calls"][0]["function"]["arguments"],
        r#"{"path": "notes.txt"}"#
    );
    assert_eq!(msgs[2]["role"], "tool");
    assert_eq!(msgs[2]["tool_call_id"], "call_1");
    assert!(msgs[2]["content"].as_str().unwrap().contains("kiwi"));

    // The call, its decision and its result are stored with the conversation.
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .unwrap()
        .to_string();
    let export = isolated(&home)
        .args(["conversations", "export", &id, "--format", "json"])
        .output()
        .unwrap();
    let export: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let call = &export["tool_calls"][0];
    assert_eq!(call["name"], "read_file");
    assert_eq!(call["status"], "succeeded");
    assert_eq!(call["approval"], "auto");
    assert!(call["result"].as_str().unwrap().contains("kiwi"));
    let roles: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
}

#[test]
fn ask_runs_a_tool_call_in_the_anthropic_format() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("a.txt"), "apricot").unwrap();
    let server = ScriptedServer::start(vec![
        anthropic_reply(
            Some("Reading."),
            Some(("toolu_1", "read_file", r#"{"path":"a.txt"}"#)),
        ),
        anthropic_reply(Some("It says apricot."), None),
    ]);
    let out = isolated(&home)
        .env("ANTHROPIC_API_KEY", "k")
        .args(["--provider", "anthropic", "--base-url", &server.base_url()])
        // `--approve all`: under `none` a read-only tool no longer runs unless config allows
        // it by name (issue 14; tests/security.rs holds that rule).
        .args([
            "ask",
            "--tools",
            "read_file",
            "--approve",
            "all",
            "--workspace",
        ])
        .arg(&ws)
        .arg("read a.txt")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Reading.It says apricot."
    );
    let second = server.requests()[1].json();
    let msgs = second["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["content"][1]["type"], "tool_use");
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
    assert_eq!(msgs[2]["content"][0]["tool_use_id"], "toolu_1");
    assert!(
        msgs[2]["content"][0]["content"]
            .as_str()
            .unwrap()
            .contains("apricot")
    );
}

fn engine_with_tools(
    server: &ScriptedServer,
    ws: &std::path::Path,
    cli: CliApproval,
    max_rounds: u32,
) -> rustbot::engine::EngineHandle {
    let provider = build_provider(ProviderSettings {
        kind: ProviderKind::Custom,
        base_url: server.base_url(),
        api_key: Some(Secret::new("k")),
        network: NetworkSettings::default(),
        local: Default::default(),
    })
    .unwrap();
    let tools = ToolSetup {
        registry: std::sync::Arc::new(ToolRegistry::with_builtins()),
        filter: ToolFilter::All,
        policy: ApprovalPolicy::new(Default::default(), cli),
        workspace: ws.to_path_buf(),
        timeout: Duration::from_secs(30),
        max_rounds,
    };
    engine::start(
        EngineConfig {
            tools: Some(tools),
            ..EngineConfig::new(provider, "m")
        },
        &tokio::runtime::Handle::current(),
    )
}

async fn until_done(sub: &rustbot::engine::Subscription) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("Done within 20 s");
        let done = matches!(ev, EngineEvent::Done { .. });
        events.push(ev);
        if done {
            return events;
        }
    }
}

fn send(h: &rustbot::engine::EngineHandle, text: &str) -> ConversationId {
    let conv = ConversationId::new();
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: text.into(),
        model: None,
        images: Vec::new(),
    });
    conv
}

#[tokio::test]
async fn two_calls_in_one_round_both_run_and_both_results_go_back() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("x.txt"), "xylophone").unwrap();
    let server = ScriptedServer::start(vec![
        openai_tool_calls(&[
            ("c1", "read_file", r#"{"path":"x.txt"}"#),
            ("c2", "list_dir", r#"{"path":"."}"#),
        ]),
        openai_answer(&["done"], false),
    ]);
    // `All`: under `None` read-only tools no longer run (issue 14).
    let h = engine_with_tools(&server, ws.path(), CliApproval::All, 10);
    let sub = h.subscribe();
    send(&h, "look around");
    let events = until_done(&sub).await;
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::ToolResult {
                call_id, is_error, ..
            } => Some((call_id.clone(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(results, [("c1".into(), false), ("c2".into(), false)]);
    let msgs = server.requests()[1].json()["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(msgs.len(), 4);
    assert!(msgs[2]["content"].as_str().unwrap().contains("xylophone"));
    assert!(msgs[3]["content"].as_str().unwrap().contains("x.txt"));
}

#[tokio::test]
async fn a_denied_call_is_not_run_and_the_model_is_told() {
    let ws = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_tool_calls(&[("w1", "write_file", r#"{"path":"evil.txt","content":"x"}"#)]),
        openai_answer(&["ok, I won't"], false),
    ]);
    let h = engine_with_tools(&server, ws.path(), CliApproval::None, 10);
    let sub = h.subscribe();
    send(&h, "write it");
    let events = until_done(&sub).await;
    assert!(events.iter().any(|e| matches!(
        e,
        EngineEvent::ToolCall {
            decision: Some(rustbot::tools::Decision::Denied(_)),
            ..
        }
    )));
    assert!(!ws.path().join("evil.txt").exists());
    let msgs = server.requests()[1].json()["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert!(msgs[2]["content"].as_str().unwrap().contains("not run"));
}

#[tokio::test]
async fn an_asked_call_waits_for_approval_then_runs() {
    let ws = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_tool_calls(&[("w1", "write_file", r#"{"path":"ok.txt","content":"fine"}"#)]),
        openai_answer(&["written"], false),
    ]);
    let h = engine_with_tools(&server, ws.path(), CliApproval::Ask, 10);
    let sub = h.subscribe();
    let conv = send(&h, "write it");
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .unwrap();
        if let EngineEvent::State { to, .. } = &ev
            && to == "AwaitingApproval"
        {
            break;
        }
    }
    assert!(
        !ws.path().join("ok.txt").exists(),
        "nothing runs before approval"
    );
    h.send(Command::ApproveTool {
        conversation: conv.clone(),
        call_id: "w1".into(),
        scope: rustbot::engine::ApprovalScope::Once,
    });
    let events = until_done(&sub).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EngineEvent::ToolDecision { .. }))
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("ok.txt")).unwrap(),
        "fine"
    );
}

#[tokio::test]
async fn the_round_limit_ends_the_turn_with_a_clear_message() {
    let ws = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_tool_calls(&[(
        "l1",
        "list_dir",
        r#"{"path":"."}"#,
    )])]);
    let h = engine_with_tools(&server, ws.path(), CliApproval::None, 2);
    let sub = h.subscribe();
    send(&h, "loop forever");
    let events = until_done(&sub).await;
    assert!(events.iter().any(
        |e| matches!(e, EngineEvent::Error { message, .. } if message.contains("max_tool_rounds"))
    ));
    match events.last().unwrap() {
        EngineEvent::Done { reason, .. } => assert_eq!(reason, "max_tool_rounds"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.requests().len(),
        3,
        "two rounds with tools, then the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_a_shell_command_runs_kills_its_process_group() {
    let ws = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_tool_calls(&[(
            "s1",
            "run_shell",
            r#"{"command":"sleep 30 & echo $! > bg.pid; sleep 30"}"#,
        )]),
        openai_answer(&["never"], false),
    ]);
    let h = engine_with_tools(&server, ws.path(), CliApproval::All, 10);
    let sub = h.subscribe();
    let conv = send(&h, "run it");
    let pid_file = ws.path().join("bg.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the command started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    h.send(Command::Stop {
        conversation: conv.clone(),
    });
    let events = until_done(&sub).await;
    assert!(matches!(
        events.last(),
        Some(EngineEvent::Done {
            status: rustbot::engine::RunStatus::Stopped,
            ..
        })
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive = Process::new("kill")
            .args(["-0", &pid])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background process {pid} is still alive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.requests().len(), 1, "nothing is sent after Stop");
}
