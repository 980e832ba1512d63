//! The engine's event loop (the shell around `step.rs`'s pure core; "agent" is kept for the
//! personas in `agents/`): one tokio task owns every conversation's state and serves the
//! priority queue; each run streams from the provider in a task of its own and feeds events
//! back into the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use crate::engine::bus::{EventBus, Subscription};
use crate::engine::config::EngineConfig;
use crate::engine::context::{ANSWER_RESERVE_TOKENS, estimate_tokens, fit_history, message_tokens};
use crate::engine::events::{Command, ConversationId, EngineEvent, RunStatus};
use crate::engine::queue::EventQueue;
use crate::engine::run::{Conversation, Run};
use crate::engine::spending::{MemorySpend, load_models_cache, refresh_models};
use crate::engine::state::AgentState;
use crate::engine::step::{self, Effect, StepInput};
use crate::llm::{ChatMessage, ChatRequest, LlmError, ModelInfo, StreamEvent};
use crate::store::NulText;
use crate::tools::ToolResult;

/// How many stream events of one run may wait in the engine's queue before the stream task
/// stops reading the socket.
pub const STREAM_BACKLOG: usize = 1024;

/// How often a streaming answer is written to the store, at the least.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Everything that enters the engine's queue.
pub(crate) enum Input {
    Command(Command),
    Stream {
        /// Shared with the stream task: no copy of the id per event.
        conversation: Arc<ConversationId>,
        run: u64,
        event: Result<StreamEvent, LlmError>,
        /// Held until the engine has handled the event: the stream task may run at most
        /// `STREAM_BACKLOG` events ahead of the engine (memory follows the answer, not the
        /// server's speed).
        _permit: OwnedSemaphorePermit,
    },
    StreamEnded {
        conversation: ConversationId,
        run: u64,
    },
    ToolsFinished {
        conversation: ConversationId,
        run: u64,
        results: Vec<(String, ToolResult)>,
    },
    Title {
        conversation: ConversationId,
        title: String,
    },
    Models(Vec<ModelInfo>),
    /// A summary of older turns is written (or failed).
    Compacted {
        conversation: ConversationId,
        done: crate::engine::compaction::CompactionDone,
    },
}

/// The doors' handle on a running engine: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EngineHandle {
    queue: Arc<EventQueue<Input>>,
    bus: EventBus,
}

impl EngineHandle {
    /// Queues a command at its priority (Stop and Shutdown first).
    pub fn send(&self, command: Command) {
        self.queue.push(command.priority(), Input::Command(command));
    }

    /// Subscribes to every event from now on.
    pub fn subscribe(&self) -> Subscription {
        self.bus.subscribe(None)
    }

    /// Calls `sink` synchronously for every event, in order (it must only queue work).
    pub fn add_sink(&self, sink: impl Fn(&EngineEvent) + Send + Sync + 'static) {
        self.bus.add_sink(sink);
    }

    /// Subscribes and calls `waker` after each event (the UI passes `request_repaint`).
    pub fn subscribe_with_waker(&self, waker: impl Fn() + Send + Sync + 'static) -> Subscription {
        self.bus.subscribe(Some(Box::new(waker)))
    }
}

/// Starts the engine on `runtime` and returns its handle.
pub fn start(config: EngineConfig, runtime: &tokio::runtime::Handle) -> EngineHandle {
    let handle = EngineHandle {
        queue: Arc::new(EventQueue::new()),
        bus: EventBus::new(),
    };
    let models = load_models_cache(config.models_cache.as_ref())
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    if config.refresh_models {
        refresh_models(Arc::clone(&config.provider), Arc::clone(&handle.queue));
    }
    let engine = Engine {
        models,
        models_looked_up: false,
        memory_spend: MemorySpend::default(),
        config,
        queue: Arc::clone(&handle.queue),
        bus: handle.bus.clone(),
        clock: Instant::now(),
        conversations: HashMap::new(),
        next_run: 0,
        learned_windows: HashMap::new(),
        effects: Vec::new(),
    };
    runtime.spawn(engine.run());
    handle
}

pub(crate) struct Engine {
    pub config: EngineConfig,
    pub models: HashMap<String, ModelInfo>,
    /// The model list was fetched on demand once (for an image), so it is not fetched again.
    pub(crate) models_looked_up: bool,
    pub memory_spend: MemorySpend,
    pub queue: Arc<EventQueue<Input>>,
    pub bus: EventBus,
    pub clock: Instant,
    pub conversations: HashMap<ConversationId, Conversation>,
    pub next_run: u64,
    /// Context windows servers told us, by (provider id, model).
    pub learned_windows: HashMap<(String, String), u64>,
    /// The core's effects buffer, reused from step to step.
    effects: Vec<Effect>,
}

