//! The native host's routes beyond chat (issue 22): `system.info`, `models.get`,
//! `embeddings`, `rerank` and `rag.query`. Each takes the request's payload and gives a result
//! or an error code with a sentence naming the field at fault.

use serde_json::{Value, json};

use crate::knowledge::{KnowledgeError, Retriever};
use crate::server::native::Host;

type RouteResult = Result<Value, (&'static str, String)>;

/// The routes this file serves.
pub const ROUTES: [&str; 5] = [
    "system.info",
    "models.get",
    "embeddings",
    "rerank",
    "rag.query",
];

fn bad(message: impl Into<String>) -> (&'static str, String) {
    ("bad_request", message.into())
}

fn knowledge_error(e: KnowledgeError) -> (&'static str, String) {
    match e {
        KnowledgeError::NoEmbeddingModel => ("no_embedding_model", e.to_string()),
        KnowledgeError::NoBase(_) => ("not_found", e.to_string()),
        other => ("knowledge_error", other.to_string()),
    }
}

/// The strings of `payload[field]`: one string or an array of them.
fn texts(payload: &Value, field: &str, max: usize) -> Result<Vec<String>, (&'static str, String)> {
    let list: Vec<String> = match &payload[field] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("payload.{field} must be text or an array of texts")))?,
        _ => {
            return Err(bad(format!(
                "payload.{field} must be text or an array of texts"
            )));
        }
    };
    if list.is_empty() || list.len() > max {
        return Err(bad(format!("payload.{field} must hold 1 to {max} texts")));
    }
    Ok(list)
}

/// Runs blocking knowledge work off the async threads.
async fn blocking<T: Send + 'static>(
    retriever: Option<Retriever>,
    work: impl FnOnce(&Retriever) -> Result<T, KnowledgeError> + Send + 'static,
) -> Result<T, (&'static str, String)> {
    let retriever = retriever.ok_or_else(|| knowledge_error(KnowledgeError::NoEmbeddingModel))?;
    tokio::task::spawn_blocking(move || work(&retriever))
        .await
        .map_err(|e| ("internal", e.to_string()))?
        .map_err(knowledge_error)
}

/// Serves one of [`ROUTES`].
pub async fn route(host: &Host, route: &str, payload: &Value) -> RouteResult {
    match route {
        "system.info" => Ok(system_info(host)),
        "models.get" => {
            let model = payload["model"]
                .as_str()
                .ok_or_else(|| bad("payload.model is required"))?;
            let models = host.provider.models().await.unwrap_or_default();
            match models.into_iter().find(|m| m.id == model) {
                Some(info) => Ok(json!({"model": info})),
                None if model == host.default_model => Ok(json!({"model": {"id": model}})),
                None => Err((
                    "not_found",
                    format!("there is no model '{model}': models.list lists them"),
                )),
            }
        }
        "embeddings" => {
            if let Some(m) = payload["model"].as_str().filter(|m| *m != "local") {
                return Err(bad(format!(
                    "payload.model '{m}' is not served: leave it out or say `local` (the local embedding model)"
                )));
            }
            let input = texts(payload, "input", 100)?;
            let tokens: usize = input.iter().map(|t| t.len().div_ceil(4)).sum();
            let vectors = blocking(host.knowledge.clone(), move |r| r.embed(&input)).await?;
            let data: Vec<Value> = vectors
                .into_iter()
                .enumerate()
                .map(|(index, embedding)| json!({"index": index, "embedding": embedding}))
                .collect();
            Ok(
                json!({"data": data, "model": "local", "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
            )
        }
        "rerank" => {
            let query = payload["query"]
                .as_str()
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| bad("payload.query must be non-empty text"))?
                .to_string();
            let documents = texts(payload, "documents", 1000)?;
            let top = match &payload["top_n"] {
                Value::Null => documents.len(),
                v => v
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad("payload.top_n must be a whole number from 1"))?
                    as usize,
            };
            let ranked = blocking(host.knowledge.clone(), move |r| {
                r.rerank(&query, &documents)
            })
            .await?;
            let results: Vec<Value> = ranked
                .into_iter()
                .take(top)
                .map(|(index, score)| json!({"index": index, "relevance_score": score}))
                .collect();
            Ok(json!({"results": results}))
        }
        "rag.query" => {
            let query = payload["query"]
                .as_str()
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| bad("payload.query must be non-empty text"))?
                .to_string();
            let kb = payload["kb"]
                .as_str()
                .ok_or_else(|| bad("payload.kb (a knowledge base name) is required"))?
                .to_string();
            let top = match &payload["top_k"] {
                Value::Null => 4,
                v => v
                    .as_u64()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or_else(|| bad("payload.top_k must be from 1 to 20"))?
                    as usize,
            };
            let hits = blocking(host.knowledge.clone(), move |r| {
                r.retrieve(&[kb], &query, top)
            })
            .await?;
            Ok(json!({"passages": hits}))
        }
        _ => Err(("unknown_route", format!("unknown route `{route}`"))),
    }
}

/// The machine and this process: what an extension shows in its diagnostics.
fn system_info(host: &Host) -> Value {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field_kib = |text: &str, key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
    };
    // utime and stime are fields 14 and 15 of /proc/self/stat, after the command's ")".
    let cpu_ms = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some(ticks * 10)
        });
    json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpu_count": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "memory_total_mib": field_kib(&meminfo, "MemTotal:").map(|k| k / 1024),
        "memory_available_mib": field_kib(&meminfo, "MemAvailable:").map(|k| k / 1024),
        "version": crate::core::VERSION.trim(),
        "uptime_secs": host.started.elapsed().as_secs(),
        "process_rss_mib": field_kib(&status, "VmRSS:").map(|k| k / 1024),
        "process_cpu_ms": cpu_ms,
        "data_dir_bytes": host.data_dir.as_deref().map(dir_size),
    })
}

/// Bytes of the files under `dir` (not following links).
fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}
