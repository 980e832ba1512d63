//! Optional: `rustbot ask` against real OpenAI-compatible servers with a real small model, as
//! started by `../shared/tools/real-llm-server.sh` (llama.cpp's server on 127.0.0.1:8089,
//! llama-cpp-python on :8090). Skipped, with a message, when none is running (in CI, where
//! `.ci/run` starts llama-server, that fails the test); set
//! `RUSTBOT_REAL_LLM_URLS` (comma-separated base URLs) to point elsewhere.

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
