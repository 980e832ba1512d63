//! Spending limits in the engine over the scripted server: refused before anything is sent,
//! a warning at 80%, an override, and a run stopped when it crosses the limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use common::*;
use rustbot::config::NetworkSettings;
use rustbot::engine::budget::{BudgetLimits, BudgetScope};
use rustbot::engine::{
    self, Command, ConversationId, EngineConfig, EngineEvent, EngineHandle, RunStatus,
};
use rustbot::llm::{ProviderKind, ProviderSettings, build_provider};
use rustbot::store::{StoreHandle, UsageRecord};

fn seeded_store(dir: &std::path::Path, spent_usd: f64) -> StoreHandle {
    let store = StoreHandle::open(dir).unwrap();
    store
        .call_blocking(move |s| {
            s.record_usage(&UsageRecord {
                conversation_id: None,
                message_id: None,
                provider: "custom".into(),
                model: "gpt-4o".into(),
                prompt_tokens: 10,
                completion_tokens: 10,
                cost_usd: Some(spent_usd),
                at: rustbot::store::now_ms(),
                reasoning_tokens: 0,
            })
        })
        .unwrap()
        .unwrap();
    store
}

fn engine(server: &ScriptedServer, store: StoreHandle, daily: f64) -> EngineHandle {
    let provider = build_provider(ProviderSettings {
        kind: ProviderKind::Custom,
        base_url: server.base_url(),
        api_key: None,
        network: NetworkSettings::default(),
        local: Default::default(),
    })
    .unwrap();
    engine::start(
        EngineConfig {
            store: Some(store),
            budget: BudgetLimits {
                daily_usd: Some(daily),
                ..Default::default()
            },
            ..EngineConfig::new(provider, "gpt-4o")
        },
        &tokio::runtime::Handle::current(),
    )
}

async fn until_done(sub: &rustbot::engine::Subscription) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .expect("Done within 10 s");
        let done = matches!(ev, EngineEvent::Done { .. });
        events.push(ev);
        if done {
            return events;
        }
    }
}

fn send(h: &EngineHandle, conv: &ConversationId) {
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "hello".into(),
        model: None,
        images: Vec::new(),
    });
}

#[tokio::test]
async fn over_the_limit_nothing_is_sent_until_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let h = engine(&server, seeded_store(dir.path(), 1.5), 1.0);
    let sub = h.subscribe();
    let conv = ConversationId::new();
    send(&h, &conv);
    let events = until_done(&sub).await;
    match events.last().unwrap() {
        EngineEvent::Done {
            status,
            reason,
            error,
            ..
        } => {
            assert_eq!(*status, RunStatus::Failed);
            assert_eq!(reason, "budget");
            let msg = error.as_deref().unwrap();
            assert!(
                msg.contains("daily spending limit") && msg.contains("daily_usd"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(server.requests().is_empty(), "nothing was sent");
    h.send(Command::AllowOverBudget {
        conversation: conv.clone(),
    });
    send(&h, &conv);
    let events = until_done(&sub).await;
    assert!(matches!(
        events.last(),
        Some(EngineEvent::Done {
            status: RunStatus::Complete,
            ..
        })
    ));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn at_eighty_percent_a_warning_is_given_and_the_run_goes_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let h = engine(&server, seeded_store(dir.path(), 0.85), 1.0);
    let sub = h.subscribe();
    send(&h, &ConversationId::new());
    let events = until_done(&sub).await;
    assert!(events.iter().any(|e| matches!(e,
        EngineEvent::BudgetWarning { scope: BudgetScope::Daily, spent_usd, limit_usd, .. }
            if (*spent_usd - 0.85).abs() < 1e-9 && *limit_usd == 1.0)));
    assert!(matches!(
        events.last(),
        Some(EngineEvent::Done {
            status: RunStatus::Complete,
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_crosses_the_limit_is_stopped_and_its_text_kept() {
    let dir = tempfile::tempdir().unwrap();
    // gpt-4o: $10 per million answer tokens; 1e-4 USD of headroom is a few dozen tokens.
    let server = ScriptedServer::start(vec![openai_slow("start", 2000, Duration::from_millis(2))]);
    let h = engine(&server, seeded_store(dir.path(), 0.9999), 1.0);
    let sub = h.subscribe();
    send(&h, &ConversationId::new());
    let events = until_done(&sub).await;
    match events.last().unwrap() {
        EngineEvent::Done {
            status,
            reason,
            text,
            ..
        } => {
            assert_eq!(*status, RunStatus::Stopped);
            assert_eq!(reason, "budget");
            assert!(text.starts_with("start"));
            assert!(text.len() < 400, "stopped early: {} chars", text.len());
        }
        other => panic!("{other:?}"),
    }
    assert!(events.iter().any(
        |e| matches!(e, EngineEvent::Error { message, .. } if message.contains("spending limit"))
    ));
}
