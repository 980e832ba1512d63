//! The `local` provider: runs a GGUF model in this process on its own threads and streams the
//! answer as `StreamEvent`s. One model stays loaded between requests (process-wide: two loaded
//! models would double the memory), and is dropped after `[local] keep_loaded_secs` idle.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::llm::{
    ChatRequest, EventStream, FinishReason, LlmError, ModelInfo, Provider, Role, StreamEvent, Usage,
};
use crate::local::LocalError;
use crate::local::catalog;
use crate::local::generate::{GenParams, StopReason, generate};
use crate::local::model::LoadedModel;
use crate::local::settings::LocalSettings;
use crate::local::stop_text::StopTexts;
use crate::local::template::TemplateMessage;

/// Temperature when the request sets none.
const DEFAULT_TEMPERATURE: f64 = 0.7;
/// Nucleus mass used when sampling (not greedy).
const DEFAULT_TOP_P: f64 = 0.95;
/// Most tokens of an answer when the request sets no limit.
const DEFAULT_MAX_TOKENS: usize = 4096;

/// The one model slot of the process.
struct Slot {
    model: Mutex<Option<LoadedModel>>,
    /// Bumped at the end of every answer; an unload timer only fires if it is unchanged.
    epoch: AtomicU64,
    /// The thread pool models run on, built once with the configured thread count.
    pool: OnceLock<Option<rayon::ThreadPool>>,
}

fn slot() -> &'static Slot {
    static SLOT: OnceLock<Slot> = OnceLock::new();
    SLOT.get_or_init(|| Slot {
        model: Mutex::new(None),
        epoch: AtomicU64::new(0),
        pool: OnceLock::new(),
    })
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<LoadedModel>> {
        // A poisoned lock only means a generation thread died: the model may be half-updated,
        // so drop it.
        self.model.lock().unwrap_or_else(|poisoned| {
            let mut g = poisoned.into_inner();
            *g = None;
            g
        })
    }

    /// Runs `f` on the model pool (or on this thread if the pool could not be built).
    fn run<T: Send>(&self, threads: usize, f: impl FnOnce() -> T + Send) -> T {
        let pool = self.pool.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("local-model-{i}"))
                .build()
                .map_err(|e| tracing::warn!("no thread pool for local models: {e}"))
                .ok()
        });
        match pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Schedules an unload after `keep` unless another answer comes first.
    fn release(&'static self, keep: Duration) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let spawned = std::thread::Builder::new()
            .name("local-model-unload".into())
            .spawn(move || {
                std::thread::sleep(keep);
                if self.epoch.load(Ordering::SeqCst) == epoch
                    && let Ok(mut g) = self.model.try_lock()
                    && self.epoch.load(Ordering::SeqCst) == epoch
                    && let Some(m) = g.take()
                {
                    tracing::info!(
                        "unloaded the local model {} after {keep:?} idle",
                        m.path().display()
                    );
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start the unload timer: {e}");
        }
    }
}

/// Whether a model is loaded in this process, and which.
pub fn loaded_model() -> Option<PathBuf> {
    slot()
        .model
        .try_lock()
        .ok()?
        .as_ref()
        .map(|m| m.path().clone())
}

/// Drops the loaded model now (if no answer is being generated).
pub fn unload() -> bool {
    slot()
        .model
        .try_lock()
        .ok()
        .and_then(|mut g| g.take())
        .is_some()
}

/// A model's state after `load_now` / `unload`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadState {
    /// The model's name (file stem).
    pub model: String,
    /// Its file.
    pub path: PathBuf,
    /// Whether it is in memory now.
    pub loaded: bool,
    /// Size of its weights file in bytes.
    pub file_bytes: u64,
    /// Growth of this process's resident memory while loading, in bytes (0 when it was
    /// already loaded or the figure is unavailable).
    pub memory_bytes: u64,
    /// How long loading took in milliseconds (0 when it was already loaded).
    pub load_ms: u128,
    /// The context window the runner gives it.
    pub context_tokens: Option<usize>,
}

