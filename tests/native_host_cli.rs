//! `rustbot native-host` as a child process speaking native-messaging frames: round trips, a
//! split frame, an oversized frame, invalid JSON, interleaved requests, a refused origin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const ORIGIN: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/";

struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: mpsc::Receiver<Value>,
    _home: tempfile::TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(upstream: &ScriptedServer, origin: &str) -> Host {
    start_with(upstream, origin, "", |_| {})
}

/// `start` with more config text and a chance to fill the home first.
fn start_with(
    upstream: &ScriptedServer,
    origin: &str,
    extra_config: &str,
    setup: impl FnOnce(&std::path::Path),
) -> Host {
    let url = upstream.base_url();
    let provider = ["--provider", "custom", "--base-url", &url, "--model", "M"];
    start_on(&provider, origin, extra_config, setup)
}

/// The host with `provider` arguments (provider, model, ...) before `native-host`.
fn start_on(
    provider: &[&str],
    origin: &str,
    extra_config: &str,
    setup: impl FnOnce(&std::path::Path),
) -> Host {
    let home = tempfile::tempdir().unwrap();
    setup(home.path());
    let config = format!(
        "[native_host]\nallowed_origins = [\"{ORIGIN}\"]\ntools = \"none\"\n{extra_config}"
    );
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustbot"))
        .current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("RUSTBOT_CONFIG", home.path().join("config.toml"))
        .env("RUSTBOT_DATA_DIR", home.path().join("data"))
        .args(provider)
        .args(["native-host", origin])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, frames) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let mut len = [0u8; 4];
            if stdout.read_exact(&mut len).is_err() {
                return;
            }
            let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
            stdout.read_exact(&mut body).unwrap();
            let value: Value = serde_json::from_slice(&body).expect("every frame is JSON");
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    Host {
        stdin: child.stdin.take(),
        child,
        frames,
        _home: home,
    }
}

impl Host {
    fn home(&self) -> &std::path::Path {
        self._home.path()
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, value: &Value) {
        let body = value.to_string();
        let mut bytes = (body.len() as u32).to_ne_bytes().to_vec();
        bytes.extend_from_slice(body.as_bytes());
        self.send_raw(&bytes);
    }

    fn next(&self) -> Value {
        self.frames
            .recv_timeout(Duration::from_secs(10))
            .expect("a frame within 10 s")
    }

    /// Frames until the `done` of `id` (other ids' frames are kept in the result too).
    fn until_done(&self, id: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let f = self.next();
            let done = f["id"] == *id && (f["event"] == "done" || f["event"] == "error");
            out.push(f);
            if done {
                return out;
            }
        }
    }

    fn exit_code(&mut self) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the host did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn text_of(frames: &[Value], id: &Value) -> String {
    frames
        .iter()
        .filter(|f| f["id"] == *id && f["event"] == "delta")
        .map(|f| f["text"].as_str().unwrap())
        .collect()
}

#[test]
fn health_and_a_streamed_chat_round_trip_then_eof_exits_cleanly() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hel", "lo"], true)]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": 1, "route": "health", "payload": {}}));
    let health = host.next();
    assert_eq!(health["id"], 1);
    assert_eq!(health["result"]["status"], "ok");
    host.send(&json!({"id": "c1", "route": "chat", "payload": {"message": "hi"}}));
    let frames = host.until_done(&json!("c1"));
    assert_eq!(text_of(&frames, &json!("c1")), "Hello");
    let done = frames.last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["usage"]["prompt_tokens"], 7);
    assert_eq!(done["usage"]["completion_tokens"], 2);
    host.stdin = None;
    assert_eq!(host.exit_code(), Some(0));
}

#[test]
fn a_frame_split_across_writes_is_read_whole() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start(&upstream, ORIGIN);
    let body = json!({"id": 7, "route": "health"}).to_string();
    let mut bytes = (body.len() as u32).to_ne_bytes().to_vec();
    bytes.extend_from_slice(body.as_bytes());
    host.send_raw(&bytes[..2]);
    std::thread::sleep(Duration::from_millis(100));
    host.send_raw(&bytes[2..10]);
    std::thread::sleep(Duration::from_millis(100));
    host.send_raw(&bytes[10..]);
    assert_eq!(host.next()["id"], 7);
}

