//! The `local` provider against real small models (SmolLM2-135M-Instruct Q4_1 GGUF and
//! all-MiniLM-L6-v2), compared with fixtures captured once from llama.cpp's llama-server and a
//! reference BERT implementation. The models come from `.ci/run` (shared/tools/model-fixtures.sh);
//! without them these tests fail with a message saying how to get them, never pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use futures::StreamExt;
use rustbot::llm::{ChatMessage, ChatRequest, FinishReason, Provider, StreamEvent};
use rustbot::local::generate::{GenParams, generate};
use rustbot::local::model::LoadedModel;
use rustbot::local::template::TemplateMessage;
use rustbot::local::{LocalProvider, LocalSettings};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

#[path = "common/fixtures.rs"]
mod fixtures;
use fixtures::{env_path, gguf};

/// What llama-server said for one multi-turn history (tests/fixtures/local/README.md).
#[derive(Deserialize)]
struct LlamaCpp {
    messages: Vec<Msg>,
    rendered: String,
    prompt_tokens: Vec<u32>,
    greedy_tokens: Vec<u32>,
}

#[derive(Deserialize)]
struct Msg {
    role: String,
    content: String,
}

fn llama_cpp() -> LlamaCpp {
    serde_json::from_str(include_str!("fixtures/local/smollm2_llamacpp.json")).unwrap()
}

fn template_messages(f: &LlamaCpp) -> Vec<TemplateMessage> {
    f.messages
        .iter()
        .map(|m| TemplateMessage::new(&m.role, &m.content))
        .collect()
}

#[test]
fn the_chat_template_renders_as_llama_cpp_renders_it() {
    let f = llama_cpp();
    let model = LoadedModel::load(&gguf(), None).unwrap();
    assert!(model.template.is_model_template);
    assert_eq!(model.template.render(&template_messages(&f)), f.rendered);
}

#[test]
fn the_prompt_tokenizes_as_llama_cpp_tokenizes_it() {
    let f = llama_cpp();
    let model = LoadedModel::load(&gguf(), None).unwrap();
    assert_eq!(
        model.tokenizer.encode_prompt(&f.rendered).unwrap(),
        f.prompt_tokens
    );
}

#[test]
fn greedy_tokens_match_llama_cpp() {
    let f = llama_cpp();
    let mut model = LoadedModel::load(&gguf(), None).unwrap();
    let params = GenParams {
        temperature: 0.0,
        top_p: None,
        seed: 1,
        max_tokens: 8,
    };
    let mut ids = Vec::new();
    let out = generate(&mut model, &f.prompt_tokens, params, &|| false, |id, _| {
        if id != u32::MAX {
            ids.push(id);
        }
        true
    })
    .unwrap();
    let n = ids.len().min(8);
    assert_eq!(ids[..n], f.greedy_tokens[..n], "first {n} greedy tokens");
    assert!(out.completion_tokens > 0);

    // Fed llama.cpp's own tokens, the top-1 at every position agrees. The fixture was taken
    // with `ignore_eos` (16 tokens past the answer's end), so end-of-turn tokens are left out
    // of the arg-max here as llama.cpp left them out.
    const PAST_END_TIE_LOGITS: f32 = 1.0;
    let mut past_end = false;
    model.clear_cache();
    let stops = model.tokenizer.stop_ids.clone();
    let mut logits = model.forward(&f.prompt_tokens).unwrap();
    for (i, &expected) in f.greedy_tokens.iter().enumerate() {
        let v = logits.to_vec1::<f32>().unwrap();
        let top = (0..v.len() as u32)
            .filter(|t| !stops.contains(t))
            .max_by(|a, b| v[*a as usize].total_cmp(&v[*b as usize]))
            .unwrap();
        let gap = v[top as usize] - v[expected as usize];
        past_end |= stops.contains(&logits.argmax(0).unwrap().to_scalar::<u32>().unwrap());
        if past_end {
            // Past the model's own end of answer the tail is flat: a near tie may go either way.
            assert!(
                gap <= PAST_END_TIE_LOGITS,
                "position {i}: llama.cpp's {expected} is {gap} below {top}"
            );
        } else {
            assert_eq!(top, expected, "top-1 at generated position {i}");
        }
        logits = model.forward(&[expected]).unwrap();
    }
}