impl Engine {
    async fn run(mut self) {
        loop {
            let (_, input) = self.queue.pop().await;
            match input {
                Input::Command(Command::Shutdown) => {
                    let ids: Vec<_> = self.conversations.keys().cloned().collect();
                    for id in ids {
                        self.stop(&id).await;
                    }
                    tracing::debug!("engine shut down");
                    return;
                }
                Input::Command(cmd) => self.command(cmd).await,
                Input::Stream {
                    conversation,
                    run,
                    event,
                    _permit,
                } => {
                    let text = matches!(event, Ok(StreamEvent::TextDelta(_)));
                    self.step(&conversation, run, StepInput::Stream(event))
                        .await;
                    if text {
                        self.enforce_budget(&conversation).await;
                    }
                }
                Input::StreamEnded { conversation, run } => {
                    let tools_on = self.config.tools.is_some();
                    self.step(&conversation, run, StepInput::StreamEnded { tools_on })
                        .await
                }
                Input::ToolsFinished {
                    conversation,
                    run,
                    results,
                } => {
                    self.step(&conversation, run, StepInput::ToolsFinished(results))
                        .await
                }
                Input::Title {
                    conversation,
                    title,
                } => self.apply_title(&conversation, title).await,
                Input::Models(models) => self.set_models(models),
                Input::Compacted { conversation, done } => {
                    self.compaction_done(&conversation, done).await
                }
            }
        }
    }

    /// The conversation's state, created on first use. Called several times per text delta:
    /// the id is copied only when the entry is new (`entry` would copy it on every call).
    pub(crate) fn conversation(&mut self, id: &ConversationId) -> &mut Conversation {
        if !self.conversations.contains_key(id) {
            let clock = self.clock;
            self.conversations
                .insert(id.clone(), Conversation::new(clock));
        }
        match self.conversations.get_mut(id) {
            Some(conv) => conv,
            None => unreachable!("the conversation was inserted above"),
        }
    }

    pub(crate) fn error(&self, conversation: Option<&ConversationId>, message: String) {
        self.bus.publish(EngineEvent::Error {
            conversation: conversation.cloned(),
            message,
        });
    }

    /// Applies a transition and publishes it; a refused one is reported, never applied.
    pub(crate) fn go(&mut self, id: &ConversationId, to: AgentState) -> bool {
        let mut out = Vec::new();
        let moved = step::go(self.conversation(id), id, to, &mut out);
        for effect in out {
            if let Effect::Publish(event) = effect {
                self.bus.publish(event);
            }
        }
        moved
    }

    /// Runs the core's step for conversation `id`'s run `run_id` and carries out its effects.
    /// Input for a conversation the engine forgot changes nothing (it is not brought back).
    pub(crate) async fn step(&mut self, id: &ConversationId, run_id: u64, input: StepInput) {
        let mut out = std::mem::take(&mut self.effects);
        if let Some(conv) = self.conversations.get_mut(id) {
            step::step(conv, id, run_id, input, Instant::now(), &mut out);
        }
        for effect in out.drain(..) {
            self.apply(id, effect).await;
        }
        // The buffer is kept: a text delta allocates no list of effects.
        self.effects = out;
    }

