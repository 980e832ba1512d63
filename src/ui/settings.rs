//! The settings page: provider, base URL, model, API key, instructions and personality,
//! temperature, max tokens, theme and font size. Edits a draft and reports each committed
//! change as a [`SettingsAction`]; the app applies it (engine, look) and persists it.

use serde::{Deserialize, Serialize};

use crate::core::ModelInfo;
use crate::ui::models::ProbeResult;

/// Light, dark, or whatever the system says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThemeChoice {
    /// Follow the system.
    #[default]
    System,
    /// Always dark.
    Dark,
    /// Always light.
    Light,
}

impl ThemeChoice {
    /// Every choice, in menu order.
    pub const ALL: [ThemeChoice; 3] = [ThemeChoice::System, ThemeChoice::Dark, ThemeChoice::Light];

    /// The name shown.
    pub fn label(self) -> &'static str {
        match self {
            ThemeChoice::System => "System",
            ThemeChoice::Dark => "Dark",
            ThemeChoice::Light => "Light",
        }
    }

    /// The config file's spelling (`[ui] theme`).
    pub fn as_str(self) -> &'static str {
        match self {
            ThemeChoice::System => "system",
            ThemeChoice::Dark => "dark",
            ThemeChoice::Light => "light",
        }
    }

    /// Reads the config file's spelling; anything unknown follows the system.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "dark" => ThemeChoice::Dark,
            "light" => ThemeChoice::Light,
            _ => ThemeChoice::System,
        }
    }

    /// egui's preference.
    pub fn preference(self) -> egui::ThemePreference {
        match self {
            ThemeChoice::System => egui::ThemePreference::System,
            ThemeChoice::Dark => egui::ThemePreference::Dark,
            ThemeChoice::Light => egui::ThemePreference::Light,
        }
    }
}

/// A provider the settings page offers (design.md §2).
#[derive(Debug, Clone, Copy)]
pub struct ProviderInfo {
    /// The provider id in the config.
    pub id: &'static str,
    /// The name shown.
    pub name: &'static str,
    /// The default base URL ("" when the user must give one).
    pub base_url: &'static str,
    /// The environment variable holding its key, if it needs one.
    pub key_var: Option<&'static str>,
}

/// The providers of design.md §2.
pub const PROVIDERS: [ProviderInfo; 5] = [
    ProviderInfo {
        id: "openrouter",
        name: "OpenRouter",
        base_url: "https://openrouter.ai/api/v1",
        key_var: Some("OPENROUTER_API_KEY"),
    },
    ProviderInfo {
        id: "openai",
        name: "OpenAI",
        base_url: "https://api.openai.com/v1",
        key_var: Some("OPENAI_API_KEY"),
    },
    ProviderInfo {
        id: "anthropic",
        name: "Anthropic",
        base_url: "https://api.anthropic.com/v1",
        key_var: Some("ANTHROPIC_API_KEY"),
    },
    ProviderInfo {
        id: "ollama",
        name: "Ollama (local)",
        base_url: "http://localhost:11434/v1",
        key_var: None,
    },
    ProviderInfo {
        id: "custom",
        name: "Custom (OpenAI-compatible)",
        base_url: "",
        key_var: Some("RUSTBOT_API_KEY"),
    },
];

/// The provider with this id.
pub fn provider_info(id: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS.iter().find(|p| p.id == id)
}

/// Whether the provider must have a key to work (`custom` keys are optional).
pub fn provider_requires_key(id: &str) -> bool {
    matches!(id, "openrouter" | "openai" | "anthropic")
}

