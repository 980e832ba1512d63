//! `rustbot serve` against what a web page can send (issue 14): cross-site "simple" requests,
//! DNS rebinding (a foreign `Host`), non-JSON bodies, slow clients, and budgets for requests
//! without a conversation. The scripted upstream counts what reached the provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::serve::serve;
use common::*;
use serde_json::{Value, json};

fn body() -> String {
    json!({"model": "M", "messages": [{"role": "user", "content": "hi"}]}).to_string()
}

/// Sends one raw HTTP/1.1 request and returns the status code and the body.
fn raw(base: &str, request: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn post(base: &str, host: &str, headers: &str, body: &str) -> (u16, String) {
    raw(
        base,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn host_of(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

#[test]
fn cross_site_and_rebound_requests_never_reach_the_provider() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let s = serve(&upstream, "", &[]);
    let host = host_of(&s.base);
    let port = host.rsplit(':').next().unwrap();
    let json_ct = "Content-Type: application/json\r\n";
    // A page's "simple" request: text/plain needs no CORS preflight.
    let (status, text) = post(&s.base, &host, "Content-Type: text/plain\r\n", &body());
    assert_eq!(status, 415, "{text}");
    // A cross-site page, even with a JSON body.
    let (status, text) = post(
        &s.base,
        &host,
        &format!("{json_ct}Origin: https://evil.example\r\n"),
        &body(),
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("allowed_origins"), "{text}");
    // DNS rebinding: the page's own name in Host.
    let (status, text) = post(
        &s.base,
        &format!("attacker.example:{port}"),
        json_ct,
        &body(),
    );
    assert_eq!(status, 421, "{text}");
    // And GET of the model list from a rebound name.
    let (status, _) = raw(
        &s.base,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 421);
    assert!(upstream.requests().is_empty(), "the provider was called");
    // The same request from a local client passes.
    let (status, text) = post(&s.base, &format!("localhost:{port}"), json_ct, &body());
    assert_eq!(status, 200, "{text}");
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn an_allowed_origin_gets_cors_headers_and_others_none() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let s = serve(
        &upstream,
        "[serve]\nallowed_origins = [\"https://app.example\"]\n",
        &[],
    );
    let host = host_of(&s.base);
    let addr = host.clone();
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let lower = out.to_ascii_lowercase();
    assert!(
        lower.contains("access-control-allow-origin: https://app.example"),
        "{out}"
    );
    let (status, _) = post(
        &s.base,
        &host,
        "Content-Type: application/json\r\nOrigin: https://app.example\r\n",
        &body(),
    );
    assert_eq!(status, 200);
}

#[test]
fn a_slow_client_is_dropped_and_others_are_served() {
    let upstream = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let s = serve(
        &upstream,
        "[serve]\nheader_timeout_secs = 1\nmax_connections = 4\n",
        &[],
    );
    let addr = host_of(&s.base);
    // Four connections that send half a request line and then nothing: every slot.
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"POST /v1/chat/comp").unwrap();
            c
        })
        .collect();
    // Within the header timeout they are closed, and a normal client gets through.
    let started = Instant::now();
    loop {
        let (status, _) = post(
            &s.base,
            &addr,
            "Content-Type: application/json\r\n",
            &body(),
        );
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a slow client held the server"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for mut c in slow {
        let mut buf = [0u8; 64];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Closed by the server: EOF (or a reset), not a timeout.
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "still open: {e}"
            ),
        }
    }
}

#[test]
fn requests_without_a_conversation_count_against_the_budget() {
    // Each answer costs $0.0004 (the provider reports it); the day's limit is $0.001.
    let paid = || {
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.0004}}).to_string();
        let text = openai_text("ok");
        let finish = openai_finish("stop");
        vec![
            Step::Bytes(sse_head()),
            Step::Bytes(sse_body(&[&text, &finish, &usage, "[DONE]"])),
        ]
    };
    let upstream = ScriptedServer::start((0..5).map(|_| paid()).collect());
    let s = serve(&upstream, "[budget]\ndaily_usd = 0.001\n", &[]);
    let host = host_of(&s.base);
    let mut statuses = Vec::new();
    let mut last = String::new();
    for _ in 0..5 {
        let (status, text) = post(
            &s.base,
            &host,
            "Content-Type: application/json\r\n",
            &body(),
        );
        statuses.push(status);
        last = text;
    }
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[3], 402, "{statuses:?}: {last}");
    let error: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(error["error"]["code"], "budget_exceeded", "{last}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("$0.0012 of $0.001"), "{message}");
    assert_eq!(upstream.requests().len(), 3, "nothing sent over the limit");
}