#[test]
fn invalid_json_gets_an_error_reply_and_the_host_goes_on() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start(&upstream, ORIGIN);
    let junk = b"{nope";
    let mut bytes = (junk.len() as u32).to_ne_bytes().to_vec();
    bytes.extend_from_slice(junk);
    host.send_raw(&bytes);
    let e = host.next();
    assert_eq!(e["event"], "error");
    assert_eq!(e["error"]["code"], "invalid_json");
    host.send(&json!({"id": 2, "route": "no.such"}));
    assert_eq!(host.next()["error"]["code"], "unknown_route");
    host.send(&json!({"id": 3, "route": "health"}));
    assert_eq!(host.next()["result"]["status"], "ok");
}

#[test]
fn an_oversized_frame_gets_an_error_and_a_clean_exit() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start(&upstream, ORIGIN);
    host.send_raw(&0xFFFF_FFF0u32.to_ne_bytes());
    let e = host.next();
    assert_eq!(e["error"]["code"], "bad_frame");
    assert_eq!(host.exit_code(), Some(1));
}

#[test]
fn a_truncated_frame_ends_the_host_without_hanging() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start(&upstream, ORIGIN);
    host.send_raw(&100u32.to_ne_bytes());
    host.send_raw(b"{\"id\":");
    host.stdin = None;
    assert_eq!(host.next()["error"]["code"], "bad_frame");
    assert_eq!(host.exit_code(), Some(1));
}

#[test]
fn two_chats_run_interleaved_and_one_can_be_stopped() {
    let upstream = ScriptedServer::start(vec![openai_slow("go", 20, Duration::from_millis(30))]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": "a", "route": "chat", "payload": {"message": "one"}}));
    host.send(&json!({"id": "b", "route": "chat", "payload": {"message": "two"}}));
    let mut frames = Vec::new();
    let mut done = 0;
    while done < 2 {
        let f = host.next();
        if f["event"] == "done" {
            done += 1;
        }
        frames.push(f);
    }
    for id in ["a", "b"] {
        assert_eq!(
            text_of(&frames, &json!(id)),
            format!("go{}", "x".repeat(20))
        );
    }
    let first_done = frames.iter().position(|f| f["event"] == "done").unwrap();
    let ids_before: std::collections::HashSet<String> = frames[..first_done]
        .iter()
        .map(|f| f["id"].to_string())
        .collect();
    assert_eq!(
        ids_before.len(),
        2,
        "deltas of both chats arrive before either ends"
    );
    // chat.stop ends a running chat with status `stopped`.
    host.send(&json!({"id": "c", "route": "chat", "payload": {"message": "three"}}));
    assert_eq!(host.next()["event"], "delta");
    host.send(&json!({"id": "s", "route": "chat.stop", "payload": {"request_id": "c"}}));
    let frames = host.until_done(&json!("c"));
    assert_eq!(frames.last().unwrap()["status"], "stopped");
}

#[test]
fn a_refused_origin_gets_one_error_frame_and_exit_1() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start(&upstream, "chrome-extension://someoneelse/");
    let e = host.next();
    assert_eq!(e["error"]["code"], "origin_refused");
    assert_eq!(host.exit_code(), Some(1));
    assert!(upstream.requests().is_empty());
}

#[test]
fn stored_conversations_can_be_listed_and_read() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hi", "!"], false)]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": 1, "route": "chat", "payload": {"message": "hello", "conversation_id": "conv-1"}}));
    let done = host.until_done(&json!(1)).pop().unwrap();
    assert_eq!(done["conversation_id"], "conv-1");
    host.send(&json!({"id": 2, "route": "conversations.list"}));
    let list = host.next();
    assert_eq!(list["result"]["conversations"][0]["id"], "conv-1");
    host.send(
        &json!({"id": 3, "route": "conversations.get", "payload": {"conversation_id": "conv-1"}}),
    );
    let got = host.next();
    let messages = got["result"]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["content"], "hello");
    assert_eq!(messages[1]["content"], "Hi!");
}