/// Everything the settings page edits.
#[derive(Debug, Clone, PartialEq)]
pub struct GuiSettings {
    /// Provider id (`openrouter`, `openai`, `anthropic`, `ollama`, `custom`).
    pub provider: String,
    /// The provider's base URL.
    pub base_url: String,
    /// The model id.
    pub model: String,
    /// The API key ("" when none). Never written to `config.toml`.
    pub api_key: String,
    /// What the assistant must do (the first part of the system prompt).
    pub instructions: String,
    /// How it should sound (the second part of the system prompt).
    pub personality: String,
    /// Sampling temperature.
    pub temperature: f32,
    /// Answer length limit in tokens.
    pub max_tokens: u32,
    /// Light or dark.
    pub theme: ThemeChoice,
    /// Body text size in points.
    pub font_size: f32,
    /// `[attachments]`: file size limit and image size sent as it is (not edited here).
    pub attachments: crate::config::attachments::AttachmentSettings,
}

impl Default for GuiSettings {
    fn default() -> Self {
        Self {
            provider: "openrouter".into(),
            base_url: PROVIDERS[0].base_url.into(),
            model: String::new(),
            api_key: String::new(),
            instructions: String::new(),
            personality: String::new(),
            temperature: 0.7,
            max_tokens: 4096,
            theme: ThemeChoice::System,
            font_size: 14.0,
            attachments: Default::default(),
        }
    }
}

impl GuiSettings {
    /// The system prompt sent to the model: instructions, then personality.
    pub fn system_prompt(&self) -> String {
        match (self.instructions.trim(), self.personality.trim()) {
            ("", "") => String::new(),
            (i, "") => i.to_string(),
            ("", p) => p.to_string(),
            (i, p) => format!("{i}\n\n{p}"),
        }
    }

    /// The sentence to show when the provider needs a key and none is set.
    pub fn missing_key_message(&self) -> Option<String> {
        if !self.api_key.trim().is_empty() || !provider_requires_key(&self.provider) {
            return None;
        }
        let info = provider_info(&self.provider)?;
        let var = info.key_var.unwrap_or("the key variable");
        Some(format!(
            "No API key is set for {}. Add one in Settings, or set {var} and restart.",
            info.name
        ))
    }
}

/// A committed change from the settings page.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum SettingsAction {
    /// The settings now read like this; the app applies what differs and persists them.
    Changed(GuiSettings),
    /// Ask the provider these settings describe for its models ("Test connection").
    Probe(GuiSettings),
}

/// Where the last connection test stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ProbeStatus {
    /// Not tried yet.
    #[default]
    NotTried,
    /// Waiting for the provider.
    Testing,
    /// The provider listed this many models.
    Connected(usize),
    /// The exact error.
    Failed(String),
}

/// The settings page and its draft.
#[derive(Debug)]
pub struct SettingsPage {
    draft: GuiSettings,
    show_key: bool,
    models: Vec<ModelInfo>,
    model_filter: String,
    show_models: bool,
    /// The last connection test.
    pub probe: ProbeStatus,
    /// A sentence about the last save (e.g. an error), shown at the top.
    pub status: Option<String>,
}

impl SettingsPage {
    /// A page editing `settings`.
    pub fn new(settings: GuiSettings) -> Self {
        Self {
            draft: settings,
            show_key: false,
            models: Vec::new(),
            model_filter: String::new(),
            show_models: false,
            probe: ProbeStatus::NotTried,
            status: None,
        }
    }

    /// The draft as edited so far (committed or not).
    pub fn draft(&self) -> &GuiSettings {
        &self.draft
    }

    /// Records what a probe found: the model list, or the error.
    pub fn probe_finished(&mut self, result: ProbeResult) {
        match result {
            ProbeResult::Models(models) => {
                self.probe = ProbeStatus::Connected(models.len());
                self.models = models;
            }
            ProbeResult::Failed(error) => self.probe = ProbeStatus::Failed(error),
        }
    }

    /// Marks a probe as started.
    pub fn probe_started(&mut self) {
        self.probe = ProbeStatus::Testing;
    }

