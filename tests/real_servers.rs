//! Optional: `rustbot ask` against real OpenAI-compatible servers with a real small model, as
//! started by `../shared/tools/real-llm-server.sh` (llama.cpp's server on 127.0.0.1:8089,
//! llama-cpp-python on :8090). Skipped, with a message, when none is running (in CI, where
//! `.ci/run` starts llama-server, that fails the test); set
//! `RUSTBOT_REAL_LLM_URLS` (comma-separated base URLs) to point elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

fn reachable(base: &str) -> bool {
    let addr = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    addr.parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).ok())
        .is_some()
}

#[test]
fn ask_streams_from_real_servers() {
    let urls = std::env::var("RUSTBOT_REAL_LLM_URLS")
        .unwrap_or_else(|_| "http://127.0.0.1:8089/v1,http://127.0.0.1:8090/v1".into());
    let mut ran = 0;
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if !reachable(url) {
            eprintln!("no server at {url}");
            continue;
        }
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rustbot"))
            .current_dir(home.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("RUSTBOT_CONFIG", home.path().join("config.toml"))
            .env("RUSTBOT_DATA_DIR", home.path().join("data"))
            .args(["--provider", "custom", "--base-url", url])
            .args(["--model", "SmolLM2-135M-Instruct"])
            .args([
                "ask",
                "--events",
                "What is the capital of France? One word.",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let text: String = events
            .iter()
            .filter(|e| e["type"] == "text")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert!(!text.trim().is_empty(), "{url}: no text");
        let done = events.last().unwrap();
        assert_eq!(done["type"], "done");
        assert_eq!(done["status"], "complete");
        ran += 1;
    }
    eprintln!("real servers tried: {ran}");
    if ran == 0 {
        common::peer_missing(
            "no real LLM server is running (start one with ../shared/tools/real-llm-server.sh)",
        );
    }
}

/// `GET {base}/models` over a plain socket: the server's own view of its window.
fn served_window(base: &str) -> Option<u64> {
    let rest = base.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /{path}/models HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let body = reply.split_once("\r\n\r\n")?.1;
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["data"][0]["meta"]["n_ctx"].as_u64()
}

/// Issue 18's run: seven long follow-ups in one conversation against llama.cpp with a
/// 1,024-token window (`.ci/run` starts it with `CTX=1024`). Before compaction, every turn
/// from the third on failed with "exceeds the available context size".
#[test]
fn seven_long_follow_ups_in_a_1024_token_window_all_answer() {
    let url = std::env::var("RUSTBOT_SMALL_CTX_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8089/v1".into());
    if !reachable(&url) {
        common::peer_missing(&format!(
            "no llama-server at {url} (start one with CTX=1024 ../shared/tools/real-llm-server.sh)"
        ));
        return;
    }
    match served_window(&url) {
        Some(n) if n <= 1024 => {}
        other => {
            common::peer_missing(&format!(
                "the server at {url} has a window of {other:?} tokens, not 1024 (start it with CTX=1024)"
            ));
            return;
        }
    }
    let home = tempfile::tempdir().unwrap();
    let ask = |conversation: Option<&str>, prompt: &str| {
        let mut cmd = common::isolated_rustbot(home.path());
        cmd.args(["--provider", "custom", "--base-url", &url])
            .args(["--model", "SmolLM2-135M-Instruct", "ask", "--events"]);
        if let Some(id) = conversation {
            cmd.args(["--conversation", id]);
        }
        cmd.arg(prompt).stdin(Stdio::null()).output().unwrap()
    };
    let filler = "Consider the rivers, mountains, cities, harvests, roads and songs of this \
                  land, and how the people who live there talk about them at length. "
        .repeat(5);
    let mut conversation: Option<String> = None;
    let mut compactions = Vec::new();
    for turn in 1..=7 {
        let prompt = format!("Question {turn}: {filler} What is {turn} plus {turn}?");
        let out = ask(conversation.as_deref(), &prompt);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("turn {turn}: exit {:?}", out.status.code());
        assert_eq!(out.status.code(), Some(0), "turn {turn}: {stderr}");
        if conversation.is_none() {
            conversation = Some(common::conversation_id(&stderr));
        }
        let events: Vec<serde_json::Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        for e in events.iter().filter(|e| e["type"] == "compacted") {
            eprintln!("turn {turn}: compacted {e}");
            compactions.push(turn);
        }
        let done = events.iter().find(|e| e["type"] == "done").unwrap();
        assert_ne!(done["status"], "failed", "turn {turn}: {done}");
        assert!(
            !done["text"].as_str().unwrap_or_default().trim().is_empty(),
            "turn {turn}: no answer"
        );
    }
    assert!(!compactions.is_empty(), "seven long turns never compacted");
}

/// llama.cpp's server says which models take images (`capabilities`); SmolLM2 has no vision
/// projector, so an attached image is refused before anything is sent, with a sentence, even
/// on a first run with no cached model list.
#[test]
fn an_image_for_a_text_only_real_model_is_refused_before_sending() {
    let url = "http://127.0.0.1:8089/v1";
    if !reachable(url) {
        common::peer_missing("llama-server on 127.0.0.1:8089 (../shared/tools/real-llm-server.sh)");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let png = home.path().join("pic.png");
    let image = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
    image.save(&png).unwrap();
    let out = common::isolated_rustbot(home.path())
        .args(["--provider", "custom", "--base-url", url])
        .args(["--model", "SmolLM2-135M-Instruct"])
        .args(["ask", "--attach", &png.to_string_lossy(), "What is this?"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("this model does not take images"),
        "refused by us, not by the server's 500: {stderr}"
    );
}
