//! Model prices: the server's reported cost wins; else per-token prices; else unknown.

use crate::llm::types::{ModelInfo, Usage};

/// USD per million tokens (prompt, completion) for common models, used when the provider's
/// model list gives no price. Checked against the providers' price pages; update as they change.
const FALLBACK_PRICES_PER_MTOK: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("claude-sonnet-4-5", 3.00, 15.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-opus-4-1", 15.00, 75.00),
];

/// Per-token prices in USD (prompt, completion) for `model`, from `info` or the fallback table.
pub fn prices_for(model: &str, info: Option<&ModelInfo>) -> Option<(f64, f64)> {
    if let Some(i) = info
        && let (Some(p), Some(c)) = (i.prompt_price_usd, i.completion_price_usd)
    {
        return Some((p, c));
    }
    // OpenRouter ids carry a vendor prefix (`openai/gpt-4o-mini`); dated ids a suffix.
    let bare = model.rsplit('/').next().unwrap_or(model);
    FALLBACK_PRICES_PER_MTOK
        .iter()
        .filter(|(name, _, _)| bare.starts_with(name))
        .max_by_key(|(name, _, _)| name.len())
        .map(|(_, p, c)| (p / 1e6, c / 1e6))
}

/// The cost of `usage`: the server's figure when it gave one, else computed, else `None`.
pub fn cost_usd(model: &str, usage: &Usage, info: Option<&ModelInfo>) -> Option<f64> {
    if let Some(cost) = usage.cost_usd {
        return Some(cost);
    }
    let (p, c) = prices_for(model, info)?;
    Some(usage.prompt_tokens as f64 * p + usage.completion_tokens as f64 * c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(cost: Option<f64>) -> Usage {
        Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 1_000_000,
            cost_usd: cost,
            reasoning_tokens: 0,
        }
    }

    #[test]
    fn the_server_cost_wins() {
        assert_eq!(cost_usd("gpt-4o", &usage(Some(0.5)), None), Some(0.5));
    }

    #[test]
    fn per_token_prices_from_the_model_list_beat_the_table() {
        let info = ModelInfo {
            prompt_price_usd: Some(1e-6),
            completion_price_usd: Some(2e-6),
            ..Default::default()
        };
        let c = cost_usd("gpt-4o", &usage(None), Some(&info)).unwrap();
        assert!((c - 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_table_matches_prefixed_and_dated_ids_by_longest_name() {
        let c = cost_usd("openai/gpt-4o-mini-2024-07-18", &usage(None), None).unwrap();
        assert!((c - 0.75).abs() < 1e-9, "{c}");
    }

    #[test]
    fn an_unknown_model_has_no_cost() {
        assert_eq!(cost_usd("SmolLM2-135M-Instruct", &usage(None), None), None);
    }
}