/// Loads `name` (a path or a model in the folder) ahead of use, replacing any other loaded
/// model; it stays for `[local] keep_loaded_secs` idle like after an answer. Blocks while an
/// answer is being generated.
pub fn load_now(settings: &LocalSettings, name: &str) -> Result<LoadState, LocalError> {
    let path = catalog::resolve(&settings.models_dir(), name)?;
    let slot = slot();
    let mut guard = slot.lock();
    let file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let mut state = LoadState {
        model: catalog::model_name(&path),
        path: path.clone(),
        loaded: true,
        file_bytes,
        memory_bytes: 0,
        load_ms: 0,
        context_tokens: None,
    };
    if let Some(m) = guard.as_ref().filter(|m| *m.path() == path) {
        state.context_tokens = Some(m.context_tokens);
    } else {
        *guard = None;
        let before = crate::core::process::resident_bytes();
        let cap = settings.context_tokens.map(|c| c as usize);
        let model = slot.run(settings.thread_count(), || LoadedModel::load(&path, cap))?;
        state.memory_bytes = match (before, crate::core::process::resident_bytes()) {
            (Some(b), Some(a)) => a.saturating_sub(b),
            _ => 0,
        };
        state.load_ms = model.load_ms;
        state.context_tokens = Some(model.context_tokens);
        *guard = Some(model);
    }
    drop(guard);
    slot.release(Duration::from_secs(settings.keep_loaded_secs));
    Ok(state)
}

/// The `local` provider.
pub struct LocalProvider {
    settings: LocalSettings,
}

impl LocalProvider {
    /// A provider over the models of `settings` (models_dir already resolved).
    pub fn new(settings: LocalSettings) -> Self {
        Self { settings }
    }
}

/// What the generation thread reports before the first token.
type Ready = Result<(), LocalError>;

fn to_llm(e: LocalError) -> LlmError {
    match e {
        LocalError::ContextExceeded {
            context_tokens,
            prompt_tokens,
        } => LlmError::ContextLength {
            detail: e.to_string(),
            window: Some(context_tokens as u64),
            prompt_tokens: Some(prompt_tokens as u64),
        },
        other => LlmError::Config(other.to_string()),
    }
}

/// The template's view of a request: the system prompt first, then the history.
pub fn template_messages(req: &ChatRequest) -> Vec<TemplateMessage> {
    let mut out = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        out.push(TemplateMessage::new("system", system));
    }
    for m in &req.messages {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        out.push(TemplateMessage::new(role, &m.content));
    }
    out
}

#[async_trait]
impl Provider for LocalProvider {
    fn id(&self) -> &str {
        "local"
    }

    async fn stream(
        &self,
        req: ChatRequest,
        cancel: CancellationToken,
    ) -> Result<EventStream, LlmError> {
        let path = catalog::resolve(&self.settings.models_dir(), &req.model).map_err(to_llm)?;
        let settings = self.settings.clone();
        let stop = cancel.clone();
        let (ready_tx, ready_rx) = oneshot::channel::<Ready>();
        let (tx, rx) = mpsc::unbounded_channel::<Result<StreamEvent, LlmError>>();
        std::thread::Builder::new()
            .name("local-generate".into())
            .spawn(move || run_request(path, settings, req, cancel, ready_tx, tx))
            .map_err(|e| {
                LlmError::Config(format!("could not start a thread for the model: {e}"))
            })?;
        match ready_rx.await {
            // Stop ends the stream at once; the thread notices between two tokens and exits.
            Ok(Ok(())) => Ok(Box::pin(
                UnboundedReceiverStream::new(rx).take_until(stop.cancelled_owned()),
            )),
            Ok(Err(e)) => Err(to_llm(e)),
            Err(_) => Err(LlmError::Config(
                "the local model stopped before answering".into(),
            )),
        }
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let dir = self.settings.models_dir();
        let entries = tokio::task::spawn_blocking(move || catalog::list(&dir))
            .await
            .map_err(|e| LlmError::Config(e.to_string()))?
            .map_err(to_llm)?;
        Ok(entries
            .into_iter()
            .map(|(path, info)| {
                let info = info.ok();
                ModelInfo {
                    id: catalog::model_name(&path),
                    name: info.as_ref().and_then(|i| i.name.clone()),
                    context_length: info.and_then(|i| i.context_length),
                    prompt_price_usd: Some(0.0),
                    completion_price_usd: Some(0.0),
                    // The text models candle runs here take no images.
                    input_modalities: Some(vec!["text".into()]),
                }
            })
            .collect())
    }
}

