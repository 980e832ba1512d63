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
whole = c.chat.completions.create(model="M", messages=[{{"role": "user", "content": "hi"}}],
        temperature=0.3, top_p=0.5, seed=5, stop=["END"], max_tokens=50)
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
    // The client's sampling goes with its request, and only with it.
    let second = upstream.requests()[1].json();
    assert_eq!(second["temperature"], 0.3);
    assert_eq!(second["top_p"], 0.5);
    assert_eq!(second["seed"], 5);
    assert_eq!(second["stop"], serde_json::json!(["END"]));
    assert_eq!(second["max_tokens"], 50);
    assert!(upstream.requests()[0].json().get("seed").is_none());
}

/// `embeddings.create` and `models.retrieve` from the unmodified client: the local model's
/// vectors put two paraphrases closer than unrelated text; an unknown model is a 404.
#[test]
fn the_openai_python_client_embeds_and_retrieves_a_model() {
    let has_openai = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    let Ok(model) = std::env::var("RUSTBOT_TEST_EMBEDDING_MODEL") else {
        common::peer_missing(
            "RUSTBOT_TEST_EMBEDDING_MODEL (eval \"$(../shared/tools/model-fixtures.sh)\")",
        );
        return;
    };
    if !has_openai {
        common::peer_missing(
            "python3 with the `openai` package is not installed (pip install openai)",
        );
        return;
    }
    let upstream = ScriptedServer::start(vec![openai_answer(&["x"], false)]);
    let serve = common::serve::serve(
        &upstream,
        &format!("[local]\nembedding_model = {model:?}\n"),
        &[],
    );
    let base = &serve.base;
    let script = format!(
        r#"
import openai
from openai import OpenAI
c = OpenAI(base_url="{base}/v1", api_key="x")
r = c.embeddings.create(model="local", input=[
    "The cat sat on the mat.",
    "A kitten was sitting on the rug.",
    "Quarterly tax filings are due in April.",
])
v = [d.embedding for d in r.data]
dot = lambda a, b: sum(x * y for x, y in zip(a, b))
print(len(v), len(v[0]), dot(v[0], v[1]) > dot(v[0], v[2]) + 0.2, r.usage.total_tokens > 0)
print(c.models.retrieve("M").id)
try:
    c.models.retrieve("nope")
    print("found")
except openai.NotFoundError:
    print("404")
try:
    c.embeddings.create(model="text-embedding-3-small", input="x")
    print("ok")
except openai.BadRequestError:
    print("400")
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let rerank = reqwest_rerank(base);
    drop(serve);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 384 True True\nM\n404\n400"
    );
    assert_eq!(rerank, "1 0", "the paraphrase ranks first");
}

/// `POST /v1/rerank` with a plain socket: the indexes of the two best documents.
fn reqwest_rerank(base: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let body = r#"{"query":"Where is the cat?","documents":["Taxes are due in April.","The cat is on the mat."],"top_n":2}"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/rerank HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(reply.split_once("\r\n\r\n").unwrap().1).unwrap();
    let results = json["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| r["index"].to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `responses.create` from the unmodified client: plain, with `stream=True` (the SDK parses
/// the events), and continued with `previous_response_id` (the stored history is sent).
#[test]
fn the_openai_python_client_uses_the_responses_api() {
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
    let upstream = ScriptedServer::start(vec![
        openai_answer(&["Par", "is"], false),
        openai_answer(&["Ma", "drid"], false),
        openai_answer(&["Rome"], false),
        openai_answer(&["Hi", "!"], false),
        openai_answer(&["Hello", " again"], false),
    ]);
    let serve = common::serve::serve(&upstream, "", &[]);
    let base = &serve.base;
    let script = format!(
        r#"
from openai import OpenAI
c = OpenAI(base_url="{base}/v1", api_key="x")
r = c.responses.create(model="M", input="Capital of France?")
print(r.output_text, r.status, r.usage.total_tokens > 0)
kinds, text = [], ""
for event in c.responses.create(model="M", input="Capital of Spain?", stream=True):
    kinds.append(event.type)
    if event.type == "response.output_text.delta":
        text += event.delta
print(text, kinds[0], kinds[-1])
follow = c.responses.create(model="M", input="And Italy?", previous_response_id=r.id,
                            instructions="One word.")
print(follow.output_text)
print(c.completions.create(model="M", prompt="Say hi").choices[0].text)
print("".join(ch.choices[0].text for ch in c.completions.create(model="M", prompt="Again", stream=True)))
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
        "Paris completed True\nMadrid response.created response.completed\nRome\nHi!\nHello again"
    );
    // The continuation sent the first exchange from the store.
    let third = upstream.requests()[2].json()["messages"].to_string();
    assert!(
        third.contains("Capital of France?") && third.contains("Paris"),
        "{third}"
    );
    assert!(!third.contains("Capital of Spain?"), "{third}");
}
