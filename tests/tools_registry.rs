//! The registry's call path: every failure is an error result, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustbot::engine::events::ConversationId;
use rustbot::llm::types::ToolCall;
use rustbot::tools::{
    ApprovalMode, ApprovalPolicy, ApprovedBy, CliApproval, Decision, Tool, ToolContext, ToolError,
    ToolFilter, ToolOutput, ToolRegistry, ToolSource,
};
use serde_json::{Value, json};

/// Sleeps for `secs` seconds, ignoring cancellation (the registry must enforce it).
struct Sleepy;

#[async_trait]
impl Tool for Sleepy {
    fn name(&self) -> &str {
        "sleepy"
    }
    fn description(&self) -> &str {
        "sleeps"
    }
    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"secs": {"type": "integer"}}, "required": ["secs"]})
    }
    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }
    async fn call(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let secs = args["secs"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(ToolOutput::text("woke"))
    }
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: "c1".into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn registry() -> ToolRegistry {
    let mut reg = ToolRegistry::with_builtins();
    reg.register(Arc::new(Sleepy));
    reg
}

#[tokio::test]
async fn failures_become_error_results() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let ctx = ToolContext::new(dir.path());
    let cases = [
        (call("nope", "{}"), "unknown tool `nope`"),
        (call("read_file", "{\"path\": "), "not valid JSON"),
        (call("read_file", "{}"), "missing required field `path`"),
        (
            call("read_file", "{\"path\": 3}"),
            "arguments.path must be of type string",
        ),
        (call("read_file", "[1]"), "must be of type object"),
        (
            call("sleepy", "{\"secs\": \"x\"}"),
            "arguments.secs must be of type integer",
        ),
    ];
    for (c, expected) in cases {
        let r = reg.call(&c, &ctx).await;
        assert!(r.is_error, "{c:?}: {r:?}");
        assert!(r.content.contains(expected), "{c:?}: {}", r.content);
    }
    // Empty arguments mean `{}`.
    let r = reg.call(&call("system_info", ""), &ctx).await;
    assert!(!r.is_error, "{r:?}");
}

#[tokio::test]
async fn timeout_and_cancel_end_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let mut ctx = ToolContext::new(dir.path());
    ctx.timeout = Duration::from_millis(100);
    let started = Instant::now();
    let r = reg.call(&call("sleepy", "{\"secs\": 30}"), &ctx).await;
    assert!(r.is_error && r.content.contains("timed out"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let ctx = ToolContext::new(dir.path());
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let r = reg.call(&call("sleepy", "{\"secs\": 30}"), &ctx).await;
    assert!(r.is_error && r.content.contains("cancelled"), "{r:?}");
}

#[test]
fn specs_follow_the_filter() {
    let reg = registry();
    let names = |f: &str| -> Vec<String> {
        reg.specs(&f.parse::<ToolFilter>().unwrap())
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(names("all").len(), reg.len());
    assert!(names("none").is_empty());
    assert_eq!(names("read_file, list_dir"), vec!["list_dir", "read_file"]);
    assert_eq!(names("*_file"), vec!["read_file", "write_file"]);
    let spec = &reg.specs(&ToolFilter::All)[0];
    assert_eq!(spec.parameters["type"], "object");
}

#[test]
fn list_shows_source_and_approval_modes() {
    let reg = registry();
    let policy = ApprovalPolicy::new(
        [("run_shell".to_string(), ApprovalMode::Deny)].into(),
        CliApproval::Ask,
    );
    let list = reg.list(&policy);
    let mode = |n: &str| list.iter().find(|t| t.name == n).map(|t| t.approval);
    assert_eq!(mode("read_file"), Some(ApprovalMode::Allow));
    assert_eq!(mode("list_dir"), Some(ApprovalMode::Allow));
    assert_eq!(mode("search_files"), Some(ApprovalMode::Allow));
    assert_eq!(mode("system_info"), Some(ApprovalMode::Allow));
    assert_eq!(mode("write_file"), Some(ApprovalMode::Ask));
    assert_eq!(mode("http_get"), Some(ApprovalMode::Ask));
    assert_eq!(mode("run_shell"), Some(ApprovalMode::Deny));
    assert!(list.iter().all(|t| t.source == ToolSource::Builtin));
}

#[test]
fn validate_then_decide() {
    let reg = registry();
    let policy = ApprovalPolicy::default();
    let conv = ConversationId::from("c");
    let v = reg
        .validate(&call("write_file", "{\"path\": \"a\", \"content\": \"b\"}"))
        .unwrap();
    assert_eq!(
        policy.decide(&conv, v.tool.name(), v.needs_approval()),
        Decision::NeedsApproval
    );
    let v = reg
        .validate(&call("read_file", "{\"path\": \"a\"}"))
        .unwrap();
    assert_eq!(
        policy.decide(&conv, v.tool.name(), v.needs_approval()),
        Decision::Approved(ApprovedBy::ReadOnly)
    );
}
