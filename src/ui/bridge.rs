//! Glue between the window and the rest of the crate: settings from and to the config, the
//! engine handle as an [`EngineLink`], and [`run_desktop`] that starts it all.

use std::sync::Arc;

use crate::agents::AgentRegistry;
use crate::bootstrap::{self, DoorOptions};
use crate::config::{Config, Overrides, Paths, ResolvedSettings, Secret, secrets};
use crate::engine::EngineHandle;
use crate::tools::{CliApproval, ToolFilter};
use crate::ui::app::SaveSettingsFn;
use crate::ui::history::History;
use crate::ui::link::EngineLink;
use crate::ui::models::ModelCatalog;
use crate::ui::personas::{AgentParts, ProfileBuilder};
use crate::ui::settings::{GuiSettings, ThemeChoice, provider_info};
use crate::ui::{GuiOptions, UiError, run_gui};

impl GuiSettings {
    /// The settings a run resolved (flags > environment > config file > defaults).
    pub fn from_resolved(resolved: &ResolvedSettings) -> Self {
        let defaults = GuiSettings::default();
        let ui = &resolved.config.ui;
        GuiSettings {
            provider: resolved.provider.kind.id().to_string(),
            base_url: resolved.provider.base_url.clone(),
            model: resolved.model.clone(),
            api_key: resolved
                .provider
                .api_key
                .as_ref()
                .map(|k| k.expose().to_string())
                .unwrap_or_default(),
            instructions: ui.instructions.clone(),
            personality: ui.personality.clone(),
            temperature: resolved.temperature.unwrap_or(defaults.temperature),
            max_tokens: resolved.max_tokens.unwrap_or(defaults.max_tokens),
            theme: ThemeChoice::parse(&ui.theme),
            font_size: ui.font_size,
            attachments: resolved.config.attachments,
        }
    }

    /// Writes these settings into `config` (everything but the key, which never goes there).
    pub fn apply_to(&self, config: &mut Config) {
        config.provider.clone_from(&self.provider);
        let default_url = provider_info(&self.provider).map(|p| p.base_url);
        config.base_url = (!self.base_url.trim().is_empty()
            && default_url != Some(self.base_url.trim()))
        .then(|| self.base_url.trim().to_string());
        config.model = (!self.model.trim().is_empty()).then(|| self.model.trim().to_string());
        // Defaults the user never touched stay out of the file.
        let defaults = GuiSettings::default();
        if config.temperature.is_some() || self.temperature != defaults.temperature {
            config.temperature = Some(self.temperature);
        }
        if config.max_tokens.is_some() || self.max_tokens != defaults.max_tokens {
            config.max_tokens = Some(self.max_tokens);
        }
        config.ui.theme = self.theme.as_str().to_string();
        config.ui.font_size = self.font_size;
        config.ui.instructions.clone_from(&self.instructions);
        config.ui.personality.clone_from(&self.personality);
    }
}

/// Persists settings: `config.toml` atomically, a changed key into the OS keyring, else
/// `secrets.env` (mode 0600).
/// Runs on the app's saver thread.
pub fn config_saver(paths: Paths, mut config: Config, initial: &GuiSettings) -> SaveSettingsFn {
    let mut saved_key = initial.api_key.trim().to_string();
    Box::new(move |settings: &GuiSettings| {
        settings.apply_to(&mut config);
        config
            .save_atomic(&paths.config_file)
            .map_err(|e| e.to_string())?;
        let key = settings.api_key.trim();
        if key != saved_key && !key.is_empty() {
            let var = provider_info(&settings.provider)
                .and_then(|p| p.key_var)
                .ok_or_else(|| format!("the {} provider takes no key", settings.provider))?;
            let location = secrets::store_key(&paths.secrets_file(), var, &Secret::new(key))
                .map_err(|e| e.to_string())?;
            tracing::info!("the {var} key was saved to {location:?}");
            saved_key = key.to_string();
        }
        Ok(())
    })
}

impl EngineLink {
    /// Connects to a running engine; its events wake the window.
    pub fn from_engine(handle: &EngineHandle) -> Self {
        let sender = handle.clone();
        EngineLink::new(
            move |command| sender.send(command),
            |waker| handle.subscribe_with_waker(waker),
        )
    }
}

/// Starts a multi-threaded runtime and the engine (provider, store, tools, MCP servers) for
/// `resolved`, then runs the window until it closes. A missing key or an absent network never
/// stops the window from opening: the app says what is wrong and offers Settings.
pub fn run_desktop(resolved: ResolvedSettings) -> Result<(), UiError> {
    run_desktop_since(resolved, std::time::Instant::now())
}

