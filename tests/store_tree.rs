//! Conversations, the message tree (edit, regenerate, switch), usage, tool calls, events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rustbot::store::{
    ListFilter, MessageFinish, MessageId, MessageStatus, NewConversation, NewMessage, Role, Store,
    StoreError, ToolApproval, ToolCallRecord, ToolCallStatus, UsageRecord, now_ms,
};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn conv(store: &Store, id: &str) {
    let new = NewConversation {
        provider: "openrouter".into(),
        model: "m".into(),
        ..Default::default()
    };
    store.create_conversation(id, &new).unwrap();
}

fn say(store: &Store, c: &str, parent: Option<MessageId>, role: Role, text: &str) -> MessageId {
    let mut m = NewMessage::new(c, role, text);
    m.parent_id = parent;
    store.append_message(&m).unwrap()
}

fn texts(store: &Store, c: &str) -> Vec<String> {
    store
        .active_path(c)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect()
}

#[test]
fn edit_and_regenerate_add_siblings_and_switching_follows() {
    let (_dir, s) = store();
    conv(&s, "c");
    let q1 = say(&s, "c", None, Role::User, "q1");
    let a1 = say(&s, "c", Some(q1), Role::Assistant, "a1");
    let q2 = say(&s, "c", Some(a1), Role::User, "q2");
    let a2 = say(&s, "c", Some(q2), Role::Assistant, "a2");
    assert_eq!(texts(&s, "c"), ["q1", "a1", "q2", "a2"]);

    // Regenerate the last answer: a sibling of a2, now selected.
    let a2b = say(&s, "c", Some(q2), Role::Assistant, "a2 again");
    assert_eq!(texts(&s, "c"), ["q1", "a1", "q2", "a2 again"]);
    assert_eq!(s.siblings(a2b).unwrap(), (vec![a2, a2b], 1));

    // Edit the first question: a new branch from the root.
    let q1b = s.edit_message(q1, "q1 edited").unwrap();
    assert_eq!(texts(&s, "c"), ["q1 edited"]);
    let a1b = say(&s, "c", Some(q1b), Role::Assistant, "a1b");
    assert_eq!(texts(&s, "c"), ["q1 edited", "a1b"]);
    assert_eq!(s.siblings(q1).unwrap(), (vec![q1, q1b], 0));

    // Switch back to the first branch: the newest leaf under it (the regenerated answer).
    assert_eq!(s.select_branch(q1).unwrap(), a2b);
    assert_eq!(texts(&s, "c"), ["q1", "a1", "q2", "a2 again"]);
    s.select_branch(a2).unwrap();
    assert_eq!(texts(&s, "c"), ["q1", "a1", "q2", "a2"]);
    assert_eq!(s.last_user_message("c").unwrap().unwrap().id, q2);
    s.select_branch(q1b).unwrap();
    assert_eq!(s.active_path("c").unwrap().last().unwrap().id, a1b);

    // Nothing was overwritten.
    let all = s.messages("c").unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(s.message(q1).unwrap().unwrap().content, "q1");
    assert_eq!(
        s.conversation("c").unwrap().unwrap().selected_leaf_id,
        Some(a1b)
    );
}

#[test]
fn the_active_path_carries_each_messages_siblings() {
    let (_dir, s) = store();
    conv(&s, "c");
    let q = say(&s, "c", None, Role::User, "q");
    let a = say(&s, "c", Some(q), Role::Assistant, "a");
    let b = say(&s, "c", Some(q), Role::Assistant, "b");
    let path = s.active_path_with_siblings("c").unwrap();
    let shape: Vec<(MessageId, Vec<MessageId>)> = path
        .into_iter()
        .map(|p| (p.message.id, p.siblings))
        .collect();
    assert_eq!(shape, vec![(q, vec![q]), (b, vec![a, b])]);
}

