use super::*;
use crate::engine::RunMetrics;
use crate::tools::Decision;

fn conv(s: &str) -> ConversationId {
    ConversationId::from(s)
}

fn text(c: &str, delta: &str) -> EngineEvent {
    EngineEvent::Text {
        conversation: conv(c),
        delta: delta.into(),
    }
}

fn done(c: &str, status: RunStatus, text: &str, error: Option<&str>) -> EngineEvent {
    EngineEvent::Done {
        conversation: conv(c),
        status,
        reason: "x".into(),
        text: text.into(),
        error: error.map(String::from),
        metrics: RunMetrics {
            model: "m1".into(),
            ..RunMetrics::default()
        },
    }
}

fn started(c: &str) -> EngineEvent {
    EngineEvent::RunStarted {
        conversation: conv(c),
        model: "m1".into(),
    }
}

#[test]
fn a_sent_message_streams_an_answer_and_ends_idle() {
    let mut vm = ViewModel::new();
    vm.select(conv("a"), 1);
    vm.user_sent(&conv("a"), "Hello there", 2);
    assert_eq!(
        vm.selected().map(|c| c.run.clone()),
        Some(RunState::Sending)
    );
    vm.apply(
        &EngineEvent::UserMessage {
            conversation: conv("a"),
            text: "Hello there".into(),
        },
        3,
    );
    vm.apply(&started("a"), 4);
    let c = vm.conversation(&conv("a")).unwrap();
    assert!(matches!(c.run, RunState::Waiting { .. }));
    assert_eq!(
        c.messages.len(),
        2,
        "user message confirmed, not duplicated"
    );
    assert_eq!(c.messages[0].status, MessageStatus::Complete);
    vm.apply(&text("a", "Hi"), 5);
    vm.apply(&text("a", "!"), 6);
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.run, RunState::Streaming);
    assert_eq!(c.messages[1].text, "Hi!");
    assert_eq!(c.messages[1].status, MessageStatus::Streaming);
    let rev = c.messages[1].revision;
    vm.apply(&done("a", RunStatus::Complete, "Hi!", None), 7);
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.run, RunState::Idle);
    assert_eq!(c.messages[1].status, MessageStatus::Complete);
    assert_eq!(c.messages[1].model.as_deref(), Some("m1"));
    assert!(c.messages[1].revision > rev);
    assert_eq!(c.title, "Hello there");
}

#[test]
fn stop_keeps_the_partial_answer_marked_stopped() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "q", 1);
    vm.apply(&started("a"), 2);
    vm.apply(&text("a", "par"), 3);
    vm.stop_requested(&conv("a"));
    vm.apply(&text("a", "tial"), 4);
    assert_eq!(vm.conversation(&conv("a")).unwrap().run, RunState::Stopping);
    vm.apply(&done("a", RunStatus::Stopped, "partial", None), 5);
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.messages[1].text, "partial");
    assert_eq!(c.messages[1].status, MessageStatus::Stopped);
    assert_eq!(c.run, RunState::Idle);
}

#[test]
fn a_failure_before_any_token_still_shows_an_answer_with_the_error() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "q", 1);
    vm.apply(
        &done("a", RunStatus::Failed, "", Some("The key was refused.")),
        2,
    );
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.messages.len(), 2);
    assert_eq!(c.messages[1].status, MessageStatus::Failed);
    assert_eq!(c.messages[1].error.as_deref(), Some("The key was refused."));
}

#[test]
fn a_failed_answer_shows_its_error_once_on_its_card() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "q", 1);
    vm.apply(
        &EngineEvent::UserMessage {
            conversation: conv("a"),
            text: "q".into(),
        },
        1,
    );
    vm.apply(&started("a"), 1);
    let error = EngineEvent::Error {
        conversation: Some(conv("a")),
        message: "image input is not supported".into(),
    };
    vm.apply(&error, 2);
    vm.apply(
        &done(
            "a",
            RunStatus::Failed,
            "",
            Some("image input is not supported"),
        ),
        3,
    );
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.notice, None, "the card says it; no notice above");
    assert_eq!(
        c.messages[1].error.as_deref(),
        Some("image input is not supported")
    );
    // An error that is not the answer's stays a notice.
    vm.apply(
        &EngineEvent::Error {
            conversation: Some(conv("a")),
            message: "a title cannot be empty".into(),
        },
        4,
    );
    assert_eq!(
        vm.conversation(&conv("a")).unwrap().notice.as_deref(),
        Some("a title cannot be empty")
    );
}

