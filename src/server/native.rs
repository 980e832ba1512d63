//! `rustbot native-host`: requests `{"id","route","payload"}` in native-messaging frames on
//! stdin, replies with the same `id` on stdout. Several requests may be in flight; one writer
//! task owns stdout, so frames never interleave and nothing but frames is ever written there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::{ConversationId, EngineHandle, RunStatus};
use crate::llm::Provider;
use crate::server::chat::{Turn, TurnEvent, TurnRequest};
use crate::server::framing::{FrameError, MAX_OUTGOING, read_frame, split_text, write_frame};
use crate::server::native_input::{
    chat_input, completions_payload, parameters_from, responses_payload,
};
use crate::server::native_protocol::{ChatEnd, ChatUsage, Reply};
pub use crate::server::native_protocol::{Request, parse_request};
use crate::store::{ListFilter, StoreHandle};

/// Text per delta frame: JSON escaping can grow text up to six times, so this stays under
/// `MAX_OUTGOING` whatever the text.
const DELTA_PIECE_BYTES: usize = 128 * 1024;

/// Why the host stopped.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The caller is not an allowed extension.
    #[error("origin `{0}` is not allowed: add it to [native_host] allowed_origins in config.toml")]
    OriginRefused(String),
    /// The input broke in a way that cannot be resynchronised.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// stdout is gone.
    #[error("could not write to stdout: {0}")]
    Write(#[from] std::io::Error),
}

/// What the host serves.
pub struct Host {
    /// The engine.
    pub engine: EngineHandle,
    /// The store, for `conversations.*`.
    pub store: Option<StoreHandle>,
    /// The provider, for `models.list`.
    pub provider: Arc<dyn Provider>,
    /// The configured model.
    pub default_model: String,
    /// The knowledge bases and the local embedding model (`embeddings`, `rerank`,
    /// `rag.query`).
    pub knowledge: Option<crate::knowledge::Retriever>,
    /// The data dir (`system.info` reports its size).
    pub data_dir: Option<std::path::PathBuf>,
    /// When the host started (`system.info`'s uptime).
    pub started: std::time::Instant,
    /// `[native_host] requests_per_minute`.
    pub limiter: crate::server::limits::RateLimiter,
    /// `[native_host] max_concurrent` chats.
    pub chats: Arc<tokio::sync::Semaphore>,
    /// Defaults for this host's chats (`parameters.set`), kept for the host's life.
    pub parameters: Mutex<HostParameters>,
    /// config.toml, where `parameters.set` with `persist: true` writes (None: refused).
    pub config_file: Option<std::path::PathBuf>,
    /// The local provider's settings (`models.load` / `models.unload`); None when the host's
    /// provider is not `local`.
    pub local: Option<crate::local::LocalSettings>,
    /// The provider's rerank model for `rerank` requests that name none.
    pub rerank_model: Option<String>,
}

/// What `parameters.set` changed: the model and sampling of chats that do not say.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HostParameters {
    /// The model (None: the configured one).
    pub model: Option<String>,
    /// Sampling (each unset field: the configured value).
    pub sampling: crate::engine::RunSampling,
}

impl From<&crate::config::serve::HostChatDefaults> for HostParameters {
    fn from(d: &crate::config::serve::HostChatDefaults) -> Self {
        Self {
            model: d.model.clone(),
            sampling: crate::engine::RunSampling {
                temperature: d.temperature,
                top_p: d.top_p,
                max_tokens: d.max_tokens,
                seed: d.seed,
                stop: d.stop.clone(),
                system: None,
            },
        }
    }
}

impl HostParameters {
    /// The `[native_host.parameters]` table holding these.
    pub fn to_config(&self) -> crate::config::serve::HostChatDefaults {
        crate::config::serve::HostChatDefaults {
            model: self.model.clone(),
            temperature: self.sampling.temperature,
            top_p: self.sampling.top_p,
            max_tokens: self.sampling.max_tokens,
            seed: self.sampling.seed,
            stop: self.sampling.stop.clone(),
        }
    }
}

/// Writes `parameters` to `[native_host.parameters]` of the config file.
fn persist_parameters(
    config_file: &std::path::Path,
    parameters: &HostParameters,
) -> Result<(), crate::config::ConfigError> {
    let mut config = crate::config::Config::load(config_file)?;
    config.native_host.parameters = parameters.to_config();
    config.save_atomic(config_file)
}

