//! Knowledge bases (issue 21) through the `rustbot knowledge` commands and `ask --knowledge`:
//! a generated corpus with distractors where an exact question and a paraphrase sharing no
//! content word both find their file (real all-MiniLM-L6-v2 embeddings), incremental
//! re-indexing, removal, PDF and HTML, skipped files, and the passage reaching the model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rustbot(home: &Path, args: &[&str]) -> Output {
    isolated_rustbot(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn search(home: &Path, query: &str, top: &str) -> Vec<serde_json::Value> {
    let out = rustbot(
        home,
        &["knowledge", "search", query, "--top", top, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn paths(hits: &[serde_json::Value]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            Path::new(h["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

const SUBJECTS: &[&str] = &[
    "the harbour clerk",
    "a night watchman",
    "the orchestra",
    "our tax office",
    "the bakery",
    "a tram driver",
    "the museum guard",
    "the school board",
    "a lighthouse keeper",
    "the florist",
];
const ACTIONS: &[&str] = &[
    "holds the ledger with both hands",
    "files the annual report",
    "keeps the engine warm",
    "counts the deadline days",
    "stacks the crates by the door",
    "checks the property records",
    "sleeps through the morning shift",
    "repairs the broken clock",
    "sorts letters into bins",
    "paints the fence green",
];

/// Hundreds of small files sharing words with the questions, and the two that answer them.
fn corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..240 {
        let s = SUBJECTS[i % SUBJECTS.len()];
        let a = ACTIONS[(i * 7 + 3) % ACTIONS.len()];
        let b = ACTIONS[(i * 3 + 1) % ACTIONS.len()];
        std::fs::write(
            dir.join(format!("note-{i:03}.md")),
            format!("# Note {i}\n\nEvery week {s} {a}. Later {s} {b}, while sleeping colleagues hold hands for warmth in story {i}.\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("otters.md"),
        "# Sea otters\n\nSea otters hold hands while sleeping so that they do not drift apart. \
         They also wrap themselves in kelp to stay in place on the water.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("levy.md"),
        "# Property levy\n\nThe filing deadline for the annual property levy is the last \
         business day of March; paying late adds a two percent surcharge.\n",
    )
    .unwrap();
}

#[test]
fn an_exact_question_and_a_paraphrase_both_find_their_file() {
    let Ok(model) = std::env::var("RUSTBOT_TEST_EMBEDDING_MODEL") else {
        peer_missing(
            "RUSTBOT_TEST_EMBEDDING_MODEL (eval \"$(../shared/tools/model-fixtures.sh)\")",
        );
        return;
    };
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!("[local]\nembedding_model = {model:?}\n"),
    )
    .unwrap();
    let docs = home.path().join("docs");
    corpus(&docs);
    let out = rustbot(home.path(), &["knowledge", "add", docs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("242 indexed"),
        "{}",
        text(&out.stderr)
    );
    let cases = [
        ("Why do sea otters hold hands while sleeping?", "otters.md"),
        // No content word in common with the file.
        (
            "What keeps marine mammals from floating away from each other at night?",
            "otters.md",
        ),
        (
            "What is the filing deadline for the annual property levy?",
            "levy.md",
        ),
        (
            "By when must the yearly real-estate tax be submitted?",
            "levy.md",
        ),
    ];
    for (question, file) in cases {
        let hits = search(home.path(), question, "3");
        let found = paths(&hits);
        assert!(found.contains(&file.to_string()), "{question}: {found:?}");
        let hit = &hits[found.iter().position(|f| f == file).unwrap()];
        assert_eq!(hit["lines"], serde_json::json!([1, 3]), "{hit}");
        assert!(hit["score"].as_f64().unwrap() > 0.0);
        assert!(hit["text"].as_str().unwrap().contains("# "));
    }
    let list = rustbot(home.path(), &["knowledge", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["name"], "default");
    assert_eq!(list[0]["files"], 242);
    assert_eq!(list[0]["embedding_model"], model.as_str());
}

#[test]
fn changes_are_indexed_incrementally_and_removed_files_disappear() {
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    corpus(&docs);
    let add = |args: &[&str]| {
        let out = rustbot(home.path(), args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let first = add(&["knowledge", "add", docs.to_str().unwrap(), "--kb", "notes"]);
    assert!(first.contains("242 indexed"), "{first}");
    assert!(
        first.contains("keyword search only"),
        "said without a model: {first}"
    );

    std::fs::write(
        docs.join("levy.md"),
        "# Property levy\n\nThe deadline moved to the first Friday of April.\n",
    )
    .unwrap();
    std::fs::remove_file(docs.join("otters.md")).unwrap();
    let second = add(&["knowledge", "reindex", "--kb", "notes"]);
    assert!(
        second.contains("1 indexed (1 chunks), 240 unchanged, 1 removed"),
        "{second}"
    );
    let hits = search(home.path(), "first Friday of April", "3");
    assert_eq!(paths(&hits)[0], "levy.md");
    assert!(search(home.path(), "otters kelp", "3").is_empty());

    // Removing the folder empties the base; removing the base removes it.
    add(&["knowledge", "rm", docs.to_str().unwrap(), "--kb", "notes"]);
    assert!(search(home.path(), "levy", "3").is_empty());
    add(&["knowledge", "rm", "--kb", "notes"]);
    let out = rustbot(home.path(), &["knowledge", "search", "x", "--kb", "notes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("there is no knowledge base 'notes'"));
}

#[test]
fn pdf_html_and_gitignore_are_honoured_and_other_files_skipped_with_a_reason() {
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    std::fs::create_dir_all(docs.join("build")).unwrap();
    std::fs::write(
        docs.join("manual.pdf"),
        tiny_pdf("Calibrate the spectrometer weekly"),
    )
    .unwrap();
    std::fs::write(
        docs.join("page.html"),
        "<html><body><h1>Warranty</h1><p>The warranty covers gearbox repairs.</p></body></html>",
    )
    .unwrap();
    std::fs::write(docs.join("photo.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    std::fs::write(docs.join(".gitignore"), "build/\n").unwrap();
    std::fs::write(docs.join("build/out.txt"), "gearbox spectrometer").unwrap();
    let out = rustbot(home.path(), &["knowledge", "add", docs.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("2 indexed"), "{stderr}");
    assert!(
        stderr.contains("photo.png: unsupported kind (.png)"),
        "{stderr}"
    );
    assert_eq!(
        paths(&search(home.path(), "spectrometer", "5")),
        ["manual.pdf"]
    );
    assert_eq!(
        paths(&search(home.path(), "gearbox warranty", "5")),
        ["page.html"]
    );
}

#[test]
fn ask_with_knowledge_sends_the_passage_and_its_source() {
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    corpus(&docs);
    rustbot(
        home.path(),
        &["knowledge", "add", docs.to_str().unwrap(), "--kb", "notes"],
    );
    let server = ScriptedServer::start(vec![openai_answer(
        &["The last business day of March [1]."],
        false,
    )]);
    let out = isolated_rustbot(home.path())
        .args([
            "--provider",
            "custom",
            "--base-url",
            &server.base_url(),
            "--model",
            "m",
        ])
        .args([
            "ask",
            "--knowledge",
            "notes",
            "When is the property levy filing deadline?",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent = server.requests()[0].json()["messages"].to_string();
    assert!(sent.contains("last business day of March"), "{sent}");
    assert!(sent.contains("levy.md (lines 1–3)"), "{sent}");
    assert!(sent.contains("knowledge base 'notes'"), "{sent}");

    let out = isolated_rustbot(home.path())
        .args([
            "--provider",
            "custom",
            "--base-url",
            &server.base_url(),
            "--model",
            "m",
        ])
        .args(["ask", "--knowledge", "nope", "hi"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("there is no knowledge base 'nope'"));
    assert_eq!(server.requests().len(), 1, "nothing sent");
}

#[test]
fn the_model_searches_the_knowledge_base_itself_with_the_tool() {
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    corpus(&docs);
    rustbot(home.path(), &["knowledge", "add", docs.to_str().unwrap()]);
    let call = serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"k1","type":"function","function":{"name":"search_knowledge","arguments":"{\"query\":\"property levy filing deadline\"}"}}]},"finish_reason":null}]}).to_string();
    let server = ScriptedServer::start(vec![
        vec![
            Step::Bytes(sse_head()),
            Step::Bytes(sse_body(&[&call, &openai_finish("tool_calls"), "[DONE]"])),
        ],
        openai_answer(&["March [1]."], false),
    ]);
    let out = isolated_rustbot(home.path())
        .args([
            "--provider",
            "custom",
            "--base-url",
            &server.base_url(),
            "--model",
            "m",
        ])
        .args([
            "ask",
            "--tools",
            "search_knowledge",
            "When is the levy due?",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "March [1].");
    let first = server.requests()[0].json();
    assert!(first["tools"].to_string().contains("search_knowledge"));
    let second = server.requests()[1].json()["messages"].to_string();
    assert!(second.contains("last business day of March"), "{second}");
    assert!(second.contains("levy.md (lines 1–3)"), "{second}");
}

#[test]
fn an_agent_with_knowledge_sends_passages_with_each_question_and_says_so() {
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    corpus(&docs);
    rustbot(
        home.path(),
        &["knowledge", "add", docs.to_str().unwrap(), "--kb", "notes"],
    );
    std::fs::create_dir_all(home.path().join("agents")).unwrap();
    std::fs::write(
        home.path().join("agents/librarian.md"),
        "---\nname: librarian\ndescription: Answers from the notes\nknowledge: [notes]\n---\n\nAnswer from the passages and cite them.\n",
    )
    .unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["March [1]."], false)]);
    let out = isolated_rustbot(home.path())
        .args([
            "--provider",
            "custom",
            "--base-url",
            &server.base_url(),
            "--model",
            "m",
        ])
        .args([
            "ask",
            "--agent",
            "librarian",
            "--events",
            "When is the property levy due?",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = server.requests()[0].json();
    let system = body["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(system.starts_with("Answer from the passages"), "{system}");
    assert!(system.contains("last business day of March"), "{system}");
    assert!(system.contains("levy.md (lines 1–3)"), "{system}");
    // The stored question stays as the user wrote it.
    assert_eq!(
        body["messages"][1]["content"],
        "When is the property levy due?"
    );
    let retrieval: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "retrieval")
        .collect();
    assert_eq!(retrieval.len(), 1, "{}", text(&out.stdout));
    assert_eq!(retrieval[0]["bases"], serde_json::json!(["notes"]));
    assert!(
        retrieval[0]["passages"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("levy.md")
    );
}

#[test]
fn a_watched_folder_follows_its_files_in_the_background() {
    use rustbot::knowledge::{KnowledgeDb, KnowledgeWatcher, Retriever, index_path, search};
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    corpus(&docs);
    let data = home.path().join("data");
    let mut db = KnowledgeDb::open(&data).unwrap();
    db.set_base("notes", "none").unwrap();
    index_path(&mut db, "notes", &docs, 300, None, &mut |_| {}).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let watcher =
        KnowledgeWatcher::start(&data, Retriever::new(data.clone(), None), 300, move |u| {
            let _ = tx.send(u);
        })
        .unwrap();
    assert_eq!(watcher.watched.len(), 1);
    let bases = ["notes".to_string()];

    std::fs::write(
        docs.join("comet.md"),
        "# Comets\n\nA comet's tail points away from the sun.\n",
    )
    .unwrap();
    let update = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a re-index within 20 s");
    assert_eq!(update.base, "notes");
    assert_eq!(update.outcome, Ok((1, 0, 0)), "only the new file is read");
    let hits = search(&db, &bases, "comet tail", 3, None, None).unwrap();
    assert!(hits[0].path.ends_with("comet.md"), "{hits:?}");

    std::fs::remove_file(docs.join("comet.md")).unwrap();
    let update = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a re-index within 20 s");
    assert_eq!(update.outcome, Ok((0, 1, 0)));
    assert!(
        search(&db, &bases, "comet tail", 3, None, None)
            .unwrap()
            .is_empty()
    );
}

/// A long-lived retriever (serve, the native host, the app) keeps the vectors in memory; a
/// change to the base, even one that reuses the row ids of the chunks it replaced, is seen by
/// the next search.
#[test]
fn a_kept_retriever_sees_changes_to_the_base() {
    use rustbot::knowledge::{KnowledgeDb, Retriever, index_path};
    let Ok(model) = std::env::var("RUSTBOT_TEST_EMBEDDING_MODEL") else {
        peer_missing(
            "RUSTBOT_TEST_EMBEDDING_MODEL (eval \"$(../shared/tools/model-fixtures.sh)\")",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, docs) = (dir.path().join("data"), dir.path().join("docs"));
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("a.md"), "Otters hold hands while they sleep.\n").unwrap();
    std::fs::write(docs.join("z.md"), "The tide tables for the harbour.\n").unwrap();
    let retriever = Retriever::new(data.clone(), Some(model.into()));
    let embedder = retriever.loaded_embedder().unwrap().unwrap();
    let mut db = KnowledgeDb::open(&data).unwrap();
    db.set_base("notes", &embedder.name()).unwrap();
    index_path(&mut db, "notes", &docs, 300, Some(&embedder), &mut |_| {}).unwrap();
    let bases = ["notes".to_string()];
    let best = |q: &str| retriever.retrieve(&bases, q, 1).unwrap()[0].text.clone();
    assert!(best("Which animals sleep holding paws?").contains("Otters"));
    let before = retriever.vectors(&db).unwrap();
    assert_eq!(before.len(), 2);
    // The last file replaced: its new chunk takes the row id the old one had.
    std::fs::write(
        docs.join("z.md"),
        "Volcanoes erupt molten rock called lava.\n",
    )
    .unwrap();
    index_path(&mut db, "notes", &docs, 300, Some(&embedder), &mut |_| {}).unwrap();
    assert!(
        best("What comes out of a mountain that explodes?").contains("Volcanoes"),
        "the replaced file's new text is found"
    );
    let after = retriever.vectors(&db).unwrap();
    assert_ne!(before.generation, after.generation);
    assert_eq!(after.len(), 2);
    // Unchanged, the same copy serves the next search.
    assert!(std::sync::Arc::ptr_eq(
        &after,
        &retriever.vectors(&db).unwrap()
    ));
}

/// An embeddings server for the provider test: each text's vector counts its words hashed
/// into 64 buckets (so texts sharing words are close), with the requests it got.
fn bag_of_words_server() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut length, mut first) = (String::new(), 0usize, String::new());
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if first.is_empty() {
                    first = line.clone();
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let reply = if first.starts_with("POST /v1/embeddings") {
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let data: Vec<serde_json::Value> = req["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let mut v = vec![0.0f32; 64];
                        for w in t.as_str().unwrap().split(|c: char| !c.is_alphanumeric()) {
                            if w.len() > 3 {
                                let h = w.to_lowercase().bytes().fold(7u32, |h, b| {
                                    h.wrapping_mul(31).wrapping_add(u32::from(b))
                                });
                                v[(h % 64) as usize] += 2.0; // not unit length on purpose
                            }
                        }
                        serde_json::json!({"index": i, "embedding": v})
                    })
                    .collect();
                log.lock().unwrap().push(req);
                serde_json::json!({"data": data, "model": "bow-64", "usage": {"prompt_tokens": 1, "total_tokens": 1}}).to_string()
            } else {
                r#"{"data":[]}"#.to_string()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (base, seen)
}

/// `[knowledge] embeddings = "provider"`: the provider's /v1/embeddings makes the vectors,
/// the base records the provider's model, and searches embed the question the same way.
#[test]
fn a_base_can_take_its_vectors_from_the_provider() {
    let (base_url, seen) = bag_of_words_server();
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("otters.md"),
        "# Otters\n\nSea otters float on their backs.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("taxes.md"),
        "# Taxes\n\nQuarterly filings are due in April.\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "provider = \"custom\"\nbase_url = \"{base_url}\"\nmodel = \"chat-model\"\n[knowledge]\nembeddings = \"provider\"\nembedding_model = \"bow-64\"\n"
        ),
    )
    .unwrap();
    let add = rustbot(home.path(), &["knowledge", "add", docs.to_str().unwrap()]);
    assert_eq!(add.status.code(), Some(0), "{}", text(&add.stderr));
    let list = rustbot(home.path(), &["knowledge", "list"]);
    assert!(
        text(&list.stdout).contains("embeddings: custom:bow-64"),
        "{}",
        text(&list.stdout)
    );
    let hits = search(home.path(), "backs floating otters", "1");
    assert_eq!(paths(&hits), ["otters.md"], "{hits:?}");
    let requests = seen.lock().unwrap();
    assert!(
        requests.len() >= 2,
        "indexing and the question: {requests:?}"
    );
    assert!(requests.iter().all(|r| r["model"] == "bow-64"));
    assert!(
        requests
            .iter()
            .any(|r| r["input"][0] == "backs floating otters"),
        "the question was embedded by the provider"
    );
}
