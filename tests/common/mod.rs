//! A scripted HTTP/SSE server on 127.0.0.1 (a real TCP listener, port 0) that replays byte
//! scripts, records the requests it got, and notices when the client closes the socket.
#![allow(dead_code)]
// Test helpers: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod gui;
pub mod serve;

/// A test's peer (a real server, an npm or PyPI package, a D-Bus session) is missing. Outside
/// CI the test is skipped with a line saying so; in CI (`CI` set, as `.ci/run` does) it fails,
/// so a test can never report ok without having run.
pub fn peer_missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!("{what}: CI must provide it (.ci/run installs and starts every peer)");
    }
    eprintln!("SKIPPED: {what}");
}

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One step of a reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes at once.
    Bytes(Vec<u8>),
    /// Write these bytes 1–7 at a time, flushing between pieces.
    Dribble(Vec<u8>),
    /// Wait (while watching for the client closing the socket).
    Sleep(Duration),
    /// Reset the connection (RST) instead of closing it cleanly.
    Reset,
    /// Keep the connection open and silent until the client goes away.
    Hang,
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request line, e.g. `POST /v1/chat/completions HTTP/1.1`.
    pub request_line: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

/// The server. Replies are used in order; the last one repeats.
pub struct ScriptedServer {
    /// Its address.
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    peer_closed: Arc<Mutex<Vec<Instant>>>,
}

impl ScriptedServer {
    /// Starts serving `replies` on a fresh port.
    pub fn start(replies: Vec<Vec<Step>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let peer_closed = Arc::new(Mutex::new(Vec::new()));
        let (reqs, closed) = (Arc::clone(&requests), Arc::clone(&peer_closed));
        thread::spawn(move || {
            let mut n = 0usize;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let reply = replies[n.min(replies.len() - 1)].clone();
                n += 1;
                let (reqs, closed) = (Arc::clone(&reqs), Arc::clone(&closed));
                thread::spawn(move || serve(stream, reply, reqs, closed));
            }
        });
        Self {
            addr,
            requests,
            peer_closed,
        }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The POST requests received so far (a client may also GET `/models`, e.g. to check
    /// that a model takes images before sending one).
    pub fn posts(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.request_line.starts_with("POST "))
            .collect()
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// When clients closed sockets while the server was still sleeping or hanging.
    pub fn peer_closed(&self) -> Vec<Instant> {
        self.peer_closed.lock().unwrap().clone()
    }
}

fn serve(
    mut stream: TcpStream,
    reply: Vec<Step>,
    reqs: Arc<Mutex<Vec<Recorded>>>,
    closed: Arc<Mutex<Vec<Instant>>>,
) {
    stream.set_nodelay(true).ok();
    let Some(recorded) = read_request(&mut stream) else {
        return;
    };
    reqs.lock().unwrap().push(recorded);
    for (i, step) in reply.iter().enumerate() {
        match step {
            Step::Bytes(b) => {
                if stream.write_all(b).is_err() {
                    return;
                }
            }
            Step::Dribble(b) => {
                let mut pos = 0;
                let mut size = 1;
                while pos < b.len() {
                    let end = (pos + size).min(b.len());
                    if stream.write_all(&b[pos..end]).is_err() {
                        return;
                    }
                    stream.flush().ok();
                    pos = end;
                    size = size % 7 + 1;
                    if i % 2 == 0 {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
            }
            Step::Sleep(d) => {
                if wait_watching(&mut stream, Some(*d)) {
                    closed.lock().unwrap().push(Instant::now());
                    return;
                }
            }
            Step::Hang => {
                if wait_watching(&mut stream, None) {
                    closed.lock().unwrap().push(Instant::now());
                }
                return;
            }
            Step::Reset => {
                // SO_LINGER 0 turns close into RST.
                let sock = socket2_linger_zero(&stream);
                drop(sock);
                return;
            }
        }
    }
    stream.flush().ok();
    stream.shutdown(Shutdown::Write).ok();
    // Let the client read to EOF before the socket is dropped.
    let mut sink = [0u8; 64];
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok();
    let _ = stream.read(&mut sink);
}

/// Waits `d` (or forever), returning true if the client closed the socket meanwhile.
fn wait_watching(stream: &mut TcpStream, d: Option<Duration>) -> bool {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(2))).ok();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
        if let Some(d) = d
            && start.elapsed() >= d
        {
            return false;
        }
        if start.elapsed() > Duration::from_secs(120) {
            return false;
        }
    }
}

