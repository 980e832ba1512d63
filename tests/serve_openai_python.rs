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
    // Whatever the provider is asked (models, embeddings, rerank) it answers this body, which
    // holds an embeddings answer and a rerank answer (a model list it is not).
    let upstream = ScriptedServer::start(vec![vec![Step::Bytes(common::json_response(
        "200 OK",
        "",
        r#"{"data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3},"results":[{"index":0,"relevance_score":0.2},{"index":1,"relevance_score":0.9}]}"#,
    ))]]);
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
r = c.embeddings.create(model="text-embedding-3-small", input="x")
print(len(r.data[0].embedding), r.model)
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let rerank = reqwest_rerank(base, "");
    let remote_rerank = reqwest_rerank(base, r#","model":"jina-reranker-v2""#);
    drop(serve);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 384 True True\nM\n404\n2 text-embedding-3-small"
    );
    assert_eq!(rerank, "1 0", "the paraphrase ranks first");
    // A model other than `local` goes to the provider's endpoints, as it was asked.
    assert_eq!(remote_rerank, "1 0");
    let sent = upstream.requests();
    let embed = sent
        .iter()
        .find(|r| r.request_line.starts_with("POST /v1/embeddings"))
        .expect("the embeddings request reached the provider")
        .json();
    assert_eq!(embed["model"], "text-embedding-3-small");
    assert_eq!(embed["input"], serde_json::json!(["x"]));
    let rerank = sent
        .iter()
        .find(|r| r.request_line.starts_with("POST /v1/rerank"))
        .expect("the rerank request reached the provider")
        .json();
    assert_eq!(rerank["model"], "jina-reranker-v2");
    assert_eq!(rerank["query"], "Where is the cat?");
    assert_eq!(
        sent.iter()
            .filter(|r| r.request_line.contains("/embeddings") || r.request_line.contains("/rerank"))
            .count(),
        2,
        "the local model's requests stay local"
    );
}

/// `POST /v1/rerank` with a plain socket (`extra`: more JSON fields, each after a comma): the
/// indexes of the two best documents.
fn reqwest_rerank(base: &str, extra: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let body = format!(
        r#"{{"query":"Where is the cat?","documents":["Taxes are due in April.","The cat is on the mat."],"top_n":2{extra}}}"#
    );
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
r = c.responses.create(model="M", input="Capital of France?", instructions="Be terse.")
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
    // Instructions are each response's own system prompt: the first response's are not
    // inherited by the continuation, which sends its own.
    let system_of = |i: usize| {
        let body = upstream.requests()[i].json();
        let first = &body["messages"][0];
        assert_eq!(first["role"], "system", "{body}");
        first["content"].as_str().unwrap_or_default().to_string()
    };
    assert!(system_of(0).starts_with("Be terse."), "{}", system_of(0));
    assert!(system_of(2).starts_with("One word."), "{}", system_of(2));
    assert!(!system_of(2).contains("Be terse."), "{}", system_of(2));
}
