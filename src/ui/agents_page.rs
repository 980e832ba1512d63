//! The Agents page: every agent with where it comes from, the folder's load problems (file and
//! line), and an editor (create, duplicate, edit, delete) that writes the same Markdown files a
//! user writes by hand. The page only returns an [`AgentEdit`]; the app writes it off the UI
//! thread.

use egui::RichText;

use crate::agents::{Agent, AgentRegistry, AgentSource};
use crate::ui::personas::AgentEdit;

/// The editor's fields as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentDraft {
    /// Name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Model id (empty: the configured one).
    pub model: String,
    /// Temperature (empty: the configured one).
    pub temperature: String,
    /// Tool names or globs, comma-separated (empty: every tool; `none`: no tool).
    pub tools: String,
    /// Tags, comma-separated.
    pub tags: String,
    /// The system prompt.
    pub prompt: String,
    /// Knowledge bases (`knowledge:` in the file), comma-separated.
    pub knowledge: String,
}

impl AgentDraft {
    /// The fields of an existing agent.
    pub fn from_agent(agent: &Agent) -> Self {
        Self {
            name: agent.name.clone(),
            description: agent.description.clone(),
            model: agent.model.clone().unwrap_or_default(),
            temperature: agent.temperature.map(|t| t.to_string()).unwrap_or_default(),
            tools: match &agent.tools {
                None => String::new(),
                Some(list) if list.is_empty() => "none".into(),
                Some(list) => list.join(", "),
            },
            tags: agent.tags.join(", "),
            prompt: agent.prompt.clone(),
            knowledge: agent.knowledge.join(", "),
        }
    }

    /// The agent these fields describe, or the sentence saying what is wrong.
    pub fn to_agent(&self) -> Result<Agent, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("Give the agent a name.".into());
        }
        let temperature = match self.temperature.trim() {
            "" => None,
            t => Some(
                t.parse::<f32>()
                    .ok()
                    .filter(|t| (0.0..=2.0).contains(t))
                    .ok_or_else(|| format!("Temperature must be a number from 0 to 2, not {t}."))?,
            ),
        };
        let tools = match self.tools.trim() {
            "" => None,
            t if t.eq_ignore_ascii_case("none") => Some(Vec::new()),
            t => Some(split_list(t)),
        };
        let model = self.model.trim();
        Ok(Agent {
            description: self.description.trim().to_string(),
            model: (!model.is_empty()).then(|| model.to_string()),
            temperature,
            tools,
            tags: split_list(&self.tags),
            knowledge: split_list(&self.knowledge),
            ..Agent::new(name, self.prompt.trim())
        })
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// What the editor is working on.
#[derive(Debug, Clone, PartialEq)]
enum Editing {
    /// Nothing selected.
    Nothing,
    /// A new agent, not yet written.
    New,
    /// The agent with this name.
    Existing(String),
}

/// State of the Agents page that outlives a frame.
#[derive(Debug)]
pub struct AgentsPage {
    editing: Editing,
    /// The fields being edited.
    pub draft: AgentDraft,
    /// The name for Duplicate.
    pub copy_name: String,
    /// The outcome of the last edit (and whether it failed).
    pub status: Option<(String, bool)>,
    confirm_delete: bool,
}

impl Default for AgentsPage {
    fn default() -> Self {
        Self {
            editing: Editing::Nothing,
            draft: AgentDraft::default(),
            copy_name: String::new(),
            status: None,
            confirm_delete: false,
        }
    }
}

/// Accessible names of the editor's fields, in order.
pub const FIELD_LABELS: [&str; 8] = [
    "Name",
    "Description",
    "Model",
    "Temperature",
    "Tools",
    "Tags",
    "Knowledge bases",
    "Prompt",
];

impl AgentsPage {
    /// An edit finished in the background: show its outcome; after a create or rename, keep
    /// editing the agent under its new name.
    pub fn edited(&mut self, message: String, failed: bool) {
        if !failed && self.editing == Editing::New {
            self.editing = Editing::Existing(self.draft.name.trim().to_string());
        }
        self.status = Some((message, failed));
    }

