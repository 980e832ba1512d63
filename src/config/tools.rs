//! The `[tools]` table of config.toml: approval modes, the call time limit, `http_get`'s
//! local-network rule and the `web_search` backend.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How calls of one tool are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Ask the user (default for tools that write, run or use the network).
    Ask,
    /// Run without asking (default for read-only tools).
    Allow,
    /// Never run.
    Deny,
}

impl ApprovalMode {
    /// The lower-case name used in config and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Ask => "ask",
            ApprovalMode::Allow => "allow",
            ApprovalMode::Deny => "deny",
        }
    }
}

/// The `[tools]` table of config.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolsConfig {
    /// Per-tool approval modes, by tool name (`server__*` globs allowed).
    pub approval: BTreeMap<String, ApprovalMode>,
    /// Time limit of one call in seconds (default 60).
    pub timeout_secs: Option<u64>,
    /// Let `http_get` fetch loopback, private and link-local addresses (default false).
    pub http_allow_private: bool,
    /// The `web_search` backend (`[tools.web_search]`); unset: the tool is not offered.
    pub web_search: WebSearchConfig,
}

/// Which search service answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchBackend {
    /// A SearXNG instance's JSON API (`url` is its base URL).
    Searxng,
    /// Brave Search API (`BRAVE_API_KEY`).
    Brave,
    /// Tavily search (`TAVILY_API_KEY`).
    Tavily,
}

impl SearchBackend {
    /// The backend's name in config and results.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchBackend::Searxng => "searxng",
            SearchBackend::Brave => "brave",
            SearchBackend::Tavily => "tavily",
        }
    }

    /// The variable holding the backend's key, if it needs one.
    pub fn key_var(self) -> Option<&'static str> {
        match self {
            SearchBackend::Searxng => None,
            SearchBackend::Brave => Some("BRAVE_API_KEY"),
            SearchBackend::Tavily => Some("TAVILY_API_KEY"),
        }
    }

    /// The endpoint used when `url` is not set.
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            SearchBackend::Searxng => None,
            SearchBackend::Brave => Some("https://api.search.brave.com/res/v1/web/search"),
            SearchBackend::Tavily => Some("https://api.tavily.com/search"),
        }
    }
}

/// `[tools.web_search]` in config.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSearchConfig {
    /// The backend; unset: the tool is not offered.
    pub backend: Option<SearchBackend>,
    /// SearXNG's base URL, or an endpoint override for Brave and Tavily (proxies, tests).
    pub url: Option<String>,
    /// Requests to OpenRouter carry `plugins: [{"id": "web"}]`: OpenRouter searches the web
    /// for the model and returns the sources as annotations (billed by OpenRouter).
    pub openrouter_plugin: bool,
}