/// [`run_desktop`], timing the first frame from `started_at` (pass `Instant::now()` from the
/// top of `main`).
pub fn run_desktop_since(
    resolved: ResolvedSettings,
    started_at: std::time::Instant,
) -> Result<(), UiError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("rustbot-engine")
        .build()
        .map_err(|e| UiError::Start(format!("could not start the async runtime: {e}")))?;
    // The settings page's instructions and personality are the system prompt unless
    // `--system` or `system_prompt` in config.toml gives one.
    let mut resolved = resolved;
    let system_override = resolved.system_prompt.clone();
    if resolved.system_prompt.is_none() {
        let prompt = GuiSettings::from_resolved(&resolved).system_prompt();
        resolved.system_prompt = (!prompt.is_empty()).then_some(prompt);
    }
    let door = DoorOptions {
        tools: ToolFilter::All,
        approve: CliApproval::Ask,
        workspace: None,
        store: true,
        titles: true,
        refresh_models: true,
        remote: false,
    };
    let started = runtime
        .block_on(bootstrap::start(&resolved, door))
        .map_err(|e| UiError::Start(e.to_string()))?;
    for failure in &started.mcp_failures {
        tracing::warn!("MCP server did not start: {failure:?}");
    }
    crate::ui::trace::watch_text_deltas(&started.engine);
    // Watched folders: knowledge bases follow their files while the app is open.
    let knowledge_db = resolved
        .paths
        .data_dir
        .join(crate::knowledge::db::KNOWLEDGE_DB);
    let _knowledge_watch = knowledge_db.exists().then(|| crate::knowledge::KnowledgeWatcher::start(
        &resolved.paths.data_dir,
        started.knowledge.clone(),
        resolved.config.knowledge.chunk_tokens,
        |update| match &update.outcome {
            Ok((indexed, removed, skipped)) => tracing::info!(
                base = %update.base,
                source = %update.source,
                indexed,
                removed,
                skipped,
                "knowledge folder re-indexed"
            ),
            Err(e) => tracing::warn!(base = %update.base, source = %update.source, "knowledge re-index failed: {e}"),
        },
    )
    .map_err(|e| tracing::warn!("{e}"))
    .ok());
    let settings = GuiSettings::from_resolved(&resolved);
    let save = config_saver(resolved.paths.clone(), resolved.config.clone(), &settings);
    let history = started
        .store
        .clone()
        .map(|store| History::new(store, runtime.handle().clone()));
    let result = run_gui(GuiOptions {
        engine: EngineLink::from_engine(&started.engine),
        settings,
        save_settings: Some(save),
        history,
        models: Some(ModelCatalog::new(resolved.provider.network)),
        started_at: Some(started_at),
        data_dir: Some(resolved.paths.data_dir.clone()),
        budget: resolved.config.budget,
        agents: Some(agent_parts(
            &resolved,
            system_override,
            started.store.clone(),
        )),
        knowledge: Some(crate::ui::knowledge_page::KnowledgeParts {
            data_dir: resolved.paths.data_dir.clone(),
            retriever: started.knowledge.clone(),
            chunk_tokens: resolved.config.knowledge.chunk_tokens,
        }),
    });
    started.engine.send(crate::engine::Command::Shutdown);
    drop(started);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// Agents from the folder next to the config, the config's profiles (built from the settings
/// the run resolved; the window's choice of profile beats `--provider`/`--model`), and the
/// store for a reopened conversation's agent and profile.
pub fn agent_parts(
    resolved: &ResolvedSettings,
    system_override: Option<String>,
    store: Option<crate::store::StoreHandle>,
) -> AgentParts {
    let dir = resolved.paths.agents_dir();
    let (registry, problems) = AgentRegistry::load(&dir);
    for problem in &problems {
        tracing::warn!("agents: {problem}");
    }
    let settings = resolved.clone();
    let build: ProfileBuilder = Arc::new(move |name: &str| {
        bootstrap::provider_profile(&settings, &Overrides::default(), name)
            .map_err(|e| e.to_string())
    });
    AgentParts {
        registry,
        problems,
        dir: Some(dir),
        profiles: resolved.config.profiles.keys().cloned().collect(),
        build_profile: Some(build),
        system_override,
        store: store.map(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_go_into_the_config_without_the_key_and_saving_writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(
            Some(dir.path().join("config.toml")),
            Some(dir.path().join("data")),
        )
        .unwrap();
        let initial = GuiSettings::default();
        let mut save = config_saver(paths.clone(), Config::default(), &initial);
        let changed = GuiSettings {
            model: "vendor/model-x".into(),
            api_key: "sk-secret-123".into(),
            theme: ThemeChoice::Dark,
            font_size: 18.0,
            instructions: "Be brief.".into(),
            ..initial
        };
        save(&changed).unwrap();

        let text = std::fs::read_to_string(&paths.config_file).unwrap();
        assert!(!text.contains("sk-secret-123"), "no key in config.toml");
        let config = Config::load(&paths.config_file).unwrap();
        assert_eq!(config.model.as_deref(), Some("vendor/model-x"));
        assert_eq!(
            config.base_url, None,
            "the provider's default URL is not pinned"
        );
        assert_eq!(config.ui.theme, "dark");
        assert_eq!(config.ui.font_size, 18.0);
        assert_eq!(config.ui.instructions, "Be brief.");
        assert_eq!(config.temperature, None, "untouched defaults stay out");
        let secrets = std::fs::read_to_string(paths.secrets_file()).unwrap();
        assert!(secrets.contains("OPENROUTER_API_KEY=sk-secret-123"));
    }
}
