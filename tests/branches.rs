//! Edit-and-resend and branch selection over the scripted server and a real store: no answer
//! is overwritten, and the active branch is what the model sees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use common::*;
use rustbot::config::NetworkSettings;
use rustbot::engine::{self, Command, ConversationId, EngineConfig, EngineEvent, Subscription};
use rustbot::llm::{ProviderKind, ProviderSettings, build_provider};
use rustbot::store::{Role, StoreHandle};

async fn until(sub: &Subscription, want: impl Fn(&EngineEvent) -> bool) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .expect("the event within 10 s");
        let hit = want(&ev);
        events.push(ev);
        if hit {
            return events;
        }
    }
}

fn contents(body: &serde_json::Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn editing_adds_a_sibling_and_selecting_a_branch_changes_the_history_sent() {
    let data = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(data.path()).unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["a1"], false),
        openai_answer(&["a2"], false),
        openai_answer(&["a3"], false),
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
            ..EngineConfig::new(provider, "m")
        },
        &tokio::runtime::Handle::current(),
    );
    let sub = h.subscribe();
    let conv = ConversationId::new();
    let done = |e: &EngineEvent| matches!(e, EngineEvent::Done { .. });
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "q1".into(),
        model: None,
        images: Vec::new(),
    });
    until(&sub, done).await;
    h.send(Command::EditMessage {
        conversation: conv.clone(),
        message_id: None,
        text: "q1 edited".into(),
    });
    until(&sub, done).await;
    assert_eq!(contents(&server.requests()[1].json()), ["q1 edited"]);

    // Both versions of the question are stored, as siblings; the new branch is active.
    let key = conv.0.clone();
    let (path, siblings, first_user) = store
        .call(move |s| {
            let path = s.active_path(&key)?;
            let all = s.messages(&key)?;
            let first_user = all.iter().find(|m| m.role == Role::User).unwrap().id;
            let siblings = s.siblings(path[0].id)?;
            Ok::<_, rustbot::store::StoreError>((path, siblings, first_user))
        })
        .await
        .unwrap()
        .unwrap();
    let texts: Vec<_> = path.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["q1 edited", "a2"]);
    assert_eq!(siblings.0.len(), 2);

    // Back to the first branch: the next request carries its history.
    h.send(Command::SelectBranch {
        conversation: conv.clone(),
        message_id: first_user.0,
    });
    until(&sub, |e| matches!(e, EngineEvent::BranchSelected { .. })).await;
    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "q2".into(),
        model: None,
        images: Vec::new(),
    });
    until(&sub, done).await;
    assert_eq!(contents(&server.requests()[2].json()), ["q1", "a1", "q2"]);
}

/// After each answer the engine says where the question and the answer sit in the store
/// (`RunStored`), so a window learns ids and branches without reading the conversation: a
/// regenerated answer is a sibling of the first, an edited question one of the original.
#[tokio::test]
async fn each_answer_reports_its_stored_place_with_its_siblings() {
    let data = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(data.path()).unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["a1"], false),
        openai_answer(&["a2"], false),
        openai_answer(&["a3"], false),
    ]);
    let h = engine::start(
        EngineConfig {
            store: Some(store.clone()),
            ..EngineConfig::new(scripted_provider(&server, 0), "m")
        },
        &tokio::runtime::Handle::current(),
    );
    let sub = h.subscribe();
    let conv = ConversationId::new();
    let stored = |events: &[EngineEvent]| {
        events
            .iter()
            .find_map(|e| match e {
                EngineEvent::RunStored {
                    question, answer, ..
                } => Some((question.clone(), answer.clone().unwrap())),
                _ => None,
            })
            .expect("RunStored after Done")
    };
    let run_stored = |e: &EngineEvent| matches!(e, EngineEvent::RunStored { .. });

    h.send(Command::SendMessage {
        conversation: conv.clone(),
        text: "q".into(),
        model: None,
        images: Vec::new(),
    });
    let (q1, a1) = stored(&until(&sub, run_stored).await);
    assert_eq!(q1.siblings, vec![q1.id]);
    assert_eq!((a1.branch, a1.siblings.clone()), (a1.id, vec![a1.id]));

    h.send(Command::Retry {
        conversation: conv.clone(),
    });
    let (q2, a2) = stored(&until(&sub, run_stored).await);
    assert_eq!(q2.id, q1.id, "the same question");
    assert_eq!(
        a2.siblings,
        vec![a1.id, a2.id],
        "the new answer beside the old"
    );

    h.send(Command::EditMessage {
        conversation: conv.clone(),
        message_id: None,
        text: "q edited".into(),
    });
    let (q3, a3) = stored(&until(&sub, run_stored).await);
    assert_eq!(
        q3.siblings,
        vec![q1.id, q3.id],
        "the edit beside the original"
    );
    assert_eq!(a3.siblings, vec![a3.id]);
    // The ids are the store's.
    let path = store
        .call_blocking({
            let id = conv.0.clone();
            move |s| s.active_path(&id)
        })
        .unwrap()
        .unwrap();
    let ids: Vec<i64> = path.iter().map(|m| m.id.0).collect();
    assert_eq!(ids, vec![q3.id, a3.id]);
    assert_eq!(path[0].role, Role::User);
}
