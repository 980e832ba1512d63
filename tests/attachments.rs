//! `rustbot ask --attach` (issue 17) over the scripted server: text, PDF and images in both
//! wire formats (exact request bodies; a small image byte for byte, a large one downscaled),
//! and every refusal making no request at all. `serve` passes image parts through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::Cursor;
use std::process::{Output, Stdio};

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 9]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn ask(
    home: &tempfile::TempDir,
    provider: &str,
    server: &ScriptedServer,
    files: &[&str],
) -> Output {
    let mut cmd = isolated_rustbot(home.path());
    cmd.env("ANTHROPIC_API_KEY", "k").args([
        "--provider",
        provider,
        "--base-url",
        &server.base_url(),
        "--model",
        "M",
        "ask",
    ]);
    for f in files {
        cmd.args(["--attach", &home.path().join(f).to_string_lossy()]);
    }
    cmd.arg("describe these")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `ask --conversation ID PROMPT` against `server` (the custom provider, model M).
fn ask_again(
    home: &tempfile::TempDir,
    server: &ScriptedServer,
    conversation: &str,
    prompt: &str,
) -> Output {
    isolated_rustbot(home.path())
        .args(["--provider", "custom", "--base-url", &server.base_url()])
        .args([
            "--model",
            "M",
            "ask",
            "--conversation",
            conversation,
            prompt,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn anthropic_ok() -> Vec<Step> {
    let body = [
        ("message_start", json!({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})),
        ("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}})),
        ("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}})),
        ("message_stop", json!({"type":"message_stop"})),
    ]
    .iter()
    .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
    .collect::<String>();
    vec![Step::Bytes(sse_head()), Step::Bytes(body.into_bytes())]
}

#[test]
fn text_and_images_go_in_both_wire_formats() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("notes.md"), "# Notes\nbuy milk\n").unwrap();
    let small = png(32, 24);
    std::fs::write(home.path().join("pic.png"), &small).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&small);

    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = ask(&home, "custom", &server, &["notes.md", "pic.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = server.posts()[0].json();
    let content = &body["messages"][0]["content"];
    assert_eq!(
        content[0],
        json!({"type": "text", "text": "describe these\n\nnotes.md\n```\n# Notes\nbuy milk\n```"})
    );
    assert_eq!(
        content[1],
        json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{b64}")}}),
        "a small image goes byte for byte"
    );

    let server = ScriptedServer::start(vec![anthropic_ok()]);
    let out = ask(&home, "anthropic", &server, &["pic.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = server.posts()[0].json();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}},
            {"type": "text", "text": "describe these"}
        ])
    );
}

#[test]
fn a_large_image_is_downscaled_and_a_pdf_goes_as_text() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "[attachments]\nmax_image_px = 64\n",
    )
    .unwrap();
    std::fs::write(home.path().join("big.png"), png(256, 128)).unwrap();
    std::fs::write(home.path().join("doc.pdf"), tiny_pdf("Quarterly figures")).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = ask(&home, "custom", &server, &["big.png", "doc.pdf"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = server.posts()[0].json();
    let content = &body["messages"][0]["content"];
    let prompt = content[0]["text"].as_str().unwrap();
    assert!(
        prompt.contains("doc.pdf\n```\n[page 1]\n") && prompt.contains("Quarterly figures"),
        "{prompt}"
    );
    let url = content[1]["image_url"]["url"].as_str().unwrap();
    let data = url.strip_prefix("data:image/png;base64,").unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (64, 32));
}

#[test]
fn every_refusal_sends_nothing() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("blob.bin"), [0u8, 1, 2, 3, 0, 255]).unwrap();
    std::fs::write(home.path().join("big.txt"), vec![b'a'; 1024 * 1024 + 10]).unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "[attachments]\nmax_file_mb = 1\n",
    )
    .unwrap();
    std::fs::write(home.path().join("pic.png"), png(8, 8)).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["never"], false)]);
    for (file, expected) in [
        ("blob.bin", "binary file"),
        ("missing.txt", "cannot read"),
        ("big.txt", "over the 1 MB limit"),
    ] {
        let out = ask(&home, "custom", &server, &[file]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    }
    // A model the provider's list says takes only text.
    let data = home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("models.json"),
        json!([{"id": "M", "input_modalities": ["text"]}]).to_string(),
    )
    .unwrap();
    let out = ask(&home, "custom", &server, &["pic.png"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("does not take images"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.requests().is_empty(), "no request was made");
}

#[test]
fn serve_passes_image_parts_through() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let s = common::serve::serve(&upstream, "", &[]);
    let url = "data:image/png;base64,iVBORw0KGgo=";
    let body: Value = json!({"model": "M", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url}}
    ]}]});
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let sent = upstream.posts()[0].json();
    assert_eq!(sent["messages"][0]["content"][1]["image_url"]["url"], url);
    let bad = json!({"model": "M", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    ]}]});
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 400);
}