    /// Carries out one effect of the core.
    async fn apply(&mut self, id: &ConversationId, effect: Effect) {
        match effect {
            Effect::Publish(event) => self.bus.publish(event),
            Effect::FlushAnswer => self.flush_answer(id),
            Effect::Cancel(token) => token.cancel(),
            Effect::ResendSmaller { window, estimate } => {
                self.resend_smaller(id, window, estimate).await
            }
            Effect::ToolCalls => self.tool_calls_arrived(id).await,
            Effect::Grant { tool, scope } => {
                if let Some(setup) = self.config.tools.as_mut() {
                    setup.policy.grant(id, &tool, scope);
                }
            }
            Effect::RunTools => self.run_tools(id),
            Effect::StoreToolResult {
                pending,
                outcome,
                result,
            } => {
                self.persist_tool_call(id, &pending.call, pending.decision, &outcome);
                self.persist_tool_result(id, &result).await;
            }
            Effect::NextRound => {
                let model = self
                    .conversation(id)
                    .run
                    .as_ref()
                    .map(|r| r.model.clone())
                    .unwrap_or_default();
                let message = self.new_assistant_message(id, &model).await;
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.message = message;
                }
                self.send_round(id);
            }
            Effect::Finish {
                status,
                reason,
                error,
            } => self.finish(id, status, reason, error).await,
            Effect::RequestTitle => self.maybe_request_title(id),
        }
    }

    pub(crate) async fn start_run(
        &mut self,
        id: &ConversationId,
        model: Option<String>,
        budget_headroom_usd: Option<f64>,
    ) {
        self.next_run += 1;
        let model = model
            .or_else(|| self.agent(id).and_then(|a| a.model.clone()))
            .unwrap_or_else(|| self.base_model(id));
        self.load_learned_window(id, &model).await;
        let knowledge = self.retrieve_for(id).await;
        let mut run = Run::new(self.next_run, model);
        run.knowledge = knowledge;
        run.sampling = self
            .conversation(id)
            .next_sampling
            .take()
            .unwrap_or_default();
        run.budget_headroom_usd = budget_headroom_usd;
        run.message = self.new_assistant_message(id, &run.model).await;
        run.first_message = run.message;
        self.conversation(id).run = Some(run);
        self.send_round(id);
    }

    /// Sends the history for the next model round: compacted first when it would fill too
    /// much of the window, and fitted to the window in any case.
    pub(crate) fn send_round(&mut self, id: &ConversationId) {
        let Some(model) = self.conversation(id).run.as_ref().map(|r| r.model.clone()) else {
            return;
        };
        let window = self.window_for(id, &model);
        // The answer's room: what the request asks for, at most a quarter of a small window.
        let reserve = self
            .config
            .max_tokens
            .map_or(ANSWER_RESERVE_TOKENS, u64::from)
            .min(window / 4);
        let run_system = self
            .conversation(id)
            .run
            .as_ref()
            .and_then(|r| r.sampling.system.clone());
        let system = run_system.or_else(|| self.system_prompt_for(id));
        let system = with_summary(system, self.conversation(id).summary.as_ref());
        let knowledge = self
            .conversation(id)
            .run
            .as_ref()
            .and_then(|r| r.knowledge.clone());
        let system = match (system, knowledge) {
            (Some(s), Some(k)) => Some(format!("{s}\n\n{k}")),
            (s, k) => s.or(k),
        };
        let used = self.request_tokens(id, system.as_deref());
        self.bus.publish(EngineEvent::ContextUsage {
            conversation: id.clone(),
            used_tokens: used,
            window_tokens: window,
        });
        if !matches!(self.conversation(id).machine.state(), AgentState::Sending)
            && !self.go(id, AgentState::Sending)
        {
            return;
        }
        let compacted = self
            .conversation(id)
            .run
            .as_ref()
            .is_some_and(|r| r.compacted);
        if !compacted && self.maybe_compact(id, &model, used + reserve, window, false) {
            // The request goes out when the summary is in (`compaction_done`).
            return;
        }
        let conv = self.conversation(id);
        let from = conv
            .summary
            .as_ref()
            .map_or(0, |s| s.replaces)
            .min(conv.history.len());
        let sent_len = conv.history.len();
        let budget = conv.in_estimate(window.saturating_sub(reserve)).max(1);
        let (messages, dropped) = fit_history(system.as_deref(), &conv.history[from..], budget);
        if dropped > 0 {
            self.bus.publish(EngineEvent::ContextTrimmed {
                conversation: id.clone(),
                dropped_turns: dropped,
            });
        }
        let mut tools = self
            .config
            .tools
            .as_ref()
            .map(|t| t.registry.specs(&t.filter))
            .unwrap_or_default();
        tools.retain(|t| self.agent_allows(id, &t.name));
        let run_temperature = self
            .conversation(id)
            .run
            .as_ref()
            .and_then(|r| r.sampling.temperature);
        let temperature = run_temperature
            .or_else(|| self.agent(id).and_then(|a| a.temperature))
            .or(self.config.temperature);
        let sampling = self
            .conversation(id)
            .run
            .as_ref()
            .map(|r| r.sampling.clone())
            .unwrap_or_default();
        let max_tokens = sampling.max_tokens.or(self.config.max_tokens);
        let reasoning_effort = self.config.reasoning_effort;
        let web_search = self.config.provider_web_search;
        let prompt_estimate = system.as_deref().map_or(0, estimate_tokens)
            + messages.iter().map(message_tokens).sum::<u64>();
        let Some(run) = self.conversation(id).run.as_mut() else {
            return;
        };
        run.prompt_estimate = prompt_estimate;
        run.sent_len = sent_len;
        let request = ChatRequest {
            model: run.model.clone(),
            system,
            messages,
            temperature,
            max_tokens,
            tools,
            reasoning_effort,
            web_search,
            top_p: sampling.top_p,
            seed: sampling.seed,
            stop: sampling.stop,
        };
        let (run_id, cancel) = (run.id, run.cancel.clone());
        self.bus.publish(EngineEvent::RunStarted {
            conversation: id.clone(),
            model: request.model.clone(),
        });
        tokio::spawn(crate::engine::stream::stream_task(
            self.provider_for(id),
            request,
            cancel,
            Arc::clone(&self.queue),
            id.clone(),
            run_id,
        ));
    }

    pub(crate) fn current_run(&mut self, id: &ConversationId) -> Option<u64> {
        // A lookup, not `conversation()`: late events of a forgotten conversation must not
        // bring it back.
        self.conversations
            .get(id)
            .and_then(|c| c.run.as_ref())
            .map(|r| r.id)
    }

    /// The prompt was too long for the model: learn the window (the server's, or a quarter
    /// less than the refused prompt), compact or trim, and send once more.
    async fn resend_smaller(&mut self, id: &ConversationId, window: Option<u64>, estimate: u64) {
        let Some(model) = self.conversation(id).run.as_ref().map(|r| r.model.clone()) else {
            return;
        };
        let learned = window.unwrap_or_else(|| {
            let known = self.window_for(id, &model);
            (estimate.min(known) * 3 / 4).max(256)
        });
        self.learn_window(id, &model, learned).await;
        if !self.maybe_compact(id, &model, 0, learned, true) {
            self.send_round(id);
        }
    }

    /// Stops conversation `id`'s run (and a summary being written), keeping the partial answer.
    pub(crate) async fn stop(&mut self, id: &ConversationId) {
        self.conversation(id);
        self.step(id, 0, StepInput::Stop).await;
    }

    /// Ends the run: keeps the answer (whole or partial) in the history and the store, and
    /// publishes `Done` with metrics.
    pub(crate) async fn finish(
        &mut self,
        id: &ConversationId,
        status: RunStatus,
        reason: String,
        error: Option<String>,
    ) {
        let Some(mut run) = self.conversation(id).run.take() else {
            return;
        };
        run.close_round_usage();
        let calls = std::mem::take(&mut run.tool_calls).finish();
        let metrics = run.metrics(Instant::now(), self.models.get(&run.model));
        if let Some(cost) = metrics.cost_usd {
            self.memory_spend.add(id, cost);
        }
        self.record_ephemeral_usage(id, &metrics);
        // Stored before the history copy is made, and NUL-terminated so that SQLite reads it
        // in place: a long answer is held twice at most while it is written (peak memory of
        // `ask`).
        let text = Arc::new(NulText::new(run.take_text()));
        self.persist_finish(id, &run, Arc::clone(&text), status, error.clone(), &metrics)
            .await;
        // The store job has dropped its handle by now: no copy here.
        let text = Arc::try_unwrap(text)
            .map(NulText::into_string)
            .unwrap_or_else(|shared| shared.as_str().to_string());
        let conv = self.conversation(id);
        if !text.is_empty() || !calls.is_empty() {
            let mut msg = ChatMessage::assistant(text.clone());
            msg.tool_calls = calls.clone();
            conv.history.push(msg);
        }
        // A call without a result would make the next request invalid: close each one, in
        // the store too, so the conversation goes on after a restart.
        self.close_unanswered_calls(id, &format!("the turn ended ({reason})"))
            .await;
        let answer = run.message.zip(run.first_message);
        self.bus.publish(EngineEvent::Done {
            conversation: id.clone(),
            status,
            reason,
            text,
            error,
            metrics,
        });
        self.publish_stored(id, answer).await;
    }
}

/// The system prompt with the summary of the compacted turns after it.
fn with_summary(
    system: Option<String>,
    summary: Option<&crate::engine::compaction::Summary>,
) -> Option<String> {
    let Some(summary) = summary else {
        return system;
    };
    let note = format!(
        "Summary of the earlier part of this conversation (older messages were summarised to fit the context window):\n{}",
        summary.text
    );
    Some(match system.filter(|s| !s.trim().is_empty()) {
        Some(system) => format!("{system}\n\n{note}"),
        None => note,
    })
}
