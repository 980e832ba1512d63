//! The Events and Stats pages driven by labels: live events from the real engine against the
//! scripted SSE server, filters, the JSON Lines export, and totals of seeded usage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::*;
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rustbot::engine::{self, EngineConfig, EngineHandle, EventBus};
use rustbot::store::{StoreHandle, UsageRecord};
use rustbot::ui::history::History;
use rustbot::ui::{AppParts, EngineLink, GuiSettings, RustbotApp};

type App = Harness<'static, RustbotApp>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn shown(h: &App, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

fn wait_for(h: &mut App, what: &str, check: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check(h) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run_steps(2);
}

fn app(engine: EngineLink, store: StoreHandle, rt: &tokio::runtime::Runtime, url: String) -> App {
    let parts = AppParts {
        engine,
        settings: GuiSettings {
            provider: "custom".into(),
            base_url: url,
            model: "m".into(),
            api_key: "k".into(),
            ..GuiSettings::default()
        },
        save_settings: None,
        history: Some(History::new(store, rt.handle().clone())),
        models: None,
        started_at: None,
    };
    Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        // The app draws tofu for a character no font has (egui's default); kittest would
        // panic instead, and the non-ASCII test below shows CJK ids.
        .allow_missing_glyphs()
        .build_eframe(move |cc| RustbotApp::new(cc, parts))
}

#[test]
fn events_stream_in_live_filters_narrow_them_and_export_writes_the_filtered_rows() {
    let server = ScriptedServer::start(vec![openai_slow("Partial", 60, Duration::from_millis(30))]);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let provider = scripted_provider(&server, 0);
    let handle: EngineHandle = engine::start(EngineConfig::new(provider, "m"), rt.handle());
    let mut h = app(
        EngineLink::from_engine(&handle),
        store,
        &rt,
        server.base_url(),
    );

    h.get_by_label("Message").type_text("Hi");
    h.key_press(Key::Enter);
    h.run_steps(2);
    h.get_by_label("Events").click();
    h.run_steps(2);

    // Rows arrive while the answer is still streaming.
    wait_for(&mut h, "live text events", |h| {
        shown(h, "run_started")
            && shown(h, " text ")
            && h.state()
                .view_model()
                .selected()
                .is_some_and(|c| c.run.is_active())
    });
    wait_for(&mut h, "the end of the run", |h| shown(h, " done "));
    let all = h.state().events_panel().log().filtered_len();
    assert!(all >= 5, "several events listed: {all}");

    // Only Normal-priority state changes: uncheck High, search "state".
    h.get_by_label("High").click();
    h.run_steps(2);
    h.get_by_label("Search events").click();
    h.get_by_label("Search events").type_text("state");
    h.run_steps(3);
    let log = h.state().events_panel().log();
    let narrowed = log.filtered_len();
    assert!(narrowed > 0 && narrowed < all, "{narrowed} of {all}");
    assert!(!shown(&h, "run_started"), "other kinds are hidden");
    assert!(!shown(&h, "user_message"), "High rows are hidden");
    let expected: Vec<String> = log.filtered_payloads().iter().map(|p| p.json()).collect();

    h.get_by_label("Export JSONL").click();
    wait_for(&mut h, "the export", |h| shown(h, "Exported"));
    let status = h.state().events_panel().status().unwrap().to_string();
    assert!(
        status.starts_with(&format!("Exported {narrowed} events to ")),
        "{status}"
    );
    let path = status.split(" to ").nth(1).unwrap();
    assert!(
        path.starts_with(dir.path().to_str().unwrap()),
        "in the data dir: {path}"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, expected, "exactly the filtered rows");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["type"], "state");
    }
}

#[test]
fn a_non_ascii_conversation_id_is_shown_on_the_events_page() {
    // `serve` and imports take any text as a conversation id; the Events page shows its last
    // characters. 18 bytes of three-byte characters: byte 10 is inside one.
    let id = rustbot::engine::ConversationId::from("会話会話会話");
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let handle: EngineHandle = engine::start(
        EngineConfig::new(scripted_provider(&server, 0), "m"),
        rt.handle(),
    );
    let mut h = app(
        EngineLink::from_engine(&handle),
        store,
        &rt,
        server.base_url(),
    );
    h.get_by_label("Events").click();
    h.run_steps(2);
    handle.send(rustbot::engine::Command::SendMessage {
        conversation: id,
        text: "hi".into(),
        model: None,
        images: Vec::new(),
    });
    wait_for(&mut h, "the run's events", |h| shown(h, " done "));
    assert!(shown(&h, "会話会話"), "the id's last characters are shown");
}

