//! The `[serve]` and `[native_host]` tables of `config.toml`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use tokio::sync::Semaphore;

/// How tool calls that need approval are answered when no person can be asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerApproval {
    /// Deny them (the default: a remote client must not make the machine run commands).
    #[default]
    None,
    /// Approve them all.
    All,
}

/// `rustbot serve` (`[serve]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    /// Address to listen on (`--listen` overrides it).
    pub listen: String,
    /// Require the bearer token even on a loopback address (it is always required elsewhere).
    pub require_token: bool,
    /// Tools the model may call: comma-separated names, `all` or `none`.
    pub tools: String,
    /// How tool calls needing approval are answered: `none` (deny) or `all`.
    pub approve: ServerApproval,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Requests handled at once; more get a 503 error.
    pub max_concurrent_requests: usize,
    /// Requests per minute from one client address (bursts up to this many); 0: no limit.
    pub requests_per_minute: u32,
    /// Longest time one request (or one stream) may take, in seconds.
    pub request_timeout_secs: u64,
    /// Browser origins (`https://app.example`) whose requests are served; any other request
    /// carrying an `Origin` header gets 403. Empty: no web page may call the API.
    pub allowed_origins: Vec<String>,
    /// Host names (with or without `:port`) accepted besides loopback addresses and
    /// `localhost` with the listening port; any other `Host` gets 421 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Open connections at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, and that an idle keep-alive
    /// connection stays open.
    pub header_timeout_secs: u64,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            require_token: false,
            // A web page can reach a loopback server too: no tool runs unless named here.
            tools: "none".into(),
            approve: ServerApproval::None,
            max_body_bytes: 1024 * 1024,
            max_concurrent_requests: 64,
            requests_per_minute: 120,
            request_timeout_secs: 600,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: 256,
            header_timeout_secs: 10,
        }
    }
}

/// Longest `request_timeout_secs` / `header_timeout_secs` honoured (a day): a bigger value
/// would overflow `Instant` arithmetic, which panics.
const MAX_TIMEOUT_SECS: u64 = 86_400;

impl ServeSettings {
    /// `request_timeout_secs`, at most a day.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.min(MAX_TIMEOUT_SECS))
    }

    /// `header_timeout_secs`, 1 s to a day.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.clamp(1, MAX_TIMEOUT_SECS))
    }

    /// `max_connections` as a semaphore size: at least 1, at most what a tokio semaphore
    /// holds (`Semaphore::new` panics above `MAX_PERMITS`).
    pub fn connection_slots(&self) -> usize {
        self.max_connections.clamp(1, Semaphore::MAX_PERMITS)
    }

    /// `max_concurrent_requests` as a semaphore size, like `connection_slots`.
    pub fn request_slots(&self) -> usize {
        self.max_concurrent_requests
            .clamp(1, Semaphore::MAX_PERMITS)
    }
}

/// `rustbot native-host` (`[native_host]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NativeHostSettings {
    /// Caller origins allowed to use the host, e.g. `chrome-extension://ID/` (Firefox: the
    /// extension id). Empty: every caller is refused.
    pub allowed_origins: Vec<String>,
    /// Tools the model may call: comma-separated names, `all` or `none`.
    pub tools: String,
    /// How tool calls needing approval are answered: `none` (deny) or `all`.
    pub approve: ServerApproval,
    /// Requests a minute (a burst of as many is allowed); over it a request gets a
    /// `rate_limited` error frame and the host goes on. 0: no limit.
    pub requests_per_minute: u32,
    /// Chats answered at once; another gets a `rate_limited` error frame.
    pub max_concurrent: usize,
    /// Defaults for the host's chats (`parameters.set` with `persist: true` writes them).
    pub parameters: HostChatDefaults,
}

/// `[native_host.parameters]`: the model and sampling of host chats that do not say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostChatDefaults {
    /// Model id (unset: the configured model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Temperature, 0–2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Answer token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop texts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

impl Default for NativeHostSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            tools: "all".into(),
            approve: ServerApproval::None,
            requests_per_minute: 120,
            max_concurrent: 4,
            parameters: HostChatDefaults::default(),
        }
    }
}

impl NativeHostSettings {
    /// Whether `origin` may use the host; a trailing `/` does not matter.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        !origin.is_empty()
            && self
                .allowed_origins
                .iter()
                .any(|o| o.trim_end_matches('/') == origin)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Found writing the `config` fuzz target (derived values must stay usable):
    /// `request_timeout_secs = 9223372036854775807` panicked at
    /// `Instant::now() + timeout` on the first request, and `max_connections` or
    /// `max_concurrent_requests` above tokio's `MAX_PERMITS` panicked in `Semaphore::new`.
    #[test]
    fn huge_numbers_in_serve_settings_are_bounded() {
        let text = "[serve]\nrequest_timeout_secs = 9223372036854775807\n\
                    header_timeout_secs = 9223372036854775807\n\
                    max_connections = 9223372036854775807\n\
                    max_concurrent_requests = 9223372036854775807\n";
        let config = crate::config::Config::parse(text, std::path::Path::new("c.toml")).unwrap();
        let serve = &config.serve;
        assert!(
            Instant::now()
                .checked_add(serve.request_timeout())
                .is_some()
        );
        assert!(Instant::now().checked_add(serve.header_timeout()).is_some());
        let _ = Semaphore::new(serve.connection_slots());
        let _ = Semaphore::new(serve.request_slots());
        let zero = ServeSettings {
            max_connections: 0,
            header_timeout_secs: 0,
            ..Default::default()
        };
        assert_eq!(zero.connection_slots(), 1);
        assert_eq!(zero.header_timeout(), Duration::from_secs(1));
    }
}
