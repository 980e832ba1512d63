//! `rustbot knowledge`: add, list, search, remove and re-index knowledge bases; and the
//! passages `ask --knowledge` puts into a question.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::cli::GlobalOpts;
use crate::config::ResolvedSettings;
use crate::config::knowledge::EmbeddingSource;
use crate::knowledge::{self, DEFAULT_BASE, Embedder, KnowledgeDb, KnowledgeError};

/// What to do with knowledge bases.
#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Add files and folders (recursively, honouring .gitignore) and index them.
    Add {
        /// Files and folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The base (default: `default`).
        #[arg(long = "kb")]
        kb: Option<String>,
    },
    /// List the bases with their folders, files and chunks.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search: the best passages for a question (keywords and meaning).
    Search {
        /// The question.
        query: String,
        /// The base (default: every base).
        #[arg(long = "kb")]
        kb: Option<String>,
        /// How many passages.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Print a JSON array, best first (path, score, text, lines).
        #[arg(long)]
        json: bool,
    },
    /// Remove a file or folder from a base, or (`--kb NAME` alone) the whole base.
    Rm {
        /// The file or folder to remove.
        path: Option<PathBuf>,
        /// The base (default: `default`).
        #[arg(long = "kb")]
        kb: Option<String>,
    },
    /// Walk every folder of a base again (changed files are re-indexed, gone ones removed).
    Reindex {
        /// The base (default: every base).
        #[arg(long = "kb")]
        kb: Option<String>,
    },
}

/// The runtime the provider's embedding requests run on (the knowledge commands are
/// otherwise synchronous); built on first use.
fn provider_runtime() -> anyhow::Result<tokio::runtime::Handle> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.handle().clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok(RUNTIME.get_or_init(|| rt).handle().clone())
}

/// The embedding model and its name as recorded per base (`none`: keyword search only).
fn embedder(settings: &ResolvedSettings) -> anyhow::Result<(Option<Embedder>, String)> {
    if settings.config.knowledge.embeddings == EmbeddingSource::Provider {
        let Some(model) = knowledge::provider_embedding_model(&settings.config) else {
            eprintln!(
                "note: [knowledge] embeddings = \"provider\" needs [knowledge] embedding_model (the provider's embedding model, e.g. text-embedding-3-small): keyword search only"
            );
            return Ok((None, "none".into()));
        };
        let embedder = Embedder::Provider {
            provider: crate::llm::build_provider(settings.provider.clone())?,
            model,
            runtime: provider_runtime()?,
        };
        let name = embedder.name();
        return Ok((Some(embedder), name));
    }
    let Some(folder) = knowledge::embedding_folder(&settings.config) else {
        eprintln!(
            "note: no embedding model is set ([knowledge] embedding_model or [local] embedding_model, a sentence-transformers folder): keyword search only"
        );
        return Ok((None, "none".into()));
    };
    let model = Embedder::load_local(&PathBuf::from(&folder))
        .with_context(|| format!("could not load the embedding model at {folder}"))?;
    Ok((Some(model), folder))
}

/// Opens the base's database and checks the recorded model; a changed model re-embeds all.
fn prepare(db: &KnowledgeDb, base: &str, model: &str) -> Result<(), KnowledgeError> {
    match db.base_model(base)? {
        Some(old) if old != model => {
            eprintln!(
                "the embedding model of '{base}' changed ({old} → {model}): every file is indexed again"
            );
            db.forget_hashes(base)?;
            db.set_base(base, model)
        }
        Some(_) => Ok(()),
        None => db.set_base(base, model),
    }
}

fn index(
    db: &mut KnowledgeDb,
    settings: &ResolvedSettings,
    base: &str,
    paths: &[PathBuf],
    model: Option<&Embedder>,
) -> anyhow::Result<()> {
    let chunk_tokens = settings.config.knowledge.chunk_tokens;
    for path in paths {
        let mut done = 0usize;
        let report = knowledge::index_path(db, base, path, chunk_tokens, model, &mut |_| {
            done += 1;
            if done.is_multiple_of(50) {
                eprintln!("  … {done} files");
            }
        })?;
        eprintln!(
            "{}: {} indexed ({} chunks), {} unchanged, {} removed, {} skipped",
            path.display(),
            report.indexed.len(),
            report.chunks,
            report.unchanged,
            report.removed.len(),
            report.skipped.len()
        );
        for (file, why) in &report.skipped {
            eprintln!("  skipped {file}: {why}");
        }
    }
    Ok(())
}