/// The generation thread: load (or reuse) the model, render and tokenize the prompt, report
/// ready, then stream tokens until done, stopped or the receiver is gone.
fn run_request(
    path: PathBuf,
    settings: LocalSettings,
    req: ChatRequest,
    cancel: CancellationToken,
    ready: oneshot::Sender<Ready>,
    tx: mpsc::UnboundedSender<Result<StreamEvent, LlmError>>,
) {
    let slot = slot();
    let threads = settings.thread_count();
    let mut guard = slot.lock();
    let mut ready_tx = Some(ready);
    let mut ready = move |r: Ready| {
        if let Some(s) = ready_tx.take() {
            let _ = s.send(r);
        }
    };
    if guard.as_ref().is_none_or(|m| *m.path() != path) {
        *guard = None; // free the old model before loading the new one
        let cap = settings.context_tokens.map(|c| c as usize);
        match slot.run(threads, || LoadedModel::load(&path, cap)) {
            Ok(m) => {
                tracing::info!(
                    "loaded {} ({} {}) in {} ms",
                    path.display(),
                    m.info.architecture,
                    m.info.quantization,
                    m.load_ms
                );
                *guard = Some(m);
            }
            Err(e) => return ready(Err(e)),
        }
    }
    let Some(model) = guard.as_mut() else {
        return ready(Err(LocalError::Model("the model is not loaded".into())));
    };
    let text = model.template.render(&template_messages(&req));
    let prompt = match model.tokenizer.encode_prompt(&text) {
        Ok(p) => p,
        Err(e) => return ready(Err(e)),
    };
    if prompt.len() >= model.context_tokens {
        return ready(Err(LocalError::ContextExceeded {
            prompt_tokens: prompt.len(),
            context_tokens: model.context_tokens,
        }));
    }
    ready(Ok(()));
    let temperature = req.temperature.map_or(DEFAULT_TEMPERATURE, f64::from);
    let params = GenParams {
        temperature,
        top_p: (temperature > 0.0).then(|| req.top_p.map_or(DEFAULT_TOP_P, f64::from)),
        seed: req.seed.unwrap_or_else(rand::random),
        max_tokens: req
            .max_tokens
            .map_or(DEFAULT_MAX_TOKENS, |m| m.max(1) as usize),
    };
    let is_cancelled = || cancel.is_cancelled() || tx.is_closed();
    let mut stops = StopTexts::new(&req.stop);
    let send = |text: String| text.is_empty() || tx.send(Ok(StreamEvent::TextDelta(text))).is_ok();
    let result = slot.run(threads, || {
        generate(model, &prompt, params, &is_cancelled, |_, piece| {
            let released = stops.push(piece);
            send(released.text) && !released.stop
        })
    });
    if !stops.hit() {
        send(stops.finish());
    }
    match result {
        // A stop text ends generation through the callback, which `generate` reports as
        // cancelled; the answer is complete all the same.
        Ok(outcome) if outcome.stop != StopReason::Cancelled || stops.hit() => {
            tracing::debug!(
                "local: {} prompt tokens ({} reused) in {} ms, {} tokens in {} ms",
                outcome.prompt_tokens,
                outcome.reused_tokens,
                outcome.prompt_ms,
                outcome.completion_tokens,
                outcome.decode_ms
            );
            let _ = tx.send(Ok(StreamEvent::Usage(Usage {
                prompt_tokens: outcome.prompt_tokens as u64,
                completion_tokens: outcome.completion_tokens as u64,
                cost_usd: Some(0.0),
                reasoning_tokens: 0,
            })));
            let reason = match outcome.stop {
                _ if stops.hit() => FinishReason::Stop,
                StopReason::EndToken => FinishReason::Stop,
                _ => FinishReason::Length,
            };
            let _ = tx.send(Ok(StreamEvent::Finished(reason)));
        }
        Ok(_) => {}
        Err(e) => {
            let _ = tx.send(Err(LlmError::Api {
                provider: "local".into(),
                message: e.to_string(),
            }));
        }
    }
    drop(guard);
    slot.release(Duration::from_secs(settings.keep_loaded_secs));
}
