//! The eframe application: drains engine events into the view-model at the start of each frame
//! (within a small time budget), draws the panels, and applies their actions at the end of the
//! frame. Never blocks: settings are saved on a background thread.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::ui::trace::FrameTrace;

mod agents;

use egui::{Key, KeyboardShortcut, Modifiers};
use serde::{Deserialize, Serialize};

use crate::engine::{Command, ConversationId, EngineEvent};
use crate::ui::agents_page::AgentsPage;
use crate::ui::chat::{ChatAction, ChatView};
use crate::ui::events_panel::EventsPanel;
use crate::ui::history::{History, HistoryUpdate};
use crate::ui::input::{InputAction, InputBox};
use crate::ui::link::EngineLink;
use crate::ui::models::ModelCatalog;
use crate::ui::personas::{AgentChoice, AgentEdit, AgentParts, Personas};
use crate::ui::settings::{GuiSettings, ProbeStatus, SettingsAction, SettingsPage};
use crate::ui::sidebar::{Page, Sidebar, SidebarAction};
use crate::ui::stats_data::PanelData;
use crate::ui::stats_panel::StatsPanel;
use crate::ui::view_model::{ConversationVm, ViewModel, now_ms};

/// Drain engine events for at most this long per frame, then draw and come back.
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

struct SettingsSaver {
    to_thread: mpsc::Sender<GuiSettings>,
    errors: mpsc::Receiver<String>,
}

impl SettingsSaver {
    fn spawn(mut save: SaveSettingsFn, ctx: egui::Context) -> Self {
        let (to_thread, from_ui) = mpsc::channel::<GuiSettings>();
        let (error_tx, errors) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("rustbot-settings-saver".into())
            .spawn(move || {
                while let Ok(mut settings) = from_ui.recv() {
                    // Only the latest settings matter.
                    while let Ok(newer) = from_ui.try_recv() {
                        settings = newer;
                    }
                    let message = match save(&settings) {
                        Ok(()) => String::new(),
                        Err(e) => format!("Could not save the settings: {e}"),
                    };
                    if error_tx.send(message).is_err() {
                        break;
                    }
                    ctx.request_repaint();
                }
            });
        if let Err(e) = spawned {
            tracing::error!("could not start the settings saver thread: {e}");
        }
        Self { to_thread, errors }
    }
}

/// The Rustbot window.
pub struct RustbotApp {
    persisted: PersistedUi,
    vm: ViewModel,
    engine: EngineLink,
    chat: ChatView,
    input: InputBox,
    sidebar: Sidebar,
    settings_page: SettingsPage,
    applied: GuiSettings,
    saver: Option<SettingsSaver>,
    history: Option<History>,
    models: Option<ModelCatalog>,
    trace: Option<FrameTrace>,
    pending_delete: Option<PendingDelete>,
    events: EventsPanel,
    stats: StatsPanel,
    panel_data: Option<PanelData>,
    personas: Option<Personas>,
    agents_page: AgentsPage,
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
        if let Some(models) = &models {
            models.attach(ctx);
        }
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
            sidebar: Sidebar::default(),
            settings_page: SettingsPage::new(settings.clone()),
            applied: settings,
            saver,
            history,
            models,
            trace: started_at.map(FrameTrace::new),
            pending_delete: None,
            events: EventsPanel::default(),
            stats: StatsPanel::default(),
            panel_data,
            personas: None,
            agents_page: AgentsPage::default(),
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

    /// The page shown.
    pub fn page(&self) -> Page {
        self.persisted.page
    }

    /// The settings in effect.
    pub fn settings(&self) -> &GuiSettings {
        &self.applied
    }

