//! The built-in tools against real files, real `sh` processes and a local HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use rustbot::llm::types::ToolCall;
use rustbot::tools::{ToolContext, ToolRegistry, ToolResult};
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    ws: std::path::PathBuf,
    outside: std::path::PathBuf,
    reg: ToolRegistry,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "top secret").unwrap();
    std::fs::write(ws.join("hello.txt"), "hello world\nsecond line\n").unwrap();
    std::fs::write(
        ws.join("src/main.rs"),
        "fn main() {\n    println!(\"needle\");\n}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("out_link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), ws.join("secret_link")).unwrap();
    Fixture {
        ws: ws.clone(),
        outside,
        _dir: dir,
        reg: {
            // The HTTP tests serve on 127.0.0.1: this registry's http_get may fetch it
            // (`[tools] http_allow_private = true`); the default one may not (see below).
            let mut reg = ToolRegistry::with_builtins();
            reg.register(std::sync::Arc::new(rustbot::tools::builtin::HttpGet {
                allow_private: true,
                ..Default::default()
            }));
            reg
        },
    }
}

async fn call(f: &Fixture, name: &str, args: serde_json::Value) -> ToolResult {
    call_ctx(f, name, args, ToolContext::new(&f.ws)).await
}

async fn call_ctx(
    f: &Fixture,
    name: &str,
    args: serde_json::Value,
    ctx: ToolContext,
) -> ToolResult {
    let c = ToolCall {
        id: "1".into(),
        name: name.into(),
        arguments: args.to_string(),
    };
    f.reg.call(&c, &ctx).await
}

#[tokio::test]
async fn read_file_reads_and_caps() {
    let f = fixture();
    let r = call(&f, "read_file", json!({"path": "hello.txt"})).await;
    assert!(!r.is_error, "{r:?}");
    assert_eq!(r.content, "hello world\nsecond line\n");
    let r = call(
        &f,
        "read_file",
        json!({"path": "hello.txt", "max_bytes": 5}),
    )
    .await;
    assert!(r.content.starts_with("hello\n[truncated"), "{}", r.content);
    let r = call(
        &f,
        "read_file",
        json!({"path": "hello.txt", "offset": 6, "max_bytes": 5}),
    )
    .await;
    assert!(r.content.starts_with("world"), "{}", r.content);
    let r = call(&f, "read_file", json!({"path": "missing.txt"})).await;
    assert!(r.is_error && r.content.contains("missing.txt"), "{r:?}");
}

#[tokio::test]
async fn file_tools_refuse_escapes() {
    let f = fixture();
    let abs = f.outside.join("secret.txt").to_string_lossy().into_owned();
    for path in [
        "../outside/secret.txt",
        abs.as_str(),
        "out_link/secret.txt",
        "secret_link",
        "/etc/passwd",
    ] {
        let r = call(&f, "read_file", json!({"path": path})).await;
        assert!(
            r.is_error && r.content.contains("outside the workspace"),
            "{path}: {r:?}"
        );
        assert!(!r.content.contains("top secret"));
    }
    for path in ["../evil.txt", "out_link/evil.txt"] {
        let r = call(&f, "write_file", json!({"path": path, "content": "x"})).await;
        assert!(
            r.is_error && r.content.contains("outside the workspace"),
            "{path}: {r:?}"
        );
    }
    assert!(!f.outside.join("evil.txt").exists());
    assert!(!f.ws.parent().unwrap().join("evil.txt").exists());
    let r = call(&f, "list_dir", json!({"path": "out_link"})).await;
    assert!(r.is_error, "{r:?}");
    let r = call(
        &f,
        "search_files",
        json!({"pattern": "secret", "path": ".."}),
    )
    .await;
    assert!(r.is_error, "{r:?}");
}

#[tokio::test]
async fn list_dir_lists_entries() {
    let f = fixture();
    let r = call(&f, "list_dir", json!({})).await;
    assert!(!r.is_error, "{r:?}");
    let lines: Vec<&str> = r.content.lines().collect();
    assert!(lines.contains(&"src/"), "{lines:?}");
    assert!(lines.contains(&"hello.txt\t24 bytes"), "{lines:?}");
    assert!(lines.contains(&"out_link@"), "{lines:?}");
}

#[tokio::test]
async fn write_file_creates_and_appends() {
    let f = fixture();
    let r = call(
        &f,
        "write_file",
        json!({"path": "new/dir/a.txt", "content": "one"}),
    )
    .await;
    assert!(!r.is_error, "{r:?}");
    let r = call(
        &f,
        "write_file",
        json!({"path": "new/dir/a.txt", "content": "two", "append": true}),
    )
    .await;
    assert!(!r.is_error, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(f.ws.join("new/dir/a.txt")).unwrap(),
        "onetwo"
    );
    assert!(f.reg.get("write_file").unwrap().needs_approval(&json!({})));
    assert!(!f.reg.get("read_file").unwrap().needs_approval(&json!({})));
}

