//! The Events and Stats pages. For now they show what this window saw since it started; with
//! storage they will read the engine's event table and the usage totals.

use std::collections::VecDeque;

use egui::RichText;

use crate::engine::EngineEvent;
use crate::ui::chat::format_time;
use crate::ui::view_model::{UnixMs, ViewModel};

/// Events kept for the Events page.
const EVENT_LOG_CAPACITY: usize = 500;

/// One row of the Events page.
#[derive(Debug, Clone)]
struct EventRow {
    at_ms: UnixMs,
    kind: &'static str,
    conversation: String,
    detail: String,
}

/// The last engine events and running totals.
#[derive(Debug, Default)]
pub struct EventLog {
    rows: VecDeque<EventRow>,
    /// Runs finished.
    pub runs: u64,
    /// Prompt tokens of finished runs.
    pub prompt_tokens: u64,
    /// Answer tokens of finished runs.
    pub completion_tokens: u64,
    /// Cost of finished runs, where known.
    pub cost_usd: f64,
}

impl EventLog {
    /// Records an event (text deltas are counted into the previous row, not listed).
    pub fn push(&mut self, event: &EngineEvent, now: UnixMs) {
        let detail = match event {
            EngineEvent::Text { delta, .. } => {
                if let Some(last) = self.rows.back_mut()
                    && last.kind == "text"
                {
                    last.detail =
                        format!("{} chars", last_chars(&last.detail) + delta.chars().count());
                    return;
                }
                format!("{} chars", delta.chars().count())
            }
            EngineEvent::State { from, to, .. } => format!("{from} → {to}"),
            EngineEvent::RunStarted { model, .. } => model.clone(),
            EngineEvent::Retrying {
                attempt, reason, ..
            } => format!("attempt {attempt}: {reason}"),
            EngineEvent::Done {
                status,
                error,
                metrics,
                ..
            } => {
                self.runs += 1;
                self.prompt_tokens += metrics.prompt_tokens;
                self.completion_tokens += metrics.completion_tokens;
                self.cost_usd += metrics.cost_usd.unwrap_or(0.0);
                match error {
                    Some(e) => format!("{}: {e}", status.as_str()),
                    None => format!("{} in {} ms", status.as_str(), metrics.duration_ms),
                }
            }
            EngineEvent::Error { message, .. } => message.clone(),
            EngineEvent::Lagged { dropped } => format!("{dropped} events dropped"),
            _ => String::new(),
        };
        if self.rows.len() == EVENT_LOG_CAPACITY {
            self.rows.pop_front();
        }
        self.rows.push_back(EventRow {
            at_ms: now,
            kind: event.kind(),
            conversation: event
                .conversation()
                .map(|c| {
                    c.0.chars()
                        .rev()
                        .take(8)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect()
                })
                .unwrap_or_default(),
            detail,
        });
    }

    /// Draws the Events page.
    pub fn ui(&self, ui: &mut egui::Ui) {
        ui.heading("Events");
        ui.weak("Engine events seen by this window since it started, newest first.");
        ui.add_space(6.0);
        egui::ScrollArea::vertical()
            .id_salt("rustbot_events")
            .auto_shrink(false)
            .show(ui, |ui| {
                egui::Grid::new("rustbot_events_grid")
                    .striped(true)
                    .num_columns(4)
                    .show(ui, |ui| {
                        for row in self.rows.iter().rev() {
                            ui.weak(format_time(row.at_ms));
                            ui.monospace(row.kind);
                            ui.weak(&row.conversation);
                            ui.label(&row.detail);
                            ui.end_row();
                        }
                    });
            });
    }
}

fn last_chars(detail: &str) -> usize {
    detail
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Draws the Stats page.
pub fn stats_ui(ui: &mut egui::Ui, vm: &ViewModel, log: &EventLog) {
    ui.heading("Stats");
    ui.weak("Totals for this session (history totals come with storage: `rustbot stats`).");
    ui.add_space(6.0);
    egui::Grid::new("rustbot_stats_grid")
        .num_columns(2)
        .spacing([24.0, 6.0])
        .show(ui, |ui| {
            ui.label("Conversations");
            ui.label(vm.conversations().len().to_string());
            ui.end_row();
            ui.label("Answers");
            ui.label(log.runs.to_string());
            ui.end_row();
            ui.label("Prompt tokens");
            ui.label(log.prompt_tokens.to_string());
            ui.end_row();
            ui.label("Answer tokens");
            ui.label(log.completion_tokens.to_string());
            ui.end_row();
            ui.label("Cost");
            ui.label(RichText::new(format!("${:.4}", log.cost_usd)).monospace());
            ui.end_row();
        });
}
