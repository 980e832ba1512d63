//! The unmodified OpenAI Python library streams a chat from `rustbot serve`. When `python3` or
//! its `openai` package is absent (`pip install openai`) it is skipped with a note, and fails
//! in CI, which installs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Command;

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
    let serve = common::serve::serve(&upstream, "", &[]);
    let base = &serve.base;
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
    drop(serve);
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
