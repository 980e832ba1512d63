//! Spending limits: a daily, a monthly and a per-conversation budget in USD. Days and months
//! are UTC calendar periods.

use serde::{Deserialize, Serialize};

pub use crate::config::budget::BudgetLimits;

/// What has been spent so far, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    /// Since the start of the UTC day.
    pub today_usd: f64,
    /// Since the start of the UTC month.
    pub month_usd: f64,
    /// In the conversation.
    pub conversation_usd: f64,
}

/// Which budget a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// The daily budget.
    Daily,
    /// The monthly budget.
    Monthly,
    /// The per-conversation budget.
    Conversation,
}

impl BudgetScope {
    /// The name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetScope::Daily => "daily",
            BudgetScope::Monthly => "monthly",
            BudgetScope::Conversation => "per-conversation",
        }
    }
}

/// The share of a budget at which a warning is given.
pub const WARN_AT: f64 = 0.8;

/// The outcome of checking spend against the limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetCheck {
    /// Under 80% of every limit (or no limits).
    Ok,
    /// At or over 80% of a limit.
    Warn {
        /// Which budget.
        scope: BudgetScope,
        /// Spent so far.
        spent_usd: f64,
        /// The limit.
        limit_usd: f64,
    },
    /// At or over a limit.
    Over {
        /// Which budget.
        scope: BudgetScope,
        /// Spent so far.
        spent_usd: f64,
        /// The limit.
        limit_usd: f64,
    },
}

fn scopes(limits: &BudgetLimits, spend: &Spend) -> [(BudgetScope, Option<f64>, f64); 3] {
    [
        (BudgetScope::Daily, limits.daily_usd, spend.today_usd),
        (BudgetScope::Monthly, limits.monthly_usd, spend.month_usd),
        (
            BudgetScope::Conversation,
            limits.per_conversation_usd,
            spend.conversation_usd,
        ),
    ]
}

/// Checks `spend` against `limits`: the first budget over its limit, else the first at 80%.
pub fn check(limits: &BudgetLimits, spend: &Spend) -> BudgetCheck {
    let all = scopes(limits, spend);
    let over = all.iter().find_map(|(scope, limit, spent)| {
        limit.filter(|l| spent >= l).map(|l| BudgetCheck::Over {
            scope: *scope,
            spent_usd: *spent,
            limit_usd: l,
        })
    });
    let warn = || {
        all.iter().find_map(|(scope, limit, spent)| {
            limit
                .filter(|l| *spent >= l * WARN_AT)
                .map(|l| BudgetCheck::Warn {
                    scope: *scope,
                    spent_usd: *spent,
                    limit_usd: l,
                })
        })
    };
    over.or_else(warn).unwrap_or(BudgetCheck::Ok)
}

/// How much more may be spent before the tightest limit is reached (None: no limit).
pub fn headroom_usd(limits: &BudgetLimits, spend: &Spend) -> Option<f64> {
    scopes(limits, spend)
        .iter()
        .filter_map(|(_, limit, spent)| limit.map(|l| (l - spent).max(0.0)))
        .reduce(f64::min)
}

use crate::time::{DAY_MS, civil_from_days, days_from_civil};

/// Unix milliseconds of the start of the UTC day containing `now_ms`.
pub fn day_start_ms(now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS) * DAY_MS
}

/// Unix milliseconds of the start of the UTC month containing `now_ms`.
pub fn month_start_ms(now_ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(now_ms.div_euclid(DAY_MS));
    days_from_civil(y, m, 1) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BudgetLimits {
        BudgetLimits {
            daily_usd: Some(1.0),
            monthly_usd: Some(10.0),
            per_conversation_usd: None,
        }
    }

    #[test]
    fn under_warn_over() {
        let l = limits();
        let s = |today, month| Spend {
            today_usd: today,
            month_usd: month,
            conversation_usd: 0.0,
        };
        assert_eq!(check(&l, &s(0.5, 5.0)), BudgetCheck::Ok);
        assert!(matches!(
            check(&l, &s(0.8, 5.0)),
            BudgetCheck::Warn {
                scope: BudgetScope::Daily,
                ..
            }
        ));
        assert!(matches!(
            check(&l, &s(0.1, 10.0)),
            BudgetCheck::Over {
                scope: BudgetScope::Monthly,
                ..
            }
        ));
        // Over beats a warning on another budget.
        assert!(matches!(
            check(&l, &s(0.9, 10.5)),
            BudgetCheck::Over {
                scope: BudgetScope::Monthly,
                ..
            }
        ));
        assert_eq!(
            check(&BudgetLimits::default(), &s(1e9, 1e9)),
            BudgetCheck::Ok
        );
    }

    #[test]
    fn headroom_is_the_tightest_limit() {
        let s = Spend {
            today_usd: 0.75,
            month_usd: 9.9,
            conversation_usd: 0.0,
        };
        let h = headroom_usd(&limits(), &s).unwrap();
        assert!((h - 0.1).abs() < 1e-9);
        assert_eq!(headroom_usd(&BudgetLimits::default(), &s), None);
    }

    #[test]
    fn day_and_month_boundaries_are_utc() {
        // 2026-11-21 06:00:00 UTC
        let now = days_from_civil(2026, 11, 21) * DAY_MS + 6 * 3_600_000;
        assert_eq!(day_start_ms(now), days_from_civil(2026, 11, 21) * DAY_MS);
        assert_eq!(month_start_ms(now), days_from_civil(2026, 11, 1) * DAY_MS);
        // The last millisecond of a month still belongs to it; the next one starts the next.
        let first_dec = days_from_civil(2026, 12, 1) * DAY_MS;
        assert_eq!(
            month_start_ms(first_dec - 1),
            days_from_civil(2026, 11, 1) * DAY_MS
        );
        assert_eq!(month_start_ms(first_dec), first_dec);
        // Leap day and year boundary.
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        assert_eq!(
            month_start_ms(days_from_civil(2027, 1, 1) * DAY_MS - 1),
            days_from_civil(2026, 12, 1) * DAY_MS
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
