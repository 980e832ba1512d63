//! The left sidebar: New chat, the conversation list grouped by day with search, and the
//! navigation between the app's pages.

use egui::{Id, RichText};
use serde::{Deserialize, Serialize};

use crate::engine::ConversationId;
use crate::ui::view_model::{ConversationSummary, UnixMs, ViewModel};

/// The pages the central area can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Page {
    /// The conversation.
    #[default]
    Chat,
    /// Provider, model, key, prompt and appearance.
    Settings,
    /// The engine's event log.
    Events,
    /// Token and cost totals.
    Stats,
}

impl Page {
    /// Every page, in navigation order.
    pub const ALL: [Page; 4] = [Page::Chat, Page::Settings, Page::Events, Page::Stats];

    /// The name shown in the navigation.
    pub fn label(self) -> &'static str {
        match self {
            Page::Chat => "Chat",
            Page::Settings => "Settings",
            Page::Events => "Events",
            Page::Stats => "Stats",
        }
    }
}

/// What the sidebar asks the app to do.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum SidebarAction {
    /// Start a new conversation and show it.
    NewChat,
    /// Show this conversation.
    Select(ConversationId),
    /// Show this page.
    Navigate(Page),
}

/// The accessible name of the search field.
pub const SEARCH_LABEL: &str = "Search conversations";

/// Sidebar state that outlives a frame.
#[derive(Debug, Default)]
pub struct Sidebar {
    /// The search text.
    pub query: String,
    focus_search: bool,
}

impl Sidebar {
    fn search_id() -> Id {
        Id::unique("rustbot_sidebar_search")
    }

    /// Gives the search field focus on the next frame (Ctrl+K).
    pub fn focus_search(&mut self) {
        self.focus_search = true;
    }

    /// Draws the sidebar.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        vm: &ViewModel,
        page: Page,
        now: UnixMs,
    ) -> Option<SidebarAction> {
        let mut action = None;
        ui.add_space(6.0);
        if ui
            .add_sized(
                [ui.available_width(), 28.0],
                egui::Button::new("+ New chat"),
            )
            .on_hover_text("Start a new conversation (Ctrl+N)")
            .clicked()
        {
            action = Some(SidebarAction::NewChat);
        }
        ui.add_space(4.0);
        let search = ui
            .add(
                egui::TextEdit::singleline(&mut self.query)
                    .id(Self::search_id())
                    .hint_text("Search (Ctrl+K)")
                    .desired_width(f32::INFINITY),
            )
            .accessible_name(SEARCH_LABEL);
        if std::mem::take(&mut self.focus_search) {
            search.request_focus();
        }
        ui.add_space(4.0);

        // Navigation at the bottom, the list fills the rest.
        egui::Panel::bottom("rustbot_nav")
            .show_separator_line(true)
            .show(ui, |ui| {
                ui.add_space(4.0);
                for p in Page::ALL {
                    if ui.selectable_label(page == p, p.label()).clicked() && page != p {
                        action = Some(SidebarAction::Navigate(p));
                    }
                }
                ui.add_space(4.0);
            });

        let rows = vm.summaries(&self.query);
        egui::ScrollArea::vertical()
            .id_salt("rustbot_conversations")
            .auto_shrink(false)
            .show(ui, |ui| {
                if rows.is_empty() {
                    ui.weak(if self.query.trim().is_empty() {
                        "No conversations yet."
                    } else {
                        "No conversation matches."
                    });
                }
                let mut last_group = None;
                for row in &rows {
                    let group = day_group(row.updated_ms, now);
                    if last_group != Some(group) {
                        ui.add_space(4.0);
                        ui.label(RichText::new(group).small().weak());
                        last_group = Some(group);
                    }
                    if let Some(a) = row_ui(ui, row, vm.selected_id() == Some(&row.id)) {
                        action = Some(a);
                    }
                }
            });
        action
    }
}

fn row_ui(ui: &mut egui::Ui, row: &ConversationSummary, selected: bool) -> Option<SidebarAction> {
    let text = if row.running {
        format!("• {}", row.title)
    } else {
        row.title.clone()
    };
    let response = ui
        .add(
            egui::Button::selectable(selected, text)
                .truncate()
                .min_size(egui::vec2(ui.available_width(), 22.0)),
        )
        .on_hover_text(&row.title);
    response
        .clicked()
        .then(|| SidebarAction::Select(row.id.clone()))
}

/// "Today", "Yesterday", "Previous 7 days" or "Older", in local time.
pub fn day_group(ms: UnixMs, now: UnixMs) -> &'static str {
    use chrono::{Local, TimeZone};
    let day = |ms| {
        Local
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.date_naive())
    };
    match (day(ms), day(now)) {
        (Some(d), Some(today)) => match (today - d).num_days() {
            i64::MIN..=0 => "Today",
            1 => "Yesterday",
            2..=7 => "Previous 7 days",
            _ => "Older",
        },
        _ => "Older",
    }
}