#[tokio::test]
async fn search_files_finds_matches_and_skips_outside_links() {
    let f = fixture();
    let r = call(&f, "search_files", json!({"pattern": "needle"})).await;
    assert_eq!(
        r.content, "src/main.rs:2:     println!(\"needle\");",
        "{r:?}"
    );
    let r = call(
        &f,
        "search_files",
        json!({"pattern": "HELLO", "case_insensitive": true, "glob": "*.txt"}),
    )
    .await;
    assert_eq!(r.content, "hello.txt:1: hello world");
    let r = call(&f, "search_files", json!({"pattern": "secret"})).await;
    assert_eq!(r.content, "no matches");
    let r = call(&f, "search_files", json!({"pattern": "("})).await;
    assert!(r.is_error && r.content.contains("bad pattern"), "{r:?}");
    std::fs::write(f.ws.join(".gitignore"), "src/\n").unwrap();
    let r = call(&f, "search_files", json!({"pattern": "needle"})).await;
    assert_eq!(r.content, "no matches");
}

#[tokio::test]
async fn system_info_reports_the_machine() {
    let f = fixture();
    let r = call(&f, "system_info", json!({})).await;
    let v: serde_json::Value = serde_json::from_str(&r.content).unwrap();
    assert_eq!(v["arch"], std::env::consts::ARCH);
    assert!(v["cpu_count"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn run_shell_runs_in_the_workspace() {
    let f = fixture();
    let r = call(
        &f,
        "run_shell",
        json!({"command": "pwd; cat hello.txt | wc -l; echo err >&2; exit 3"}),
    )
    .await;
    assert!(!r.is_error, "{r:?}");
    let ws = f.ws.canonicalize().unwrap();
    assert!(
        r.content.starts_with("exit code: 3\nstdout:\n"),
        "{}",
        r.content
    );
    assert!(
        r.content.contains(&format!("{}\n2\n", ws.display())),
        "{}",
        r.content
    );
    assert!(r.content.contains("stderr:\nerr"), "{}", r.content);
}

#[tokio::test]
async fn run_shell_caps_output() {
    let f = fixture();
    let r = call(
        &f,
        "run_shell",
        json!({"command": "head -c 200000 /dev/zero | tr '\\0' a"}),
    )
    .await;
    assert!(
        r.content
            .contains("[truncated: 65536 of 200000 bytes shown]"),
        "{}",
        &r.content[r.content.len() - 200..]
    );
}

/// Processes of group `pgid` that are still alive (zombies count as gone).
fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" && fields[0] != "X"
        {
            live.push(pid);
        }
    }
    live
}

fn pgid_from(content: &str) -> i32 {
    content
        .lines()
        .find_map(|l| l.strip_prefix("pgid "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pgid in {content}"))
}

async fn wait_gone(pgid: i32) {
    let until = Instant::now() + Duration::from_secs(5);
    while !live_group_members(pgid).is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        live_group_members(pgid).is_empty(),
        "group {pgid} still has {:?}",
        live_group_members(pgid)
    );
}

#[tokio::test]
async fn run_shell_timeout_kills_the_whole_group() {
    let f = fixture();
    let mut ctx = ToolContext::new(&f.ws);
    ctx.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let r = call_ctx(
        &f,
        "run_shell",
        json!({"command": "echo pgid $$; sleep 30 & sleep 30"}),
        ctx,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(r.is_error && r.content.contains("timed out"), "{r:?}");
    wait_gone(pgid_from(&r.content)).await;
}

#[tokio::test]
async fn run_shell_cancel_kills_the_whole_group() {
    let f = fixture();
    let ctx = ToolContext::new(&f.ws);
    let cancel = ctx.cancel.clone();
    let marker = f.ws.join("pgid.txt");
    let task = {
        let reg = f.reg.clone();
        let c = ToolCall {
            id: "1".into(),
            name: "run_shell".into(),
            arguments: json!({"command": "echo $$ > pgid.txt; sleep 30 & sleep 30"}).to_string(),
        };
        tokio::spawn(async move { reg.call(&c, &ctx).await })
    };
    let until = Instant::now() + Duration::from_secs(10);
    let pgid = loop {
        if let Ok(s) = std::fs::read_to_string(&marker)
            && let Ok(p) = s.trim().parse::<i32>()
        {
            break p;
        }
        assert!(Instant::now() < until, "command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Let the background sleep start too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        live_group_members(pgid).len() >= 2,
        "expected sh and sleeps"
    );
    cancel.cancel();
    let r = task.await.unwrap();
    assert!(r.is_error && r.content.contains("cancelled"), "{r:?}");
    wait_gone(pgid).await;
}

#[tokio::test]
async fn run_shell_leaves_no_background_processes() {
    let f = fixture();
    let r = call(
        &f,
        "run_shell",
        json!({"command": "echo pgid $$; sleep 30 & echo started"}),
    )
    .await;
    assert!(r.content.starts_with("exit code: 0"), "{r:?}");
    wait_gone(pgid_from(&r.content)).await;
}

/// Serves `responses` (one per connection) on 127.0.0.1 and returns the base URL.
fn serve(responses: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

fn http_response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn http_get_extracts_text_from_html() {
    let f = fixture();
    let html = "<!doctype html><html><head><title>T</title><style>p{color:red}</style></head>\
                <body><h1>Hello</h1><p>Some <b>bold</b> text.</p><script>var x = 1;</script></body></html>";
    let base = serve(vec![
        http_response("200 OK", "text/html; charset=utf-8", html),
        http_response("404 Not Found", "text/plain", "nope"),
        http_response("200 OK", "text/plain", &"x".repeat(5000)),
    ]);
    let r = call(&f, "http_get", json!({"url": format!("{base}/page")})).await;
    assert!(!r.is_error, "{r:?}");
    assert!(
        r.content.contains("Hello") && r.content.contains("bold") && r.content.contains("text."),
        "{}",
        r.content
    );
    assert!(
        !r.content.contains("<p>") && !r.content.contains("var x"),
        "{}",
        r.content
    );
    let r = call(&f, "http_get", json!({"url": format!("{base}/missing")})).await;
    assert!(r.is_error && r.content.starts_with("HTTP 404"), "{r:?}");
    let r = call(
        &f,
        "http_get",
        json!({"url": format!("{base}/big"), "max_bytes": 100}),
    )
    .await;
    assert!(r.content.contains("[truncated at 100 bytes]"), "{r:?}");
}

#[tokio::test]
async fn http_get_refuses_other_schemes_and_times_out() {
    let f = fixture();
    let r = call(&f, "http_get", json!({"url": "file:///etc/passwd"})).await;
    assert!(
        r.is_error && r.content.contains("only http and https"),
        "{r:?}"
    );
    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(Duration::from_secs(4));
        drop(conn);
    });
    let mut ctx = ToolContext::new(&f.ws);
    ctx.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let r = call_ctx(
        &f,
        "http_get",
        json!({"url": format!("http://{addr}/")}),
        ctx,
    )
    .await;
    assert!(r.is_error, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(hold);
}

/// The fixture with the default `http_get`, which stays off the local network.
fn public_only() -> Fixture {
    let mut f = fixture();
    f.reg = ToolRegistry::with_builtins();
    f
}

#[tokio::test]
async fn http_get_refuses_loopback_private_and_link_local_addresses() {
    let f = public_only();
    let base = serve(vec![http_response("200 OK", "text/plain", "local secret")]);
    for url in [
        format!("{base}/x"),
        "http://localhost:9/".to_string(),
        "http://[::1]:9/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://[::ffff:127.0.0.1]:9/".to_string(),
    ] {
        let r = call(&f, "http_get", json!({ "url": url })).await;
        assert!(r.is_error, "{url}: {r:?}");
        assert!(
            r.content.contains("stays off the local network")
                && !r.content.contains("local secret"),
            "{url}: {}",
            r.content
        );
    }
}

#[tokio::test]
async fn http_get_refuses_a_redirect_into_loopback_and_lists_redirects_taken() {
    // The first hop is "public" for this test (allowed), the second points at loopback: the
    // public-only tool must refuse the hop. A redirect to a literal loopback address is checked
    // in the redirect policy, whatever resolved the first hop.
    let target = serve(vec![http_response("200 OK", "text/plain", "local secret")]);
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: {target}/secret\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let first = serve(vec![redirect.clone()]);
    let url = format!("{first}/start");
    // Through the allowing tool, the redirect is followed and listed.
    let f = fixture();
    let r = call(&f, "http_get", json!({ "url": url })).await;
    assert!(!r.is_error, "{r:?}");
    assert!(
        r.content
            .contains(&format!("redirected to {target}/secret")),
        "{}",
        r.content
    );
    // A public-only tool refuses: the first hop is already loopback here, and a redirect hop
    // into loopback is refused by the same check (tools::builtin::net_guard).
    let f = public_only();
    let first = serve(vec![redirect]);
    let r = call(&f, "http_get", json!({ "url": format!("{first}/start") })).await;
    assert!(r.is_error && !r.content.contains("local secret"), "{r:?}");
}