#[test]
fn install_writes_a_manifest_and_a_launcher_that_runs_the_host() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("hosts");
    let out = Command::new(env!("CARGO_BIN_EXE_rustbot"))
        .env_clear()
        .env("HOME", home.path())
        .env("RUSTBOT_CONFIG", home.path().join("config.toml"))
        .env("RUSTBOT_DATA_DIR", home.path().join("data"))
        .args(["native-host", "install", "--browser", "chrome"])
        .args(["--extension-id", "abcdefghijklmnopabcdefghijklmnop"])
        .arg("--manifest-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(ORIGIN), "{stdout}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("org.rustbot.host.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["name"], "org.rustbot.host");
    assert_eq!(manifest["type"], "stdio");
    assert_eq!(manifest["allowed_origins"], json!([ORIGIN]));
    let launcher = manifest["path"].as_str().unwrap();
    let script = std::fs::read_to_string(launcher).unwrap();
    assert!(script.contains("native-host \"$@\""), "{script}");
    // The launcher starts the host, which refuses the (not yet allowed) origin with a frame.
    let run = Command::new(launcher)
        .arg(ORIGIN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stdout).contains("origin_refused"));
}

/// Issue 22's first routes: system.info, models.get, embeddings, rerank and rag.query, each
/// with a bad payload answered by a `bad_request` naming the field.
#[test]
fn system_models_embeddings_rerank_and_rag_routes_answer() {
    let Ok(model) = std::env::var("RUSTBOT_TEST_EMBEDDING_MODEL") else {
        peer_missing(
            "RUSTBOT_TEST_EMBEDDING_MODEL (eval \"$(../shared/tools/model-fixtures.sh)\")",
        );
        return;
    };
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start_with(
        &upstream,
        ORIGIN,
        &format!("[local]\nembedding_model = {model:?}\n"),
        |home| {
            let docs = home.join("docs");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(
                docs.join("levy.md"),
                "# Levy\n\nThe property levy is due in March.\n",
            )
            .unwrap();
            std::fs::write(
                docs.join("cats.md"),
                "# Cats\n\nCats sleep most of the day.\n",
            )
            .unwrap();
            let mut db = rustbot::knowledge::KnowledgeDb::open(&home.join("data")).unwrap();
            db.set_base("notes", "none").unwrap();
            rustbot::knowledge::index_path(&mut db, "notes", &docs, 300, None, &mut |_| {})
                .unwrap();
        },
    );
    let mut ask = |id: u32, route: &str, payload: Value| {
        host.send(&json!({"id": id, "route": route, "payload": payload}));
        let f = host.next();
        assert_eq!(f["id"], id, "{f}");
        f
    };
    let info = ask(1, "system.info", json!({}));
    assert_eq!(info["event"], "result", "{info}");
    for field in [
        "os",
        "arch",
        "cpu_count",
        "memory_total_mib",
        "version",
        "uptime_secs",
        "process_rss_mib",
        "data_dir_bytes",
    ] {
        assert!(!info["result"][field].is_null(), "{field}: {info}");
    }
    let m = ask(2, "models.get", json!({"model": "M"}));
    assert_eq!(m["result"]["model"]["id"], "M", "{m}");
    let missing = ask(3, "models.get", json!({}));
    assert_eq!(missing["error"]["code"], "bad_request");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.model")
    );

    let e = ask(
        4,
        "embeddings",
        json!({"input": ["A cat naps.", "A kitten is sleeping.", "Taxes are due."]}),
    );
    let data = e["result"]["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{e}");
    let v: Vec<Vec<f64>> = data
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    assert!(
        dot(&v[0], &v[1]) > dot(&v[0], &v[2]),
        "paraphrases are closer"
    );
    let bad = ask(5, "embeddings", json!({"input": 7}));
    assert_eq!(bad["error"]["code"], "bad_request");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.input")
    );

    let r = ask(
        6,
        "rerank",
        json!({"query": "When is the levy due?", "documents": ["Cats sleep.", "The levy is due in March."], "top_n": 1}),
    );
    assert_eq!(r["result"]["results"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["result"]["results"][0]["index"], 1);

    let q = ask(
        7,
        "rag.query",
        json!({"query": "property levy", "kb": "notes", "top_k": 2}),
    );
    let passages = q["result"]["passages"].as_array().unwrap();
    assert!(
        passages[0]["path"].as_str().unwrap().ends_with("levy.md"),
        "{q}"
    );
    assert_eq!(passages[0]["lines"], json!([1, 3]));
    let none = ask(8, "rag.query", json!({"query": "x", "kb": "nope"}));
    assert_eq!(none["error"]["code"], "not_found", "{none}");
    let range = ask(
        9,
        "rag.query",
        json!({"query": "x", "kb": "notes", "top_k": 99}),
    );
    assert!(
        range["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.top_k")
    );
}

