//! `config.toml`: every field optional with a default; precedence flag > env > file > default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::paths::Paths;
use crate::config::provider::{ProviderKind, ProviderSettings};
use crate::config::secrets::{Secret, key_from_env};

/// Errors reading or writing configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file does not parse.
    #[error(
        "{path}: line {line}, field `{field}`: {message}. Fix or remove that line (see config.example.toml)"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// The dotted field name (`network.idle_timeout_secs`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The config file exists but cannot be read.
    #[error("could not read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("could not write {path}: {source}. Check the folder's permissions and free space")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// No home directory to put the default paths in.
    #[error(
        "no home directory was found for the default config and data folders: pass --config and --data-dir"
    )]
    NoHome,
}

/// Any configured timeout is capped at a day, so that no sum of an instant and a configured
/// duration can overflow.
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// Network behaviour (`[network]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
    /// Seconds without any byte from the server before the answer ends with an error.
    pub idle_timeout_secs: u64,
    /// Retries of a failed request before its first token.
    pub max_retries: u32,
    /// Longest wait a server may ask for (`Retry-After`) before a retry; a longer demand fails
    /// at once with a sentence.
    pub max_retry_wait_secs: u64,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            connect_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_retries: 3,
            max_retry_wait_secs: 60,
        }
    }
}

impl NetworkSettings {
    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.min(MAX_TIMEOUT_SECS))
    }

    /// The idle-stream timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.min(MAX_TIMEOUT_SECS))
    }

    /// The longest server-requested wait before a retry.
    pub fn max_retry_wait(&self) -> Duration {
        Duration::from_secs(self.max_retry_wait_secs.min(MAX_TIMEOUT_SECS))
    }
}

/// Desktop app preferences (`[ui]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// `dark`, `light` or `system`.
    pub theme: String,
    /// Base font size in points.
    pub font_size: f32,
    /// Standing instructions for the default agent.
    pub instructions: String,
    /// The default agent's personality.
    pub personality: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            theme: "system".into(),
            font_size: 14.0,
            instructions: String::new(),
            personality: String::new(),
        }
    }
}

/// A named set of provider, base URL, model and key reference (`[profiles.NAME]`): "Local
/// Ollama", "Work Anthropic"... Unset fields fall through to the top-level settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileSettings {
    /// Provider id: openrouter, openai, anthropic, ollama, custom or local.
    pub provider: Option<String>,
    /// Base URL of the provider's API.
    pub base_url: Option<String>,
    /// Model id.
    pub model: Option<String>,
    /// Name of the environment variable holding the API key (a reference, never the key).
    pub key_env: Option<String>,
}

/// The whole `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Provider id: openrouter, openai, anthropic, ollama, custom or local.
    pub provider: String,
    /// The profile used when `--profile` / `RUSTBOT_PROFILE` is not given.
    pub profile: Option<String>,
    /// Model id; empty means the provider's default.
    pub model: Option<String>,
    /// Base URL; empty means the provider's default (required for `custom`).
    pub base_url: Option<String>,
    /// System prompt sent first in every conversation.
    pub system_prompt: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on answer tokens.
    pub max_tokens: Option<u32>,
    /// How hard a reasoning model should think: `low`, `medium` or `high` (unset: not sent).
    pub reasoning_effort: Option<crate::core::ReasoningEffort>,
    /// Older name of `[context] default_tokens`; when set, it wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u64>,
    /// Context windows and compaction (`[context]`).
    pub context: crate::config::context::ContextSettings,
    /// Network behaviour.
    pub network: NetworkSettings,
    /// Desktop app preferences.
    pub ui: UiSettings,
    /// Model rounds with tool calls allowed in one turn.
    pub max_tool_rounds: u32,
    /// Days of engine events kept in the store's event log.
    pub event_log_days: u32,
    /// Root folder of the file and shell tools (default: `workspace` in the data dir).
    pub workspace: Option<std::path::PathBuf>,
    /// Attached files (`[attachments]`).
    pub attachments: crate::config::attachments::AttachmentSettings,
    /// Tool approval modes and time limit (`[tools]`).
    pub tools: crate::config::tools::ToolsConfig,
    /// Spending limits (`[budget]`).
    pub budget: crate::config::budget::BudgetLimits,
    /// MCP servers (`[mcp_servers.NAME]`).
    pub mcp_servers: std::collections::BTreeMap<String, crate::config::mcp::McpServerConfig>,
    /// `rustbot serve` (`[serve]`).
    pub serve: crate::config::serve::ServeSettings,
    /// `rustbot native-host` (`[native_host]`).
    pub native_host: crate::config::serve::NativeHostSettings,
    /// Named provider profiles (`[profiles.NAME]`).
    pub profiles: std::collections::BTreeMap<String, ProfileSettings>,
    /// Local models (`[local]`).
    pub local: crate::config::local::LocalSettings,
    /// Knowledge bases (`[knowledge]`).
    pub knowledge: crate::config::knowledge::KnowledgeSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            provider: "openrouter".into(),
            profile: None,
            model: None,
            base_url: None,
            system_prompt: None,
            temperature: None,
            max_tokens: None,
            reasoning_effort: None,
            context_tokens: None,
            context: Default::default(),
            knowledge: Default::default(),
            network: NetworkSettings::default(),
            ui: UiSettings::default(),
            max_tool_rounds: 10,
            attachments: Default::default(),
            event_log_days: 30,
            workspace: None,
            tools: Default::default(),
            budget: Default::default(),
            mcp_servers: Default::default(),
            serve: Default::default(),
            native_host: Default::default(),
            profiles: Default::default(),
            local: Default::default(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file is the default config, a broken one a `Parse` error.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses config text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| parse_error(text, path, &e))
    }

    /// Writes the config atomically (temporary file, then rename). Keys are never in it.
    pub fn save_atomic(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = toml::to_string_pretty(self)
            .map_err(|e| ConfigError::Invalid(format!("could not encode the config: {e}")))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }
}