#[test]
fn a_refused_message_says_so_and_the_next_echo_finds_its_own_message() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "same words", 1);
    vm.apply(
        &EngineEvent::Error {
            conversation: Some(conv("a")),
            message: "the monthly budget is reached".into(),
        },
        2,
    );
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.run, RunState::Idle);
    assert_eq!(c.notice, None, "said on the message itself");
    assert_eq!(c.messages[0].status, MessageStatus::Failed);
    assert_eq!(
        c.messages[0].error.as_deref(),
        Some("Not sent: the monthly budget is reached")
    );
    // The same words again, now accepted: the echo confirms the new message, not the refused.
    vm.user_sent(&conv("a"), "same words", 3);
    vm.apply(
        &EngineEvent::UserMessage {
            conversation: conv("a"),
            text: "same words".into(),
        },
        4,
    );
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.messages.len(), 2);
    assert_eq!(c.messages[0].status, MessageStatus::Failed);
    assert_eq!(c.messages[1].status, MessageStatus::Complete);
}

#[test]
fn interleaved_conversations_keep_their_texts_apart() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "qa", 1);
    vm.user_sent(&conv("b"), "qb", 1);
    vm.apply(&started("a"), 2);
    vm.apply(&started("b"), 2);
    vm.apply(&text("a", "A1"), 3);
    vm.apply(&text("b", "B1"), 3);
    vm.apply(&text("a", "A2"), 4);
    vm.apply(&done("b", RunStatus::Complete, "B1", None), 5);
    vm.apply(&text("a", "A3"), 6);
    assert_eq!(
        vm.conversation(&conv("a")).unwrap().messages[1].text,
        "A1A2A3"
    );
    assert_eq!(vm.conversation(&conv("b")).unwrap().messages[1].text, "B1");
    assert!(vm.conversation(&conv("a")).unwrap().run.is_active());
    assert!(!vm.conversation(&conv("b")).unwrap().run.is_active());
}

#[test]
fn summaries_are_newest_first_and_searchable() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "Rust lifetimes", 10);
    vm.user_sent(&conv("b"), "Bread recipe", 20);
    let rows = vm.summaries("");
    assert_eq!(rows[0].title, "Bread recipe");
    assert_eq!(rows[1].title, "Rust lifetimes");
    let rows = vm.summaries("LIFE");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, conv("a"));
}

#[test]
fn tool_calls_attach_to_the_answer_and_follow_decisions_and_results() {
    use crate::tools::{ApprovedBy, DeniedBy};
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "list files", 1);
    vm.apply(&started("a"), 2);
    let call = |id: &str, decision| EngineEvent::ToolCall {
        conversation: conv("a"),
        call_id: id.into(),
        name: "fs__list".into(),
        arguments: "{}".into(),
        decision,
    };
    vm.apply(&call("c1", Some(Decision::NeedsApproval)), 3);
    vm.apply(
        &call("c2", Some(Decision::Approved(ApprovedBy::ReadOnly))),
        3,
    );
    vm.apply(&call("c3", None), 3);
    let tools = &vm.conversation(&conv("a")).unwrap().messages[1].tools;
    assert_eq!(tools[0].state, ToolCallState::NeedsApproval);
    assert_eq!(tools[1].state, ToolCallState::Running);
    assert_eq!(tools[2].state, ToolCallState::Invalid);
    vm.apply(
        &EngineEvent::ToolDecision {
            conversation: conv("a"),
            call_id: "c1".into(),
            decision: Decision::Denied(DeniedBy::User),
        },
        4,
    );
    vm.apply(
        &EngineEvent::ToolResult {
            conversation: conv("a"),
            call_id: "c2".into(),
            name: "fs__list".into(),
            content: "a.txt".into(),
            is_error: false,
        },
        5,
    );
    vm.apply(&started("a"), 6);
    vm.apply(&text("a", "There is a.txt."), 7);
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.messages.len(), 2, "one answer across tool rounds");
    let tools = &c.messages[1].tools;
    assert_eq!(tools[0].state, ToolCallState::Denied);
    assert_eq!(tools[1].state, ToolCallState::Finished { is_error: false });
    assert_eq!(tools[1].result.as_deref(), Some("a.txt"));
    assert_eq!(c.messages[1].text, "There is a.txt.");
}

