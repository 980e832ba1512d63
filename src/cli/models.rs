//! `rustbot models`: the provider's model list; `models pull URL` and `models rm NAME` manage
//! the local models folder (design.md §6).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Subcommand;

use crate::cli::{GlobalOpts, runtime};
use crate::llm::{ProviderKind, build_provider};
use crate::local::catalog;
use crate::local::pull::{Progress, PullRequest, pull, remove};

/// What `rustbot models` does besides listing.
#[derive(Debug, Clone, Subcommand)]
pub enum ModelsCommand {
    /// Download a GGUF model into the local models folder (resumes an interrupted download).
    Pull {
        /// The file's URL (a Hugging Face `resolve` URL works as it is).
        url: String,
        /// The model's name (default: the URL's file name without `.gguf`).
        #[arg(long)]
        name: Option<String>,
        /// The expected sha256 of the file, in hex.
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Delete a model from the local models folder.
    Rm {
        /// The model's name, as `rustbot models --provider local` lists it.
        name: String,
    },
}

pub(super) fn run(global: &GlobalOpts, command: Option<ModelsCommand>) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let dir = settings.provider.local.models_dir();
    match command {
        Some(ModelsCommand::Pull { url, name, sha256 }) => {
            let req = PullRequest {
                url,
                name,
                sha256,
                dir,
            };
            let bar = std::io::stderr().is_terminal();
            let path = runtime()?.block_on(pull(&req, |p| {
                if bar {
                    draw_progress(p);
                }
            }));
            if bar {
                eprintln!();
            }
            let path = path?;
            let name = catalog::model_name(&path);
            eprintln!(
                "saved {}; try: rustbot ask --provider local --model {name} \"hi\"",
                path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(ModelsCommand::Rm { name }) => {
            let path = remove(&dir, &name)?;
            eprintln!("removed {}", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if settings.provider.kind == ProviderKind::Local {
        return list_local(&dir);
    }
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

/// Name, size, architecture, quantization and context length of every model in the folder.
fn list_local(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let entries = catalog::list(dir)?;
    if entries.is_empty() {
        eprintln!(
            "{} holds no .gguf model: download one with `rustbot models pull URL`",
            dir.display()
        );
    }
    for (path, info) in entries {
        let name = catalog::model_name(&path);
        match info {
            Ok(i) => {
                let ctx = i
                    .context_length
                    .map_or_else(|| "?".to_string(), |c| c.to_string());
                let note = i
                    .unsupported()
                    .map_or_else(String::new, |_| "\tunsupported".to_string());
                println!(
                    "{name}\t{}\t{}\t{}\t{ctx} ctx{note}",
                    human_size(i.size_bytes),
                    i.architecture,
                    i.quantization
                );
            }
            Err(e) => println!("{name}\tunreadable: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human_size(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 1000.0 {
        format!("{:.2} GB", mb / 1000.0)
    } else {
        format!("{mb:.1} MB")
    }
}

fn draw_progress(p: Progress) {
    let line = match p.total_bytes {
        Some(t) if t > 0 => {
            let frac = p.done_bytes as f64 / t as f64;
            let filled = (frac * 30.0).round() as usize;
            format!(
                "\r[{}{}] {:>5.1}% {} / {}",
                "#".repeat(filled.min(30)),
                " ".repeat(30 - filled.min(30)),
                frac * 100.0,
                human_size(p.done_bytes),
                human_size(t)
            )
        }
        _ => format!("\r{}", human_size(p.done_bytes)),
    };
    let mut err = std::io::stderr();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}
