//! The native host's routes beyond chat (issue 22): `system.info`, `models.get`,
//! `embeddings`, `rerank` and `rag.query`. Each takes the request's payload and gives a result
//! or an error code with a sentence naming the field at fault.

use serde_json::{Value, json};

use crate::knowledge::{KnowledgeError, Retriever};
use crate::server::embeddings::{is_local, rerank_target};
use crate::server::native::Host;

type RouteResult = Result<Value, (&'static str, String)>;

/// The routes this file serves.
pub const ROUTES: [&str; 11] = [
    "system.info",
    "stats",
    "models.get",
    "models.load",
    "models.unload",
    "embeddings",
    "rerank",
    "rag.query",
    "conversations.create",
    "conversations.rename",
    "conversations.delete",
];

/// A required text field of the payload.
fn required<'a>(payload: &'a Value, field: &str) -> Result<&'a str, (&'static str, String)> {
    payload[field]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad(format!("payload.{field} is required (non-empty text)")))
}

/// Runs `work` on the store.
async fn with_store<T: Send + 'static>(
    host: &Host,
    work: impl FnOnce(&mut crate::store::Store) -> crate::store::Result<T> + Send + 'static,
) -> Result<T, (&'static str, String)> {
    let store = host
        .store
        .clone()
        .ok_or(("no_store", "history is off".to_string()))?;
    store.call(work).await.and_then(|r| r).map_err(|e| match e {
        crate::store::StoreError::NotFound { .. } => ("not_found", e.to_string()),
        other => ("store_error", other.to_string()),
    })
}

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

/// The `embeddings` result: one object per vector, in input order.
fn embeddings_result(vectors: Vec<Vec<f32>>, model: &str, tokens: u64) -> Value {
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| json!({"index": index, "embedding": embedding}))
        .collect();
    json!({"data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
}

/// The local provider's settings, or the error for a host on another provider.
fn local_settings(host: &Host) -> Result<crate::local::LocalSettings, (&'static str, String)> {
    host.local.clone().ok_or_else(|| {
        bad(format!(
            "models.load and models.unload are for local models; this host's provider is '{}' (start it with --provider local)",
            host.provider.id()
        ))
    })
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
        "stats" => {
            let now = crate::store::now_ms();
            let (day, month) = (
                crate::engine::budget::day_start_ms(now),
                crate::engine::budget::month_start_ms(now),
            );
            let (today, this_month, all, timings, errors) = with_store(host, move |s| {
                Ok((
                    s.usage_totals(Some(day))?,
                    s.usage_totals(Some(month))?,
                    s.usage_totals(None)?,
                    s.answer_timings(None, 10_000)?,
                    [
                        s.failed_answers(Some(day))?,
                        s.failed_answers(Some(month))?,
                        s.failed_answers(None)?,
                    ],
                ))
            })
            .await?;
            let mean = |f: fn(&crate::store::AnswerTiming) -> Option<i64>| {
                let values: Vec<i64> = timings.iter().filter_map(f).collect();
                (!values.is_empty()).then(|| values.iter().sum::<i64>() / values.len() as i64)
            };
            let totals = |t: &crate::store::UsageTotals, errors: i64| json!({"requests": t.requests, "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens, "reasoning_tokens": t.reasoning_tokens, "cost_usd": t.cost_usd, "errors": errors});
            Ok(json!({
                "today": totals(&today, errors[0]),
                "month": totals(&this_month, errors[1]),
                "all_time": totals(&all, errors[2]),
                "mean_latency_ms": mean(|t| t.duration_ms),
                "mean_ttft_ms": mean(|t| t.ttft_ms),
            }))
        }
        "conversations.create" => {
            let title = payload["title"].as_str().map(str::to_string);
            let id = crate::engine::ConversationId::new().0;
            let new = crate::store::NewConversation {
                title,
                provider: host.provider.id().to_string(),
                model: host.default_model.clone(),
                ..Default::default()
            };
            let key = id.clone();
            with_store(host, move |s| s.create_conversation(&key, &new)).await?;
            Ok(json!({"conversation_id": id}))
        }
        "conversations.rename" => {
            let id = required(payload, "conversation_id")?.to_string();
            let title = required(payload, "title")?.to_string();
            let key = id.clone();
            with_store(host, move |s| s.rename(&key, &title)).await?;
            Ok(json!({"conversation_id": id, "renamed": true}))
        }
        "conversations.delete" => {
            let id = required(payload, "conversation_id")?.to_string();
            let key = id.clone();
            with_store(host, move |s| s.delete_conversation(&key)).await?;
            Ok(json!({"conversation_id": id, "deleted": true}))
        }
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
        "models.load" => {
            let model = required(payload, "model")?.to_string();
            let local = local_settings(host)?;
            let state = tokio::task::spawn_blocking(move || {
                crate::local::provider::load_now(&local, &model)
            })
            .await
            .map_err(|e| ("internal", e.to_string()))?
            .map_err(|e| match e {
                crate::local::LocalError::NotFound { .. } => ("not_found", e.to_string()),
                other => ("model_error", other.to_string()),
            })?;
            Ok(json!({"state": "loaded", "model": state}))
        }
        "models.unload" => {
            local_settings(host)?;
            let loaded = crate::local::provider::loaded_model();
            let asked = payload["model"].as_str();
            let name = loaded.as_deref().map(crate::local::catalog::model_name);
            if let (Some(asked), Some(name), Some(path)) = (asked, &name, &loaded)
                && asked != name.as_str()
                && std::path::Path::new(asked) != path.as_path()
            {
                return Err((
                    "not_found",
                    format!("'{asked}' is not loaded ('{name}' is)"),
                ));
            }
            let freed = crate::local::provider::unload();
            if loaded.is_some() && !freed {
                return Err((
                    "busy",
                    "the model is answering: stop the chat (chat.stop) or try again when it ends"
                        .into(),
                ));
            }
            Ok(json!({"state": "unloaded", "model": name, "was_loaded": freed}))
        }
        "embeddings" => {
            if let Some(m) = payload["model"].as_str().filter(|m| !is_local(Some(m))) {
                let input = texts(payload, "input", 2048)?;
                let e = host
                    .provider
                    .embed(m, &input)
                    .await
                    .map_err(|e| ("provider_error", e.to_string()))?;
                return Ok(embeddings_result(e.vectors, &e.model, e.prompt_tokens));
            }
            let input = texts(payload, "input", 100)?;
            let tokens: usize = input.iter().map(|t| t.len().div_ceil(4)).sum();
            let vectors = blocking(host.knowledge.clone(), move |r| r.embed(&input)).await?;
            Ok(embeddings_result(vectors, "local", tokens as u64))
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
            let ranked = match rerank_target(payload["model"].as_str(), host.rerank_model.as_ref())
            {
                Some(model) => host
                    .provider
                    .rerank(&model, &query, &documents)
                    .await
                    .map_err(|e| ("provider_error", e.to_string()))?,
                None => {
                    blocking(host.knowledge.clone(), move |r| {
                        r.rerank(&query, &documents)
                    })
                    .await?
                }
            };
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