#[test]
fn an_image_is_stored_once_and_sent_again_with_the_history() {
    let home = tempfile::tempdir().unwrap();
    let small = png(16, 16);
    std::fs::write(home.path().join("pic.png"), &small).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["a cat"], false)]);
    let out = ask(&home, "custom", &server, &["pic.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = conversation_id(&text(&out.stderr));
    let server = ScriptedServer::start(vec![openai_answer(&["still a cat"], false)]);
    let out = ask_again(&home, &server, &id, "what colour?");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = server.posts()[0].json();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&small);
    assert_eq!(
        body["messages"][0]["content"][1]["image_url"]["url"],
        format!("data:image/png;base64,{b64}"),
        "the reopened conversation sends its image again"
    );
}

fn conversations(home: &tempfile::TempDir, args: &[&str]) -> Output {
    isolated_rustbot(home.path())
        .arg("conversations")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn exports_keep_attachments_and_import_reads_them_back() {
    let home = tempfile::tempdir().unwrap();
    let small = png(20, 12);
    std::fs::write(home.path().join("my pic.png"), &small).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["a gradient"], false)]);
    let out = ask(&home, "custom", &server, &["my pic.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = conversation_id(&text(&out.stderr));

    // Markdown to a file: the image is written beside it and linked.
    let md = home.path().join("out").join("trip.md");
    std::fs::create_dir_all(md.parent().unwrap()).unwrap();
    let out = conversations(
        &home,
        &["export", &id, "--format", "md", "-o", &md.to_string_lossy()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(
        markdown.contains("![my pic.png](trip_files/my%20pic.png)"),
        "{markdown}"
    );
    assert_eq!(
        std::fs::read(home.path().join("out/trip_files/my pic.png")).unwrap(),
        small,
        "the file beside the Markdown is the image byte for byte"
    );
    assert!(!home.path().join("out/trip.md.part").exists());
    // To stdout, where nothing can be linked, the image is named.
    let out = conversations(&home, &["export", &id, "--format", "md"]);
    assert!(
        text(&out.stdout).contains("_(attached: my pic.png · image/png ·"),
        "{}",
        text(&out.stdout)
    );

    // JSON keeps it as base64 with its media type, and import reads it back.
    let out = conversations(&home, &["export", &id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exported: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&small);
    assert_eq!(exported["attachments"][0]["name"], "my pic.png");
    assert_eq!(exported["attachments"][0]["media_type"], "image/png");
    assert_eq!(exported["attachments"][0]["data"], b64.as_str());
    let file = home.path().join("export.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let other = tempfile::tempdir().unwrap();
    let out = conversations(&other, &["import", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = conversations(&other, &["export", &id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["attachments"][0]["data"], b64.as_str());
    let user = again["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap();
    assert_eq!(
        again["attachments"][0]["message_id"], user["id"],
        "linked to the imported user message"
    );
}

#[test]
fn an_edited_message_keeps_its_image_and_sends_it_again() {
    let home = tempfile::tempdir().unwrap();
    let small = png(12, 10);
    std::fs::write(home.path().join("pic.png"), &small).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["a red square"], false)]);
    let out = ask(&home, "custom", &server, &["pic.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = conversation_id(&text(&out.stderr));

    // Replace the words of the stored question (edit-and-resend, as the app's Edit does).
    let store = rustbot::store::StoreHandle::open(&home.path().join("data")).unwrap();
    let (old, new) = store
        .call_blocking({
            let id = id.clone();
            move |s| {
                let old = s.last_user_message(&id)?.unwrap().id;
                let new = s.edit_message(old, "and its colour?")?;
                Ok::<_, rustbot::store::StoreError>((old, new))
            }
        })
        .unwrap()
        .unwrap();
    let attached = store
        .call_blocking({
            let id = id.clone();
            move |s| s.conversation_attachments(&id)
        })
        .unwrap()
        .unwrap();
    assert_eq!(attached[&old][0].data, small);
    assert_eq!(
        attached[&new][0].data, small,
        "the new version links the same image"
    );
    drop(store);

    let server = ScriptedServer::start(vec![openai_answer(&["red"], false)]);
    let out = ask_again(&home, &server, &id, "one word");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = server.posts()[0].json();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&small);
    assert_eq!(body["messages"][0]["content"][0]["text"], "and its colour?");
    assert_eq!(
        body["messages"][0]["content"][1]["image_url"]["url"],
        format!("data:image/png;base64,{b64}"),
        "the edited question still carries its image"
    );
}
