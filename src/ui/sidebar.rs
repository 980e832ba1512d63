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
    /// Give this conversation a new title.
    Rename(ConversationId, String),
    /// Pin (true) or unpin a conversation.
    SetPinned(ConversationId, bool),
    /// Delete a conversation (the app offers Undo for a few seconds).
    Delete(ConversationId),
}

/// The accessible name of the search field.
pub const SEARCH_LABEL: &str = "Search conversations";

/// Sidebar state that outlives a frame.
#[derive(Debug, Default)]
pub struct Sidebar {
    /// The search text.
    pub query: String,
    focus_search: bool,
    /// The conversation being renamed, and the title typed so far.
    renaming: Option<(ConversationId, String, bool)>,
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
                    let group = if row.pinned {
                        "Pinned"
                    } else {
                        day_group(row.updated_ms, now)
                    };
                    if last_group != Some(group) {
                        ui.add_space(4.0);
                        ui.label(RichText::new(group).small().weak());
                        last_group = Some(group);
                    }
                    let a = match &mut self.renaming {
                        Some((id, title, first)) if *id == row.id => {
                            rename_ui(ui, id, title, first)
                        }
                        _ => row_ui(
                            ui,
                            row,
                            vm.selected_id() == Some(&row.id),
                            &mut self.renaming,
                        ),
                    };
                    if let Some(a) = a {
                        if matches!(a, SidebarAction::Rename(..)) {
                            self.renaming = None;
                        }
                        action = Some(a);
                    }
                }
            });
        action
    }
}

/// The accessible name of the rename field.
pub const RENAME_LABEL: &str = "New title";

fn rename_ui(
    ui: &mut egui::Ui,
    id: &ConversationId,
    title: &mut String,
    first: &mut bool,
) -> Option<SidebarAction> {
    let response = ui
        .add(egui::TextEdit::singleline(title).desired_width(f32::INFINITY))
        .accessible_name(RENAME_LABEL);
    if std::mem::take(first) {
        response.request_focus();
    }
    if response.lost_focus() {
        let cancelled = ui.input(|i| i.key_pressed(egui::Key::Escape));
        return Some(SidebarAction::Rename(
            id.clone(),
            if cancelled {
                String::new()
            } else {
                title.clone()
            },
        ));
    }
    None
}

fn row_ui(
    ui: &mut egui::Ui,
    row: &ConversationSummary,
    selected: bool,
    renaming: &mut Option<(ConversationId, String, bool)>,
) -> Option<SidebarAction> {
    let text = if row.running {
        format!("• {}", row.title)
    } else {
        row.title.clone()
    };
    let mut button = egui::Button::selectable(selected, text)
        .truncate()
        .min_size(egui::vec2(ui.available_width(), 22.0));
    if row.pinned {
        button = button.right_text(RichText::new("pinned").small().weak());
    }
    let response = ui.add(button).on_hover_text(format!(
        "{}\n(right-click to rename, pin or delete)",
        row.title
    ));
    let mut action = response
        .clicked()
        .then(|| SidebarAction::Select(row.id.clone()));
    response.context_menu(|ui| {
        if ui.button("Rename").clicked() {
            *renaming = Some((row.id.clone(), row.title.clone(), true));
        }
        let pin = if row.pinned { "Unpin" } else { "Pin" };
        if ui.button(pin).clicked() {
            action = Some(SidebarAction::SetPinned(row.id.clone(), !row.pinned));
        }
        if ui.button("Delete").clicked() {
            action = Some(SidebarAction::Delete(row.id.clone()));
        }
    });
    action
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
