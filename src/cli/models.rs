//! `rustbot models`: the provider's model list.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, runtime};
use crate::llm::build_provider;

pub(super) fn run(global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let provider = build_provider(settings.provider)?;
    let mut models = runtime()?.block_on(provider.models())?;
    models.sort_by(|a, b| a.id.cmp(&b.id));
    for m in models {
        let context = m
            .context_length
            .map_or_else(String::new, |c| format!("\t{c} ctx"));
        let price = match (m.prompt_price_usd, m.completion_price_usd) {
            (Some(p), Some(c)) => format!("\t${:.2}/${:.2} per Mtok", p * 1e6, c * 1e6),
            _ => String::new(),
        };
        println!("{}{context}{price}", m.id);
    }
    Ok(ExitCode::SUCCESS)
}