/// The caller's origin from the arguments a browser passes: Chrome `chrome-extension://ID/`
/// (first), Firefox the manifest path then the extension id.
pub fn caller_origin(args: &[String]) -> Option<String> {
    match args {
        [first, ..] if first.contains("://") => Some(first.clone()),
        [_, second, ..] => Some(second.clone()),
        [only] => Some(only.clone()),
        [] => None,
    }
}

type Outbox = mpsc::UnboundedSender<Reply>;

/// Serves requests from `input` until it ends; replies go to `output`.
pub async fn run<R, W>(host: Arc<Host>, mut input: R, output: W) -> Result<(), NativeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(write_loop(rx, output));
    let running: Arc<Mutex<HashMap<String, CancellationToken>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    let result = loop {
        let frame = match read_frame(&mut input).await {
            Ok(f) => f,
            Err(FrameError::Eof) => break Ok(()),
            Err(e) => {
                let _ = tx.send(error_frame(&Value::Null, "bad_frame", &e.to_string()));
                break Err(NativeError::Frame(e));
            }
        };
        let Request { id, route, payload } = match parse_request(&frame) {
            Ok(request) => request,
            Err((code, message)) => {
                let _ = tx.send(error_frame(&Value::Null, code, &message));
                continue;
            }
        };
        // One caller per host process: one bucket.
        if route != "chat.stop"
            && let Err(wait) = host
                .limiter
                .check(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        {
            let message = format!(
                "too many requests: at most [native_host] requests_per_minute a minute; try again in {wait} s"
            );
            let _ = tx.send(error_frame(&id, "rate_limited", &message));
            continue;
        }
        match route.as_str() {
            "chat" | "completions" | "responses" => {
                let payload = match route.as_str() {
                    "completions" => completions_payload(&payload),
                    "responses" => responses_payload(&payload),
                    _ => Ok(payload),
                };
                let payload = match payload {
                    Ok(p) => p,
                    Err(message) => {
                        let _ = tx.send(error_frame(&id, "bad_request", &message));
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&host.chats).try_acquire_owned() else {
                    let message = "too many chats at once ([native_host] max_concurrent): wait for one to end";
                    let _ = tx.send(error_frame(&id, "rate_limited", message));
                    continue;
                };
                let cancel = CancellationToken::new();
                lock(&running).insert(id.to_string(), cancel.clone());
                let (host, tx, running) = (Arc::clone(&host), tx.clone(), Arc::clone(&running));
                tasks.spawn(async move {
                    chat(&host, &id, &payload, &tx, cancel).await;
                    lock(&running).remove(&id.to_string());
                    drop(slot);
                });
            }
            "parameters.get" => {
                let current = lock(&host.parameters).clone();
                let _ = tx.send(Reply::result(&id, current));
            }
            "parameters.set" => {
                let persist = payload.get("persist").and_then(Value::as_bool) == Some(true);
                let reply = match parameters_from(&payload) {
                    Ok(new) if persist => {
                        let file = host.config_file.clone();
                        let saved = new.clone();
                        let written = tokio::task::spawn_blocking(move || match file {
                            Some(file) => persist_parameters(&file, &saved)
                                .map(|()| file)
                                .map_err(|e| e.to_string()),
                            None => Err("this host has no config file to write".to_string()),
                        })
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r);
                        match written {
                            Ok(file) => {
                                *lock(&host.parameters) = new.clone();
                                Reply::Result {
                                    id: id.clone(),
                                    result: serde_json::to_value(&new).unwrap_or(Value::Null),
                                    persisted: Some(file.display().to_string()),
                                }
                            }
                            Err(message) => error_frame(
                                &id,
                                "config_error",
                                &format!(
                                    "the parameters were not saved (nothing changed): {message}"
                                ),
                            ),
                        }
                    }
                    Ok(new) => {
                        *lock(&host.parameters) = new.clone();
                        Reply::result(&id, &new)
                    }
                    Err(message) => error_frame(&id, "bad_request", &message),
                };
                let _ = tx.send(reply);
            }
            "chat.stop" => {
                let target = payload.get("request_id").cloned().unwrap_or(Value::Null);
                let token = lock(&running).get(&target.to_string()).cloned();
                if let Some(t) = &token {
                    t.cancel();
                }
                let _ = tx.send(Reply::result(&id, json!({"stopped": token.is_some()})));
            }
            "health" | "models.list" | "conversations.list" | "conversations.get" => {
                let (host, tx, route) = (Arc::clone(&host), tx.clone(), route.clone());
                tasks.spawn(async move {
                    let reply = match simple_route(&host, &route, &payload).await {
                        Ok(result) => Reply::result(&id, result),
                        Err((code, message)) => error_frame(&id, code, &message),
                    };
                    let _ = tx.send(reply);
                });
            }
            r if crate::server::native_routes::ROUTES.contains(&r) => {
                let (host, tx, route) = (Arc::clone(&host), tx.clone(), route.clone());
                tasks.spawn(async move {
                    let reply =
                        match crate::server::native_routes::route(&host, &route, &payload).await {
                            Ok(result) => Reply::result(&id, result),
                            Err((code, message)) => error_frame(&id, code, &message),
                        };
                    let _ = tx.send(reply);
                });
            }
            other => {
                let message = format!(
                    "unknown route `{other}`: use health, system.info, stats, parameters.get, parameters.set, models.list, models.get, chat, chat.stop, completions, responses, embeddings, rerank, rag.query, conversations.list, conversations.get, conversations.create, conversations.rename or conversations.delete"
                );
                let _ = tx.send(error_frame(&id, "unknown_route", &message));
            }
        }
    };
    // The input is gone (the browser closed the port): stop what still runs, then flush.
    for token in lock(&running).values() {
        token.cancel();
    }
    while tasks.join_next().await.is_some() {}
    drop(tx);
    match writer.await {
        Ok(Err(e)) => Err(NativeError::Write(e)),
        _ => result,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn error_frame(id: &Value, code: &str, message: &str) -> Reply {
    Reply::error(id, code, message)
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<Reply>,
    mut output: W,
) -> std::io::Result<()> {
    while let Some(value) = rx.recv().await {
        let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
        if bytes.len() > MAX_OUTGOING {
            let id = value.id().clone();
            let message = format!(
                "the reply is {} bytes, over the {MAX_OUTGOING}-byte limit of a native message",
                bytes.len()
            );
            bytes = serde_json::to_vec(&error_frame(&id, "reply_too_large", &message))
                .unwrap_or_default();
        }
        write_frame(&mut output, &bytes).await?;
    }
    Ok(())
}

async fn chat(host: &Host, id: &Value, payload: &Value, tx: &Outbox, cancel: CancellationToken) {
    let (history, prompt, images) = match chat_input(payload) {
        Ok(input) => input,
        Err(message) => {
            let _ = tx.send(error_frame(id, "bad_request", &message));
            return;
        }
    };
    let sampling = match serde_json::from_value::<crate::server::chat::SamplingIn>(payload.clone())
        .map_err(|e| e.to_string())
        .and_then(crate::server::chat::SamplingIn::checked)
    {
        Ok(s) => s,
        Err(message) => {
            let _ = tx.send(error_frame(
                id,
                "bad_request",
                &format!("payload.{message}"),
            ));
            return;
        }
    };
    // `stream: false` answers with one result frame instead of deltas.
    let streamed = payload["stream"].as_bool().unwrap_or(true);
    let mut whole = String::new();
    let stored = payload
        .get("conversation_id")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(ConversationId::from);
    let defaults = lock(&host.parameters).clone();
    let model = payload
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(defaults.model);
    // The chat's own fields win over the host's defaults, field by field.
    let sampling = match sampling {
        Some(s) => Some(crate::engine::RunSampling {
            temperature: s.temperature.or(defaults.sampling.temperature),
            top_p: s.top_p.or(defaults.sampling.top_p),
            max_tokens: s.max_tokens.or(defaults.sampling.max_tokens),
            seed: s.seed.or(defaults.sampling.seed),
            stop: if s.stop.is_empty() {
                defaults.sampling.stop
            } else {
                s.stop
            },
            system: None,
        }),
        None => (defaults.sampling != crate::engine::RunSampling::default())
            .then_some(defaults.sampling),
    };
    let mut turn = Turn::start(
        &host.engine,
        TurnRequest {
            stored: stored.clone(),
            history,
            prompt,
            model,
            images,
            sampling,
        },
    );
    let mut stop_sent = false;
    loop {
        let event = tokio::select! {
            event = turn.next() => event,
            _ = cancel.cancelled(), if !stop_sent => {
                stop_sent = true;
                turn.stop();
                continue;
            }
        };
        match event {
            Some(TurnEvent::Delta(text)) if !streamed => whole.push_str(&text),
            Some(TurnEvent::Delta(text)) => {
                for piece in split_text(&text, DELTA_PIECE_BYTES) {
                    let _ = tx.send(Reply::delta(id, piece.to_string()));
                }
            }
            Some(TurnEvent::Done(end)) if end.reason == "budget" => {
                let message = end.error.unwrap_or_default();
                let _ = tx.send(error_frame(id, "budget_exceeded", &message));
                return;
            }
            Some(TurnEvent::Done(end)) => {
                let mut done = ChatEnd {
                    id: id.clone(),
                    status: end.status.as_str().to_string(),
                    finish_reason: end.reason,
                    model: end.model,
                    usage: ChatUsage {
                        prompt_tokens: end.prompt_tokens,
                        completion_tokens: end.completion_tokens,
                        total_tokens: end.prompt_tokens.saturating_add(end.completion_tokens),
                        cost_usd: end.cost_usd,
                    },
                    conversation_id: stored.as_ref().map(|conv| conv.0.clone()),
                    error: (end.status == RunStatus::Failed)
                        .then_some(end.error)
                        .flatten(),
                    text: None,
                };
                if streamed {
                    let _ = tx.send(Reply::Done(done));
                    return;
                }
                // One frame: the whole text with the end's fields (split when too big).
                done.text = Some(whole);
                let reply = Reply::ChatResult(done);
                if serde_json::to_vec(&reply).map_or(0, |b| b.len()) > MAX_OUTGOING {
                    let Reply::ChatResult(mut done) = reply else {
                        return;
                    };
                    let whole = done.text.take().unwrap_or_default();
                    for piece in split_text(&whole, DELTA_PIECE_BYTES) {
                        let _ = tx.send(Reply::delta(id, piece.to_string()));
                    }
                    done.text = Some(String::new());
                    let _ = tx.send(Reply::ChatResult(done));
                } else {
                    let _ = tx.send(reply);
                }
                return;
            }
            None => return,
        }
    }
}

async fn simple_route(
    host: &Host,
    route: &str,
    payload: &Value,
) -> Result<Value, (&'static str, String)> {
    match route {
        "health" => Ok(json!({
            "status": "ok",
            "version": crate::core::VERSION.trim(),
            "provider": host.provider.id(),
            "model": host.default_model,
        })),
        "models.list" => Ok(match host.provider.models().await {
            Ok(models) if !models.is_empty() => json!({"models": models}),
            _ => json!({"models": [{"id": host.default_model}]}),
        }),
        "conversations.list" => {
            let limit = payload
                .get("limit")
                .and_then(Value::as_u64)
                .map(|l| l.min(10_000) as u32);
            let store = host
                .store
                .clone()
                .ok_or(("no_store", "history is off".to_string()))?;
            let list = store
                .call(move |s| {
                    s.list_conversations(&ListFilter {
                        limit,
                        ..Default::default()
                    })
                })
                .await
                .and_then(|r| r)
                .map_err(|e| ("store_error", e.to_string()))?;
            Ok(json!({"conversations": list}))
        }
        "conversations.get" => {
            let id = payload
                .get("conversation_id")
                .and_then(Value::as_str)
                .ok_or((
                    "bad_request",
                    "payload.conversation_id is required".to_string(),
                ))?
                .to_string();
            let store = host
                .store
                .clone()
                .ok_or(("no_store", "history is off".to_string()))?;
            let key = id.clone();
            let found = store
                .call(move |s| {
                    Ok::<_, crate::store::StoreError>(match s.conversation(&key)? {
                        Some(c) => Some((c, s.active_path(&key)?)),
                        None => None,
                    })
                })
                .await
                .and_then(|r| r)
                .map_err(|e| ("store_error", e.to_string()))?;
            let (conversation, messages) =
                found.ok_or(("not_found", format!("no conversation {id} is stored")))?;
            Ok(json!({"conversation": conversation, "messages": messages}))
        }
        _ => Err(("unknown_route", format!("unknown route `{route}`"))),
    }
}
