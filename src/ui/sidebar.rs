//! The left sidebar: New chat, the conversation list grouped by day with search, and the
//! navigation between the app's pages.

use egui::{Id, RichText};
use serde::{Deserialize, Serialize};

use crate::agents::Agent;
use crate::engine::ConversationId;
use crate::ui::view_model::{ConversationSummary, UnixMs, ViewModel};

/// The pages the central area can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Page {
    /// The conversation.
    #[default]
    Chat,
    /// The agents: list and editor.
    Agents,
    /// Knowledge bases: folders, files, a search box.
    Knowledge,
    /// Provider, model, key, prompt and appearance.
    Settings,
    /// The engine's event log.
    Events,
    /// Token and cost totals.
    Stats,
}

impl Page {
    /// Every page, in navigation order.
    pub const ALL: [Page; 6] = [
        Page::Chat,
        Page::Agents,
        Page::Knowledge,
        Page::Settings,
        Page::Events,
        Page::Stats,
    ];

    /// The name shown in the navigation.
    pub fn label(self) -> &'static str {
        match self {
            Page::Chat => "Chat",
            Page::Agents => "Agents",
            Page::Knowledge => "Knowledge",
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
    /// Answer the current conversation (or the next new one) as this agent.
    PickAgent(String),
    /// Send the current conversation (and new ones) through this profile
    /// ([`crate::ui::personas::DEFAULT_PROFILE`]: the default provider).
    PickProfile(String),
}

/// What the sidebar shows of agents and profiles.
pub struct PersonaRows<'a> {
    /// Every agent, sorted by name.
    pub agents: &'a [Agent],
    /// The current conversation's agent (or the next new one's).
    pub current_agent: &'a str,
    /// The profiles to switch between, the default one first.
    pub profiles: &'a [String],
    /// The current conversation's profile.
    pub current_profile: &'a str,
}

/// The accessible name of the agent search field.
pub const AGENT_SEARCH_LABEL: &str = "Search agents";
/// The accessible name of the profile switcher.
pub const PROFILE_LABEL: &str = "Profile";

/// The accessible name of an agent's row in the sidebar.
pub fn agent_row_label(name: &str) -> String {
    format!("Use agent {name}")
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
    /// The agent search text.
    pub agent_query: String,
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
        personas: Option<&PersonaRows<'_>>,
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
                if let Some(rows) = personas
                    && let Some(a) = self.personas_ui(ui, rows)
                {
                    action = Some(a);
                }
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

impl Sidebar {
    /// The profile switcher and the searchable agent list.
    fn personas_ui(&mut self, ui: &mut egui::Ui, rows: &PersonaRows<'_>) -> Option<SidebarAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            ui.label(format!("{PROFILE_LABEL}:"));
            let inner = egui::ComboBox::from_id_salt("rustbot_profile")
                .selected_text(rows.current_profile)
                .width(ui.available_width() - 8.0)
                .show_ui(ui, |ui| {
                    for p in rows.profiles {
                        if ui
                            .selectable_label(p == rows.current_profile, p.as_str())
                            .clicked()
                            && p != rows.current_profile
                        {
                            action = Some(SidebarAction::PickProfile(p.clone()));
                        }
                    }
                });
            let _ = inner.response.accessible_name(PROFILE_LABEL);
        });
        egui::CollapsingHeader::new(format!("Agents · {}", rows.current_agent))
            .id_salt("rustbot_sidebar_agents")
            .show(ui, |ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut self.agent_query)
                        .hint_text("Search agents")
                        .desired_width(f32::INFINITY),
                )
                .accessible_name(AGENT_SEARCH_LABEL);
                let query = self.agent_query.trim().to_lowercase();
                egui::ScrollArea::vertical()
                    .id_salt("rustbot_sidebar_agent_list")
                    .max_height(160.0)
                    .show(ui, |ui| {
                        for agent in rows.agents.iter().filter(|a| agent_matches(a, &query)) {
                            let selected = agent.name.eq_ignore_ascii_case(rows.current_agent);
                            let button = egui::Button::selectable(selected, agent.name.as_str())
                                .truncate()
                                .min_size(egui::vec2(ui.available_width(), 20.0));
                            let response = ui
                                .add(button)
                                .on_hover_text(agent.description.as_str())
                                .accessible_name(agent_row_label(&agent.name));
                            if response.clicked() && !selected {
                                action = Some(SidebarAction::PickAgent(agent.name.clone()));
                            }
                        }
                    });
            });
        ui.separator();
        action
    }
}

/// Whether an agent matches a lower-cased search (name, description or tags).
fn agent_matches(agent: &Agent, query: &str) -> bool {
    query.is_empty()
        || agent.name.to_lowercase().contains(query)
        || agent.description.to_lowercase().contains(query)
        || agent.tags.iter().any(|t| t.to_lowercase().contains(query))
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
