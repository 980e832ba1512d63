//! Budgets and model info in the engine: refuse a run over a limit before anything is sent,
//! warn at 80%, stop a run that crosses a limit, and keep model prices and context lengths.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::budget::{
    BudgetCheck, BudgetScope, Spend, check, day_start_ms, headroom_usd, month_start_ms,
};
use crate::engine::context::estimate_tokens;
use crate::engine::event_loop::{Engine, Input};
use crate::engine::events::{ConversationId, EngineEvent, RunMetrics, RunStatus};
use crate::engine::queue::{EventQueue, Priority};
use crate::engine::state::AgentState;
use crate::llm::{ModelInfo, Provider, pricing};
use crate::store::{self, UsageRecord};

/// Spend kept in memory, for doors without a store (and this process's own runs).
#[derive(Debug, Default)]
pub(crate) struct MemorySpend {
    day_start: i64,
    today_usd: f64,
    month_start: i64,
    month_usd: f64,
    by_conversation: HashMap<ConversationId, f64>,
}

impl MemorySpend {
    pub fn add(&mut self, id: &ConversationId, cost: f64) {
        let now = store::now_ms();
        let (day, month) = (day_start_ms(now), month_start_ms(now));
        if self.day_start != day {
            self.day_start = day;
            self.today_usd = 0.0;
        }
        if self.month_start != month {
            self.month_start = month;
            self.month_usd = 0.0;
        }
        self.today_usd += cost;
        self.month_usd += cost;
        *self.by_conversation.entry(id.clone()).or_default() += cost;
    }

    fn spend(&self, id: &ConversationId) -> Spend {
        let now = store::now_ms();
        Spend {
            today_usd: if self.day_start == day_start_ms(now) {
                self.today_usd
            } else {
                0.0
            },
            month_usd: if self.month_start == month_start_ms(now) {
                self.month_usd
            } else {
                0.0
            },
            conversation_usd: self.by_conversation.get(id).copied().unwrap_or(0.0),
        }
    }
}

