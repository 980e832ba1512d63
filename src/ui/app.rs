//! The eframe application: drains engine events into the view-model at the start of each frame
//! (within a small time budget), draws the panels, and applies their actions at the end of the
//! frame. Never blocks: settings are saved on a background thread.

use std::time::{Duration, Instant};

use crate::ui::trace::FrameTrace;

mod actions;
mod agents;
mod settings_link;

use settings_link::SettingsSaver;
pub use settings_link::apply_look;

use egui::{Key, KeyboardShortcut, Modifiers};
use serde::{Deserialize, Serialize};

use crate::engine::EngineEvent;
use crate::ui::agents_page::AgentsPage;
use crate::ui::attachment_tray::AttachmentTray;
use crate::ui::chat::{ChatAction, ChatView};
use crate::ui::events_panel::EventsPanel;
use crate::ui::history::{History, HistoryUpdate};
use crate::ui::input::{InputAction, InputBox, TrayState};
use crate::ui::link::EngineLink;
use crate::ui::models::{ModelCatalog, ProbeResult};
use crate::ui::personas::{AgentChoice, AgentEdit, AgentParts, Personas};
use crate::ui::settings::{GuiSettings, ProbeStatus, SettingsAction, SettingsPage};
use crate::ui::sidebar::{Page, Sidebar, SidebarAction};
use crate::ui::stats_data::PanelData;
use crate::ui::stats_panel::StatsPanel;
use crate::ui::view_model::{ConversationVm, ViewModel, now_ms};

/// Drain the inbound channels (engine events, store reads, agents, the settings saver) for at
/// most this long per frame together, then draw and come back. Each channel still gets one
/// item a frame past the budget, so a flood on one never starves the others.
const DRAIN_BUDGET: Duration = Duration::from_millis(4);

/// How long a deleted conversation can be brought back.
const UNDO_WINDOW: Duration = Duration::from_secs(8);

/// A deleted conversation that Undo can still bring back.
struct PendingDelete {
    conversation: ConversationVm,
    deadline: Instant,
}

/// Saves settings somewhere durable (config file, keyring). Runs on a background thread;
/// returns the sentence to show when it fails.
pub type SaveSettingsFn = Box<dyn FnMut(&GuiSettings) -> Result<(), String> + Send>;

/// The part of the window's state eframe saves between runs (window size and position are
/// saved by eframe itself).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedUi {
    /// The page shown last.
    pub page: Page,
    /// The agent a new conversation gets.
    pub new_chat_agent: AgentChoice,
    /// The profile a new conversation gets (`None`: the default provider).
    pub new_chat_profile: Option<String>,
}

/// An action from any panel, applied by the app at the end of the frame.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum AppAction {
    /// From the sidebar.
    Sidebar(SidebarAction),
    /// From the chat view.
    Chat(ChatAction),
    /// From the input box.
    Input(InputAction),
    /// From the settings page.
    Settings(SettingsAction),
    /// From the Agents page: write this edit to the agents folder.
    Agents(AgentEdit),
    /// From the new chat's agent picker.
    NewChatAgent(AgentChoice),
}

/// Everything the app needs at start.
pub struct AppParts {
    /// The engine.
    pub engine: EngineLink,
    /// The settings in effect at start.
    pub settings: GuiSettings,
    /// Where changed settings go; `None` keeps them for this run only.
    pub save_settings: Option<SaveSettingsFn>,
    /// Stored conversations; `None` shows only this run's.
    pub history: Option<History>,
    /// The provider's model list for Settings; `None` leaves the list empty.
    pub models: Option<ModelCatalog>,
    /// When the process started, to log the time to the first frame.
    pub started_at: Option<Instant>,
}

