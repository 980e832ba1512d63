//! Builds the one engine every door uses (CLI, GUI, serve, native-host) from resolved settings:
//! provider, store, tools and MCP servers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::config::{ConfigError, Overrides, ResolvedSettings};
use crate::engine::{self, EngineConfig, EngineEvent, EngineHandle, ProviderProfile, ToolSetup};
use crate::llm::{LlmError, build_provider};
use crate::store::{StoreError, StoreHandle};
use crate::tools::{
    ApprovalPolicy, CliApproval, McpFailure, McpManager, McpOptions, ToolFilter, ToolRegistry,
};

/// Why the engine could not be set up.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// The provider could not be built.
    #[error(transparent)]
    Provider(#[from] LlmError),
    /// The profile does not exist or does not resolve.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workspace folder could not be created.
    #[error("could not create the workspace folder {path}: {source}")]
    Workspace {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What a door asks for.
#[derive(Debug, Clone)]
pub struct DoorOptions {
    /// Which tools the model is offered.
    pub tools: ToolFilter,
    /// How calls needing approval are answered when nobody can be asked.
    pub approve: CliApproval,
    /// Workspace override (`--workspace`).
    pub workspace: Option<PathBuf>,
    /// Whether to keep conversations in the store.
    pub store: bool,
    /// Whether to ask the model for conversation titles (long-lived doors: the GUI).
    pub titles: bool,
    /// Whether to fetch the provider's model list (prices, context lengths) at start.
    pub refresh_models: bool,
    /// A door for other programs (`serve`, `native-host`): `approve` caps the config's
    /// `allow` modes (see `ApprovalPolicy::remote`).
    pub remote: bool,
}

/// A running engine and what it holds.
pub struct Started {
    /// The engine.
    pub engine: EngineHandle,
    /// The store, when used.
    pub store: Option<StoreHandle>,
    /// The MCP servers that started.
    pub mcp: Option<McpManager>,
    /// The MCP servers that did not, and why.
    pub mcp_failures: Vec<McpFailure>,
    /// The knowledge bases' retriever (the engine's, sharing its loaded model).
    pub knowledge: crate::knowledge::Retriever,
    /// The provider the engine answers with (the doors' model lists, embeddings and rerank
    /// use the same one instead of building their own).
    pub provider: std::sync::Arc<dyn crate::llm::Provider>,
}

/// The workspace folder: the flag, else the config, else `workspace` in the data dir.
pub fn workspace_dir(settings: &ResolvedSettings, flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| settings.config.workspace.clone())
        .unwrap_or_else(|| settings.paths.data_dir.join("workspace"))
}

/// Keeps the engine's event log in the store (text deltas are left out: the messages hold the
/// text), after pruning entries older than `keep_days`. Writes are queued in event order.
fn log_events(engine: &EngineHandle, store: StoreHandle, keep_days: u32) {
    store.send("prune the event log", move |s| {
        s.prune_events(keep_days).map(|_| ())
    });
    engine.add_sink(move |event| {
        if matches!(event, EngineEvent::Text { .. }) {
            return;
        }
        let Ok(mut value) = serde_json::to_value(event) else {
            return;
        };
        // The log describes what happened; whole answers and tool outputs live in messages.
        clip_strings(&mut value, EVENT_LOG_TEXT_LIMIT);
        let json = value.to_string();
        let conversation = event.conversation().map(|c| c.0.clone());
        let kind = event.kind();
        store.send("log an engine event", move |s| {
            s.append_event(conversation.as_deref(), kind, &json)
                .map(|_| ())
        });
    });
}

/// The profile `name` of the config in `settings`, resolved (flags and environment in
/// `overrides` still win) and built, ready for `Command::SetProfile`.
pub fn provider_profile(
    settings: &ResolvedSettings,
    overrides: &Overrides,
    name: &str,
) -> Result<ProviderProfile, BootstrapError> {
    let resolved = ResolvedSettings::resolve_with_profile(
        settings.config.clone(),
        overrides,
        Some(name),
        settings.paths.clone(),
    )?;
    Ok(ProviderProfile {
        name: name.to_string(),
        provider: build_provider(resolved.provider)?,
        model: resolved.model,
    })
}

/// Longest string kept in a logged event.
const EVENT_LOG_TEXT_LIMIT: usize = 2000;

/// Shortens every string in `value` to at most `limit` characters (marked with `…`).
fn clip_strings(value: &mut serde_json::Value, limit: usize) {
    match value {
        serde_json::Value::String(s) if s.chars().count() > limit => {
            let mut clipped: String = s.chars().take(limit).collect();
            clipped.push('…');
            *s = clipped;
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| clip_strings(v, limit)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| clip_strings(v, limit)),
        _ => {}
    }
}

/// Starts the engine on the current tokio runtime.
pub async fn start(
    settings: &ResolvedSettings,
    opts: DoorOptions,
) -> Result<Started, BootstrapError> {
    let provider = build_provider(settings.provider.clone())?;
    let store = if opts.store {
        Some(StoreHandle::open(&settings.paths.data_dir)?)
    } else {
        None
    };
    let retriever = crate::knowledge::retriever(
        &settings.paths.data_dir,
        &settings.config,
        &provider,
        tokio::runtime::Handle::current(),
    );
    let retriever_for_doors = retriever.clone();
    let mut mcp = None;
    let mut mcp_failures = Vec::new();
    let tools = if opts.tools == ToolFilter::None {
        None
    } else {
        let workspace = workspace_dir(settings, opts.workspace.clone());
        std::fs::create_dir_all(&workspace).map_err(|source| BootstrapError::Workspace {
            path: workspace.clone(),
            source,
        })?;
        let (mut registry, _web_search_note) = ToolRegistry::configured(&settings.config.tools);
        if let Some(tool) = crate::knowledge::search_tool(&retriever, &settings.paths.data_dir) {
            registry.register(Arc::new(tool));
        }
        if !settings.config.mcp_servers.is_empty() {
            let (manager, failures) =
                McpManager::start(&settings.config.mcp_servers, McpOptions::default()).await;
            manager.register_into(&mut registry);
            mcp = Some(manager);
            mcp_failures = failures;
        }
        Some(ToolSetup {
            registry: Arc::new(registry),
            filter: opts.tools.clone(),
            policy: ApprovalPolicy::new(settings.config.tools.approval.clone(), opts.approve)
                .remote(opts.remote),
            workspace,
            timeout: Duration::from_secs(
                settings.config.tools.timeout_secs.unwrap_or(60).min(86_400),
            ),
            max_rounds: settings.config.max_tool_rounds,
        })
    };
    let config = EngineConfig {
        provider: provider.clone(),
        model: settings.model.clone(),
        system_prompt: settings.system_prompt.clone(),
        temperature: settings.temperature,
        max_tokens: settings.max_tokens,
        reasoning_effort: settings.config.reasoning_effort,
        context: settings.context.clone(),
        provider_web_search: settings.config.tools.web_search.openrouter_plugin,
        knowledge: Some(retriever.clone()),
        tools,
        store: store.clone(),
        generate_titles: opts.titles,
        budget: settings.config.budget,
        models_cache: Some(settings.paths.data_dir.join("models.json")),
        refresh_models: opts.refresh_models,
    };
    let engine = engine::start(config, &tokio::runtime::Handle::current());
    if let Some(store) = &store {
        log_events(&engine, store.clone(), settings.config.event_log_days);
    }
    Ok(Started {
        engine,
        store,
        mcp,
        mcp_failures,
        knowledge: retriever_for_doors,
        provider,
    })
}

#[cfg(test)]
mod tests {
    use super::clip_strings;

    #[test]
    fn logged_events_keep_short_strings_and_clip_long_ones() {
        let mut v = serde_json::json!({"type": "done", "text": "x".repeat(5000), "reason": "stop",
            "nested": [{"content": "y".repeat(3000)}]});
        clip_strings(&mut v, 2000);
        assert_eq!(v["reason"], "stop");
        assert_eq!(v["text"].as_str().unwrap().chars().count(), 2001);
        assert!(v["nested"][0]["content"].as_str().unwrap().ends_with('…'));
    }
}
