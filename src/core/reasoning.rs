//! How hard a reasoning model should think: a word of config, sent by every provider in its
//! own form.

use serde::{Deserialize, Serialize};

/// How hard a reasoning model should think (`reasoning_effort` in config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// A little.
    Low,
    /// Some.
    Medium,
    /// A lot.
    High,
}

impl ReasoningEffort {
    /// The lower-case name used in config and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }

    /// Anthropic's thinking budget within an answer of at most `max_tokens` (thinking counts
    /// against it): a quarter, half or three quarters of it, at least the API's minimum of
    /// 1,024; None when `max_tokens` leaves no room for that.
    pub fn anthropic_budget(self, max_tokens: u32) -> Option<u32> {
        let budget = match self {
            ReasoningEffort::Low => max_tokens / 4,
            ReasoningEffort::Medium => max_tokens / 2,
            ReasoningEffort::High => max_tokens / 4 * 3,
        }
        .max(1024);
        (budget < max_tokens).then_some(budget)
    }
}
