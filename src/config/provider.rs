//! The provider table (design.md §2 and §6): each provider's id, wire format, default base URL,
//! key variable and default model, and the settings one provider is built from.

use std::fmt;
use std::str::FromStr;

use crate::config::{NetworkSettings, Secret};

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// The provider ids of design.md §2 and §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenRouter (the default).
    OpenRouter,
    /// OpenAI.
    OpenAi,
    /// Anthropic.
    Anthropic,
    /// A local Ollama server.
    Ollama,
    /// Any OpenAI-compatible server at a given base URL.
    Custom,
    /// GGUF models run in this process (`crate::local`): no key, no server.
    Local,
}

impl ProviderKind {
    /// Every provider, in the order of the table.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::OpenRouter,
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Ollama,
        ProviderKind::Custom,
        ProviderKind::Local,
    ];

    /// The id used in config and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            ProviderKind::OpenRouter => "openrouter",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Custom => "custom",
            ProviderKind::Local => "local",
        }
    }

    /// The wire format it speaks.
    pub fn wire(self) -> WireFormat {
        match self {
            ProviderKind::Anthropic => WireFormat::Anthropic,
            _ => WireFormat::OpenAi,
        }
    }

    /// The base URL used when none is configured (`custom` has none; `local` needs none).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenRouter => Some("https://openrouter.ai/api/v1"),
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com/v1"),
            ProviderKind::Ollama => Some("http://localhost:11434/v1"),
            ProviderKind::Custom | ProviderKind::Local => None,
        }
    }

    /// Whether it talks to a server at a base URL (`local` runs in this process).
    pub fn uses_base_url(self) -> bool {
        self != ProviderKind::Local
    }

    /// The environment variable holding its key, if it uses one.
    pub fn key_var(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenRouter => Some("OPENROUTER_API_KEY"),
            ProviderKind::OpenAi => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Ollama | ProviderKind::Local => None,
            ProviderKind::Custom => Some("RUSTBOT_API_KEY"),
        }
    }

    /// Whether a request without a key is pointless.
    pub fn requires_key(self) -> bool {
        matches!(
            self,
            ProviderKind::OpenRouter | ProviderKind::OpenAi | ProviderKind::Anthropic
        )
    }

    /// The model used when none is configured.
    pub fn default_model(self) -> &'static str {
        match self {
            ProviderKind::OpenRouter => "openai/gpt-4o-mini",
            ProviderKind::OpenAi => "gpt-4o-mini",
            ProviderKind::Anthropic => "claude-sonnet-4-5",
            ProviderKind::Ollama => "llama3.2",
            ProviderKind::Custom => "default",
            // The first model of `[local] models_dir`.
            ProviderKind::Local => "default",
        }
    }

    /// Where a user should set the key, as a sentence fragment.
    pub fn key_hint(self) -> String {
        match self.key_var() {
            Some(var) => format!("set {var} in .env or enter it in Settings"),
            None if self == ProviderKind::Local => "local models need no key".to_string(),
            None => "this provider needs no key; check the server's own settings".to_string(),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.id() == s)
            .ok_or_else(|| {
                format!(
                    "unknown provider '{s}': use one of openrouter, openai, anthropic, ollama, custom, local"
                )
            })
    }
}

/// Everything needed to build a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// Which provider.
    pub kind: ProviderKind,
    /// Base URL (already defaulted; required for `custom`).
    pub base_url: String,
    /// The API key, if any.
    pub api_key: Option<Secret>,
    /// Timeouts and retries.
    pub network: NetworkSettings,
    /// Local models (`[local]`, models_dir resolved); used by `local` only.
    pub local: crate::config::local::LocalSettings,
}
