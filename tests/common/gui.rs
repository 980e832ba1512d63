//! The real app over the real engine, provider and store against the scripted server, for the
//! GUI tests: one rig, so every GUI test starts the app the same way.

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rustbot::engine::{self, EngineConfig, EngineHandle};
use rustbot::store::StoreHandle;
use rustbot::ui::history::History;
use rustbot::ui::{AppParts, EngineLink, GuiSettings, RustbotApp};

use super::{ScriptedServer, scripted_provider, step_until};

/// The window and what it runs on.
pub struct GuiRig {
    /// The window.
    pub harness: Harness<'static, RustbotApp>,
    /// The store the engine writes and the sidebar reads.
    pub store: StoreHandle,
    _engine: EngineHandle,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// Starts the app against `server` (model "m"), with a store in a temporary folder.
pub fn start_gui(server: &ScriptedServer, size: egui::Vec2) -> GuiRig {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let provider = scripted_provider(server, 0);
    let mut config = EngineConfig::new(provider, "m");
    config.store = Some(store.clone());
    let handle = engine::start(config, runtime.handle());
    let parts = AppParts {
        engine: EngineLink::from_engine(&handle),
        settings: GuiSettings {
            provider: "custom".into(),
            base_url: server.base_url(),
            model: "m".into(),
            api_key: "k".into(),
            ..GuiSettings::default()
        },
        save_settings: None,
        history: Some(History::new(store.clone(), runtime.handle().clone())),
        models: None,
        started_at: None,
    };
    let harness = Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| RustbotApp::new(cc, parts));
    GuiRig {
        harness,
        store,
        _engine: handle,
        _runtime: runtime,
        _dir: dir,
    }
}

impl GuiRig {
    /// Steps frames until `check` holds (the engine and store run on their own threads).
    pub fn wait_for(&mut self, what: &str, check: impl Fn(&Harness<'static, RustbotApp>) -> bool) {
        step_until(&mut self.harness, what, check);
    }

    /// Types `text` into the message field and presses Enter.
    pub fn send(&mut self, text: &str) {
        self.harness.get_by_label("Message").type_text(text);
        self.harness.key_press(Key::Enter);
        self.harness.run_steps(2);
    }
}

/// Whether a widget whose label contains `text` is shown.
pub fn label_shown(h: &Harness<'static, RustbotApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// A window over a store alone (its commands go nowhere), with a stored conversation open.
pub struct StoreWindow {
    /// The window.
    pub harness: Harness<'static, RustbotApp>,
    _bus: rustbot::engine::EventBus,
    _runtime: tokio::runtime::Runtime,
}

/// Opens a window over `store` and clicks the stored conversation titled `title` in the
/// sidebar once it is listed.
pub fn open_stored(store: StoreHandle, title: &str) -> StoreWindow {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let bus = rustbot::engine::EventBus::new();
    let parts = AppParts {
        engine: EngineLink::new(|_| {}, |w| bus.subscribe(Some(w))),
        settings: GuiSettings {
            api_key: "k".into(),
            ..GuiSettings::default()
        },
        save_settings: None,
        history: Some(History::new(store, runtime.handle().clone())),
        models: None,
        started_at: None,
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_eframe(move |cc| RustbotApp::new(cc, parts));
    step_until(&mut harness, "the stored conversation listed", |h| {
        label_shown(h, title)
    });
    harness.get_by_label(title).click();
    StoreWindow {
        harness,
        _bus: bus,
        _runtime: runtime,
    }
}