/// Turns a TOML error into one that names the file, the line and the dotted field.
fn parse_error(text: &str, path: &Path, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.starts_with('['));
    // The table a key belongs to is the nearest `[section]` header above it.
    let section = text
        .lines()
        .take(line)
        .filter_map(|l| {
            let l = l.trim();
            (l.starts_with('[') && l.ends_with(']'))
                .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        })
        .last();
    let field = match (section, key) {
        (Some(s), Some(k)) => format!("{s}.{k}"),
        (None, Some(k)) => k,
        (Some(s), None) => s,
        (None, None) => "(file)".into(),
    };
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        field,
        message: err.message().trim().to_string(),
    }
}

/// Values from the command line or environment that override the config file for one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--provider` / `RUSTBOT_PROVIDER`.
    pub provider: Option<String>,
    /// `--base-url` / `RUSTBOT_BASE_URL`.
    pub base_url: Option<String>,
    /// `--model` / `RUSTBOT_MODEL`.
    pub model: Option<String>,
    /// `--system`.
    pub system: Option<String>,
}

/// Everything a run needs, after precedence is applied.
#[derive(Debug, Clone)]
pub struct ResolvedSettings {
    /// The provider to talk to.
    pub provider: ProviderSettings,
    /// The model to ask.
    pub model: String,
    /// The system prompt, if any.
    pub system_prompt: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on answer tokens.
    pub max_tokens: Option<u32>,
    /// Context windows and compaction (`[context]`, with the older `context_tokens` applied).
    pub context: crate::config::context::ContextSettings,
    /// The profile in use (`--profile`, else `profile` in the file), if any.
    pub profile: Option<String>,
    /// The paths in use.
    pub paths: Paths,
    /// The config as loaded from the file.
    pub config: Config,
}

impl ResolvedSettings {
    /// Applies flag > env > file > default, with the file's default profile (if it names
    /// one). `.env` files must already be loaded.
    pub fn resolve(
        config: Config,
        overrides: &Overrides,
        paths: Paths,
    ) -> Result<ResolvedSettings, ConfigError> {
        Self::resolve_with_profile(config, overrides, None, paths)
    }