/// A prompt chunk runs as one f32 GEMM per weight matrix, a single token as quantized dot
/// products (src/local/llama.rs): both must give the same next token and nearly the same
/// logits (the quantized path also rounds the activations to 8 bits).
#[test]
fn a_prompt_in_one_chunk_and_token_by_token_give_the_same_logits() {
    let f = llama_cpp();
    let mut model = LoadedModel::load(&gguf(), None).unwrap();
    let prompt = &f.prompt_tokens;
    assert!(
        prompt.len() >= 16,
        "the fixture's prompt is long enough for the GEMM path"
    );
    let chunk: Vec<f32> = model.forward(prompt).unwrap().to_vec1().unwrap();
    model.clear_cache();
    let mut logits = None;
    for &t in prompt {
        logits = Some(model.forward(&[t]).unwrap());
    }
    let single: Vec<f32> = logits.unwrap().to_vec1().unwrap();
    let argmax = |v: &[f32]| (0..v.len()).max_by(|a, b| v[*a].total_cmp(&v[*b])).unwrap();
    assert_eq!(argmax(&chunk), argmax(&single));
    let spread = chunk.iter().fold(f32::MIN, |m, v| m.max(*v))
        - chunk.iter().fold(f32::MAX, |m, v| m.min(*v));
    let worst = chunk
        .iter()
        .zip(&single)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("chunk vs token by token: largest difference {worst}, spread {spread}");
    assert!(
        worst < spread * 0.05,
        "largest difference {worst} against a spread of {spread}"
    );
}

/// A prompt runs in chunks of hundreds of tokens, and Stop is asked between the model's
/// blocks: it lands long before the chunk would end, and the half-filled cache is dropped.
#[test]
fn stop_while_reading_a_long_prompt_lands_within_a_block() {
    let mut model = LoadedModel::load(&gguf(), None).unwrap();
    let sentence = "The quick brown fox jumps over the lazy dog by the old mill. ";
    let prompt = model.tokenizer.encode_prompt(&sentence.repeat(40)).unwrap();
    assert!(prompt.len() >= 500, "{} tokens", prompt.len());
    let started = Instant::now();
    let asked = std::cell::Cell::new(0u32);
    // Stop on the fourth question: a few blocks into the first chunk.
    let cancelled = || {
        asked.set(asked.get() + 1);
        asked.get() > 3
    };
    let params = GenParams {
        temperature: 0.0,
        top_p: None,
        seed: 1,
        max_tokens: 4,
    };
    let out = generate(&mut model, &prompt, params, &cancelled, |_, _| true).unwrap();
    assert_eq!(out.stop, rustbot::local::generate::StopReason::Cancelled);
    assert_eq!(out.completion_tokens, 0);
    eprintln!(
        "stopped after {:?} and {} questions",
        started.elapsed(),
        asked.get()
    );
    // Nothing half-run stays cached: the same prompt is read again from the start.
    assert_eq!(model.reusable_prefix(&prompt), 0);
    let whole = model.forward(&prompt[..600.min(prompt.len() - 1)]).unwrap();
    assert_eq!(whole.dims().len(), 1);
}

#[test]
fn a_follow_up_turn_reuses_the_cached_prefix() {
    let f = llama_cpp();
    let mut model = LoadedModel::load(&gguf(), None).unwrap();
    let params = GenParams {
        temperature: 0.0,
        top_p: None,
        seed: 1,
        max_tokens: 4,
    };
    let first = generate(&mut model, &f.prompt_tokens, params, &|| false, |_, _| true).unwrap();
    assert_eq!(first.reused_tokens, 0);
    let mut longer = f.prompt_tokens.clone();
    longer.extend_from_slice(&f.greedy_tokens[..3]);
    longer.push(2);
    let second = generate(&mut model, &longer, params, &|| false, |_, _| true).unwrap();
    assert_eq!(second.reused_tokens, f.prompt_tokens.len() + 3);
}

