//! The real app over the real engine and provider against the scripted SSE server: typing a
//! message streams the server's answer into the window; a model changed in Settings is the
//! model of the next request; Stop mid-stream keeps the partial answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::gui::{GuiRig, label_shown, open_stored, start_gui};
use common::*;
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rustbot::ui::view_model::MessageStatus;
use rustbot::ui::{AppParts, EngineLink, GuiSettings, RustbotApp};

fn start(server: &ScriptedServer) -> GuiRig {
    start_gui(server, egui::vec2(1000.0, 700.0))
}

fn last_answer(app: &GuiRig) -> Option<(String, MessageStatus)> {
    let vm = app.harness.state().view_model();
    let m = vm.selected()?.messages.last()?;
    Some((m.text.clone(), m.status))
}

#[test]
fn a_typed_message_streams_the_servers_answer_and_settings_change_the_next_model() {
    let server = ScriptedServer::start(vec![
        openai_answer(&["Hello", " from", " the server"], true),
        openai_answer(&["Second", " answer"], false),
    ]);
    let mut app = start(&server);

    app.send("Hi");
    app.wait_for("the streamed answer", |h| {
        label_shown(h, "Hello from the server")
            && h.state()
                .view_model()
                .selected()
                .is_some_and(|c| !c.run.is_active())
    });
    assert_eq!(
        last_answer(&app),
        Some(("Hello from the server".into(), MessageStatus::Complete))
    );
    assert_eq!(server.requests()[0].json()["model"], "m");

    // Settings → Model → "m-2", then back to the chat for a second message.
    app.harness.get_by_label("Settings").click();
    app.harness.run_steps(2);
    app.harness.get_by_label("Model").focus();
    app.harness.run_steps(1);
    app.harness.get_by_label("Model").type_text("-2");
    app.harness.key_press(Key::Enter);
    app.harness.run_steps(2);
    app.harness.get_by_label("Chat").click();
    app.harness.run_steps(2);

    app.send("Again");
    app.wait_for("the second answer", |h| label_shown(h, "Second answer"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].json()["model"],
        "m-2",
        "SetModel reached the engine"
    );
}

#[test]
fn stop_mid_stream_keeps_the_partial_answer_marked_stopped() {
    let server =
        ScriptedServer::start(vec![openai_slow("Partial", 200, Duration::from_millis(50))]);
    let mut app = start(&server);
    app.send("Go slowly");
    app.wait_for("the first token", |h| label_shown(h, "Partial"));
    app.harness.get_by_label("Stop").click();
    app.wait_for("the stop", |h| label_shown(h, "Stopped by you"));
    let (text, status) = last_answer(&app).unwrap();
    assert!(text.starts_with("Partial"), "partial answer kept: {text:?}");
    assert_eq!(status, MessageStatus::Stopped);
    app.harness.get_by_label("Send");
}

#[test]
fn stored_conversations_fill_the_sidebar_and_open_with_their_messages() {
    use rustbot::store::{NewConversation, NewMessage, Role, StoreHandle};

    let dir = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let id = rustbot::engine::ConversationId::new();
    let key = id.0.clone();
    store
        .call_blocking(move |s| {
            s.create_conversation(
                &key,
                &NewConversation {
                    title: Some("Sourdough questions".into()),
                    provider: "custom".into(),
                    model: "m".into(),
                    system_prompt: String::new(),
                    agent: None,
                    profile: None,
                },
            )?;
            let q = s.append_message(&NewMessage::new(&key, Role::User, "How long to proof?"))?;
            s.append_message(&NewMessage {
                parent_id: Some(q),
                model: Some("m".into()),
                ..NewMessage::new(
                    &key,
                    Role::Assistant,
                    "About **4 hours** at room temperature.",
                )
            })?;
            Ok::<_, rustbot::store::StoreError>(())
        })
        .unwrap()
        .unwrap();

    let mut window = open_stored(store, "Sourdough questions");
    let harness = &mut window.harness;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !label_shown(harness, "4 hours") {
        assert!(Instant::now() < deadline, "its messages open");
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(label_shown(harness, "How long to proof?"));
}

#[test]
fn settings_list_the_providers_models_and_picking_one_sets_the_model() {
    use rustbot::engine::Command;
    use rustbot::ui::models::ModelCatalog;

    let models = r#"{"data":[
        {"id":"vendor/small","context_length":8192,"pricing":{"prompt":"0.000001","completion":"0.000002"}},
        {"id":"vendor/large","context_length":128000}
    ]}"#;
    let server =
        ScriptedServer::start(vec![vec![Step::Bytes(json_response("200 OK", "", models))]]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // The real engine (it asks the provider for the list); the commands it gets are kept.
    let engine = rustbot::engine::start(
        rustbot::engine::EngineConfig::new(scripted_provider(&server, 0), "vendor/small"),
        runtime.handle(),
    );
    let (tx, commands) = std::sync::mpsc::channel();
    let sender = engine.clone();
    let parts = AppParts {
        engine: EngineLink::new(
            move |c: Command| {
                let _ = tx.send(c.clone());
                sender.send(c);
            },
            |w| engine.subscribe_with_waker(w),
        ),
        settings: GuiSettings {
            provider: "custom".into(),
            base_url: server.base_url(),
            model: "vendor/small".into(),
            api_key: "k".into(),
            ..GuiSettings::default()
        },
        save_settings: None,
        history: None,
        models: Some(ModelCatalog::new(
            rustbot::config::NetworkSettings::default(),
        )),
        started_at: None,
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_eframe(move |cc| RustbotApp::new(cc, parts));
    harness.run_steps(2);
    harness.get_by_label("Settings").click();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !label_shown(&harness, "Connected: 2 models available.") {
        assert!(
            Instant::now() < deadline,
            "the connection test reports the models"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(server.requests()[0].request_line.contains("/models"));
    harness.get_by_label("Choose…").click();
    harness.run_steps(2);
    assert!(label_shown(
        &harness,
        "vendor/small · 8k context · $1.00/$2.00 per M tokens"
    ));
    harness.get_by_label_contains("vendor/large").click();
    harness.run_steps(2);
    let commands: Vec<Command> = commands.try_iter().collect();
    assert!(commands.contains(&Command::SetModel {
        model: "vendor/large".into()
    }));
}

#[test]
fn a_failing_connection_test_shows_the_exact_error() {
    use rustbot::ui::models::ModelCatalog;
    let server = ScriptedServer::start(vec![vec![Step::Bytes(json_response(
        "401 Unauthorized",
        "",
        r#"{"error":{"message":"Invalid API key"}}"#,
    ))]]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let engine = rustbot::engine::start(
        rustbot::engine::EngineConfig::new(scripted_provider(&server, 0), "m"),
        runtime.handle(),
    );
    let parts = AppParts {
        engine: EngineLink::from_engine(&engine),
        settings: GuiSettings {
            provider: "custom".into(),
            base_url: server.base_url(),
            api_key: "bad".into(),
            ..GuiSettings::default()
        },
        save_settings: None,
        history: None,
        models: Some(ModelCatalog::new(
            rustbot::config::NetworkSettings::default(),
        )),
        started_at: None,
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_eframe(move |cc| RustbotApp::new(cc, parts));
    harness.get_by_label("Settings").click();
    harness.run_steps(2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = harness.state().settings_probe();
        if let rustbot::ui::settings::ProbeStatus::Failed(e) = status {
            assert!(
                label_shown(&harness, "Invalid API key") || e.contains("401"),
                "{e}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the failure is reported");
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}
