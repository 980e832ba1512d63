//! The provider's model list for the settings page, fetched with the settings being edited
//! (so it doubles as "Test connection"), on the async runtime, never on the UI thread.

use std::sync::mpsc;

use crate::config::{NetworkSettings, Secret};
use crate::llm::{ModelInfo, ProviderKind, ProviderSettings, build_provider};
use crate::ui::link::RepaintSignal;
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
    runtime: tokio::runtime::Handle,
    tx: mpsc::Sender<ProbeResult>,
    rx: mpsc::Receiver<ProbeResult>,
    repaint: RepaintSignal,
}

impl ModelCatalog {
    /// Probes with `network` timeouts, on `runtime`.
    pub fn new(network: NetworkSettings, runtime: tokio::runtime::Handle) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            network,
            runtime,
            tx,
            rx,
            repaint: RepaintSignal::new(),
        }
    }

    /// Lets results wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.repaint.attach(ctx);
    }

    /// The next result, if one is ready.
    pub fn try_recv(&self) -> Option<ProbeResult> {
        self.rx.try_recv().ok()
    }

    /// Asks the provider described by `settings` for its models.
    pub fn request(&self, settings: &GuiSettings) {
        let provider = settings.provider.parse::<ProviderKind>().and_then(|kind| {
            let key = settings.api_key.trim();
            build_provider(ProviderSettings {
                kind,
                base_url: settings.base_url.trim().trim_end_matches('/').to_string(),
                api_key: (!key.is_empty()).then(|| Secret::new(key)),
                network: self.network,
            })
            .map_err(|e| e.to_string())
        });
        let (tx, repaint) = (self.tx.clone(), self.repaint.clone());
        let send = move |result| {
            if tx.send(result).is_ok() {
                repaint.wake();
            }
        };
        match provider {
            Ok(provider) => {
                self.runtime.spawn(async move {
                    send(match provider.models().await {
                        Ok(mut models) => {
                            models.sort_by(|a, b| a.id.cmp(&b.id));
                            ProbeResult::Models(models)
                        }
                        Err(e) => ProbeResult::Failed(e.to_string()),
                    });
                });
            }
            Err(e) => send(ProbeResult::Failed(e)),
        }
    }
}