    /// Draws the page: the list on the left, the editor on the right.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        registry: &AgentRegistry,
        problems: &[String],
        writable: bool,
    ) -> Option<AgentEdit> {
        let mut edit = None;
        ui.heading("Agents");
        match registry.dir() {
            Some(dir) => ui.weak(format!(
                "Markdown files in {}; changes made in any editor appear here.",
                dir.display()
            )),
            None => ui.weak("Built-in agents only."),
        };
        for problem in problems {
            ui.colored_label(ui.visuals().warn_fg_color, problem);
        }
        if let Some((message, failed)) = &self.status {
            let color = if *failed {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().weak_text_color()
            };
            ui.colored_label(color, message);
        }
        ui.separator();
        egui::Panel::left("rustbot_agent_list")
            .resizable(false)
            .default_size(180.0)
            .show(ui, |ui| self.list_ui(ui, registry, writable));
        egui::ScrollArea::vertical()
            .id_salt("rustbot_agent_editor")
            .show(ui, |ui| {
                if self.editing != Editing::Nothing {
                    edit = self.editor_ui(ui, registry, writable);
                } else {
                    ui.weak("Choose an agent to see or edit it.");
                }
            });
        edit
    }

    fn list_ui(&mut self, ui: &mut egui::Ui, registry: &AgentRegistry, writable: bool) {
        if ui
            .add_enabled(writable, egui::Button::new("New agent"))
            .clicked()
        {
            self.editing = Editing::New;
            self.draft = AgentDraft::default();
            self.confirm_delete = false;
        }
        ui.add_space(4.0);
        egui::ScrollArea::vertical()
            .id_salt("rustbot_agent_list_scroll")
            .show(ui, |ui| {
                for agent in registry.list() {
                    let selected = self.editing == Editing::Existing(agent.name.clone());
                    let origin = match agent.source {
                        AgentSource::Builtin => "built-in",
                        AgentSource::File(_) => "file",
                    };
                    let button = egui::Button::selectable(selected, agent.name.as_str())
                        .right_text(RichText::new(origin).small().weak())
                        .min_size(egui::vec2(ui.available_width(), 22.0));
                    if ui
                        .add(button)
                        .on_hover_text(agent.description.as_str())
                        .accessible_name(format!("Edit agent {}", agent.name))
                        .clicked()
                    {
                        self.editing = Editing::Existing(agent.name.clone());
                        self.draft = AgentDraft::from_agent(agent);
                        self.copy_name = format!("{}-copy", agent.name);
                        self.confirm_delete = false;
                    }
                }
            });
    }

    fn editor_ui(
        &mut self,
        ui: &mut egui::Ui,
        registry: &AgentRegistry,
        writable: bool,
    ) -> Option<AgentEdit> {
        let mut edit = None;
        let existing = match &self.editing {
            Editing::Existing(name) => registry.get(name),
            _ => None,
        };
        if let Some(agent) = existing {
            ui.weak(format!("Source: {}", agent.source));
        }
        let d = &mut self.draft;
        egui::Grid::new("rustbot_agent_fields")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                let hints = [
                    "a short unique name",
                    "one line: what it is for (auto mode matches it)",
                    "empty: the configured model",
                    "empty: the configured temperature",
                    "empty: every tool · none · read_file, list_*",
                    "keywords, comma-separated",
                    "bases whose passages go with every question (rustbot knowledge list)",
                ];
                let fields = [
                    &mut d.name,
                    &mut d.description,
                    &mut d.model,
                    &mut d.temperature,
                    &mut d.tools,
                    &mut d.tags,
                    &mut d.knowledge,
                ];
                for ((label, hint), text) in FIELD_LABELS.iter().zip(hints).zip(fields) {
                    let label = ui.label(*label);
                    ui.add(
                        egui::TextEdit::singleline(text)
                            .hint_text(hint)
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                }
            });
        let label = ui.label(FIELD_LABELS[7]);
        ui.add(
            egui::TextEdit::multiline(&mut d.prompt)
                .desired_rows(12)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        ui.add_space(6.0);
        ui.horizontal_wrapped(|ui| {
            ui.add_enabled_ui(writable, |ui| {
                let save = if existing.is_some() { "Save" } else { "Create" };
                if ui.button(save).clicked() {
                    match (self.draft.to_agent(), existing) {
                        (Err(e), _) => self.status = Some((e, true)),
                        (Ok(agent), Some(old)) => {
                            edit = Some(AgentEdit::Update(old.name.clone(), agent));
                        }
                        (Ok(agent), None) => edit = Some(AgentEdit::Create(agent)),
                    }
                }
                if let Some(agent) = existing {
                    ui.separator();
                    ui.add(egui::TextEdit::singleline(&mut self.copy_name).desired_width(120.0))
                        .accessible_name("Copy name");
                    if ui.button("Duplicate").clicked() {
                        edit = Some(AgentEdit::Duplicate(
                            agent.name.clone(),
                            self.copy_name.trim().to_string(),
                        ));
                    }
                    if let AgentSource::File(_) = agent.source {
                        ui.separator();
                        if self.confirm_delete {
                            if ui.button("Really delete").clicked() {
                                edit = Some(AgentEdit::Delete(agent.name.clone()));
                                self.editing = Editing::Nothing;
                                self.confirm_delete = false;
                            }
                            if ui.button("Keep").clicked() {
                                self.confirm_delete = false;
                            }
                        } else if ui.button("Delete").clicked() {
                            self.confirm_delete = true;
                        }
                    }
                }
            });
        });
        if let Some(AgentEdit::Update(_, agent)) = &edit
            && self.editing != Editing::Nothing
        {
            self.editing = Editing::Existing(agent.name.clone());
        }
        edit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_round_trip_and_check_their_fields() {
        let mut agent = Agent::new("rev", "Review code.");
        agent.tools = Some(vec!["read_file".into(), "list_*".into()]);
        agent.temperature = Some(0.3);
        agent.tags = vec!["review".into()];
        agent.knowledge = vec!["notes".into(), "specs".into()];
        let draft = AgentDraft::from_agent(&agent);
        assert_eq!(draft.tools, "read_file, list_*");
        assert_eq!(draft.knowledge, "notes, specs");
        assert_eq!(draft.to_agent().unwrap(), agent);
        let none = AgentDraft {
            tools: "none".into(),
            ..draft.clone()
        };
        assert_eq!(none.to_agent().unwrap().tools, Some(vec![]));
        let bad = AgentDraft {
            temperature: "hot".into(),
            ..draft
        };
        assert!(bad.to_agent().unwrap_err().contains("Temperature"));
    }
}