/// The Rustbot window.
pub struct RustbotApp {
    persisted: PersistedUi,
    vm: ViewModel,
    engine: EngineLink,
    chat: ChatView,
    input: InputBox,
    /// Files waiting to go with the next message.
    tray: AttachmentTray,
    sidebar: Sidebar,
    settings_page: SettingsPage,
    applied: GuiSettings,
    saver: Option<SettingsSaver>,
    history: Option<History>,
    models: Option<ModelCatalog>,
    trace: Option<FrameTrace>,
    highlighter_warmed: bool,
    pending_delete: Option<PendingDelete>,
    events: EventsPanel,
    stats: StatsPanel,
    panel_data: Option<PanelData>,
    personas: Option<Personas>,
    agents_page: AgentsPage,
    knowledge_page: crate::ui::knowledge_page::KnowledgePage,
}

impl RustbotApp {
    /// Builds the app inside eframe (or an egui_kittest harness).
    pub fn new(cc: &eframe::CreationContext<'_>, parts: AppParts) -> Self {
        let persisted: PersistedUi = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        Self::with_context(&cc.egui_ctx, parts, persisted)
    }

    /// Builds the app for an existing context.
    pub fn with_context(ctx: &egui::Context, parts: AppParts, persisted: PersistedUi) -> Self {
        let AppParts {
            engine,
            settings,
            save_settings,
            history,
            models,
            started_at,
        } = parts;
        if let Some(history) = &history {
            history.attach(ctx);
            history.request_list();
        }
        let panel_data = history.as_ref().map(History::panel_data);
        if let Some(data) = &panel_data {
            data.attach(ctx);
        }
        engine.attach(ctx);
        ctx.add_glyph_rasterizer(crate::ui::glyphs::icon_rasterizer());
        apply_look(ctx, &settings);
        let saver = save_settings.map(|save| SettingsSaver::spawn(save, ctx.clone()));
        let mut input = InputBox::default();
        input.request_focus();
        Self {
            persisted,
            vm: ViewModel::new(),
            engine,
            chat: ChatView::default(),
            input,
            tray: AttachmentTray::default(),
            sidebar: Sidebar::default(),
            settings_page: SettingsPage::new(settings.clone()),
            applied: settings,
            saver,
            history,
            models,
            trace: started_at.map(FrameTrace::new),
            highlighter_warmed: false,
            pending_delete: None,
            events: EventsPanel::default(),
            stats: StatsPanel::default(),
            panel_data,
            personas: None,
            agents_page: AgentsPage::default(),
            knowledge_page: Default::default(),
        }
    }

    /// Adds agents and profiles: the chat header's agent picker, the sidebar's agent list and
    /// profile switcher, and the Agents page. The folder is watched from now on.
    #[must_use]
    pub fn with_agents(mut self, ctx: &egui::Context, parts: AgentParts) -> Self {
        let preferences = crate::config::UiSettings {
            instructions: self.applied.instructions.clone(),
            personality: self.applied.personality.clone(),
            ..Default::default()
        };
        let personas = Personas::start(ctx, parts, preferences);
        self.chat.agent_names = personas
            .registry
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        self.personas = Some(personas);
        self
    }

    /// Shows the Knowledge page over `parts`.
    pub fn with_knowledge(mut self, parts: crate::ui::knowledge_page::KnowledgeParts) -> Self {
        self.knowledge_page = crate::ui::knowledge_page::KnowledgePage::new(parts);
        self
    }

    /// The view-model (for tests and storage).
    pub fn view_model(&self) -> &ViewModel {
        &self.vm
    }

    /// The view-model, to fill it from storage.
    pub fn view_model_mut(&mut self) -> &mut ViewModel {
        &mut self.vm
    }

    /// How many messages the chat view laid out in the last frame (only the visible ones).
    pub fn laid_out_messages(&self) -> usize {
        self.chat.last_laid_out
    }

    /// Where the settings page's connection test stands.
    pub fn settings_probe(&self) -> ProbeStatus {
        self.settings_page.probe.clone()
    }

    /// The Events page (for tests).
    pub fn events_panel(&self) -> &EventsPanel {
        &self.events
    }

    /// The Stats page (for tests).
    pub fn stats_panel(&self) -> &StatsPanel {
        &self.stats
    }

    /// Shows spending against these limits on the Stats page.
    pub fn set_budget_limits(&mut self, limits: crate::engine::budget::BudgetLimits) {
        self.stats.set_budget(limits);
    }