/// The chat route takes OpenAI's chat completions body: `messages` with roles and content
/// parts, streamed by default and whole with `stream: false`; each bad field is named.
#[test]
fn chat_takes_the_openai_messages_schema_streamed_and_whole() {
    let upstream = ScriptedServer::start(vec![
        openai_answer(&["Par", "is"], false),
        openai_answer(&["Rome"], false),
    ]);
    let mut host = start(&upstream, ORIGIN);
    let messages = json!([
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of Spain?"},
        {"role": "assistant", "content": "Madrid"},
        {"role": "user", "content": [{"type": "text", "text": "And of France?"}]}
    ]);
    host.send(&json!({"id": 1, "route": "chat", "payload": {"messages": messages, "temperature": 0.2, "top_p": 0.9, "max_tokens": 20, "seed": 7, "stop": ["\n\n"]}}));
    let frames = host.until_done(&json!(1));
    let text: String = frames
        .iter()
        .filter(|f| f["event"] == "delta")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Paris");
    assert_eq!(frames.last().unwrap()["status"], "complete");
    let sent = upstream.requests()[0].json();
    let sent_messages = sent["messages"].to_string();
    assert!(
        sent_messages.contains("Answer in one word."),
        "{sent_messages}"
    );
    assert!(sent_messages.contains("Madrid") && sent_messages.contains("And of France?"));
    // The sampling fields go with this request.
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["top_p"], 0.9);
    assert_eq!(sent["max_tokens"], 20);
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["stop"], json!(["\n\n"]));

    host.send(&json!({"id": 2, "route": "chat", "payload": {"messages": [{"role": "user", "content": "Capital of Italy?"}], "stream": false}}));
    let reply = host.next();
    assert_eq!(reply["id"], 2);
    assert_eq!(reply["event"], "result", "{reply}");
    assert_eq!(reply["text"], "Rome");
    assert_eq!(reply["status"], "complete");

    for (payload, field) in [
        (
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": 3}),
            "payload.temperature",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "top_p": -0.5}),
            "payload.top_p",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            "payload.stream",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": "x"}]}),
            "payload.messages",
        ),
        (json!({"messages": "hello"}), "payload.messages"),
    ] {
        host.send(&json!({"id": 3, "route": "chat", "payload": payload}));
        let f = host.next();
        assert_eq!(f["error"]["code"], "bad_request", "{f}");
        assert!(
            f["error"]["message"].as_str().unwrap().contains(field),
            "{f}"
        );
    }
    assert_eq!(
        upstream.requests().len(),
        2,
        "nothing sent for a bad request"
    );
}

/// Over `[native_host] requests_per_minute` a request gets a `rate_limited` frame and the
/// host keeps serving.
#[test]
fn a_burst_over_the_rate_limit_is_refused_and_the_host_goes_on() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let mut host = start_with(&upstream, ORIGIN, "requests_per_minute = 5\n", |_| {});
    for id in 0..10 {
        host.send(&json!({"id": id, "route": "health", "payload": {}}));
    }
    let frames: Vec<Value> = (0..10).map(|_| host.next()).collect();
    let ok = frames.iter().filter(|f| f["event"] == "result").count();
    let limited: Vec<&Value> = frames
        .iter()
        .filter(|f| f["error"]["code"] == "rate_limited")
        .collect();
    assert_eq!((ok, limited.len()), (5, 5), "{frames:?}");
    assert!(
        limited[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requests_per_minute")
    );
    // Stop requests are never limited: the host still answers.
    host.send(&json!({"id": 99, "route": "chat.stop", "payload": {"request_id": 1}}));
    assert_eq!(host.next()["result"]["stopped"], false);
}