#[test]
fn stored_conversations_list_and_load_without_clobbering_live_ones() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("live"), "live question", 50);
    let row = |id: &str, title: &str, updated_ms| StoredSummary {
        id: conv(id),
        title: Some(title.into()),
        created_ms: 1,
        updated_ms,
        pinned: false,
    };
    vm.load_summaries(vec![
        row("old", "Old chat", 10),
        row("live", "stored title", 40),
    ]);
    assert_eq!(
        vm.conversation(&conv("live")).unwrap().title,
        "live question"
    );
    let old = vm.conversation(&conv("old")).unwrap();
    assert!(old.history_pending);
    assert_eq!(old.title, "Old chat");
    let loaded = vec![
        LoadedMessage {
            role: Author::User,
            text: "hi".into(),
            model: None,
            created_ms: 2,
            status: MessageStatus::Complete,
            error: None,
            store_id: None,
            siblings: Siblings::default(),
            usage: None,
            images: Vec::new(),
        },
        LoadedMessage {
            role: Author::Assistant,
            text: "hello".into(),
            model: Some("m".into()),
            created_ms: 3,
            status: MessageStatus::Complete,
            error: None,
            store_id: None,
            siblings: Siblings::default(),
            usage: None,
            images: Vec::new(),
        },
    ];
    vm.load_messages(&conv("old"), loaded.clone());
    let old = vm.conversation(&conv("old")).unwrap();
    assert_eq!(old.messages.len(), 2);
    assert!(!old.history_pending);
    vm.load_messages(&conv("old"), loaded);
    assert_eq!(
        vm.conversation(&conv("old")).unwrap().messages.len(),
        2,
        "loaded once"
    );
}

#[test]
fn a_retry_replaces_the_last_answer() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "q", 1);
    vm.apply(&done("a", RunStatus::Failed, "par", Some("boom")), 2);
    vm.retry_requested(&conv("a"), 3);
    assert_eq!(vm.conversation(&conv("a")).unwrap().messages.len(), 1);
    vm.apply(&started("a"), 4);
    vm.apply(&done("a", RunStatus::Complete, "full", None), 5);
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.messages.len(), 2);
    assert_eq!(c.messages[1].text, "full");
}

#[test]
fn pinned_first_and_removed_conversations_can_come_back() {
    let mut vm = ViewModel::new();
    vm.user_sent(&conv("a"), "older", 1);
    vm.user_sent(&conv("b"), "newer", 2);
    vm.user_sent(&conv("c"), "newest", 3);
    vm.set_pinned(&conv("a"), true);
    vm.rename(&conv("b"), "  Renamed ");
    let ids: Vec<_> = vm.summaries("").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [conv("a"), conv("c"), conv("b")]);
    vm.select(conv("b"), 4);
    let removed = vm.remove(&conv("b")).unwrap();
    assert!(vm.selected().is_none());
    assert!(vm.conversation(&conv("b")).is_none());
    assert_eq!(
        vm.conversation(&conv("c")).unwrap().title,
        "newest",
        "index kept right"
    );
    vm.restore(removed);
    assert_eq!(vm.conversation(&conv("b")).unwrap().title, "Renamed");
}

#[test]
fn titles_are_the_first_line_shortened() {
    assert_eq!(title_from("\n  hi\nthere"), "hi");
    assert_eq!(title_from("   "), UNTITLED);
    let long = "x".repeat(100);
    assert_eq!(title_from(&long).chars().count(), TITLE_CHARS);
}

#[test]
fn messages_from_other_doors_appear_and_lag_is_counted() {
    let mut vm = ViewModel::new();
    vm.apply(
        &EngineEvent::UserMessage {
            conversation: conv("z"),
            text: "from serve".into(),
        },
        1,
    );
    vm.apply(&EngineEvent::Lagged { dropped: 3 }, 2);
    let c = vm.conversation(&conv("z")).unwrap();
    assert_eq!(c.messages[0].text, "from serve");
    assert_eq!(c.title, "from serve");
    assert_eq!(vm.lagged_events, 3);
}

#[test]
fn an_edit_keeps_the_images_of_the_message_it_replaces() {
    let mut vm = ViewModel::new();
    let image =
        crate::ui::images::ImageVm::decode("a.png", "image/png", b"not decodable".to_vec().into());
    vm.user_sent_with_images(&conv("a"), "what is this?", vec![image.clone()], 1);
    vm.apply(&done("a", RunStatus::Complete, "a cat", None), 2);
    vm.edit_requested(&conv("a"), "what colour is it?", 3);
    let c = vm.conversation(&conv("a")).unwrap();
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.messages[0].text, "what colour is it?");
    assert_eq!(c.messages[0].images, vec![image]);
}
