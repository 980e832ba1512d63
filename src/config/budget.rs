//! The `[budget]` table of config.toml: spending limits in USD.

use serde::{Deserialize, Serialize};

/// The `[budget]` table; unset means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetLimits {
    /// Most to spend per UTC day.
    pub daily_usd: Option<f64>,
    /// Most to spend per UTC calendar month.
    pub monthly_usd: Option<f64>,
    /// Most to spend in one conversation.
    pub per_conversation_usd: Option<f64>,
}

impl BudgetLimits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.daily_usd.is_some()
            || self.monthly_usd.is_some()
            || self.per_conversation_usd.is_some()
    }
}