#[test]
fn a_regenerated_turn_reuses_the_shared_part_and_answers_as_from_scratch() {
    let f = llama_cpp();
    let mut model = LoadedModel::load(&gguf(), None).unwrap();
    let greedy = |max_tokens| GenParams {
        temperature: 0.0,
        top_p: None,
        seed: 1,
        max_tokens,
    };
    generate(
        &mut model,
        &f.prompt_tokens,
        greedy(4),
        &|| false,
        |_, _| true,
    )
    .unwrap();
    // The same conversation with its last 5 tokens replaced (an edited or regenerated turn):
    // the cache is cut back to what the two share.
    let keep = f.prompt_tokens.len() - 5;
    let mut edited = f.prompt_tokens[..keep].to_vec();
    edited.extend_from_slice(&f.greedy_tokens[..6]);
    let mut tokens = Vec::new();
    let out = generate(&mut model, &edited, greedy(8), &|| false, |t, _| {
        tokens.push(t);
        true
    })
    .unwrap();
    assert_eq!(out.reused_tokens, keep);
    let mut fresh = LoadedModel::load(&gguf(), None).unwrap();
    let mut want = Vec::new();
    generate(&mut fresh, &edited, greedy(8), &|| false, |t, _| {
        want.push(t);
        true
    })
    .unwrap();
    assert_eq!(tokens, want);
    let again = fresh
        .forward(&[tokens[0]])
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let cut = model.forward(&[tokens[0]]);
    // Both caches now hold the same positions: the next logits agree too, within what the
    // two prompt paths differ by (the cut cache read the 6 new tokens one by one with the
    // quantized product, the fresh one all at once in f32; 0.53 at most elsewhere).
    let cut = cut.unwrap().to_vec1::<f32>().unwrap();
    let worst = again
        .iter()
        .zip(&cut)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1.0, "logits differ by {worst}");
    let top = |l: &[f32]| (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b]));
    assert_eq!(top(&again), top(&cut));
}

fn provider(dir: &Path) -> Arc<dyn Provider> {
    Arc::new(LocalProvider::new(LocalSettings {
        models_dir: Some(dir.to_path_buf()),
        threads: Some(2),
        ..Default::default()
    }))
}