    /// Like `resolve`, with the profile `profile` (`--profile` / `RUSTBOT_PROFILE`; `None`:
    /// the file's `profile`). Precedence: flag > env > profile > file > default. A profile
    /// that sets a provider also replaces the file's top-level base URL and model, which
    /// belong to the top-level provider.
    pub fn resolve_with_profile(
        config: Config,
        overrides: &Overrides,
        profile: Option<&str>,
        paths: Paths,
    ) -> Result<ResolvedSettings, ConfigError> {
        let profile_name =
            non_empty(profile.map(str::to_string)).or_else(|| non_empty(config.profile.clone()));
        let chosen = match &profile_name {
            None => ProfileSettings::default(),
            Some(name) => config.profiles.get(name).cloned().ok_or_else(|| {
                let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
                ConfigError::Invalid(format!(
                    "no profile `{name}` in {}: {}. Add a [profiles.{name}] table or choose another profile",
                    paths.config_file.display(),
                    if known.is_empty() {
                        "it defines none".to_string()
                    } else {
                        format!("it defines {}", known.join(", "))
                    }
                ))
            })?,
        };
        // The top-level base URL and model go with the top-level provider.
        let top = |v: &Option<String>| {
            if chosen.provider.is_some() {
                None
            } else {
                non_empty(v.clone())
            }
        };
        let provider_id = overrides
            .provider
            .clone()
            .or_else(|| non_empty(chosen.provider.clone()))
            .unwrap_or_else(|| config.provider.clone());
        let kind: ProviderKind = provider_id.parse().map_err(ConfigError::Invalid)?;
        let base_url = non_empty(overrides.base_url.clone())
            .or_else(|| non_empty(chosen.base_url.clone()))
            .or_else(|| top(&config.base_url))
            .or_else(|| kind.default_base_url().map(str::to_string))
            .or_else(|| (!kind.uses_base_url()).then(String::new))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "the custom provider needs a base URL: pass --base-url http://host:port/v1 or set base_url in config.toml"
                        .into(),
                )
            })?;
        let model = non_empty(overrides.model.clone())
            .or_else(|| non_empty(chosen.model.clone()))
            .or_else(|| top(&config.model))
            .unwrap_or_else(|| kind.default_model().to_string());
        let api_key: Option<Secret> = match non_empty(chosen.key_env.clone()) {
            Some(var) => key_from_env(var.trim()),
            None => kind.key_var().and_then(key_from_env),
        };
        let system_prompt =
            non_empty(overrides.system.clone()).or_else(|| non_empty(config.system_prompt.clone()));
        Ok(ResolvedSettings {
            provider: ProviderSettings {
                kind,
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key,
                network: config.network,
                local: config.local.resolved(&paths.data_dir),
            },
            model,
            system_prompt,
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            context: crate::config::context::ContextSettings {
                default_tokens: config
                    .context_tokens
                    .unwrap_or(config.context.default_tokens),
                ..config.context.clone()
            },
            profile: profile_name,
            paths,
            config,
        })
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths::resolve(Some("/c/config.toml".into()), Some("/d".into())).unwrap()
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        let c = Config::parse("", Path::new("c.toml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.network.idle_timeout_secs, 60);
        assert_eq!(c.network.connect_timeout_secs, 10);
        assert_eq!(c.network.max_retries, 3);
    }

    #[test]
    fn the_example_config_parses_and_matches_the_defaults_it_documents() {
        let text = include_str!("../../config.example.toml");
        let c = Config::parse(text, Path::new("config.example.toml")).unwrap();
        assert_eq!(c.network, NetworkSettings::default());
        assert_eq!(c.provider, "openrouter");
        assert_eq!(c.serve, crate::config::serve::ServeSettings::default());
        assert_eq!(
            c.context,
            crate::config::context::ContextSettings::default()
        );
        assert_eq!(c.context_tokens, None);
        assert_eq!(
            c.native_host,
            crate::config::serve::NativeHostSettings::default()
        );
    }

    #[test]
    fn a_bad_value_names_file_line_and_field() {
        let text =
            "provider = \"openai\"\n\n[network]\nmax_retries = 2\nidle_timeout_secs = \"soon\"\n";
        let err = Config::parse(text, Path::new("/x/config.toml")).unwrap_err();
        match &err {
            ConfigError::Parse { line, field, .. } => {
                assert_eq!(*line, 5);
                assert_eq!(field, "network.idle_timeout_secs");
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("/x/config.toml") && msg.contains("line 5"),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_field_is_an_error_not_a_silent_default() {
        let err = Config::parse("modle = \"x\"\n", Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 1") && msg.contains("`modle`"), "{msg}");
    }

    #[test]
    fn broken_toml_syntax_is_reported_with_its_line() {
        let err = Config::parse("provider = \"a\"\nmodel = \n", Path::new("c.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err:?}");
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let config = Config {
            model: Some("from-file".into()),
            provider: "ollama".into(),
            ..Default::default()
        };
        let r = ResolvedSettings::resolve(config.clone(), &Overrides::default(), paths()).unwrap();
        assert_eq!(r.model, "from-file");
        assert_eq!(r.provider.base_url, "http://localhost:11434/v1");
        let o = Overrides {
            model: Some("from-flag".into()),
            provider: Some("custom".into()),
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            system: None,
        };
        let r = ResolvedSettings::resolve(config, &o, paths()).unwrap();
        assert_eq!(r.model, "from-flag");
        assert_eq!(r.provider.kind, ProviderKind::Custom);
        assert_eq!(r.provider.base_url, "http://127.0.0.1:9/v1");
    }

    #[test]
    fn custom_without_a_base_url_says_what_to_do() {
        let o = Overrides {
            provider: Some("custom".into()),
            ..Default::default()
        };
        let err = ResolvedSettings::resolve(Config::default(), &o, paths()).unwrap_err();
        assert!(err.to_string().contains("--base-url"));
    }

    #[test]
    fn saving_is_atomic_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let c = Config {
            model: Some("m".into()),
            ..Default::default()
        };
        c.save_atomic(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        assert!(!path.with_extension("toml.tmp").exists());
    }
}