#[test]
fn the_stats_page_shows_the_totals_of_seeded_usage() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let now = rustbot::store::now_ms();
    let usage = |model: &str, tokens: i64, cost: f64, at: i64| UsageRecord {
        conversation_id: None,
        message_id: None,
        provider: "custom".into(),
        model: model.into(),
        prompt_tokens: tokens,
        completion_tokens: tokens,
        cost_usd: Some(cost),
        at,
        reasoning_tokens: tokens / 2 + 11,
    };
    let records = vec![
        usage("vendor/a", 100, 0.25, now),
        usage("vendor/b", 50, 0.125, now - 1),
        usage("vendor/a", 1000, 1.0, now - 400 * 24 * 3600 * 1000),
    ];
    store
        .call_blocking(move |s| {
            for r in &records {
                s.record_usage(r)?;
            }
            Ok::<_, rustbot::store::StoreError>(())
        })
        .unwrap()
        .unwrap();
    let bus = EventBus::new();
    let mut h = app(
        EngineLink::new(|_| {}, |w| bus.subscribe(Some(w))),
        store,
        &rt,
        "http://127.0.0.1:9".into(),
    );
    h.get_by_label("Stats").click();
    wait_for(&mut h, "the totals", |h| {
        h.state().stats_panel().snapshot().is_some()
    });
    // Today and this month: 2 requests, 300 tokens, $0.375; all time adds the old one.
    assert!(shown(&h, "Today"));
    assert!(shown(&h, "This month"));
    assert!(shown(&h, "$0.3750"), "today's and this month's cost");
    assert!(shown(&h, "300"), "today's tokens");
    assert!(shown(&h, "$1.3750"), "all-time cost");
    assert!(shown(&h, "2300"), "all-time tokens");
    assert!(shown(&h, "Reasoning"));
    assert!(shown(&h, "97"), "today's reasoning tokens (61 + 36)");
    assert!(shown(&h, "608"), "all-time reasoning tokens");
    let s = h.state().stats_panel().snapshot().unwrap();
    assert_eq!(s.today.reasoning_tokens, 97);
    assert_eq!(s.today.requests, 2);
    assert_eq!(s.all.requests, 3);
}

/// The Knowledge page (issue 21): add a folder from the page (indexed in the background, with
/// the counts shown after), then try a question and see the passage with file and lines.
#[test]
fn the_knowledge_page_adds_a_folder_and_searches_it() {
    use rustbot::ui::knowledge_page::{ADD_LABEL, FOLDER_LABEL, KnowledgeParts, QUERY_LABEL};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for i in 0..30 {
        std::fs::write(
            docs.join(format!("n{i}.md")),
            format!("# Note {i}\n\nNothing much {i}.\n"),
        )
        .unwrap();
    }
    std::fs::write(
        docs.join("levy.md"),
        "# Levy\n\nThe property levy is due in March.\n",
    )
    .unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let handle = engine::start(
        EngineConfig::new(scripted_provider(&server, 0), "m"),
        rt.handle(),
    );
    let parts = KnowledgeParts {
        data_dir: dir.path().to_path_buf(),
        retriever: rustbot::knowledge::Retriever::new(dir.path().to_path_buf(), None),
        chunk_tokens: 300,
    };
    let engine_link = EngineLink::from_engine(&handle);
    let base_url = server.base_url();
    let store_for_app = store.clone();
    let rt_handle = rt.handle().clone();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .build_eframe(move |cc| {
            RustbotApp::new(
                cc,
                AppParts {
                    engine: engine_link,
                    settings: GuiSettings {
                        provider: "custom".into(),
                        base_url,
                        model: "m".into(),
                        api_key: "k".into(),
                        ..GuiSettings::default()
                    },
                    save_settings: None,
                    history: Some(History::new(store_for_app, rt_handle)),
                    models: None,
                    started_at: None,
                },
            )
            .with_knowledge(parts)
        });
    h.get_by_label("Knowledge").click();
    h.run_steps(3);
    wait_for(&mut h, "the empty page", |h| {
        shown(h, "No knowledge base yet")
    });
    h.get_by_label(FOLDER_LABEL).focus();
    h.run_steps(1);
    h.get_by_label(FOLDER_LABEL)
        .type_text(docs.to_str().unwrap());
    h.run_steps(2);
    h.get_by_label(ADD_LABEL).click();
    wait_for(&mut h, "the indexed base", |h| {
        shown(h, "default · 31 files · 31 chunks")
    });
    assert!(shown(&h, "31 files indexed"));
    h.get_by_label(QUERY_LABEL).focus();
    h.run_steps(1);
    h.get_by_label(QUERY_LABEL)
        .type_text("When is the levy due?");
    h.run_steps(2);
    h.get_by_label("Search").click();
    wait_for(&mut h, "the passage", |h| shown(h, "levy.md:1-3"));
    assert!(shown(&h, "The property levy is due in March."));
}