    /// Draws the page. Text fields commit when they lose focus or on Enter; choices and
    /// sliders commit at once.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<SettingsAction> {
        let mut commit = false;
        let mut probe = false;
        let d = &mut self.draft;
        egui::ScrollArea::vertical()
            .id_salt("rustbot_settings")
            .show(ui, |ui| {
                ui.heading("Settings");
                if let Some(status) = &self.status {
                    ui.colored_label(ui.visuals().warn_fg_color, status);
                }
                ui.add_space(8.0);
                egui::Grid::new("rustbot_settings_grid")
                    .num_columns(2)
                    .spacing([12.0, 8.0])
                    .show(ui, |ui| {
                        let label = ui.label("Provider");
                        let current =
                            provider_info(&d.provider).map_or(d.provider.as_str(), |p| p.name);
                        egui::ComboBox::from_id_salt("rustbot_provider")
                            .selected_text(current)
                            .show_ui(ui, |ui| {
                                for p in &PROVIDERS {
                                    if ui.selectable_label(d.provider == p.id, p.name).clicked()
                                        && d.provider != p.id
                                    {
                                        let old_default =
                                            provider_info(&d.provider).map(|p| p.base_url);
                                        if d.base_url.is_empty()
                                            || old_default == Some(d.base_url.as_str())
                                        {
                                            d.base_url = p.base_url.to_string();
                                        }
                                        d.provider = p.id.to_string();
                                        commit = true;
                                    }
                                }
                            })
                            .response
                            .labelled_by(label.id);
                        ui.end_row();

                        commit |= text_row(ui, "Base URL", &mut d.base_url, false);

                        let label = ui.label("Model");
                        ui.horizontal(|ui| {
                            let r = ui
                                .add(egui::TextEdit::singleline(&mut d.model).desired_width(280.0))
                                .labelled_by(label.id);
                            commit |= r.lost_focus();
                            let text = if self.show_models {
                                "Hide list"
                            } else {
                                "Choose…"
                            };
                            if ui
                                .button(text)
                                .on_hover_text("Pick from the provider's models")
                                .clicked()
                            {
                                self.show_models = !self.show_models;
                                if self.show_models && self.models.is_empty() {
                                    probe = true;
                                }
                            }
                        });
                        ui.end_row();

                        let label = ui.label("API key");
                        ui.horizontal(|ui| {
                            let r = ui
                                .add(
                                    egui::TextEdit::singleline(&mut d.api_key)
                                        .password(!self.show_key)
                                        .hint_text("not set")
                                        .desired_width(280.0),
                                )
                                .labelled_by(label.id);
                            commit |= r.lost_focus();
                            ui.checkbox(&mut self.show_key, "Show key");
                        });
                        ui.end_row();

                        ui.label("Connection");
                        ui.horizontal_wrapped(|ui| {
                            let testing = self.probe == ProbeStatus::Testing;
                            if ui
                                .add_enabled(!testing, egui::Button::new("Test connection"))
                                .clicked()
                            {
                                probe = true;
                            }
                            match &self.probe {
                                ProbeStatus::NotTried => {}
                                ProbeStatus::Testing => {
                                    ui.spinner();
                                }
                                ProbeStatus::Connected(n) => {
                                    ui.label(format!("Connected: {n} models available."));
                                }
                                ProbeStatus::Failed(e) => {
                                    ui.colored_label(ui.visuals().error_fg_color, e);
                                }
                            }
                        });
                        ui.end_row();

                        let label = ui.label("Temperature");
                        let r = ui
                            .add(egui::Slider::new(&mut d.temperature, 0.0..=2.0).step_by(0.05))
                            .labelled_by(label.id);
                        commit |= committed(&r);
                        ui.end_row();

                        let label = ui.label("Max tokens");
                        let r = ui
                            .add(
                                egui::DragValue::new(&mut d.max_tokens)
                                    .range(1..=1_000_000)
                                    .speed(16),
                            )
                            .labelled_by(label.id);
                        commit |= committed(&r);
                        ui.end_row();

                        let label = ui.label("Theme");
                        ui.horizontal(|ui| {
                            for t in ThemeChoice::ALL {
                                if ui.radio_value(&mut d.theme, t, t.label()).clicked() {
                                    commit = true;
                                }
                            }
                        })
                        .response
                        .labelled_by(label.id);
                        ui.end_row();

                        let label = ui.label("Font size");
                        let r = ui
                            .add(egui::Slider::new(&mut d.font_size, 10.0..=28.0).step_by(1.0))
                            .labelled_by(label.id);
                        commit |= committed(&r);
                        ui.end_row();
                    });

                if self.show_models {
                    commit |= model_list_ui(ui, &self.models, &mut self.model_filter, &mut d.model);
                }

                ui.add_space(12.0);
                ui.strong("System prompt");
                commit |= multiline_row(
                    ui,
                    "Instructions",
                    "What the assistant must do",
                    &mut d.instructions,
                );
                commit |=
                    multiline_row(ui, "Personality", "How it should sound", &mut d.personality);
                ui.add_space(8.0);
                ui.weak(
                    "Changes apply at once (to the next request) and are saved. Keys go to the \
                     system keyring when there is one, never into config.toml.",
                );
            });
        if probe {
            return Some(SettingsAction::Probe(self.draft.clone()));
        }
        commit.then(|| SettingsAction::Changed(self.draft.clone()))
    }
}

