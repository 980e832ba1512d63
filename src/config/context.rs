//! The `[context]` table of config.toml: the window assumed when a server does not say, and
//! when the history is compacted.

use serde::{Deserialize, Serialize};

/// `[context]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextSettings {
    /// Window in tokens assumed for a model no model list, table or error has told us about
    /// (small on purpose: servers such as Ollama say nothing and truncate silently).
    pub default_tokens: u64,
    /// The history is compacted when the next request would pass this share of the window.
    pub compact_at_percent: u8,
    /// The model that writes summaries (unset: the conversation's own model).
    pub summary_model: Option<String>,
}

impl Default for ContextSettings {
    fn default() -> Self {
        Self {
            default_tokens: 4096,
            compact_at_percent: 80,
            summary_model: None,
        }
    }
}

impl ContextSettings {
    /// The token count at which a request of `window` tokens is compacted first.
    pub fn compact_at(&self, window: u64) -> u64 {
        let percent = u64::from(self.compact_at_percent.clamp(10, 100));
        (window.saturating_mul(percent) / 100).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_a_share_of_the_window_within_sane_bounds() {
        let c = ContextSettings::default();
        assert_eq!(c.compact_at(1000), 800);
        let odd = ContextSettings {
            compact_at_percent: 255,
            ..c.clone()
        };
        assert_eq!(odd.compact_at(1000), 1000);
        let tiny = ContextSettings {
            compact_at_percent: 0,
            ..c
        };
        assert_eq!(tiny.compact_at(1000), 100);
    }
}
