//! The Events page: the engine's event stream, live and from the store (paged), filtered by
//! priority and kind and searched; pause/follow; a click shows a row's full JSON; the filtered
//! view is exported as JSON Lines to `exports/` in the data directory (off the UI thread).
//! Only the visible rows are laid out, so 100,000 rows draw as fast as 30.

mod log;

pub use log::{
    EVENT_CAPACITY, EVENT_PAGE, EventFilter, EventLog, EventPayload, EventRow, event_priority,
    event_summary,
};

use egui::{RichText, TextStyle};

use crate::engine::EngineEvent;
use crate::ui::stats_data::{PanelData, PanelUpdate};
use crate::ui::view_model::{UnixMs, now_ms};

/// Names of the priority check boxes, in [`EventFilter::priorities`] order.
const PRIORITY_NAMES: [&str; 4] = ["Low", "Normal", "High", "Critical"];

/// Where loading stored events stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredState {
    NotAsked,
    Loading,
    More,
    AllLoaded,
}

/// The Events page.
#[derive(Debug)]
pub struct EventsPanel {
    log: EventLog,
    /// Stored events from before this time are read from the store (later ones came live).
    opened_ms: UnixMs,
    stored: StoredState,
    oldest_stored_id: Option<i64>,
    follow: bool,
    /// While paused, rows newer than this sequence number are kept but not shown.
    paused_at: Option<i64>,
    selected: Option<(i64, String)>,
    status: Option<String>,
}

impl Default for EventsPanel {
    fn default() -> Self {
        Self {
            log: EventLog::default(),
            opened_ms: now_ms(),
            stored: StoredState::NotAsked,
            oldest_stored_id: None,
            follow: true,
            paused_at: None,
            selected: None,
            status: None,
        }
    }
}

impl EventsPanel {
    /// The rows and filter (for tests and the Stats page's live timeline).
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The rows, to fill them directly (benchmarks).
    pub fn log_mut(&mut self) -> &mut EventLog {
        &mut self.log
    }

    /// The last export's outcome or a read error.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// Records a live event.
    pub fn push(&mut self, event: &EngineEvent, now: UnixMs) {
        self.log.push(event, now);
    }

    /// Takes a result meant for this page; gives back the others.
    pub fn on_update(&mut self, update: PanelUpdate) -> Option<PanelUpdate> {
        match update {
            PanelUpdate::EventPage { rows, more } => {
                if let Some(last) = rows.last() {
                    self.oldest_stored_id = Some(last.id);
                }
                let room = self.log.prepend_stored(rows);
                self.stored = if more && room {
                    StoredState::More
                } else {
                    StoredState::AllLoaded
                };
                None
            }
            PanelUpdate::Exported(result) => {
                self.status = Some(match result {
                    Ok((path, n)) => format!("Exported {n} events to {}", path.display()),
                    Err(e) => format!("Could not export the events: {e}"),
                });
                None
            }
            other => Some(other),
        }
    }