    /// Drains waiting engine events into the view-model, for at most [`DRAIN_BUDGET`].
    fn drain_events(&mut self, ctx: &egui::Context) {
        let start = Instant::now();
        let now = now_ms();
        while let Some(event) = self.engine.try_recv() {
            if let (EngineEvent::BranchSelected { conversation, .. }, Some(history)) =
                (&event, &self.history)
            {
                history.request_messages(conversation);
            }
            self.vm.apply(&event, now);
            self.events.push(&event, now);
            self.stats.push(&event, now);
            if start.elapsed() > DRAIN_BUDGET {
                // More may be waiting: draw what we have and come back.
                ctx.request_repaint();
                break;
            }
        }
        while let Some(update) = self.panel_data.as_ref().and_then(PanelData::try_recv) {
            if let Some(other) = self.events.on_update(update) {
                let _ = self.stats.on_update(other);
            }
        }
        while let Some(update) = self.history.as_ref().and_then(History::try_recv) {
            match update {
                HistoryUpdate::Conversations(rows) => self.vm.load_summaries(rows),
                HistoryUpdate::Messages {
                    conversation,
                    messages,
                } => {
                    self.vm.load_messages(&conversation, messages);
                    if self.vm.selected_id() == Some(&conversation) {
                        self.chat.scroll_to_latest();
                    }
                }
                HistoryUpdate::Failed(message) => self.vm.global_notices.push(message),
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
        self.drain_personas();
        while let Some(result) = self.models.as_ref().and_then(ModelCatalog::try_recv) {
            self.settings_page.probe_finished(result);
        }
        if let Some(saver) = &self.saver {
            while let Ok(message) = saver.errors.try_recv() {
                self.settings_page.status = (!message.is_empty()).then_some(message);
            }
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
                if let Some(a) = self.input.ui(ui, run_active, last_user.as_deref()) {
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

    fn apply(&mut self, ctx: &egui::Context, action: AppAction) {
        let now = now_ms();
        match action {
            AppAction::Sidebar(SidebarAction::NewChat) => {
                self.persisted.page = Page::Chat;
                // A conversation is created when its first message is sent, so an empty
                // "New chat" leaves nothing behind.
                self.vm.clear_selection();
                self.input.request_focus();
            }
            AppAction::Sidebar(SidebarAction::Select(id)) => {
                self.persisted.page = Page::Chat;
                if let Some(history) = &self.history
                    && self.vm.conversation(&id).is_some_and(|c| c.history_pending)
                {
                    history.request_messages(&id);
                }
                let stored = self.vm.conversation(&id).is_some_and(|c| c.history_pending);
                if stored && let Some(personas) = &self.personas {
                    personas.request_stored(&id);
                }
                self.vm.select(id, now);
                self.chat.scroll_to_latest();
                self.input.request_focus();
            }
            AppAction::Sidebar(SidebarAction::Navigate(page)) => {
                self.persisted.page = page;
                if page == Page::Settings
                    && self.settings_page.probe == ProbeStatus::NotTried
                    && self.applied.missing_key_message().is_none()
                    && let Some(models) = &self.models
                {
                    // Fill the model list (and show whether the connection works) once.
                    self.settings_page.probe_started();
                    models.request(&self.applied);
                }
                if page == Page::Chat {
                    self.input.request_focus();
                }
            }
            AppAction::Sidebar(SidebarAction::Rename(id, title)) => {
                if !title.trim().is_empty() {
                    self.vm.rename(&id, &title);
                    if let Some(history) = &self.history {
                        history.rename(&id, title.trim());
                    }
                }
            }
            AppAction::Sidebar(SidebarAction::SetPinned(id, pinned)) => {
                self.vm.set_pinned(&id, pinned);
                if let Some(history) = &self.history {
                    history.set_pinned(&id, pinned);
                }
            }
            AppAction::Sidebar(SidebarAction::Delete(id)) => {
                self.finish_delete();
                if self.vm.conversation(&id).is_some_and(|c| c.run.is_active()) {
                    self.engine.send(Command::Stop {
                        conversation: id.clone(),
                    });
                }
                if let Some(conversation) = self.vm.remove(&id) {
                    self.pending_delete = Some(PendingDelete {
                        conversation,
                        deadline: Instant::now() + UNDO_WINDOW,
                    });
                    ctx.request_repaint_after(UNDO_WINDOW);
                }
            }
            AppAction::Input(InputAction::Send(text)) => {
                let conversation = match self.vm.selected_id() {
                    Some(id) => id.clone(),
                    None => {
                        let id = ConversationId::new();
                        // Agent and profile go first, so their names are stored with it.
                        let note = self.configure_new_chat(&id, &text);
                        self.engine.send(Command::NewConversation {
                            conversation: id.clone(),
                        });
                        self.vm.select(id.clone(), now);
                        if let Some((agent, note)) = note {
                            self.vm.set_agent(&id, agent, note);
                        }
                        self.vm
                            .set_profile(&id, self.persisted.new_chat_profile.clone());
                        id
                    }
                };
                self.vm.user_sent(&conversation, &text, now);
                self.engine.send(Command::SendMessage {
                    conversation,
                    text,
                    model: None,
                });
                self.chat.scroll_to_latest();
            }
            AppAction::Input(InputAction::Edit(text)) => {
                let Some(conversation) = self.vm.selected_id().cloned() else {
                    return;
                };
                self.vm.edit_requested(&conversation, &text, now);
                self.engine.send(Command::EditMessage {
                    conversation,
                    message_id: None,
                    text,
                });
                self.chat.scroll_to_latest();
            }
            AppAction::Input(InputAction::Stop) => {
                if let Some(id) = self.vm.selected_id().cloned() {
                    self.stop(id);
                }
            }
            AppAction::Chat(ChatAction::Retry(conversation)) => {
                self.vm.retry_requested(&conversation, now);
                self.engine.send(Command::Retry { conversation });
                self.chat.scroll_to_latest();
                self.input.request_focus();
            }
            AppAction::Chat(ChatAction::ApproveTool {
                conversation,
                call_id,
                scope,
            }) => {
                self.engine.send(Command::ApproveTool {
                    conversation,
                    call_id,
                    scope,
                });
            }
            AppAction::Chat(ChatAction::DenyTool {
                conversation,
                call_id,
            }) => {
                self.engine.send(Command::DenyTool {
                    conversation,
                    call_id,
                });
            }
            AppAction::Sidebar(SidebarAction::PickAgent(name)) => self.pick_agent(name),
            AppAction::Sidebar(SidebarAction::PickProfile(name)) => self.pick_profile(&name),
            AppAction::Chat(ChatAction::SetAgent {
                conversation,
                agent,
            }) => self.set_agent(&conversation, &agent, None),
            AppAction::NewChatAgent(choice) => self.persisted.new_chat_agent = choice,
            AppAction::Agents(edit) => match &self.personas {
                Some(personas) => personas.edit(edit),
                None => self.vm.global_notices.push("Agents are not loaded.".into()),
            },
            AppAction::Settings(SettingsAction::Changed(settings)) => {
                self.apply_settings(ctx, settings);
            }
            AppAction::Settings(SettingsAction::Probe(settings)) => match &self.models {
                Some(models) => {
                    self.settings_page.probe_started();
                    models.request(&settings);
                }
                None => {
                    self.settings_page
                        .probe_finished(crate::ui::models::ProbeResult::Failed(
                            "Model lists are not available in this window.".into(),
                        ));
                }
            },
        }
    }

    /// Deletes the conversation waiting in the undo window for good.
    fn finish_delete(&mut self) {
        if let Some(pending) = self.pending_delete.take()
            && let Some(history) = &self.history
        {
            history.delete(&pending.conversation.id);
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
            Page::Events => self.events.ui(ui, self.panel_data.as_ref()),
            Page::Stats => self
                .stats
                .ui(ui, self.panel_data.as_ref(), self.vm.selected_id()),
        }
    }

    fn stop(&mut self, conversation: ConversationId) {
        self.vm.stop_requested(&conversation);
        self.engine.send(Command::Stop { conversation });
        self.input.request_focus();
    }

    fn apply_settings(&mut self, ctx: &egui::Context, settings: GuiSettings) {
        if settings == self.applied {
            return;
        }
        if settings.model != self.applied.model && !settings.model.trim().is_empty() {
            self.engine.send(Command::SetModel {
                model: settings.model.trim().to_string(),
            });
        }
        self.preferences_changed(&settings);
        if settings.theme != self.applied.theme || settings.font_size != self.applied.font_size {
            apply_look(ctx, &settings);
        }
        if let Some(saver) = &self.saver
            && saver.to_thread.send(settings.clone()).is_err()
        {
            self.settings_page.status = Some("Could not save the settings.".into());
        }
        self.applied = settings;
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

        for action in actions {
            self.apply(&ctx, action);
        }
        if let Some(trace) = self.trace.as_mut() {
            trace.frame_done();
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

/// Applies theme and font size to every style (dark and light), and turns off the text
/// cursor's blinking so an idle window requests no repaints.
pub fn apply_look(ctx: &egui::Context, settings: &GuiSettings) {
    use egui::{FontId, TextStyle};
    ctx.set_theme(settings.theme.preference());
    let size = settings.font_size.clamp(8.0, 40.0);
    ctx.all_styles_mut(|style| {
        style.visuals.text_cursor.blink = false;
        style.text_styles = [
            (TextStyle::Small, FontId::proportional(size * 0.75)),
            (TextStyle::Body, FontId::proportional(size)),
            (TextStyle::Button, FontId::proportional(size)),
            (TextStyle::Heading, FontId::proportional(size * 1.4)),
            (TextStyle::Monospace, FontId::monospace(size * 0.95)),
        ]
        .into();
    });
}
