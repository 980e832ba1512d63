//! A local OpenAI-compatible SSE server for benchmarks: every POST gets `CHUNKS` text chunks
//! (default 200,000) as fast as the socket takes them, then usage and `[DONE]`. With a
//! `PER_SECOND` rate the chunks are paced at that rate instead and carry Markdown with code
//! blocks, one token each, like a model's answer (the UI latency figure of scripts/bench.sh).
//! With a `BATCH` as well, the chunks are the fast stream's one-word chunks, written `BATCH` to
//! a write at `PER_SECOND` chunks a second: a provider that sends bursts (scripts/bench.sh's
//! paced stream: 200,000 chunks, 64 to a write, over 1.5 s).
//! Usage: `cargo run --release --example sse_server -- [PORT] [CHUNKS] [PER_SECOND] [BATCH]`;
//! prints the port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// What a paced stream says, token by token, over and over.
const ANSWER: &str = "Here is how to count the non-blank lines of a file in **Rust**, with \
errors passed to the caller by `?`:\n\n```rust\nfn count_lines(path: &str) -> \
std::io::Result<usize> {\n    let file = std::fs::File::open(path)?;\n    let mut n = 0;\n    \
for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {\n        if \
!line?.trim().is_empty() {\n            n += 1;\n        }\n    }\n    Ok(n)\n}\n```\n\nAnd \
in Python:\n\n```python\ndef count_lines(path):\n    with open(path) as f:\n        return \
sum(1 for line in f if line.strip())\n```\n\n- both skip blank lines\n- both close the file\n\n";

/// The paced stream's tokens: a word with its leading space, or a line break.
fn tokens() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in ANSWER.chars() {
        if (c == ' ' || c == '\n') && !current.trim().is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    out.push(current);
    out
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let chunks: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(200_000);
    let per_second: f64 = args.next().and_then(|r| r.parse().ok()).unwrap_or(0.0);
    let batch: usize = args.next().and_then(|b| b.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            let _ = serve(stream, chunks, per_second, batch);
        });
    }
    Ok(())
}

fn serve(
    stream: std::net::TcpStream,
    chunks: usize,
    per_second: f64,
    batch: usize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stream);
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
    )?;
    if per_second > 0.0 && batch > 0 {
        let start = Instant::now();
        for first in (0..chunks).step_by(batch) {
            let due = start + Duration::from_secs_f64(first as f64 / per_second);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            for i in first..chunks.min(first + batch) {
                word_chunk(&mut out, i)?;
            }
            out.flush()?;
        }
    } else if per_second > 0.0 {
        paced(&mut out, chunks, per_second)?;
    } else {
        for i in 0..chunks {
            word_chunk(&mut out, i)?;
        }
    }
    out.write_all(b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")?;
    write!(
        out,
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
        chunks + 5
    )?;
    out.flush()
}

/// The fast stream's chunk `i`: one short word.
fn word_chunk(out: &mut impl Write, i: usize) -> std::io::Result<()> {
    write!(
        out,
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{} \"}},\"finish_reason\":null}}]}}\n\n",
        i % 1000
    )
}

/// Writes chunk `i` at `i / per_second` seconds after the start (a schedule, so a late wake-up
/// is caught up rather than slowing the whole stream down).
fn paced(out: &mut impl Write, chunks: usize, per_second: f64) -> std::io::Result<()> {
    let tokens = tokens();
    let start = Instant::now();
    for i in 0..chunks {
        let due = start + Duration::from_secs_f64(i as f64 / per_second);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let token = serde_json::to_string(&tokens[i % tokens.len()])?;
        write!(
            out,
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{token}}},\"finish_reason\":null}}]}}\n\n"
        )?;
        out.flush()?;
    }
    Ok(())
}