    /// Draws the page; reads and exports go through `data` (none: this window has no store).
    pub fn ui(&mut self, ui: &mut egui::Ui, data: Option<&PanelData>) {
        if self.stored == StoredState::NotAsked
            && let Some(data) = data
        {
            self.stored = StoredState::Loading;
            data.request_events(self.opened_ms, None, EVENT_PAGE);
        }
        ui.heading("Events");
        self.filter_ui(ui);
        self.controls_ui(ui, data);
        if let Some(status) = self.status.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.weak(status);
                if ui.small_button("Dismiss").clicked() {
                    self.status = None;
                }
            });
        }
        self.detail_ui(ui);
        ui.separator();
        self.rows_ui(ui);
    }

    fn filter_ui(&mut self, ui: &mut egui::Ui) {
        let mut filter = self.log.filter().clone();
        ui.horizontal_wrapped(|ui| {
            ui.label("Priority:");
            for (shown, name) in filter.priorities.iter_mut().zip(PRIORITY_NAMES) {
                ui.checkbox(shown, name);
            }
            ui.separator();
            let kinds = self.log.kinds();
            egui::ComboBox::from_label("Kind")
                .selected_text(filter.kind.as_deref().unwrap_or("All kinds"))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut filter.kind, None, "All kinds");
                    for kind in kinds {
                        ui.selectable_value(&mut filter.kind, Some(kind.clone()), kind);
                    }
                });
            ui.separator();
            let label = ui.label("Search events");
            ui.add(
                egui::TextEdit::singleline(&mut filter.search)
                    .hint_text("text, kind or conversation")
                    .desired_width(200.0),
            )
            .labelled_by(label.id);
        });
        self.log.set_filter(filter);
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, data: Option<&PanelData>) {
        ui.horizontal_wrapped(|ui| {
            let pause = if self.paused_at.is_some() {
                "Resume"
            } else {
                "Pause"
            };
            if ui.button(pause).clicked() {
                self.paused_at = match self.paused_at {
                    Some(_) => None,
                    None => Some(self.log.last_seq()),
                };
            }
            ui.checkbox(&mut self.follow, "Follow");
            let can_load = data.is_some() && self.stored == StoredState::More;
            if ui
                .add_enabled(can_load, egui::Button::new("Load older"))
                .clicked()
                && let Some(data) = data
            {
                self.stored = StoredState::Loading;
                data.request_events(self.opened_ms, self.oldest_stored_id, EVENT_PAGE);
            }
            let export = ui
                .add_enabled(data.is_some(), egui::Button::new("Export JSONL"))
                .on_hover_text("Writes the filtered rows to exports/ in the data directory");
            if export.clicked()
                && let Some(data) = data
            {
                self.status = Some("Exporting…".into());
                data.export(self.log.filtered_payloads(), now_ms());
            }
            let shown = self.shown_len();
            ui.weak(format!(
                "{shown} of {} events{}",
                self.log.len(),
                if self.paused_at.is_some() {
                    " (paused)"
                } else {
                    ""
                }
            ));
        });
    }

    fn shown_len(&self) -> usize {
        match self.paused_at {
            Some(seq) => self.log.filtered_up_to(seq),
            None => self.log.filtered_len(),
        }
    }

    fn detail_ui(&mut self, ui: &mut egui::Ui) {
        let Some((_, json)) = &self.selected else {
            return;
        };
        let mut close = false;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Event JSON");
                if ui.small_button("Copy").clicked() {
                    ui.ctx().copy_text(json.clone());
                }
                close = ui.small_button("Close").clicked();
            });
            egui::ScrollArea::vertical()
                .id_salt("rustbot_event_json")
                .max_height(220.0)
                .show(ui, |ui| {
                    ui.add(egui::Label::new(RichText::new(json.as_str()).monospace()).wrap());
                });
        });
        if close {
            self.selected = None;
        }
    }

    fn rows_ui(&mut self, ui: &mut egui::Ui) {
        let total = self.shown_len();
        let row_height = ui.text_style_height(&TextStyle::Monospace);
        let mut clicked = None;
        egui::ScrollArea::both()
            .id_salt("rustbot_events")
            .auto_shrink(false)
            .stick_to_bottom(self.follow && self.paused_at.is_none())
            .show_rows(ui, row_height, total, |ui, range| {
                for n in range {
                    let Some((seq, row)) = self.log.filtered_row(n) else {
                        continue;
                    };
                    let mut text = RichText::new(row.line()).monospace();
                    if self.selected.as_ref().is_some_and(|(s, _)| *s == seq) {
                        text = text.background_color(ui.visuals().selection.bg_fill);
                    }
                    let response = ui.add(
                        egui::Label::new(text)
                            .sense(egui::Sense::click())
                            .truncate(),
                    );
                    if response.clicked() {
                        clicked = Some(seq);
                    }
                }
            });
        if let Some(seq) = clicked
            && let Some(row) = self.log.row(seq)
        {
            let json = row.payload.json();
            let pretty = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(json);
            self.selected = Some((seq, pretty));
        }
    }
}