/// The searchable model list; returns whether a model was picked.
fn model_list_ui(
    ui: &mut egui::Ui,
    models: &[ModelInfo],
    filter: &mut String,
    model: &mut String,
) -> bool {
    let mut picked = false;
    ui.add_space(6.0);
    ui.add(
        egui::TextEdit::singleline(filter)
            .hint_text("Filter models")
            .desired_width(360.0),
    )
    .accessible_name("Filter models");
    let needle = filter.trim().to_lowercase();
    let matching: Vec<&ModelInfo> = models
        .iter()
        .filter(|m| {
            needle.is_empty()
                || m.id.to_lowercase().contains(&needle)
                || m.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&needle))
        })
        .collect();
    if models.is_empty() {
        ui.weak("No model list yet: use Test connection.");
        return false;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("rustbot_model_list")
        .max_height(220.0)
        .show_rows(ui, row_height, matching.len(), |ui, range| {
            for m in &matching[range] {
                if ui
                    .selectable_label(*model == m.id, model_row_text(m))
                    .clicked()
                {
                    model.clone_from(&m.id);
                    picked = true;
                }
            }
        });
    picked
}

/// "vendor/model · 128k context · $3.00/$15.00 per M tokens".
pub fn model_row_text(m: &ModelInfo) -> String {
    let mut text = m.id.clone();
    if let Some(ctx) = m.context_length {
        text.push_str(&format!(" · {}k context", ctx / 1000));
    }
    if let (Some(p), Some(c)) = (m.prompt_price_usd, m.completion_price_usd) {
        text.push_str(&format!(" · ${:.2}/${:.2} per M tokens", p * 1e6, c * 1e6));
    }
    text
}

fn text_row(ui: &mut egui::Ui, name: &str, value: &mut String, password: bool) -> bool {
    let label = ui.label(name);
    let r = ui
        .add(
            egui::TextEdit::singleline(value)
                .password(password)
                .desired_width(360.0),
        )
        .labelled_by(label.id);
    ui.end_row();
    r.lost_focus()
}

fn multiline_row(ui: &mut egui::Ui, name: &str, hint: &str, value: &mut String) -> bool {
    let label = ui.label(name);
    ui.add(
        egui::TextEdit::multiline(value)
            .hint_text(hint)
            .desired_rows(3)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id)
    .lost_focus()
}

/// A slider or drag value has a new value the user is done with.
fn committed(r: &egui::Response) -> bool {
    r.drag_stopped() || (r.changed() && !r.dragged())
}