/// Conversations can be made, renamed and deleted from an extension; `stats` gives totals.
#[test]
fn conversations_are_created_renamed_and_deleted_and_stats_answer() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hello"], false)]);
    let mut host = start(&upstream, ORIGIN);
    let mut ask = |id: u32, route: &str, payload: Value| {
        host.send(&json!({"id": id, "route": route, "payload": payload}));
        host.next()
    };
    let created = ask(
        1,
        "conversations.create",
        json!({"title": "From the extension"}),
    );
    let conv = created["result"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let renamed = ask(
        2,
        "conversations.rename",
        json!({"conversation_id": conv, "title": "Renamed"}),
    );
    assert_eq!(renamed["result"]["renamed"], true, "{renamed}");
    let got = ask(3, "conversations.get", json!({"conversation_id": conv}));
    assert_eq!(got["result"]["conversation"]["title"], "Renamed", "{got}");
    let bad = ask(4, "conversations.rename", json!({"conversation_id": conv}));
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.title")
    );
    let deleted = ask(5, "conversations.delete", json!({"conversation_id": conv}));
    assert_eq!(deleted["result"]["deleted"], true);
    let gone = ask(6, "conversations.get", json!({"conversation_id": conv}));
    assert_eq!(gone["error"]["code"], "not_found", "{gone}");
    let stats = ask(7, "stats", json!({}));
    for period in ["today", "month", "all_time"] {
        assert!(stats["result"][period]["requests"].is_number(), "{stats}");
    }
}

/// `completions` (a prompt) and `responses` (input and instructions) stream like chat.
#[test]
fn completions_and_responses_routes_stream_like_chat() {
    let upstream = ScriptedServer::start(vec![
        openai_answer(&["Hi", "!"], false),
        openai_answer(&["Ro", "me"], false),
    ]);
    let mut host = start(&upstream, ORIGIN);
    let text_of = |frames: &[Value]| -> String {
        frames
            .iter()
            .filter(|f| f["event"] == "delta")
            .map(|f| f["text"].as_str().unwrap())
            .collect()
    };
    host.send(&json!({"id": 1, "route": "completions", "payload": {"prompt": "Say hi"}}));
    let frames = host.until_done(&json!(1));
    assert_eq!(text_of(&frames), "Hi!");
    host.send(&json!({"id": 2, "route": "responses", "payload": {"input": [{"role": "user", "content": [{"type": "input_text", "text": "Capital of Italy?"}]}], "instructions": "One word."}}));
    let frames = host.until_done(&json!(2));
    assert_eq!(text_of(&frames), "Rome");
    assert_eq!(frames.last().unwrap()["event"], "done");
    let sent = upstream.requests()[1].json()["messages"].to_string();
    assert!(
        sent.contains("One word.") && sent.contains("Capital of Italy?"),
        "{sent}"
    );
    host.send(&json!({"id": 3, "route": "completions", "payload": {}}));
    let f = host.next();
    assert!(
        f["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.prompt"),
        "{f}"
    );
}

/// `parameters.set` gives this host's chats a model and sampling; a chat's own field wins.
#[test]
fn parameters_set_defaults_for_the_hosts_chats() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": 1, "route": "parameters.set", "payload": {"model": "M2", "temperature": 0.4, "seed": 3}}));
    assert_eq!(host.next()["result"]["model"], "M2");
    host.send(&json!({"id": 2, "route": "parameters.get", "payload": {}}));
    let got = host.next();
    let t = got["result"]["sampling"]["temperature"].as_f64().unwrap();
    assert!((t - 0.4).abs() < 1e-6, "{got}");
    host.send(&json!({"id": 3, "route": "chat", "payload": {"message": "hi", "seed": 9}}));
    host.until_done(&json!(3));
    let sent = upstream.requests()[0].json();
    assert_eq!(sent["model"], "M2");
    assert_eq!(sent["temperature"], 0.4);
    assert_eq!(sent["seed"], 9, "the chat's own seed wins");
    host.send(&json!({"id": 4, "route": "parameters.set", "payload": {"top_p": 7}}));
    let bad = host.next();
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("top_p"),
        "{bad}"
    );
}

