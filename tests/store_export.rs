//! Export (Markdown, JSON) and import (our JSON, OpenAI-style messages).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeSet, HashMap};

use rustbot::store::{
    MessageFinish, MessageId, MessageStatus, NewConversation, NewMessage, Role, Store, StoreError,
    ToolApproval, ToolCallRecord, ToolCallStatus, UsageRecord,
};
use serde_json::Value;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

fn say(s: &Store, parent: Option<MessageId>, role: Role, text: &str) -> MessageId {
    let mut m = NewMessage::new("c", role, text);
    m.parent_id = parent;
    if role == Role::Assistant {
        m.model = Some("gpt-x".into());
    }
    s.append_message(&m).unwrap()
}

/// A conversation using every feature: branches, a stopped answer, tool calls, usage.
fn rich(s: &Store) {
    let new = NewConversation {
        title: Some("Sorting in Rust".into()),
        provider: "openrouter".into(),
        model: "gpt-x".into(),
        system_prompt: "You are terse.".into(),
        agent: Some("coder".into()),
        profile: None,
    };
    s.create_conversation("c", &new).unwrap();
    s.set_pinned("c", true).unwrap();
    let q = say(s, None, Role::User, "How do I sort a Vec?");
    let old = say(s, Some(q), Role::Assistant, "Use sort.");
    let mut call = NewMessage::new("c", Role::Assistant, "");
    call.parent_id = Some(q);
    call.tool_calls =
        Some(r#"[{"id":"call_1","name":"docs__search","arguments":"{\"q\":\"sort\"}"}]"#.into());
    let call = s.append_message(&call).unwrap();
    let mut result = NewMessage::new("c", Role::Tool, "slice::sort, sort_by_key");
    result.parent_id = Some(call);
    result.tool_call_id = Some("call_1".into());
    let result = s.append_message(&result).unwrap();
    s.record_tool_call(&ToolCallRecord {
        conversation_id: "c".into(),
        message_id: Some(call),
        call_id: Some("call_1".into()),
        name: "docs__search".into(),
        arguments: r#"{"q":"sort"}"#.into(),
        result: Some("slice::sort, sort_by_key".into()),
        approval: ToolApproval::Auto,
        status: ToolCallStatus::Succeeded,
        started_at: 100,
        finished_at: Some(120),
    })
    .unwrap();
    let mut ans = NewMessage::new("c", Role::Assistant, "");
    ans.parent_id = Some(result);
    ans.status = MessageStatus::Streaming;
    ans.model = Some("gpt-x".into());
    let ans = s.append_message(&ans).unwrap();
    s.finish_message(
        ans,
        &MessageFinish {
            content: "Like this:\n\n```rust\nlet mut v = vec![3, 1];\nv.sort();\n".into(),
            status: Some(MessageStatus::Stopped),
            prompt_tokens: Some(40),
            completion_tokens: Some(9),
            cost_usd: Some(0.001),
            ttft_ms: Some(200),
            duration_ms: Some(800),
            ..Default::default()
        },
    )
    .unwrap();
    s.record_usage(&UsageRecord {
        conversation_id: Some("c".into()),
        message_id: Some(ans),
        provider: "openrouter".into(),
        model: "gpt-x".into(),
        prompt_tokens: 40,
        completion_tokens: 9,
        cost_usd: Some(0.001),
        at: 1_000,
        reasoning_tokens: 0,
    })
    .unwrap();
    assert_ne!(old, ans);
}

fn without_export_time(json: &str) -> Value {
    let mut v: Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("exported_at");
    v
}

/// Replaces ids (which a new database assigns afresh) by positions, so trees can be compared.
fn normalized(json: &str) -> Value {
    let mut v = without_export_time(json);
    let ids: HashMap<i64, usize> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, m)| (m["id"].as_i64().unwrap(), i))
        .collect();
    let fix = |x: &mut Value| {
        if let Some(id) = x.as_i64() {
            *x = Value::from(ids[&id]);
        }
    };
    fix(&mut v["conversation"]["selected_leaf_id"]);
    v["conversation"]["id"] = Value::from("C");
    for m in v["messages"].as_array_mut().unwrap() {
        fix(&mut m["id"]);
        fix(&mut m["parent_id"]);
        m["conversation_id"] = Value::from("C");
    }
    for u in v["usage"].as_array_mut().unwrap() {
        fix(&mut u["message_id"]);
        u["conversation_id"] = Value::from("C");
    }
    for (i, t) in v["tool_calls"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        fix(&mut t["message_id"]);
        t["conversation_id"] = Value::from("C");
        t["id"] = Value::from(i);
    }
    v
}

#[test]
fn json_round_trip_is_lossless() {
    let (_d1, a) = open();
    rich(&a);
    let exported = a.export_json("c").unwrap();

    // Into an empty database: same id, byte-for-byte the same export.
    let (_d2, b) = open();
    assert_eq!(b.import_json(&exported).unwrap(), "c");
    assert_eq!(
        without_export_time(&b.export_json("c").unwrap()),
        without_export_time(&exported)
    );
    assert_eq!(b.active_path("c").unwrap().len(), 4);

    // Into the same database: the id is taken, so a new conversation with a new id.
    let copy = a.import_json(&exported).unwrap();
    assert_ne!(copy, "c");
    let again = a.export_json(&copy).unwrap();
    assert_eq!(normalized(&again), normalized(&exported));
    assert_eq!(a.messages(&copy).unwrap().len(), 5);
    assert_eq!(a.usage_totals(None).unwrap().requests, 2);
}

