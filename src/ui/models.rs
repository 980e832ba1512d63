//! The provider's model list for the settings page, fetched with the settings being edited
//! (so it doubles as "Test connection"), on the async runtime, never on the UI thread.

use crate::config::{NetworkSettings, Secret};
use std::sync::Arc;

use crate::llm::{ModelInfo, Provider, ProviderKind, ProviderSettings, build_provider};
use crate::ui::link::Background;
use crate::ui::settings::GuiSettings;

/// What a probe of the provider found.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeResult {
    /// The provider answered with its models.
    Models(Vec<ModelInfo>),
    /// It did not; the exact error.
    Failed(String),
}

/// Fetches model lists.
pub struct ModelCatalog {
    network: NetworkSettings,
    results: Background<ProbeResult>,
}

impl ModelCatalog {
    /// Probes with `network` timeouts, on `runtime`.
    pub fn new(network: NetworkSettings, runtime: tokio::runtime::Handle) -> Self {
        Self {
            network,
            results: Background::new(runtime),
        }
    }

    /// Lets results wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.results.attach(ctx);
    }

    /// The next result, if one is ready.
    pub fn try_recv(&self) -> Option<ProbeResult> {
        self.results.try_recv()
    }

    /// The network settings probes use.
    pub fn network(&self) -> NetworkSettings {
        self.network
    }

    /// Asks the provider described by `settings` for its models.
    pub fn request(&self, settings: &GuiSettings) {
        let provider = provider_from_settings(settings, self.network);
        let report = self.results.reporter();
        match provider {
            Ok(provider) => {
                self.results.runtime().spawn(async move {
                    report.send(match provider.models().await {
                        Ok(mut models) => {
                            models.sort_by(|a, b| a.id.cmp(&b.id));
                            ProbeResult::Models(models)
                        }
                        Err(e) => ProbeResult::Failed(e.to_string()),
                    });
                });
            }
            Err(e) => report.send(ProbeResult::Failed(e)),
        }
    }
}

/// Builds the provider the settings page describes.
pub fn provider_from_settings(
    settings: &GuiSettings,
    network: NetworkSettings,
) -> Result<Arc<dyn Provider>, String> {
    let kind = settings.provider.parse::<ProviderKind>()?;
    let key = settings.api_key.trim();
    build_provider(ProviderSettings {
        kind,
        base_url: settings.base_url.trim().trim_end_matches('/').to_string(),
        api_key: (!key.is_empty()).then(|| Secret::new(key)),
        network,
        local: Default::default(),
    })
    .map_err(|e| e.to_string())
}