#[test]
fn parameters_set_with_persist_writes_the_config_and_a_new_host_starts_from_it() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": 1, "route": "parameters.set",
        "payload": {"model": "M3", "temperature": 0.2, "stop": ["END"], "persist": true}}));
    let reply = host.next();
    assert_eq!(reply["event"], "result", "{reply}");
    assert!(
        reply["persisted"]
            .as_str()
            .unwrap()
            .ends_with("config.toml"),
        "{reply}"
    );
    let written = std::fs::read_to_string(host.home().join("config.toml")).unwrap();
    let config: toml::Value = toml::from_str(&written).unwrap();
    let params = &config["native_host"]["parameters"];
    assert_eq!(params["model"].as_str(), Some("M3"), "{written}");
    assert!((params["temperature"].as_float().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(params["stop"][0].as_str(), Some("END"));
    // The rest of the file is kept.
    assert_eq!(
        config["native_host"]["allowed_origins"][0].as_str(),
        Some(ORIGIN),
        "{written}"
    );
    host.send(&json!({"id": 2, "route": "parameters.set", "payload": {"persist": "yes"}}));
    let bad = host.next();
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("persist"),
        "{bad}"
    );
    drop(host);

    // A host started on that table uses it for a chat that names no model.
    let mut again = start_with(
        &upstream,
        ORIGIN,
        "[native_host.parameters]\nmodel = \"M3\"\ntemperature = 0.2\n",
        |_| {},
    );
    again.send(&json!({"id": 3, "route": "parameters.get", "payload": {}}));
    assert_eq!(again.next()["result"]["model"], "M3");
    again.send(&json!({"id": 4, "route": "chat", "payload": {"message": "hi"}}));
    again.until_done(&json!(4));
    let sent = upstream.requests().last().unwrap().json();
    assert_eq!(sent["model"], "M3");
}

#[test]
fn embeddings_and_rerank_naming_a_provider_model_go_to_the_provider() {
    let upstream = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "200 OK",
        "",
        r#"{"data":[{"index":0,"embedding":[0.5,0.25]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2},"results":[{"index":0,"relevance_score":0.125},{"index":1,"relevance_score":0.75}]}"#,
    ))]]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": 1, "route": "embeddings",
        "payload": {"model": "text-embedding-3-small", "input": "hello"}}));
    let e = host.next();
    assert_eq!(
        e["result"]["data"][0]["embedding"],
        json!([0.5, 0.25]),
        "{e}"
    );
    assert_eq!(e["result"]["model"], "text-embedding-3-small");
    host.send(&json!({"id": 2, "route": "rerank",
        "payload": {"model": "jina-reranker-v2", "query": "q", "documents": ["a", "b"], "top_n": 1}}));
    let r = host.next();
    assert_eq!(
        r["result"]["results"],
        json!([{"index": 1, "relevance_score": 0.75}]),
        "{r}"
    );
    let sent = upstream.requests();
    let paths: Vec<&str> = sent.iter().map(|r| r.request_line.as_str()).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("POST /v1/embeddings")),
        "{paths:?}"
    );
    let rerank = sent
        .iter()
        .find(|r| r.request_line.starts_with("POST /v1/rerank"))
        .unwrap()
        .json();
    assert_eq!(rerank["model"], "jina-reranker-v2");
    assert_eq!(rerank["documents"], json!(["a", "b"]));
}