    /// The attached image open in the larger view (for tests).
    pub fn image_viewing(&self) -> Option<&str> {
        self.chat.images.viewing()
    }

    /// The page shown.
    pub fn page(&self) -> Page {
        self.persisted.page
    }

    /// The settings in effect.
    pub fn settings(&self) -> &GuiSettings {
        &self.applied
    }

    /// Drains the inbound channels into the view-model, for at most [`DRAIN_BUDGET`] in all.
    fn drain_events(&mut self, ctx: &egui::Context) {
        let deadline = Instant::now() + DRAIN_BUDGET;
        let mut more_waiting = false;
        let now = now_ms();
        self.engine.frame_started();
        while let Some(event) = self.engine.try_recv() {
            // The store's tree changed under the view: read the branch shown again. (After an
            // answer, `RunStored` brings the ids and branches instead.)
            if let (
                EngineEvent::BranchSelected { conversation, .. }
                | EngineEvent::MessageDeleted { conversation, .. }
                | EngineEvent::Compacted { conversation, .. },
                Some(history),
            ) = (&event, &self.history)
            {
                history.request_messages(conversation);
            }
            match &event {
                EngineEvent::ProviderProbed { models, error } => {
                    self.settings_page.probe_finished(match error {
                        Some(e) => ProbeResult::Failed(e.clone()),
                        None => ProbeResult::Models(models.clone()),
                    });
                }
                EngineEvent::ProviderChanged { error: Some(e) } => self.provider_refused(e),
                _ => {}
            }
            self.vm.apply(&event, now);
            self.events.push(&event, now);
            self.stats.push(&event, now);
            if Instant::now() > deadline {
                more_waiting = true;
                break;
            }
        }
        while let Some(update) = self.panel_data.as_ref().and_then(PanelData::try_recv) {
            if let Some(other) = self.events.on_update(update) {
                let _ = self.stats.on_update(other);
            }
            if Instant::now() > deadline {
                more_waiting = true;
                break;
            }
        }
        while let Some(update) = self.history.as_ref().and_then(History::try_recv) {
            match update {
                HistoryUpdate::Conversations(rows) => self.vm.load_summaries(rows),
                HistoryUpdate::Messages {
                    conversation,
                    messages,
                } => {
                    let first_load = self
                        .vm
                        .conversation(&conversation)
                        .is_some_and(|c| c.history_pending);
                    self.vm.refresh_messages(&conversation, messages);
                    if first_load && self.vm.selected_id() == Some(&conversation) {
                        self.chat.scroll_to_latest();
                    }
                }
                HistoryUpdate::Failed(message) => self.vm.global_notices.push(message),
            }
            if Instant::now() > deadline {
                more_waiting = true;
                break;
            }
        }
        if let Some(pending) = &self.pending_delete {
            let now = Instant::now();
            if now >= pending.deadline {
                self.finish_delete();
            } else {
                ctx.request_repaint_after(pending.deadline - now);
            }
        }
        more_waiting |= self.drain_personas(deadline);
        if let Some(saver) = &self.saver {
            while let Ok(message) = saver.errors.try_recv() {
                self.settings_page.status = (!message.is_empty()).then_some(message);
                if Instant::now() > deadline {
                    more_waiting = true;
                    break;
                }
            }
        }
        if more_waiting {
            // Draw what we have and come back for the rest.
            ctx.request_repaint();
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context, actions: &mut Vec<AppAction>) {
        let new_chat = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);
        let search = KeyboardShortcut::new(Modifiers::COMMAND, Key::K);
        let settings = KeyboardShortcut::new(Modifiers::COMMAND, Key::Comma);
        ctx.input_mut(|i| {
            if i.consume_shortcut(&new_chat) {
                actions.push(AppAction::Sidebar(SidebarAction::NewChat));
            }
            if i.consume_shortcut(&search) {
                self.sidebar.focus_search();
            }
            if i.consume_shortcut(&settings) {
                actions.push(AppAction::Sidebar(SidebarAction::Navigate(Page::Settings)));
            }
        });
    }

