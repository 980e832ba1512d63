//! The provider's model list for the settings page, fetched with the settings being edited
//! (so it doubles as "Test connection"). The window never builds a provider: it describes
//! one and the engine asks it (`Command::ProbeProvider`, answered by `ProviderProbed`).

use crate::config::provider::{ProviderKind, ProviderSettings};
use crate::config::{NetworkSettings, Secret};
use crate::core::ModelInfo;
use crate::engine::Command;
use crate::ui::link::EngineLink;
use crate::ui::settings::GuiSettings;

/// What a probe of the provider found.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeResult {
    /// The provider answered with its models.
    Models(Vec<ModelInfo>),
    /// It did not; the exact error.
    Failed(String),
}

/// Lists models through the engine, with the network settings (timeouts) in effect.
pub struct ModelCatalog {
    network: NetworkSettings,
}

impl ModelCatalog {
    /// Probes with `network` timeouts.
    pub fn new(network: NetworkSettings) -> Self {
        Self { network }
    }

    /// The network settings probes use.
    pub fn network(&self) -> NetworkSettings {
        self.network
    }

    /// Asks the engine to ask the provider described by `settings` for its models.
    pub fn request(&self, engine: &EngineLink, settings: &GuiSettings) -> Result<(), String> {
        let settings = provider_settings(settings, self.network)?;
        engine.send(Command::ProbeProvider { settings });
        Ok(())
    }
}

/// The provider the settings page describes, for the engine to build.
pub fn provider_settings(
    settings: &GuiSettings,
    network: NetworkSettings,
) -> Result<ProviderSettings, String> {
    let kind = settings.provider.parse::<ProviderKind>()?;
    let key = settings.api_key.trim();
    Ok(ProviderSettings {
        kind,
        base_url: settings.base_url.trim().trim_end_matches('/').to_string(),
        api_key: (!key.is_empty()).then(|| Secret::new(key)),
        network,
        local: Default::default(),
    })
}