#[test]
fn deleting_a_message_keeps_what_follows_and_an_answer_goes_with_its_tool_rounds() {
    let (_dir, s) = store();
    conv(&s, "c");
    let q1 = say(&s, "c", None, Role::User, "q1");
    let call = say(&s, "c", Some(q1), Role::Assistant, "");
    let result = say(&s, "c", Some(call), Role::Tool, "file contents");
    let a1 = say(&s, "c", Some(result), Role::Assistant, "a1");
    let q2 = say(&s, "c", Some(a1), Role::User, "q2");
    let a2 = say(&s, "c", Some(q2), Role::Assistant, "a2");

    // The answer and the tool round before it go; the next question hangs off q1 now.
    assert_eq!(s.delete_message(a1).unwrap(), vec![call, result, a1]);
    assert_eq!(texts(&s, "c"), ["q1", "q2", "a2"]);
    assert_eq!(s.message(q2).unwrap().unwrap().parent_id, Some(q1));

    // A question alone; its answer stays.
    assert_eq!(s.delete_message(q2).unwrap(), vec![q2]);
    assert_eq!(texts(&s, "c"), ["q1", "a2"]);

    // The last message: the view ends at its parent, not on some other branch.
    let other = say(&s, "c", Some(q1), Role::Assistant, "other branch");
    s.select_branch(a2).unwrap();
    assert_eq!(s.delete_message(a2).unwrap(), vec![a2]);
    assert_eq!(texts(&s, "c"), ["q1"]);
    assert!(s.message(other).unwrap().is_some(), "other branches stay");
    assert!(matches!(
        s.delete_message(a2),
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        s.search("file contents", 10).unwrap().is_empty(),
        "gone from search too"
    );
}

#[test]
fn parents_must_exist_in_the_same_conversation() {
    let (_dir, s) = store();
    conv(&s, "a");
    conv(&s, "b");
    let qa = say(&s, "a", None, Role::User, "x");
    let mut m = NewMessage::new("b", Role::User, "y");
    m.parent_id = Some(qa);
    assert!(matches!(s.append_message(&m), Err(StoreError::Invalid(_))));
    m.parent_id = Some(MessageId(999));
    assert!(matches!(
        s.append_message(&m),
        Err(StoreError::NotFound { .. })
    ));
    let missing = NewMessage::new("nope", Role::User, "z");
    let err = s.append_message(&missing).unwrap_err();
    assert!(
        err.to_string().contains("conversation nope does not exist"),
        "{err}"
    );
}

#[test]
fn streaming_then_finish_keeps_metrics() {
    let (_dir, s) = store();
    conv(&s, "c");
    let q = say(&s, "c", None, Role::User, "q");
    let mut a = NewMessage::new("c", Role::Assistant, "");
    a.parent_id = Some(q);
    a.status = MessageStatus::Streaming;
    a.model = Some("m".into());
    let a = s.append_message(&a).unwrap();
    s.update_streaming(a, "Hel").unwrap();
    s.update_streaming(a, "Hello").unwrap();
    assert_eq!(s.message(a).unwrap().unwrap().content, "Hello");
    let finish = MessageFinish {
        content: "Hello there".into(),
        status: Some(MessageStatus::Failed),
        error: Some("connection reset".into()),
        prompt_tokens: Some(12),
        completion_tokens: Some(3),
        cost_usd: Some(0.25),
        ttft_ms: Some(150),
        duration_ms: Some(900),
        reasoning: None,
    };
    s.finish_message(a, &finish).unwrap();
    let m = s.message(a).unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Failed);
    assert_eq!(m.error.as_deref(), Some("connection reset"));
    assert_eq!((m.prompt_tokens, m.completion_tokens), (Some(12), Some(3)));
    assert_eq!(
        (m.ttft_ms, m.duration_ms, m.cost_usd),
        (Some(150), Some(900), Some(0.25))
    );
    // A finished answer is never appended to again.
    assert!(matches!(
        s.update_streaming(a, "more"),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn list_orders_pinned_then_recent_and_filters_archived() {
    let (_dir, s) = store();
    for id in ["one", "two", "three"] {
        conv(&s, id);
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    say(&s, "one", None, Role::User, "bump");
    s.set_pinned("three", true).unwrap();
    s.set_archived("two", true).unwrap();
    let ids = |f: ListFilter| -> Vec<String> {
        s.list_conversations(&f)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(ids(ListFilter::default()), ["three", "one"]);
    let all = ListFilter {
        include_archived: true,
        ..Default::default()
    };
    assert_eq!(ids(all), ["three", "one", "two"]);
    let archived = ListFilter {
        archived_only: true,
        ..Default::default()
    };
    assert_eq!(ids(archived), ["two"]);
    let limited = ListFilter {
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(limited), ["three"]);
    let one = &s.list_conversations(&ListFilter::default()).unwrap()[1];
    assert_eq!(one.message_count, 1);
    assert!(s.list_conversations(&ListFilter::default()).unwrap()[0].pinned);
}

#[test]
fn titles_rename_and_delete() {
    let (_dir, s) = store();
    conv(&s, "c");
    assert!(s.set_title_if_empty("c", "Generated").unwrap());
    s.rename("c", "Mine").unwrap();
    assert!(!s.set_title_if_empty("c", "Late generated").unwrap());
    assert_eq!(
        s.conversation("c").unwrap().unwrap().title.as_deref(),
        Some("Mine")
    );
    let dup = s.create_conversation("c", &NewConversation::default());
    assert!(matches!(dup, Err(StoreError::Invalid(_))));
    assert!(matches!(
        s.rename("x", "t"),
        Err(StoreError::NotFound { .. })
    ));

    let q = say(&s, "c", None, Role::User, "q");
    s.record_usage(&UsageRecord {
        conversation_id: Some("c".into()),
        message_id: Some(q),
        provider: "p".into(),
        model: "m".into(),
        prompt_tokens: 5,
        completion_tokens: 7,
        cost_usd: Some(1.5),
        at: now_ms(),
        reasoning_tokens: 0,
    })
    .unwrap();
    s.delete_conversation("c").unwrap();
    assert!(s.conversation("c").unwrap().is_none());
    assert!(s.message(q).unwrap().is_none());
    // The money was spent even if the conversation is gone.
    assert_eq!(s.usage_totals(None).unwrap().cost_usd, 1.5);
    assert!(matches!(
        s.delete_conversation("c"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn usage_totals_by_model_and_since() {
    let (_dir, s) = store();
    conv(&s, "c");
    let rec = |model: &str, p, c, cost, at| UsageRecord {
        conversation_id: Some("c".into()),
        message_id: None,
        provider: "openrouter".into(),
        model: model.into(),
        prompt_tokens: p,
        completion_tokens: c,
        cost_usd: cost,
        at,
        reasoning_tokens: 0,
    };
    s.record_usage(&rec("big", 100, 10, Some(2.0), 1_000))
        .unwrap();
    s.record_usage(&rec("big", 50, 5, Some(1.0), 3_000))
        .unwrap();
    s.record_usage(&rec("small", 10, 1, None, 3_000)).unwrap();
    let all = s.usage_totals(None).unwrap();
    assert_eq!(
        (all.requests, all.prompt_tokens, all.completion_tokens),
        (3, 160, 16)
    );
    assert_eq!(all.cost_usd, 3.0);
    assert_eq!(all.by_model.len(), 2);
    assert_eq!(
        (all.by_model[0].model.as_str(), all.by_model[0].requests),
        ("big", 2)
    );
    let recent = s.usage_totals(Some(2_000)).unwrap();
    assert_eq!(
        (recent.requests, recent.prompt_tokens, recent.cost_usd),
        (2, 60, 1.0)
    );
}

#[test]
fn tool_calls_are_recorded_and_updated() {
    let (_dir, s) = store();
    conv(&s, "c");
    let a = say(&s, "c", None, Role::Assistant, "");
    let mut call = ToolCallRecord {
        conversation_id: "c".into(),
        message_id: Some(a),
        call_id: Some("call_1".into()),
        name: "fs__read".into(),
        arguments: r#"{"path":"a.txt"}"#.into(),
        result: None,
        approval: ToolApproval::Pending,
        status: ToolCallStatus::Pending,
        started_at: 10,
        finished_at: None,
    };
    let id = s.record_tool_call(&call).unwrap();
    call.approval = ToolApproval::Approved;
    call.status = ToolCallStatus::Succeeded;
    call.result = Some("contents".into());
    call.finished_at = Some(20);
    s.update_tool_call(id, &call).unwrap();
    let stored = s.tool_calls("c").unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert_eq!(stored[0].record, call);
}

#[test]
fn event_log_is_bounded() {
    let (_dir, s) = store();
    for i in 0..5 {
        s.append_event(Some("c"), "state", &format!(r#"{{"n":{i}}}"#))
            .unwrap();
    }
    s.append_event(None, "pricing", "{}").unwrap();
    let recent = s.recent_events(3).unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0].kind, "pricing");
    assert_eq!(recent[1].json, r#"{"n":4}"#);
    assert_eq!(s.prune_events(1).unwrap(), 0, "nothing is a day old");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(s.prune_events(0).unwrap(), 6);
    assert!(s.recent_events(10).unwrap().is_empty());
}
