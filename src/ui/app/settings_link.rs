//! Settings from the page to the engine and to disk: provider, key, model, sampling and system
//! prompt changes take effect for the next request; everything is saved off the UI thread.

use std::sync::mpsc;

use super::{RustbotApp, SaveSettingsFn};
use crate::engine::Command;
use crate::ui::models::provider_settings;
use crate::ui::settings::GuiSettings;

pub(super) struct SettingsSaver {
    pub(super) to_thread: mpsc::Sender<GuiSettings>,
    pub(super) errors: mpsc::Receiver<String>,
}

impl SettingsSaver {
    pub(super) fn spawn(mut save: SaveSettingsFn, ctx: egui::Context) -> Self {
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

impl RustbotApp {
    pub(super) fn apply_settings(&mut self, ctx: &egui::Context, settings: GuiSettings) {
        if settings == self.applied {
            return;
        }
        if settings.model != self.applied.model && !settings.model.trim().is_empty() {
            self.engine.send(Command::SetModel {
                model: settings.model.trim().to_string(),
            });
        }
        if settings.provider != self.applied.provider
            || settings.base_url.trim() != self.applied.base_url.trim()
            || settings.api_key.trim() != self.applied.api_key.trim()
        {
            self.provider_changed(&settings);
        }
        let temperature =
            (settings.temperature != self.applied.temperature).then_some(settings.temperature);
        let max_tokens =
            (settings.max_tokens != self.applied.max_tokens).then_some(settings.max_tokens);
        if temperature.is_some() || max_tokens.is_some() {
            self.engine.send(Command::SetSampling {
                temperature,
                max_tokens,
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

    /// A new provider, base URL or key: later requests go to it (conversations with a
    /// profile of their own keep theirs). A provider that cannot be built is reported and the
    /// old one stays.
    fn provider_changed(&mut self, settings: &GuiSettings) {
        let network = self
            .models
            .as_ref()
            .map(|m| m.network())
            .unwrap_or_default();
        match provider_settings(settings, network) {
            Ok(provider) => {
                // The engine builds it and answers with `ProviderChanged`.
                self.engine.send(Command::UseProvider {
                    name: settings.provider.clone(),
                    settings: provider,
                    model: settings.model.trim().to_string(),
                });
                self.settings_page.status = None;
            }
            Err(e) => self.provider_refused(&e),
        }
    }

    /// The new provider settings could not be used: the page says so.
    pub(super) fn provider_refused(&mut self, error: &str) {
        self.settings_page.status = Some(format!(
            "The provider settings are not used yet: {error}. Requests still go to the previous provider."
        ));
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
