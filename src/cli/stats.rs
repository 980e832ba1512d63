//! `rustbot stats`: token and cost totals from the store.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::GlobalOpts;
use crate::engine::budget::{day_start_ms, month_start_ms};
use crate::store::{Store, UsageTotals, now_ms};
use crate::time::{DAY_MS, days_from_civil};

/// Parses `YYYY-MM-DD` as the start of that UTC day, in unix milliseconds.
fn parse_date(s: &str) -> anyhow::Result<i64> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let bad = || format!("--since {s}: expected a date like 2026-11-01");
    anyhow::ensure!(parts.len() == 3, bad());
    let y: i64 = parts[0].parse().with_context(bad)?;
    let m: u32 = parts[1].parse().with_context(bad)?;
    let d: u32 = parts[2].parse().with_context(bad)?;
    anyhow::ensure!((1..=12).contains(&m) && (1..=31).contains(&d), bad());
    Ok(days_from_civil(y, m, d) * DAY_MS)
}

pub(super) fn run(
    global: &GlobalOpts,
    since: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let since_ms = since.as_deref().map(parse_date).transpose()?;
    let settings = global.resolve()?;
    let store = Store::open(&settings.paths.data_dir)?;
    let now = now_ms();
    let today = store.usage_totals(Some(day_start_ms(now)))?;
    let month = store.usage_totals(Some(month_start_ms(now)))?;
    let selected = store.usage_totals(since_ms)?;
    if json {
        let out = serde_json::json!({
            "since": since,
            "requests": selected.requests,
            "prompt_tokens": selected.prompt_tokens,
            "completion_tokens": selected.completion_tokens,
            "cost_usd": selected.cost_usd,
            "by_model": selected.by_model,
            "today": summary_json(&today),
            "this_month": summary_json(&month),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12} {:>9} {:>12} {:>12} {:>11}",
        "", "requests", "tokens in", "tokens out", "cost"
    );
    let line = |label: &str, t: &UsageTotals| {
        println!(
            "{label:<12} {:>9} {:>12} {:>12} {:>11}",
            t.requests,
            t.prompt_tokens,
            t.completion_tokens,
            format!("${:.4}", t.cost_usd)
        );
    };
    line("today", &today);
    line("this month", &month);
    line(
        if since.is_some() { "since" } else { "all time" },
        &selected,
    );
    if !selected.by_model.is_empty() {
        println!("\nby model:");
        for m in &selected.by_model {
            println!(
                "  {:<40} {:>6} req {:>10} in {:>10} out  ${:.4}",
                format!("{}/{}", m.provider, m.model),
                m.requests,
                m.prompt_tokens,
                m.completion_tokens,
                m.cost_usd
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summary_json(t: &UsageTotals) -> serde_json::Value {
    serde_json::json!({
        "requests": t.requests,
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        "cost_usd": t.cost_usd,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_parse_as_utc_midnight() {
        assert_eq!(super::parse_date("1970-01-02").unwrap(), 86_400_000);
        assert!(super::parse_date("2026-13-01").is_err());
        assert!(super::parse_date("yesterday").is_err());
    }
}
