//! The engine over the scripted server: state sequences, Stop, parallel conversations, long
//! streams and retries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::*;
use rustbot::config::NetworkSettings;
use rustbot::engine::{
    self, Command, ConversationId, EngineConfig, EngineEvent, EngineHandle, RunStatus, Subscription,
};
use rustbot::llm::{ProviderKind, ProviderSettings, build_provider};

fn engine(server: &ScriptedServer) -> EngineHandle {
    let provider = scripted_provider(server, 2);
    engine::start(
        EngineConfig::new(provider, "m"),
        &tokio::runtime::Handle::current(),
    )
}

/// Collects events until the `Done` of `conv` (or a 10 s limit).
async fn until_done(sub: &Subscription, conv: &ConversationId) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline.into(), sub.recv())
            .await
            .expect("Done within 10 s");
        let done = matches!(&ev, EngineEvent::Done { conversation, .. } if conversation == conv);
        events.push(ev);
        if done {
            return events;
        }
    }
}

fn states(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::State { from, to, .. } => Some(format!("{from}->{to}")),
            _ => None,
        })
        .collect()
}

fn text(events: &[EngineEvent], conv: &ConversationId) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Text {
                conversation,
                delta,
            } if conversation == conv => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

fn send(h: &EngineHandle, text: &str) -> ConversationId {
    let conv = ConversationId::new();
    h.send(Command::NewConversation {
        conversation: conv.clone(),
    });
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: text.into(),
        model: None,
        images: Vec::new(),
    });
    conv
}

