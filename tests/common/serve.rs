//! `rustbot serve` as a child process against a scripted upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::ScriptedServer;

/// A running `rustbot serve`; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub base: String,
    _home: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rustbot serve --listen 127.0.0.1:0` against `upstream`, with extra config text.
pub fn serve(upstream: &ScriptedServer, config: &str, env: &[(&str, &str)]) -> Serve {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rustbot"));
    cmd.current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("RUSTBOT_CONFIG", home.path().join("config.toml"))
        .env("RUSTBOT_DATA_DIR", home.path().join("data"))
        .envs(env.iter().copied())
        .args(["--provider", "custom", "--base-url", &upstream.base_url()])
        .args(["--model", "M", "serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Serve {
        child,
        base,
        _home: home,
    }
}