    fn chat_page_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<AppAction>) {
        if let Some(message) = self.applied.missing_key_message() {
            egui::Frame::new()
                .stroke((1.0, ui.visuals().warn_fg_color))
                .corner_radius(6.0)
                .inner_margin(8)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal_wrapped(|ui| {
                        ui.colored_label(ui.visuals().warn_fg_color, message);
                        if ui.button("Open Settings").clicked() {
                            actions
                                .push(AppAction::Sidebar(SidebarAction::Navigate(Page::Settings)));
                        }
                    });
                });
            ui.add_space(6.0);
        }
        if let Some(notice) = self.vm.global_notices.last().cloned() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, notice);
                if ui.small_button("Dismiss").clicked() {
                    self.vm.global_notices.clear();
                }
            });
        }

        let selected = self.vm.selected();
        let run_active = selected.is_some_and(|c| c.run.is_active());
        let last_user = selected.and_then(|c| c.last_user_text()).map(str::to_owned);
        egui::Panel::bottom("rustbot_input")
            .show_separator_line(false)
            .frame(egui::Frame::new().inner_margin(egui::Margin::symmetric(0, 8)))
            .show(ui, |ui| {
                self.tray.ui(ui, &mut self.chat.images);
                let tray = TrayState {
                    files: self.tray.files().len(),
                    loading: self.tray.is_loading(),
                };
                if let Some(a) = self.input.ui(ui, run_active, last_user.as_deref(), tray) {
                    actions.push(AppAction::Input(a));
                }
            });

        match self.vm.selected() {
            Some(conv) => {
                if let Some(a) = self.chat.ui(ui, conv) {
                    actions.push(AppAction::Chat(a));
                }
            }
            None => {
                self.new_chat_header_ui(ui, actions);
                ui.add_space(ui.available_height() * 0.35);
                ui.vertical_centered(|ui| {
                    ui.heading("Ask anything.");
                    ui.weak("Enter sends · Shift+Enter adds a line · Esc stops");
                });
            }
        }
    }

    fn undo_bar_ui(&mut self, ui: &mut egui::Ui) {
        let Some(pending) = &self.pending_delete else {
            return;
        };
        let title = pending.conversation.title.clone();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("Deleted \"{title}\"."));
            if ui.button("Undo").clicked()
                && let Some(pending) = self.pending_delete.take()
            {
                self.vm.restore(pending.conversation);
            }
        });
        ui.separator();
    }

    fn page_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<AppAction>) {
        match self.persisted.page {
            Page::Chat => self.chat_page_ui(ui, actions),
            Page::Settings => {
                if let Some(a) = self.settings_page.ui(ui) {
                    actions.push(AppAction::Settings(a));
                }
            }
            Page::Agents => self.agents_page_ui(ui, actions),
            Page::Knowledge => self.knowledge_page.ui(ui),
            Page::Events => self.events.ui(ui, self.panel_data.as_ref()),
            Page::Stats => self
                .stats
                .ui(ui, self.panel_data.as_ref(), self.vm.selected_id()),
        }
    }
}

impl eframe::App for RustbotApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_events(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let mut actions = Vec::new();
        self.shortcuts(&ctx, &mut actions);
        self.tray.update(&ctx, self.applied.attachments);

        egui::Panel::left("rustbot_sidebar")
            .resizable(true)
            .default_size(240.0)
            .size_range(160.0..=420.0)
            .show(ui, |ui| {
                if let Some(a) = self.sidebar_ui(ui) {
                    actions.push(AppAction::Sidebar(a));
                }
            });

        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.undo_bar_ui(ui);
            self.page_ui(ui, &mut actions);
        });

        self.chat.images.viewer_ui(&ctx);
        crate::ui::attachment_tray::drop_hint_ui(&ctx);
        for action in actions {
            self.apply(&ctx, action);
        }
        if let Some(trace) = self.trace.as_mut() {
            trace.frame_done();
        }
        if !std::mem::replace(&mut self.highlighter_warmed, true) {
            crate::ui::code_fences::warm_highlighter(&ctx);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.persisted);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // A delete still in its undo window happens now.
        self.finish_delete();
    }
}
