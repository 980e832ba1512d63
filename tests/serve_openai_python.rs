//! The unmodified OpenAI Python library streams a chat from `rustbot serve`. Skipped (passes
//! with a note) when `python3` or its `openai` package is absent: `pip install openai`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

#[test]
fn the_openai_python_client_streams_a_chat() {
    let has_openai = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openai {
        common::peer_missing(
            "python3 with the `openai` package is not installed (pip install openai)",
        );
        return;
    }
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hel", "lo"], true)]);
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustbot"))
        .current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("RUSTBOT_CONFIG", home.path().join("config.toml"))
        .env("RUSTBOT_DATA_DIR", home.path().join("data"))
        .args(["--provider", "custom", "--base-url", &upstream.base_url()])
        .args(["--model", "M", "serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let script = format!(
        r#"
from openai import OpenAI
c = OpenAI(base_url="{base}/v1", api_key="x")
text, usage = "", None
for chunk in c.chat.completions.create(model="M", stream=True,
        stream_options={{"include_usage": True}},
        messages=[{{"role": "user", "content": "hi"}}]):
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage.total_tokens
whole = c.chat.completions.create(model="M", messages=[{{"role": "user", "content": "hi"}}])
print(text, usage, whole.choices[0].message.content, [m.id for m in c.models.list()][0])
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Hello 9 Hello M"
    );
}
