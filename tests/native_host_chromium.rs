//! From a real browser: headless Chromium loads an unpacked Manifest V3 extension whose
//! service worker calls `chrome.runtime.connectNative`, reaching `rustbot native-host`
//! installed with `rustbot native-host install --browser chromium`. The worker sends
//! `health`, an OpenAI-schema chat (streamed) and the same chat with `stream: false`, and posts
//! every frame it got to a listener of this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::Value;
use sha2::Digest;

/// The extension's public key (an RSA key made for this test; its private half was thrown
/// away). Chromium derives the extension id from it, so the id is fixed.
const EXTENSION_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuVFGy+bhEzvp8agSdIHnDMkFU21MJ3Ekn1bj8ALVBNhHD/43H/r1k11V5UM3twrdAkFNv/RXZAtZALXLOhzUdU++mn7PXH73USjwWTRuRy+DAPE8acIonXVEVBYNTCITfHhsroDcBkzCEPbKiaaYAlv7ad1FmQOJq/3uIvPvG1nxJba1mfpzqlKPmoIDh011zH7/mQ0lei4OmlIx5vzOiqui2oiQB2QiJOtxPRIHrHfD4SO9O+yKjUgSWo307jEbCj2nH+ybuJ6augwylCUncd6Dtmkqka6vt2qnIU2NIZWXU89IZmosg0uDWlytQkSO3slje9nepiAb+1wyt2h3eQIDAQAB";

/// The extension id Chromium gives a manifest `key`: the first 128 bits of its SHA-256, each
/// hex digit written with the letters a–p.
fn extension_id(key_b64: &str) -> String {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .unwrap();
    let digest = sha2::Sha256::digest(&der);
    digest[..16]
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|n| (b'a' + n) as char)
        .collect()
}

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

const BACKGROUND_JS: &str = r#"
const frames = [];
const report = (extra) =>
  fetch("http://127.0.0.1:PORT/report", {
    method: "POST",
    body: JSON.stringify({ frames, ...extra }),
  });
const port = chrome.runtime.connectNative("org.rustbot.host");
let ended = 0;
port.onMessage.addListener((msg) => {
  frames.push(msg);
  if ((msg.id === 2 || msg.id === 3) && (msg.event === "done" || msg.event === "error" || msg.event === "result")) {
    ended += 1;
    if (ended === 2) report({});
  }
});
port.onDisconnect.addListener(() =>
  report({ disconnected: String(chrome.runtime.lastError && chrome.runtime.lastError.message) }));
port.postMessage({ id: 1, route: "health", payload: {} });
const body = {
  model: "M",
  messages: [
    { role: "system", content: "Answer briefly." },
    { role: "user", content: "Hello from Chromium!" },
  ],
  temperature: 0.5,
  top_p: 0.9,
  max_tokens: 64,
};
port.postMessage({ id: 2, route: "chat", payload: body });
port.postMessage({ id: 3, route: "chat", payload: { ...body, stream: false } });
"#;

#[test]
fn a_chromium_extension_chats_through_the_native_host_with_the_openai_schema() {
    let Some(browser) = chromium() else {
        peer_missing("chromium (apt-get install chromium; scripts/install-deps.sh does)");
        return;
    };
    let upstream = ScriptedServer::start(vec![openai_answer(&["Hel", "lo ", "back"], false)]);
    let home = tempfile::tempdir().unwrap();
    let (profile, extension) = (home.path().join("profile"), home.path().join("extension"));
    std::fs::create_dir_all(&extension).unwrap();
    let id = extension_id(EXTENSION_KEY);
    let origin = format!("chrome-extension://{id}/");

    // The test's listener for the worker's report.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, reports) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(
                b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
            );
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                let _ = tx.send(v);
            }
        }
    });

    std::fs::write(
        extension.join("manifest.json"),
        serde_json::json!({
            "name": "Rustbot test",
            "version": "0.1",
            "manifest_version": 3,
            "key": EXTENSION_KEY,
            "permissions": ["nativeMessaging"],
            "host_permissions": ["http://127.0.0.1/*"],
            "background": {"service_worker": "background.js"},
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        extension.join("background.js"),
        BACKGROUND_JS.replace("PORT", &port.to_string()),
    )
    .unwrap();

    // The host, installed as a user would, for Chromium with this profile.
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "provider = \"custom\"\nbase_url = \"{}\"\nmodel = \"M\"\n[native_host]\nallowed_origins = [\"{origin}\"]\ntools = \"none\"\n",
            upstream.base_url()
        ),
    )
    .unwrap();
    let install = Command::new(env!("CARGO_BIN_EXE_rustbot"))
        .env("HOME", home.path())
        .args(["--config", config.to_str().unwrap()])
        .args(["--data-dir", home.path().join("data").to_str().unwrap()])
        .args(["native-host", "install", "--browser", "chromium"])
        .args(["--extension-id", &id, "--manifest-dir"])
        .arg(profile.join("NativeMessagingHosts"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );

    let mut chromium = Command::new(&browser)
        .env("HOME", home.path())
        .args(["--headless=new", "--no-sandbox", "--disable-gpu"])
        .args(["--no-first-run", "--no-default-browser-check"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--load-extension={}", extension.display()))
        .arg(format!(
            "--disable-extensions-except={}",
            extension.display()
        ))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let report = reports.recv_timeout(Duration::from_secs(60));
    let _ = chromium.kill();
    let _ = chromium.wait();
    let report = report.expect("the extension reported within 60 s");
    let frames = report["frames"].as_array().cloned().unwrap_or_default();
    assert!(
        report.get("disconnected").is_none(),
        "the host went away: {report}"
    );
    let of = |id: i64, event: &str| -> Vec<&Value> {
        frames
            .iter()
            .filter(|f| f["id"] == id && f["event"] == event)
            .collect()
    };
    assert_eq!(of(1, "result").len(), 1, "{report}");
    assert_eq!(of(1, "result")[0]["result"]["status"], "ok", "{report}");
    let streamed: String = of(2, "delta")
        .iter()
        .map(|f| f["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(streamed, "Hello back", "{report}");
    assert_eq!(of(2, "done").len(), 1, "{report}");
    let whole = of(3, "result");
    assert_eq!(whole.len(), 1, "{report}");
    assert!(of(3, "delta").is_empty(), "stream:false sends no deltas");
    assert!(whole[0].to_string().contains("Hello back"), "{report}");
    // The OpenAI body reached the provider as it was sent.
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2, "two chats");
    let body = sent[0].json();
    assert_eq!(body["messages"][0]["content"], "Answer briefly.");
    assert_eq!(body["messages"][1]["content"], "Hello from Chromium!");
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["max_tokens"], 64);
}
