//! MCP against the real reference server `@modelcontextprotocol/server-everything`
//! (install: `npm install -g @modelcontextprotocol/server-everything`). Skipped, with a
//! message, when its binary `mcp-server-everything` is not on PATH — and fails then in CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rustbot::llm::types::ToolCall;
use rustbot::tools::mcp::McpError;
use rustbot::tools::{
    ApprovalMode, ApprovalPolicy, McpManager, McpOptions, McpServerConfig, ToolContext,
    ToolRegistry, ToolSource,
};
use serde_json::json;

const BIN: &str = "mcp-server-everything";

fn installed() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(BIN).is_file()));
    if !found {
        common::peer_missing(&format!(
            "`{BIN}` is not on PATH; install with `npm install -g @modelcontextprotocol/server-everything`"
        ));
    }
    found
}

fn stdio(command: &str, args: &[&str]) -> McpServerConfig {
    McpServerConfig {
        command: Some(command.to_string()),
        args: args.iter().map(|s| s.to_string()).collect(),
        ..McpServerConfig::default()
    }
}

fn call(name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        id: "m1".into(),
        name: name.into(),
        arguments: args.to_string(),
    }
}

#[tokio::test]
async fn stdio_server_tools_are_listed_called_and_survive_a_kill() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let configs = BTreeMap::from([
        ("everything".to_string(), stdio(BIN, &["stdio"])),
        ("broken".to_string(), stdio("/nonexistent/mcp-server", &[])),
        // Starts but never speaks MCP: must time out, not hang the others.
        ("hang".to_string(), stdio("sleep", &["30"])),
        ("empty".to_string(), McpServerConfig::default()),
    ]);
    let opts = McpOptions {
        start_timeout: Duration::from_secs(10),
        call_timeout: Duration::from_secs(20),
    };
    let started = Instant::now();
    let (manager, failures) = McpManager::start(&configs, opts).await;
    assert!(started.elapsed() < Duration::from_secs(25));
    let failed: BTreeMap<&str, &McpError> = failures
        .iter()
        .map(|f| (f.server.as_str(), &f.error))
        .collect();
    assert!(
        matches!(failed.get("broken"), Some(McpError::Spawn(_))),
        "{failures:?}"
    );
    assert!(
        matches!(
            failed.get("hang"),
            Some(McpError::Timeout(_) | McpError::Initialize(_))
        ),
        "{failures:?}"
    );
    assert!(
        matches!(failed.get("empty"), Some(McpError::BadConfig)),
        "{failures:?}"
    );
    assert_eq!(manager.servers().collect::<Vec<_>>(), vec!["everything"]);

    let mut reg = ToolRegistry::with_builtins();
    manager.register_into(&mut reg);
    let list = reg.list(&ApprovalPolicy::default());
    let echo = list
        .iter()
        .find(|t| t.name == "everything__echo")
        .expect("echo listed");
    assert_eq!(
        echo.source,
        ToolSource::Mcp {
            server: "everything".into()
        }
    );
    assert_eq!(echo.approval, ApprovalMode::Ask);
    assert_eq!(echo.parameters["required"], json!(["message"]));

    let ctx = ToolContext::new(dir.path());
    let r = reg
        .call(
            &call("everything__echo", json!({"message": "hi there"})),
            &ctx,
        )
        .await;
    assert!(!r.is_error, "{r:?}");
    assert!(r.content.contains("hi there"), "{r:?}");
    let r = reg.call(&call("everything__echo", json!({})), &ctx).await;
    assert!(r.is_error && r.content.contains("message"), "{r:?}");

    let pid = manager.pid("everything").expect("stdio server has a pid");
    // SAFETY: sends SIGKILL to the server process this test started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reg
        .call(&call("everything__echo", json!({"message": "again"})), &ctx)
        .await;
    assert!(r.is_error && r.content.contains("everything"), "{r:?}");
    let r = reg.call(&call("system_info", json!({})), &ctx).await;
    assert!(!r.is_error, "registry still works: {r:?}");
    manager.shutdown().await;
}

#[tokio::test]
async fn streamable_http_server_is_listed_and_called() {
    if !installed() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(BIN)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < until, "HTTP server never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cfg = McpServerConfig {
        url: Some(format!("http://127.0.0.1:{port}/mcp")),
        headers: BTreeMap::from([("X-Test".to_string(), "1".to_string())]),
        ..McpServerConfig::default()
    };
    let configs = BTreeMap::from([("web".to_string(), cfg)]);
    let (manager, failures) = McpManager::start(&configs, McpOptions::default()).await;
    assert!(failures.is_empty(), "{failures:?}");
    let mut reg = ToolRegistry::new();
    manager.register_into(&mut reg);
    assert!(reg.get("web__echo").is_some());
    let dir = tempfile::tempdir().unwrap();
    let r = reg
        .call(
            &call("web__echo", json!({"message": "over http"})),
            &ToolContext::new(dir.path()),
        )
        .await;
    assert!(!r.is_error && r.content.contains("over http"), "{r:?}");
    manager.shutdown().await;
    let _ = server.kill().await;
}