impl Engine {
    async fn spend(&mut self, id: &ConversationId) -> Spend {
        let Some(store) = self.config.store.clone() else {
            return self.memory_spend.spend(id);
        };
        let key = id.0.clone();
        let now = store::now_ms();
        let stored = store
            .call(move |s| {
                let today = s.usage_totals(Some(day_start_ms(now)))?.cost_usd;
                let month = s.usage_totals(Some(month_start_ms(now)))?.cost_usd;
                let conv: f64 = s
                    .conversation_usage(&key)?
                    .iter()
                    .filter_map(|u| u.cost_usd)
                    .sum();
                Ok::<_, store::StoreError>(Spend {
                    today_usd: today,
                    month_usd: month,
                    conversation_usd: conv,
                })
            })
            .await
            .and_then(|r| r);
        match stored {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("could not read spending from the store: {e}");
                self.memory_spend.spend(id)
            }
        }
    }

    /// Checks the budgets before a run; false (with the run refused) when over a limit and no
    /// override was given. Returns the headroom left for the run.
    pub(crate) async fn budget_allows(&mut self, id: &ConversationId) -> (bool, Option<f64>) {
        let limits = self.config.budget;
        if !limits.any() {
            return (true, None);
        }
        let spend = self.spend(id).await;
        let overridden = self.conversation(id).budget_override;
        self.conversation(id).budget_override = false;
        match check(&limits, &spend) {
            BudgetCheck::Over {
                scope,
                spent_usd,
                limit_usd,
            } if !overridden => {
                let message = format!(
                    "the {} spending limit is reached (${} of ${}), so nothing was sent: raise [budget] {} in config.toml or Settings, or send this message once more with the override",
                    scope.as_str(),
                    usd(spent_usd),
                    usd(limit_usd),
                    config_key(scope)
                );
                self.refuse(id, "budget", message);
                return (false, None);
            }
            BudgetCheck::Warn {
                scope,
                spent_usd,
                limit_usd,
            }
            | BudgetCheck::Over {
                scope,
                spent_usd,
                limit_usd,
            } => self.bus.publish(EngineEvent::BudgetWarning {
                conversation: id.clone(),
                scope,
                spent_usd,
                limit_usd,
            }),
            BudgetCheck::Ok => {}
        }
        let headroom = if overridden {
            None
        } else {
            headroom_usd(&limits, &spend)
        };
        (true, headroom)
    }

    /// Stops the run if what it has cost so far (estimated while streaming) reaches its headroom.
    pub(crate) async fn enforce_budget(&mut self, id: &ConversationId) {
        // Runs on every text delta: borrows only (no model id or `ModelInfo` copy), and a run
        // without a budget returns before any lookup.
        let Some(run) = self.conversations.get(id).and_then(|c| c.run.as_ref()) else {
            return;
        };
        let Some(headroom) = run.budget_headroom_usd else {
            return;
        };
        let info = self.models.get(&run.model);
        let Some((prompt_price, completion_price)) = pricing::prices_for(&run.model, info) else {
            return;
        };
        let so_far = run.usage_before.cost_usd.unwrap_or(0.0)
            + run.prompt_estimate as f64 * prompt_price
            + estimate_tokens(&run.text) as f64 * completion_price;
        if so_far < headroom {
            return;
        }
        self.error(
            Some(id),
            format!(
                "the answer was stopped because it reached a spending limit (about ${} of ${} left): the text so far is kept; raise [budget] in config.toml or Settings to continue",
                usd(so_far),
                usd(headroom)
            ),
        );
        if let Some(run) = self.conversation(id).run.as_ref() {
            run.cancel.cancel();
        }
        self.go(id, AgentState::Stopping);
        self.go(id, AgentState::Idle);
        self.finish(id, RunStatus::Stopped, "budget".into(), None)
            .await;
    }

    /// Refuses a message before any run starts: a failed `Done` carrying the reason (so every
    /// door, which waits for `Done`, learns why: `serve` answers a budget refusal with 402),
    /// then the error sentence for the screen.
    pub(crate) fn refuse(&mut self, id: &ConversationId, reason: &str, message: String) {
        self.bus.publish(EngineEvent::Done {
            conversation: id.clone(),
            status: RunStatus::Failed,
            reason: reason.into(),
            text: String::new(),
            error: Some(message.clone()),
            metrics: Default::default(),
        });
        self.error(Some(id), message);
    }

    /// Records the usage of an in-memory conversation (`serve`, `native-host` requests without
    /// a conversation id) in the store, without a conversation, so budgets count it.
    pub(crate) fn record_ephemeral_usage(&mut self, id: &ConversationId, metrics: &RunMetrics) {
        if !self.conversation(id).ephemeral
            || !metrics.tokens_reported && metrics.cost_usd.is_none()
        {
            return;
        }
        let Some(store) = self.config.store.clone() else {
            return;
        };
        let usage = UsageRecord {
            conversation_id: None,
            message_id: None,
            provider: self.provider_for(id).id().to_string(),
            model: metrics.model.clone(),
            prompt_tokens: metrics.prompt_tokens as i64,
            completion_tokens: metrics.completion_tokens as i64,
            cost_usd: metrics.cost_usd,
            at: store::now_ms(),
            reasoning_tokens: metrics.reasoning_tokens as i64,
        };
        store.send("record usage", move |s| s.record_usage(&usage).map(|_| ()));
    }

    /// Replaces the known model list (prices, context lengths) and caches it on disk.
    pub(crate) fn set_models(&mut self, models: Vec<ModelInfo>) {
        if let Some(path) = self.config.models_cache.clone()
            && let Ok(json) = serde_json::to_vec(&models)
        {
            tokio::task::spawn_blocking(move || {
                let tmp = path.with_extension("json.tmp");
                if std::fs::write(&tmp, json)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .is_err()
                {
                    tracing::warn!("could not cache the model list at {}", path.display());
                }
            });
        }
        self.models = models.into_iter().map(|m| (m.id.clone(), m)).collect();
    }
}

/// An amount in USD with enough digits to be read: two decimals from a dollar up, else up to
/// six ($0.0013, $0.001, $0.000004), never a small amount shown as $0.00.
pub fn usd(amount: f64) -> String {
    if !amount.is_finite() {
        return "?".into();
    }
    if amount.abs() >= 1.0 || amount == 0.0 {
        return format!("{amount:.2}");
    }
    let text = format!("{amount:.6}");
    let trimmed = text.trim_end_matches('0');
    if trimmed.len() - trimmed.find('.').unwrap_or(0) < 3 {
        format!("{amount:.2}")
    } else {
        trimmed.to_string()
    }
}

fn config_key(scope: BudgetScope) -> &'static str {
    match scope {
        BudgetScope::Daily => "daily_usd",
        BudgetScope::Monthly => "monthly_usd",
        BudgetScope::Conversation => "per_conversation_usd",
    }
}

/// Reads the cached model list (prices and context lengths), if any.
pub(crate) fn load_models_cache(path: Option<&PathBuf>) -> Vec<ModelInfo> {
    path.and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Fetches the provider's model list at Low priority.
pub(crate) fn refresh_models(provider: Arc<dyn Provider>, queue: Arc<EventQueue<Input>>) {
    tokio::spawn(async move {
        match provider.models().await {
            Ok(models) => queue.push(Priority::Low, Input::Models(models)),
            Err(e) => tracing::info!("the model list could not be fetched: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::usd;

    #[test]
    fn amounts_keep_enough_digits() {
        assert_eq!(usd(0.0013), "0.0013");
        assert_eq!(usd(0.001), "0.001");
        assert_eq!(usd(0.5), "0.50");
        assert_eq!(usd(12.345), "12.35");
        assert_eq!(usd(0.0), "0.00");
        assert_eq!(usd(0.000004), "0.000004");
        assert_eq!(usd(f64::NAN), "?");
    }
}