#[tokio::test]
async fn a_full_turn_emits_the_expected_states_and_metrics() {
    let server = ScriptedServer::start(vec![openai_answer(&["Hel", "lo"], true)]);
    let h = engine(&server);
    let sub = h.subscribe();
    let conv = send(&h, "hi");
    let events = until_done(&sub, &conv).await;
    assert_eq!(
        states(&events),
        ["Idle->Sending", "Sending->Streaming", "Streaming->Idle"]
    );
    assert_eq!(text(&events, &conv), "Hello");
    match events.last().unwrap() {
        EngineEvent::Done {
            status,
            text,
            metrics,
            ..
        } => {
            assert_eq!(*status, RunStatus::Complete);
            assert_eq!(text, "Hello");
            assert_eq!(metrics.prompt_tokens, 7);
            assert_eq!(metrics.completion_tokens, 2);
            assert!(metrics.tokens_reported);
            assert!(metrics.ttft_ms.is_some());
        }
        other => panic!("{other:?}"),
    }
    // The second turn sends the first answer back as history.
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "again".into(),
        model: None,
        images: Vec::new(),
    });
    until_done(&sub, &conv).await;
    let body = server.requests()[1].json();
    let roles: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(body["messages"][1]["content"], "Hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_reaches_idle_fast_closes_the_socket_and_keeps_the_partial_answer() {
    let server = ScriptedServer::start(vec![openai_slow(
        "partial",
        100,
        Duration::from_millis(100),
    )]);
    let h = engine(&server);
    let sub = h.subscribe();
    let conv = send(&h, "long please");
    // Wait for the first text.
    loop {
        if let EngineEvent::Text { .. } = sub.recv().await {
            break;
        }
    }
    let stop_at = Instant::now();
    h.send(Command::Stop {
        conversation: conv.clone(),
    });
    let events = until_done(&sub, &conv).await;
    let stop_latency = stop_at.elapsed();
    assert!(
        stop_latency < Duration::from_millis(50),
        "Stop took {stop_latency:?}"
    );
    assert!(states(&events).ends_with(&["Streaming->Stopping".into(), "Stopping->Idle".into()]));
    match events.last().unwrap() {
        EngineEvent::Done { status, text, .. } => {
            assert_eq!(*status, RunStatus::Stopped);
            assert!(text.starts_with("partial"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // The server sees the client close its socket while it is still sleeping.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.peer_closed().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let closed = server.peer_closed();
    assert_eq!(closed.len(), 1, "the socket was closed");
    assert!(closed[0].duration_since(stop_at) < Duration::from_millis(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conversations_streaming_at_once_do_not_mix() {
    let server = ScriptedServer::start(vec![
        openai_slow("A", 20, Duration::from_millis(5)),
        openai_slow("B", 20, Duration::from_millis(5)),
    ]);
    let h = engine(&server);
    let sub = h.subscribe();
    let a = send(&h, "first");
    let b = send(&h, "second");
    let mut events = until_done(&sub, &a).await;
    if !events
        .iter()
        .any(|e| matches!(e, EngineEvent::Done { conversation, .. } if *conversation == b))
    {
        events.extend(until_done(&sub, &b).await);
    }
    let (ta, tb) = (text(&events, &a), text(&events, &b));
    // Which request reached the server first decides who got "A"; each is whole and unmixed.
    let mut got = [ta.clone(), tb.clone()];
    got.sort();
    let x20 = "x".repeat(20);
    assert_eq!(got, [format!("A{x20}"), format!("B{x20}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_chunk_stream_loses_no_text_at_the_subscriber() {
    let pieces: Vec<String> = (0..10_000).map(|i| format!("{i},")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let server = ScriptedServer::start(vec![openai_answer(&refs, false)]);
    let h = engine(&server);
    let sub = h.subscribe();
    let conv = send(&h, "count");
    let events = until_done(&sub, &conv).await;
    let expected: String = pieces.concat();
    assert_eq!(text(&events, &conv), expected);
    match events.last().unwrap() {
        EngineEvent::Done { text, .. } => assert_eq!(*text, expected),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_retry_shows_retrying_then_succeeds() {
    let server = ScriptedServer::start(vec![
        vec![Step::Bytes(json_response(
            "503 Service Unavailable",
            "Retry-After: 0\r\n",
            r#"{"error":{"message":"busy"}}"#,
        ))],
        openai_answer(&["ok"], false),
    ]);
    let h = engine(&server);
    let sub = h.subscribe();
    let conv = send(&h, "hi");
    let events = until_done(&sub, &conv).await;
    assert_eq!(
        states(&events),
        [
            "Idle->Sending",
            "Sending->Retrying",
            "Retrying->Sending",
            "Sending->Streaming",
            "Streaming->Idle"
        ]
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EngineEvent::Retrying { attempt: 1, .. }))
    );
    assert_eq!(text(&events, &conv), "ok");
}

#[tokio::test]
async fn a_failure_keeps_the_partial_answer_and_retry_answers_again() {
    let server = ScriptedServer::start(vec![
        vec![
            Step::Bytes(sse_head()),
            Step::Bytes(sse_body(&[&openai_text("half")])),
        ],
        openai_answer(&["whole"], false),
    ]);
    let h = engine(&server);
    let sub = h.subscribe();
    let conv = send(&h, "hi");
    let events = until_done(&sub, &conv).await;
    assert!(states(&events).contains(&"Streaming->Failed".to_string()));
    match events.last().unwrap() {
        EngineEvent::Done {
            status,
            text,
            error,
            ..
        } => {
            assert_eq!(*status, RunStatus::Failed);
            assert_eq!(text, "half");
            assert!(error.as_deref().unwrap().contains("cut off"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EngineEvent::Error { .. }))
    );
    h.send(Command::Retry {
        conversation: conv.clone(),
    });
    let events = until_done(&sub, &conv).await;
    assert_eq!(states(&events)[0], "Failed->Sending");
    assert_eq!(text(&events, &conv), "whole");
    // The failed partial answer is not sent back to the model.
    let body = server.requests()[1].json();
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_message_while_a_run_is_active_is_refused_with_a_reason() {
    let server = ScriptedServer::start(vec![openai_slow("a", 5, Duration::from_millis(50))]);
    let h = engine(&server);
    let sub = h.subscribe();
    let conv = send(&h, "one");
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "two".into(),
        model: None,
        images: Vec::new(),
    });
    let events = until_done(&sub, &conv).await;
    assert!(events.iter().any(
        |e| matches!(e, EngineEvent::Error { message, .. } if message.contains("stop it first"))
    ));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn old_turns_are_left_out_to_fit_the_context_window_when_no_summary_can_be_made() {
    // Every summary request is refused (the odd replies); the answers come through.
    let refused = || {
        vec![Step::Bytes(json_response(
            "400 Bad Request",
            "",
            r#"{"error":{"message":"no summaries here"}}"#,
        ))]
    };
    // No usage in the answers: a provider's counts would replace the estimates this test
    // is built on.
    let ok = || {
        vec![
            Step::Bytes(sse_head()),
            Step::Bytes(sse_body(&[
                &openai_text("ok"),
                &openai_finish("stop"),
                "[DONE]",
            ])),
        ]
    };
    let server = ScriptedServer::start(vec![
        ok(),
        refused(),
        ok(),
        refused(),
        ok(),
        refused(),
        ok(),
    ]);
    let provider = build_provider(ProviderSettings {
        kind: ProviderKind::Custom,
        base_url: server.base_url(),
        api_key: None,
        network: NetworkSettings::default(),
        local: Default::default(),
    })
    .unwrap();
    let h = engine::start(
        EngineConfig {
            system_prompt: Some("sys".into()),
            max_tokens: Some(100),
            context: rustbot::config::context::ContextSettings {
                default_tokens: 600,
                ..Default::default()
            },
            ..EngineConfig::new(provider, "m")
        },
        &tokio::runtime::Handle::current(),
    );
    let sub = h.subscribe();
    let conv = ConversationId::new();
    let mut trimmed = Vec::new();
    let mut said = Vec::new();
    for i in 0..4 {
        h.send(Command::SendMessage {
            conversation: conv.clone(),
            text: format!("{i} {}", "word ".repeat(150)),
            model: None,
            images: Vec::new(),
        });
        for e in until_done(&sub, &conv).await {
            match e {
                EngineEvent::ContextTrimmed { dropped_turns, .. } => trimmed.push(dropped_turns),
                EngineEvent::Error { message, .. } => said.push(message),
                _ => {}
            }
        }
    }
    assert_eq!(trimmed, [1, 2]);
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(
        said.iter()
            .all(|m| m.contains("could not be summarised") && m.contains("left out")),
        "{said:?}"
    );
    let last = server.requests().last().unwrap().json();
    let msgs = last["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert!(msgs.len() < 8, "older turns were dropped: {}", msgs.len());
    assert!(
        msgs.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .starts_with("3 ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_exchange_gets_a_title_from_the_model_else_keeps_the_plain_one() {
    let data = tempfile::tempdir().unwrap();
    let store = rustbot::store::StoreHandle::open(data.path()).unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["Paris."], false),
        openai_answer(&["\"Capital of France\""], false),
        openai_answer(&["Rome."], false),
        vec![Step::Bytes(json_response(
            "400 Bad Request",
            "",
            r#"{"error":{"message":"no titles today"}}"#,
        ))],
    ]);
    let provider = build_provider(ProviderSettings {
        kind: ProviderKind::Custom,
        base_url: server.base_url(),
        api_key: None,
        network: NetworkSettings::default(),
        local: Default::default(),
    })
    .unwrap();
    let h = engine::start(
        EngineConfig {
            store: Some(store.clone()),
            generate_titles: true,
            ..EngineConfig::new(provider, "m")
        },
        &tokio::runtime::Handle::current(),
    );
    let sub = h.subscribe();
    let conv = send(&h, "What is the capital of France, please?");
    until_done(&sub, &conv).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ev = tokio::time::timeout_at(deadline.into(), sub.recv())
            .await
            .expect("a title within 5 s");
        if let EngineEvent::TitleChanged { title, .. } = ev {
            assert_eq!(title, "Capital of France");
            break;
        }
    }
    let key = conv.0.clone();
    let stored = store
        .call(move |s| s.conversation(&key))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stored.title.as_deref(), Some("Capital of France"));

    // A failed title request leaves the plain title from the first words.
    let other = send(&h, "And of Italy?");
    until_done(&sub, &other).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let key = other.0.clone();
    let stored = store
        .call(move |s| s.conversation(&key))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stored.title.as_deref(), Some("And of Italy?"));
    assert_eq!(server.requests().len(), 4);
}

/// Rename, pin and delete are engine commands (the UI writes nothing itself): they reach the
/// store in the order sent, an empty title is refused with an error event, and a delete
/// removes the conversation and its messages.
#[tokio::test]
async fn rename_pin_and_delete_commands_change_the_store_in_order() {
    let data = tempfile::tempdir().unwrap();
    let store = rustbot::store::StoreHandle::open(data.path()).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["hi"], false)]);
    let h = engine::start(
        EngineConfig {
            store: Some(store.clone()),
            ..EngineConfig::new(scripted_provider(&server, 2), "m")
        },
        &tokio::runtime::Handle::current(),
    );
    let sub = h.subscribe();
    let conv = send(&h, "hello");
    until_done(&sub, &conv).await;
    h.send(Command::RenameConversation {
        conversation: conv.clone(),
        title: "  Greetings ".into(),
    });
    h.send(Command::SetPinned {
        conversation: conv.clone(),
        pinned: true,
    });
    h.send(Command::RenameConversation {
        conversation: conv.clone(),
        title: "   ".into(),
    });
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let EngineEvent::Error { message, .. } = sub.recv().await {
                return message;
            }
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("title"), "{refused}");
    let key = conv.0.clone();
    let stored = store
        .call(move |s| s.conversation(&key))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stored.title.as_deref(), Some("Greetings"));
    assert!(stored.pinned);
    h.send(Command::DeleteConversation {
        conversation: conv.clone(),
    });
    let key = conv.0.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let k = key.clone();
        if store
            .call(move |s| s.conversation(&k))
            .await
            .unwrap()
            .unwrap()
            .is_none()
        {
            break;
        }
        assert!(Instant::now() < deadline, "deleted within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `ProviderProbed` or `ProviderChanged`.
async fn provider_answer(sub: &Subscription) -> EngineEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .expect("an answer within 10 s");
        if matches!(
            ev,
            EngineEvent::ProviderProbed { .. } | EngineEvent::ProviderChanged { .. }
        ) {
            return ev;
        }
    }
}

/// The settings page describes providers and the engine builds and asks them (issue 16: the
/// window never builds one): a probe answers with the listed models or the exact error, and a
/// described provider takes the following requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn described_providers_are_probed_and_used_by_the_engine() {
    let models = r#"{"data":[{"id":"b-model"},{"id":"a-model","context_length":8192}]}"#;
    let server = ScriptedServer::start(vec![
        vec![Step::Bytes(json_response("200 OK", "", models))],
        openai_answer(&["from", " the new one"], false),
    ]);
    let old = ScriptedServer::start(vec![openai_answer(&["old"], false)]);
    let handle = engine(&old);
    let sub = handle.subscribe();
    let describe = |base_url: String| ProviderSettings {
        kind: ProviderKind::Custom,
        base_url,
        api_key: None,
        network: NetworkSettings::default(),
        local: Default::default(),
    };

    handle.send(Command::ProbeProvider {
        settings: describe(server.base_url()),
    });
    let EngineEvent::ProviderProbed { models, error } = provider_answer(&sub).await else {
        panic!("a probe answer")
    };
    assert_eq!(error, None);
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["a-model", "b-model"], "sorted by id");
    assert_eq!(models[0].context_length, Some(8192));

    let refusing = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "401 Unauthorized",
        "",
        r#"{"error":{"message":"Invalid API key"}}"#,
    ))]]);
    handle.send(Command::ProbeProvider {
        settings: describe(refusing.base_url()),
    });
    let EngineEvent::ProviderProbed { models, error } = provider_answer(&sub).await else {
        panic!("a probe answer")
    };
    assert!(models.is_empty());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("rejected (401)")),
        "the exact error: {error:?}"
    );

    handle.send(Command::UseProvider {
        name: "custom".into(),
        settings: describe(server.base_url()),
        model: "new-model".into(),
    });
    let EngineEvent::ProviderChanged { error } = provider_answer(&sub).await else {
        panic!("a change answer")
    };
    assert_eq!(error, None);
    let conv = ConversationId::new();
    handle.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "hi".into(),
        model: None,
        images: Vec::new(),
    });
    let events = until_done(&sub, &conv).await;
    assert_eq!(text(&events, &conv), "from the new one");
    assert_eq!(server.posts()[0].json()["model"], "new-model");
    assert!(old.requests().is_empty(), "the old provider got nothing");
}