#[test]
fn export_contains_only_the_expected_fields() {
    let (_d, s) = open();
    rich(&s);
    let v: Value = serde_json::from_str(&s.export_json("c").unwrap()).unwrap();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    assert_eq!(v["format"], "rustbot.conversation");
    assert_eq!(v["version"], 1);
    assert_eq!(
        keys(&v),
        set(&[
            "format",
            "version",
            "exported_at",
            "conversation",
            "messages",
            "usage",
            "tool_calls"
        ])
    );
    assert_eq!(
        keys(&v["conversation"]),
        set(&[
            "id",
            "title",
            "provider",
            "model",
            "system_prompt",
            "agent",
            "profile",
            "created_at",
            "updated_at",
            "pinned",
            "archived",
            "selected_leaf_id"
        ])
    );
    for m in v["messages"].as_array().unwrap() {
        assert_eq!(
            keys(m),
            set(&[
                "id",
                "conversation_id",
                "parent_id",
                "role",
                "content",
                "status",
                "error",
                "model",
                "tool_call_id",
                "tool_calls",
                "prompt_tokens",
                "completion_tokens",
                "cost_usd",
                "ttft_ms",
                "duration_ms",
                "created_at",
                "updated_at"
            ])
        );
    }
    let text = v.to_string().to_lowercase();
    assert!(!text.contains("api_key") && !text.contains("authorization"));
}

#[test]
fn markdown_shows_the_active_path_readably() {
    let (_d, s) = open();
    rich(&s);
    let md = s.export_markdown("c").unwrap();
    assert!(
        md.starts_with("# Sorting in Rust\n\n_openrouter · gpt-x · "),
        "{md}"
    );
    assert!(md.contains("## System\n\nYou are terse.\n"));
    assert!(md.contains("## User\n\nHow do I sort a Vec?\n"));
    assert!(
        !md.contains("Use sort."),
        "the other branch is not exported"
    );
    assert!(md.contains("**Tool calls**\n\n```json\n["));
    assert!(md.contains("## Tool result (call_1)\n\n```\nslice::sort, sort_by_key\n```"));
    // The stopped answer's open code block is closed, so the status line is not swallowed.
    assert!(
        md.contains("## Assistant (gpt-x)\n\nLike this:\n\n```rust\nlet mut v = vec![3, 1];\nv.sort();\n```\n\n_(stopped)_"),
        "{md}"
    );
    let fences = md.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "every code block is closed");
}

#[test]
fn imports_openai_messages() {
    let (_d, s) = open();
    let id = s
        .import_openai_messages(
            r#"[{"role":"system","content":"Be kind."},
                {"role":"user","content":"Hello there, how are you today?"},
                {"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"clock","arguments":"{}"}}]},
                {"role":"tool","tool_call_id":"t1","content":"12:00"},
                {"role":"assistant","content":[{"type":"text","text":"It is noon."}]}]"#,
        )
        .unwrap();
    let conv = s.conversation(&id).unwrap().unwrap();
    assert_eq!(conv.system_prompt, "Be kind.");
    assert_eq!(
        conv.title.as_deref(),
        Some("Hello there, how are you today?")
    );
    let path = s.active_path(&id).unwrap();
    let roles: Vec<_> = path.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    assert!(path[1].tool_calls.as_deref().unwrap().contains("clock"));
    assert_eq!(path[2].tool_call_id.as_deref(), Some("t1"));
    assert_eq!(path[3].content, "It is noon.");

    let id2 = s
        .import_openai_messages(
            r#"{"model":"llama3","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}"#,
        )
        .unwrap();
    let conv2 = s.conversation(&id2).unwrap().unwrap();
    assert_eq!(conv2.model, "llama3");
    assert_eq!(
        s.active_path(&id2).unwrap()[1].model.as_deref(),
        Some("llama3")
    );

    let bad_role = s.import_openai_messages(r#"[{"role":"wizard","content":"x"}]"#);
    assert!(matches!(bad_role, Err(StoreError::Import(m)) if m.contains("wizard")));
    assert!(matches!(
        s.import_openai_messages("not json"),
        Err(StoreError::Import(_))
    ));
    assert!(matches!(
        s.import_json(r#"{"format":"other"}"#),
        Err(StoreError::Import(_))
    ));
    // A failed import leaves nothing behind.
    assert_eq!(s.list_conversations(&Default::default()).unwrap().len(), 2);
}

#[test]
fn import_rejects_broken_trees_without_side_effects() {
    let (_d, s) = open();
    rich(&s);
    let mut v: Value = serde_json::from_str(&s.export_json("c").unwrap()).unwrap();
    v["conversation"]["id"] = Value::from("other");
    v["messages"][1]["parent_id"] = Value::from(4242);
    let err = s.import_json(&v.to_string()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(s.conversation("other").unwrap().is_none());
    v["version"] = Value::from(99);
    assert!(
        s.import_json(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("newer")
    );
}
