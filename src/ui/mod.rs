//! The desktop app (eframe/egui): sidebar, chat view, input box, settings page.
//!
//! The UI is thin: panels turn input into `#[must_use]` action enums that [`app::RustbotApp`]
//! applies at the end of the frame (sending `Command`s to the engine), and they draw the
//! [`view_model::ViewModel`], which engine events update at the start of each frame.

pub mod agents_page;
pub mod app;
pub mod attachment_tray;
pub mod bridge;
pub mod chat;
pub mod citations;
pub mod code_fences;
pub mod events_panel;
pub mod glyphs;
pub mod history;
pub mod images;
pub mod input;
pub mod knowledge_page;
pub mod link;
pub mod message_bar;
pub mod models;
pub mod personas;
pub mod settings;
pub mod sidebar;
pub mod stats_data;
pub mod stats_panel;
pub mod tool_card;
pub mod trace;
pub mod user_message;
pub mod view_model;

use std::path::PathBuf;

pub use app::{AppParts, PersistedUi, RustbotApp, SaveSettingsFn};
pub use bridge::{config_saver, run_desktop, run_desktop_since};
pub use link::{EngineLink, RepaintSignal};
pub use settings::{GuiSettings, ThemeChoice};

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// eframe could not open the window (no display, no OpenGL, ...).
    #[error("could not open the window: {0}")]
    Window(String),
    /// The runtime or the provider could not be set up.
    #[error("{0}")]
    Start(String),
}

/// What [`run_gui`] needs.
pub struct GuiOptions {
    /// The engine: commands out, events in.
    pub engine: EngineLink,
    /// The settings in effect at start (config file, environment and flags merged).
    pub settings: GuiSettings,
    /// Persists changed settings (config file atomically, key to the keyring or
    /// `secrets.env`); runs on a background thread. `None` keeps changes for this run only.
    pub save_settings: Option<SaveSettingsFn>,
    /// Stored conversations for the sidebar; `None` shows only this run's.
    pub history: Option<history::History>,
    /// Fetches the provider's models for Settings; `None` hides the list.
    pub models: Option<models::ModelCatalog>,
    /// When the process started (logs the time to the first frame; with
    /// `RUSTBOT_TRACE_STARTUP` set it is also printed on stderr).
    pub started_at: Option<std::time::Instant>,
    /// The data directory: the window's state (size, position, open page) is kept in
    /// `ui_state.ron` there. `None` uses eframe's default location.
    pub data_dir: Option<PathBuf>,
    /// Spending limits shown on the Stats page.
    pub budget: crate::engine::budget::BudgetLimits,
    /// Agents and profiles; `None` hides the pickers and the Agents page's editor.
    pub agents: Option<personas::AgentParts>,
    /// Knowledge bases for the Knowledge page.
    pub knowledge: Option<knowledge_page::KnowledgeParts>,
}

/// The file under the data directory that holds the window's state.
pub const UI_STATE_FILE: &str = "ui_state.ron";

/// Opens the window and runs until it is closed.
pub fn run_gui(opts: GuiOptions) -> Result<(), UiError> {
    let GuiOptions {
        engine,
        settings,
        save_settings,
        history,
        models,
        started_at,
        data_dir,
        budget,
        agents,
        knowledge,
    } = opts;
    let viewport = egui::ViewportBuilder::default()
        .with_title("Rustbot")
        .with_app_id("rustbot")
        .with_inner_size([1000.0, 720.0])
        .with_min_inner_size([480.0, 360.0])
        .with_icon(app_icon());
    let native = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Glow,
        persistence_path: data_dir.map(|d| d.join(UI_STATE_FILE)),
        ..Default::default()
    };
    let parts = AppParts {
        engine,
        settings,
        save_settings,
        history,
        models,
        started_at,
    };
    eframe::run_native(
        "Rustbot",
        native,
        Box::new(move |cc| {
            trace::trace_delta_latency(&cc.egui_ctx);
            let mut app = RustbotApp::new(cc, parts);
            app.set_budget_limits(budget);
            if let Some(parts) = knowledge {
                app = app.with_knowledge(parts);
            }
            Ok(Box::new(match agents {
                Some(agents) => app.with_agents(&cc.egui_ctx, agents),
                None => app,
            }))
        }),
    )
    .map_err(|e| UiError::Window(e.to_string()))
}

/// The window icon: a rounded speech bubble drawn at start (no image decoder needed).
pub fn app_icon() -> egui::IconData {
    const SIZE: u32 = 64;
    let mut rgba = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    let c = SIZE as f32 / 2.0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (fx, fy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c + 4.0);
            let in_bubble = (fx / 28.0).powi(2) + (fy / 22.0).powi(2) <= 1.0;
            let in_tail =
                (44..60).contains(&y) && (14..30).contains(&x) && (x as i32 - 14) < (60 - y as i32);
            let eye = ((fx + 10.0).powi(2) + (fy + 2.0).powi(2) <= 16.0)
                || ((fx - 10.0).powi(2) + (fy + 2.0).powi(2) <= 16.0);
            let pixel = if eye {
                [255, 255, 255, 255]
            } else if in_bubble || in_tail {
                [222, 84, 38, 255]
            } else {
                [0, 0, 0, 0]
            };
            rgba.extend_from_slice(&pixel);
        }
    }
    egui::IconData {
        rgba,
        width: SIZE,
        height: SIZE,
    }
}