fn request(model: &str, prompt: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: model.to_string(),
        system: Some("You are brief.".into()),
        messages: vec![ChatMessage::user(prompt)],
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_streams_text_usage_and_finished() {
    let model = gguf();
    let dir = model.parent().unwrap().to_path_buf();
    let p = provider(&dir);
    let listed = p.models().await.unwrap();
    let stem = model.file_stem().unwrap().to_string_lossy().to_string();
    assert!(listed.iter().any(|m| m.id == stem), "{listed:?}");
    let mut s = p
        .stream(
            request(&stem, "What is the capital of France?", 24),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    let (mut text, mut usage, mut finished) = (String::new(), None, None);
    while let Some(ev) = s.next().await {
        match ev.unwrap() {
            StreamEvent::TextDelta(t) => text.push_str(&t),
            StreamEvent::Usage(u) => usage = Some(u),
            StreamEvent::Finished(r) => finished = Some(r),
            _ => {}
        }
    }
    assert!(!text.trim().is_empty());
    let usage = usage.expect("usage");
    assert!(usage.prompt_tokens > 10 && usage.completion_tokens > 0);
    assert_eq!(usage.cost_usd, Some(0.0));
    assert!(finished.is_some());
}

/// Streams a request to the end: the text and the finish reason.
async fn collect(p: &Arc<dyn Provider>, req: ChatRequest) -> (String, Option<FinishReason>) {
    let mut s = p.stream(req, CancellationToken::new()).await.unwrap();
    let (mut text, mut finished) = (String::new(), None);
    while let Some(ev) = s.next().await {
        match ev.unwrap() {
            StreamEvent::TextDelta(t) => text.push_str(&t),
            StreamEvent::Finished(r) => finished = Some(r),
            _ => {}
        }
    }
    (text, finished)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_text_ends_the_answer_before_it() {
    let model = gguf();
    let p = provider(model.parent().unwrap());
    let name = model.to_str().unwrap();
    let prompt = "Name three colours, one word each.";
    // Asked twice: the first run reads the whole prompt in one chunk, each later run reuses
    // the cached prompt and reads only its last token, one token at a time. The two ways round
    // differ in the last bits of the logits (as llama.cpp's do with `cache_prompt`), which can
    // turn a near tie of a greedy answer; the stopped run below goes the second way.
    collect(&p, request(name, prompt, 40)).await;
    let (whole, _) = collect(&p, request(name, prompt, 40)).await;
    // A stop text from the middle of the greedy answer, several characters long so that it
    // spans tokens.
    let words: Vec<&str> = whole.split_whitespace().collect();
    assert!(words.len() >= 3, "answer too short to cut: {whole:?}");
    let stop = words[words.len() / 2].to_string();
    let at = whole.find(&stop).unwrap();
    let mut req = request(name, prompt, 40);
    req.stop = vec![stop.clone()];
    let (cut, finished) = collect(&p, req).await;
    assert_eq!(cut, whole[..at], "stop {stop:?} in {whole:?}");
    assert_eq!(finished, Some(FinishReason::Stop));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_generation_ends_the_stream_quickly() {
    let model = gguf();
    let p = provider(model.parent().unwrap());
    let cancel = CancellationToken::new();
    let mut req = request(
        model.to_str().unwrap(),
        "Count from 1 to 500, one per line.",
        400,
    );
    req.temperature = Some(0.8);
    let mut s = p.stream(req, cancel.clone()).await.unwrap();
    let mut deltas = 0;
    while let Some(ev) = s.next().await {
        if let Ok(StreamEvent::TextDelta(_)) = ev {
            deltas += 1;
            if deltas == 3 {
                break;
            }
        }
    }
    assert_eq!(deltas, 3);
    let stopped = Instant::now();
    cancel.cancel();
    while s.next().await.is_some() {}
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_millis(250),
        "the stream ended {took:?} after Stop"
    );
    eprintln!("stream ended {took:?} after Stop");
}

#[tokio::test]
async fn a_garbage_or_unsupported_file_gets_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.gguf"), b"<html>404 Not Found</html>").unwrap();
    let p = provider(dir.path());
    let err = p
        .stream(request("junk", "hi", 4), CancellationToken::new())
        .await
        .err()
        .expect("an error")
        .to_string();
    assert!(err.contains("is not a GGUF model file"), "{err}");
    let err = p
        .stream(request("missing", "hi", 4), CancellationToken::new())
        .await
        .err()
        .expect("an error")
        .to_string();
    assert!(err.contains("no local model `missing`"), "{err}");
}

fn rustbot(data: &Path) -> Command {
    let mut c = Command::cargo_bin("rustbot").unwrap();
    c.env_remove("RUSTBOT_PROVIDER")
        .env_remove("RUSTBOT_MODEL")
        .env_remove("RUSTBOT_BASE_URL")
        .env("RUSTBOT_CONFIG", data.join("config.toml"))
        .env("RUSTBOT_DATA_DIR", data);
    c
}

#[test]
fn ask_answers_with_a_local_model_and_reports_tok_per_sec() {
    let data = tempfile::tempdir().unwrap();
    let out = rustbot(data.path())
        .args(["ask", "--provider", "local", "--model"])
        .arg(gguf())
        .arg("Say hello in one short sentence.")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stdout.trim().is_empty(), "stderr: {stderr}");
    assert!(stderr.contains("tok/s"), "stderr: {stderr}");
}

#[test]
fn ask_works_without_any_network() {
    // `unshare -rn`: a user namespace with a network namespace that has no interfaces.
    let probe = std::process::Command::new("unshare")
        .args(["-rn", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("unshare -rn is not permitted here; the no-network case is not checked");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("rustbot");
    let out = std::process::Command::new("unshare")
        .arg("-rn")
        .arg(bin)
        .args(["ask", "--provider", "local", "--model"])
        .arg(gguf())
        .arg("Say hi.")
        .env("RUSTBOT_CONFIG", data.path().join("config.toml"))
        .env("RUSTBOT_DATA_DIR", data.path())
        .env_remove("RUSTBOT_PROVIDER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "{stderr}"
    );
}

/// A small but valid GGUF (header only, padded) to download.
fn tiny_gguf() -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    let key = "general.architecture";
    b.extend((key.len() as u64).to_le_bytes());
    b.extend(key.as_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend(5u64.to_le_bytes());
    b.extend(b"llama");
    b.resize(200_000, 7);
    b
}

/// How the test server answers one request.
#[derive(Clone, Copy)]
enum Serve {
    /// Sends headers for the whole file but only half of it, then hangs up (first request);
    /// honours Range afterwards.
    CutThenResume,
    /// 404.
    NotFound,
    /// The body given, whole.
    Whole,
}

/// Serves `body` on 127.0.0.1 per `mode`; returns the URL and the Range headers it saw.
fn serve(body: Vec<u8>, mode: Serve) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/org/repo/resolve/main/tiny.gguf",
        listener.local_addr().unwrap()
    );
    let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => req.extend_from_slice(&buf[..k]),
                }
            }
            let head = String::from_utf8_lossy(&req).to_lowercase();
            let range = head
                .lines()
                .find_map(|l| l.strip_prefix("range: bytes="))
                .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok());
            seen.lock()
                .unwrap()
                .push(range.map(|r| r.to_string()).unwrap_or_default());
            let _ = match (mode, range) {
                (Serve::NotFound, _) => conn.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found"),
                (Serve::CutThenResume, None) if n == 0 => {
                    let _ = conn.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
                    conn.write_all(&body[..body.len() / 2])
                }
                (Serve::CutThenResume, Some(start)) => {
                    let _ = conn.write_all(format!("HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{}/{}\r\nconnection: close\r\n\r\n", body.len() - start, body.len() - 1, body.len()).as_bytes());
                    conn.write_all(&body[start..])
                }
                _ => {
                    let _ = conn.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
                    conn.write_all(&body)
                }
            };
        }
    });
    (url, ranges)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn pull_resumes_a_cut_download_and_checks_the_sha256() {
    let body = tiny_gguf();
    let (url, ranges) = serve(body.clone(), Serve::CutThenResume);
    let data = tempfile::tempdir().unwrap();
    let models = data.path().join("models");
    let first = rustbot(data.path())
        .args(["models", "pull", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("connection broke") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!models.join("tiny.gguf").exists());
    assert_eq!(
        std::fs::metadata(models.join("tiny.part")).unwrap().len() as usize,
        body.len() / 2
    );

    let second = rustbot(data.path())
        .args(["models", "pull", &url, "--sha256", &sha256_hex(&body)])
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(std::fs::read(models.join("tiny.gguf")).unwrap(), body);
    assert!(!models.join("tiny.part").exists());
    assert_eq!(ranges.lock().unwrap()[1], (body.len() / 2).to_string());

    let listed = rustbot(data.path())
        .args(["models", "--provider", "local"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&listed.stdout);
    assert!(list.starts_with("tiny\t0.2 MB\tllama\t"), "{list}");

    let rm = rustbot(data.path())
        .args(["models", "rm", "tiny"])
        .output()
        .unwrap();
    assert!(rm.status.success());
    assert!(!models.join("tiny.gguf").exists());
}

#[test]
fn pull_refuses_a_sha256_mismatch_a_non_gguf_and_a_404() {
    let data = tempfile::tempdir().unwrap();
    let models = data.path().join("models");
    let cases = [
        (tiny_gguf(), Serve::Whole, Some("00".repeat(32)), "sha256"),
        (
            b"<html>hello</html>".to_vec(),
            Serve::Whole,
            None,
            "not a GGUF",
        ),
        (Vec::new(), Serve::NotFound, None, "404"),
    ];
    for (body, mode, sha, expected) in cases {
        let (url, _) = serve(body, mode);
        let mut cmd = rustbot(data.path());
        cmd.args(["models", "pull", &url]);
        if let Some(sha) = &sha {
            cmd.args(["--sha256", sha]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(expected) && stderr.lines().count() == 1,
            "{stderr}"
        );
        assert!(!models.join("tiny.gguf").exists(), "{expected}");
    }
}

#[test]
fn embeddings_match_the_reference_vectors() {
    #[derive(Deserialize)]
    struct Reference {
        sentences: Vec<String>,
        vectors: Vec<Vec<f32>>,
    }
    let r: Reference =
        serde_json::from_str(include_str!("fixtures/local/minilm_reference.json")).unwrap();
    let embedder =
        rustbot::local::embed::Embedder::load(&env_path("RUSTBOT_TEST_EMBEDDING_MODEL")).unwrap();
    let got = embedder.embed(&r.sentences).unwrap();
    assert_eq!(got.len(), r.vectors.len());
    for (i, (a, b)) in got.iter().zip(&r.vectors).enumerate() {
        let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
            / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
                * b.iter().map(|x| x * x).sum::<f32>().sqrt());
        // The issue asks for 1e-3; the packed f32 encoder lands within 1e-6.
        assert!(cos >= 0.9999, "sentence {i}: cosine {cos}");
    }
}

#[test]
fn a_packed_batch_embeds_each_text_as_it_does_alone() {
    let embedder =
        rustbot::local::embed::Embedder::load(&env_path("RUSTBOT_TEST_EMBEDDING_MODEL")).unwrap();
    // From three words to past the model's 256-token limit (so truncation too), about 5,000
    // tokens in all: more than one run of the encoder (4,096 tokens), in mixed order.
    let words = [
        "river", "lamp", "quietly", "seven", "orbit", "bread", "under", "glass",
    ];
    let texts: Vec<String> = (0..30)
        .map(|i| {
            let n = 3 + (i * 17) % 31 * 9;
            (0..n)
                .map(|j| words[(i + j * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let together = embedder.embed(&texts).unwrap();
    assert_eq!(together.len(), texts.len());
    for (text, packed) in texts.iter().zip(&together) {
        let alone = &embedder.embed(std::slice::from_ref(text)).unwrap()[0];
        let worst = alone
            .iter()
            .zip(packed)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-5,
            "{} words: differs by {worst}",
            text.split(' ').count()
        );
    }
}