pub(super) fn run(global: &GlobalOpts, cmd: KnowledgeCommand) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let mut db = KnowledgeDb::open(&settings.paths.data_dir)?;
    match cmd {
        KnowledgeCommand::Add { paths, kb } => {
            let base = kb.unwrap_or_else(|| DEFAULT_BASE.into());
            let (model, name) = embedder(&settings)?;
            prepare(&db, &base, &name)?;
            index(&mut db, &settings, &base, &paths, model.as_ref())?;
        }
        KnowledgeCommand::List { json } => {
            let list = db.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                eprintln!("no knowledge bases yet: `rustbot knowledge add FOLDER`");
            }
            for b in list.iter().filter(|_| !json) {
                println!(
                    "{}\t{} files\t{} chunks\tembeddings: {}",
                    b.name, b.files, b.chunks, b.embedding_model
                );
                for s in &b.sources {
                    println!("  {s}");
                }
            }
        }
        KnowledgeCommand::Search {
            query,
            kb,
            top,
            json,
        } => {
            let bases = match kb {
                Some(name) if db.base_model(&name)?.is_none() => {
                    return Err(KnowledgeError::NoBase(name).into());
                }
                Some(name) => vec![name],
                None => db.base_names()?,
            };
            let (model, _) = embedder(&settings)?;
            let hits = knowledge::search(&db, &bases, &query, top.max(1), model.as_ref(), None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else if hits.is_empty() {
                eprintln!("nothing found");
            }
            for (i, h) in hits.iter().enumerate().filter(|_| !json) {
                println!(
                    "[{}] {}:{}-{} ({:.4})\n{}\n",
                    i + 1,
                    h.path,
                    h.lines[0],
                    h.lines[1],
                    h.score,
                    h.text.trim_end()
                );
            }
        }
        KnowledgeCommand::Rm { path, kb } => match (path, kb) {
            (Some(path), kb) => {
                let base = kb.unwrap_or_else(|| DEFAULT_BASE.into());
                let absolute = std::path::absolute(&path).unwrap_or(path);
                let n = db.remove_path(&base, &absolute.to_string_lossy())?;
                eprintln!("removed {} ({n} files) from '{base}'", absolute.display());
            }
            (None, Some(base)) => {
                if !db.remove_base(&base)? {
                    return Err(KnowledgeError::NoBase(base).into());
                }
                eprintln!("removed the knowledge base '{base}'");
            }
            (None, None) => {
                anyhow::bail!("say what to remove: a PATH, or --kb NAME for a whole base")
            }
        },
        KnowledgeCommand::Reindex { kb } => {
            let bases = match kb {
                Some(name) => vec![name],
                None => db.base_names()?,
            };
            let (model, name) = embedder(&settings)?;
            for base in bases {
                if db.base_model(&base)?.is_none() {
                    return Err(KnowledgeError::NoBase(base).into());
                }
                prepare(&db, &base, &name)?;
                let sources: Vec<PathBuf> =
                    db.sources(&base)?.into_iter().map(PathBuf::from).collect();
                index(&mut db, &settings, &base, &sources, model.as_ref())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The passages of base `name` for `question`, formatted for the model (`ask --knowledge`).
pub(super) fn passages(
    settings: &ResolvedSettings,
    name: &str,
    question: &str,
) -> anyhow::Result<String> {
    let db = KnowledgeDb::open(&settings.paths.data_dir)?;
    if db.base_model(name)?.is_none() {
        return Err(KnowledgeError::NoBase(name.to_string()).into());
    }
    let (model, _) = embedder(settings)?;
    let hits = knowledge::search(&db, &[name.to_string()], question, 4, model.as_ref(), None)?;
    Ok(knowledge::passages_for_prompt(name, &hits))
}