fn socket2_linger_zero(stream: &TcpStream) -> TcpStream {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct Linger {
            l_onoff: i32,
            l_linger: i32,
        }
        let linger = Linger {
            l_onoff: 1,
            l_linger: 0,
        };
        unsafe extern "C" {
            fn setsockopt(fd: i32, level: i32, name: i32, val: *const Linger, len: u32) -> i32;
        }
        // SOL_SOCKET = 1, SO_LINGER = 13 on Linux.
        unsafe {
            setsockopt(
                stream.as_raw_fd(),
                1,
                13,
                &linger,
                std::mem::size_of::<Linger>() as u32,
            );
        }
    }
    stream.try_clone().unwrap()
}

fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < header_end + len {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[header_end..]).to_string();
    Some(Recorded {
        request_line,
        headers,
        body,
    })
}

/// Response head for an SSE stream (closed by the server at the end).
pub fn sse_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n".to_vec()
}

/// `data: X\n\n` for each payload.
pub fn sse_body(payloads: &[&str]) -> Vec<u8> {
    payloads
        .iter()
        .flat_map(|p| format!("data: {p}\n\n").into_bytes())
        .collect()
}

/// A whole response with a status line, extra headers and a JSON body.
pub fn json_response(status: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An OpenAI-format text chunk.
pub fn openai_text(text: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    })
    .to_string()
}

/// An OpenAI-format finish chunk.
pub fn openai_finish(reason: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]
    })
    .to_string()
}

/// An OpenAI-format usage chunk.
pub fn openai_usage(prompt: u64, completion: u64) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion}
    })
    .to_string()
}

/// A complete OpenAI-format streamed answer saying `pieces`, dribbled or at once.
pub fn openai_answer(pieces: &[&str], dribble: bool) -> Vec<Step> {
    let mut payloads: Vec<String> = pieces.iter().map(|p| openai_text(p)).collect();
    payloads.push(openai_finish("stop"));
    payloads.push(openai_usage(7, pieces.len() as u64));
    payloads.push("[DONE]".into());
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    let body = sse_body(&refs);
    vec![
        Step::Bytes(sse_head()),
        if dribble {
            Step::Dribble(body)
        } else {
            Step::Bytes(body)
        },
    ]
}

/// A slow OpenAI stream: `first` at once, then `per_chunk` between each of `n` chunks "x".
pub fn openai_slow(first: &str, n: usize, per_chunk: Duration) -> Vec<Step> {
    let mut steps = vec![
        Step::Bytes(sse_head()),
        Step::Bytes(sse_body(&[&openai_text(first)])),
    ];
    for _ in 0..n {
        steps.push(Step::Sleep(per_chunk));
        steps.push(Step::Bytes(sse_body(&[&openai_text("x")])));
    }
    steps.push(Step::Bytes(sse_body(&[&openai_finish("stop"), "[DONE]"])));
    steps
}

/// The `rustbot` binary isolated from the machine's own config, keys and `.env`: a clean
/// environment with HOME, config and data dir inside `home`, run from `home`, no OS keyring.
pub fn isolated_rustbot(home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rustbot"));
    cmd.current_dir(home)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("RUSTBOT_CONFIG", home.join("config.toml"))
        .env("RUSTBOT_DATA_DIR", home.join("data"))
        // The machine's own keyring stays out of tests (tests/os_keyring.rs uses a private one).
        .env("RUSTBOT_NO_KEYRING", "1");
    cmd
}

/// A provider (the `custom` OpenAI-compatible one) pointed at the scripted server, with short
/// timeouts.
pub fn scripted_provider(
    server: &ScriptedServer,
    max_retries: u32,
) -> Arc<dyn rustbot::llm::Provider> {
    rustbot::llm::build_provider(rustbot::llm::ProviderSettings {
        kind: rustbot::llm::ProviderKind::Custom,
        base_url: server.base_url(),
        api_key: Some(rustbot::config::Secret::new("k")),
        network: rustbot::config::NetworkSettings {
            connect_timeout_secs: 2,
            idle_timeout_secs: 10,
            max_retries,
            ..Default::default()
        },
        local: Default::default(),
    })
    .unwrap()
}

/// Steps a window's frames until `check` holds, for at most 10 s (the engine, store and
/// watchers run on their own threads, so real time has to pass), then two more frames.
pub fn step_until<'a, S>(
    harness: &mut egui_kittest::Harness<'a, S>,
    what: &str,
    check: impl Fn(&egui_kittest::Harness<'a, S>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check(harness) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        thread::sleep(Duration::from_millis(10));
    }
    harness.run_steps(2);
}

/// A minimal one-page PDF whose page shows `text` (offsets computed, so it is valid).
pub fn tiny_pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 12 Tf 72 712 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The id `ask` printed on stderr (`conversation: ID`).
pub fn conversation_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .expect("a conversation line")
        .to_string()
}