#[test]
fn models_load_and_unload_a_local_model() {
    // On another provider the routes say what they are for.
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let mut remote = start(&upstream, ORIGIN);
    remote.send(&json!({"id": 1, "route": "models.load", "payload": {"model": "x"}}));
    let refused = remote.next();
    assert_eq!(refused["error"]["code"], "bad_request", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("local")
    );
    drop(remote);

    let Ok(gguf) = std::env::var("RUSTBOT_TEST_GGUF") else {
        peer_missing("RUSTBOT_TEST_GGUF (eval \"$(../shared/tools/model-fixtures.sh)\")");
        return;
    };
    let gguf = std::path::PathBuf::from(gguf);
    let dir = gguf.parent().unwrap().to_str().unwrap().to_string();
    let stem = gguf.file_stem().unwrap().to_str().unwrap().to_string();
    let mut host = start_on(
        &["--provider", "local", "--model", &stem],
        ORIGIN,
        &format!("[local]\nmodels_dir = {dir:?}\nkeep_loaded_secs = 600\n"),
        |_| {},
    );
    host.send(&json!({"id": 1, "route": "models.load", "payload": {"model": stem}}));
    let loaded = host.next();
    assert_eq!(loaded["result"]["state"], "loaded", "{loaded}");
    let model = &loaded["result"]["model"];
    assert_eq!(model["model"], stem.as_str());
    assert_eq!(model["loaded"], true);
    assert!(
        model["file_bytes"].as_u64().unwrap() > 50_000_000,
        "{model}"
    );
    assert!(
        model["memory_bytes"].as_u64().unwrap() > 10_000_000,
        "{model}"
    );
    assert!(model["context_tokens"].as_u64().unwrap() >= 1024, "{model}");
    // Loading it again finds it in memory.
    host.send(&json!({"id": 2, "route": "models.load", "payload": {"model": stem}}));
    let again = host.next();
    assert_eq!(again["result"]["model"]["load_ms"], 0, "{again}");
    host.send(&json!({"id": 3, "route": "models.load", "payload": {"model": "no-such-model"}}));
    let missing = host.next();
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
    host.send(&json!({"id": 4, "route": "models.unload", "payload": {"model": stem}}));
    let unloaded = host.next();
    assert_eq!(unloaded["result"]["state"], "unloaded", "{unloaded}");
    assert_eq!(unloaded["result"]["was_loaded"], true);
    host.send(&json!({"id": 5, "route": "models.unload", "payload": {}}));
    assert_eq!(host.next()["result"]["was_loaded"], false);
    // A chat still works: the model is loaded again on demand.
    host.send(&json!({"id": 6, "route": "chat", "payload": {"message": "Hi", "max_tokens": 4}}));
    let frames = host.until_done(&json!(6));
    assert_eq!(frames.last().unwrap()["event"], "done", "{frames:?}");
}

/// `stats` counts the tokens a model spent reasoning (from the provider's usage) and the
/// answers that failed.
#[test]
fn stats_count_reasoning_tokens_and_failed_answers() {
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 20,
        "total_tokens": 29, "completion_tokens_details": {"reasoning_tokens": 15}}})
    .to_string();
    let mut answer = sse_head();
    answer.extend(sse_body(&[
        &openai_text("4"),
        &openai_finish("stop"),
        &usage,
        "[DONE]",
    ]));
    let upstream = ScriptedServer::start(vec![
        vec![Step::Bytes(answer)],
        vec![Step::Bytes(json_response(
            "400 Bad Request",
            "",
            r#"{"error":{"message":"this model does not exist"}}"#,
        ))],
    ]);
    let mut host = start(&upstream, ORIGIN);
    host.send(&json!({"id": 1, "route": "conversations.create", "payload": {}}));
    let conv = host.next()["result"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    host.send(
        &json!({"id": 2, "route": "chat", "payload": {"message": "2+2?", "conversation_id": conv}}),
    );
    assert_eq!(
        host.until_done(&json!(2)).last().unwrap()["status"],
        "complete"
    );
    host.send(&json!({"id": 3, "route": "chat", "payload": {"message": "again", "conversation_id": conv}}));
    let failed = host.until_done(&json!(3));
    assert_eq!(failed.last().unwrap()["status"], "failed", "{failed:?}");
    host.send(&json!({"id": 4, "route": "stats", "payload": {}}));
    let stats = host.next();
    for period in ["today", "month", "all_time"] {
        let p = &stats["result"][period];
        assert_eq!(p["reasoning_tokens"], 15, "{stats}");
        assert_eq!(p["completion_tokens"], 20, "{stats}");
        assert_eq!(p["errors"], 1, "{stats}");
    }
}
