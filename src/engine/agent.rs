//! The agent loop: one tokio task owns every conversation's state and serves the priority queue;
//! each run streams from the provider in a task of its own and feeds events back into the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::engine::bus::{EventBus, Subscription};
use crate::engine::context::{ANSWER_RESERVE_TOKENS, estimate_tokens, fit_history};
use crate::engine::events::{Command, ConversationId, EngineEvent, RunMetrics, RunStatus};
use crate::engine::queue::{EventQueue, Priority};
use crate::engine::state::{AgentState, StateMachine};
use crate::llm::pricing;
use crate::llm::{
    ChatMessage, ChatRequest, FinishReason, LlmError, Provider, StreamEvent, ToolCallAccumulator,
    Usage,
};

/// What the engine needs to answer.
#[derive(Clone)]
pub struct EngineConfig {
    /// The provider to stream from.
    pub provider: Arc<dyn Provider>,
    /// The model to ask.
    pub model: String,
    /// The system prompt, if any.
    pub system_prompt: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on answer tokens.
    pub max_tokens: Option<u32>,
    /// Context window of the model in tokens.
    pub context_tokens: u64,
}

/// Everything that enters the engine's queue.
enum Input {
    Command(Command),
    Stream {
        conversation: ConversationId,
        run: u64,
        event: Result<StreamEvent, LlmError>,
    },
    StreamEnded {
        conversation: ConversationId,
        run: u64,
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
    let engine = Engine {
        config,
        queue: Arc::clone(&handle.queue),
        bus: handle.bus.clone(),
        clock: Instant::now(),
        conversations: HashMap::new(),
        next_run: 0,
    };
    runtime.spawn(engine.run());
    handle
}

struct Run {
    id: u64,
    cancel: CancellationToken,
    model: String,
    started: Instant,
    first_token: Option<Instant>,
    text: String,
    tool_calls: ToolCallAccumulator,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    error: Option<LlmError>,
}

struct Conversation {
    history: Vec<ChatMessage>,
    machine: StateMachine,
    run: Option<Run>,
}

struct Engine {
    config: EngineConfig,
    queue: Arc<EventQueue<Input>>,
    bus: EventBus,
    clock: Instant,
    conversations: HashMap<ConversationId, Conversation>,
    next_run: u64,
}

impl Engine {
    async fn run(mut self) {
        loop {
            let (_, input) = self.queue.pop().await;
            match input {
                Input::Command(Command::Shutdown) => {
                    let ids: Vec<_> = self.conversations.keys().cloned().collect();
                    for id in ids {
                        self.stop(&id);
                    }
                    tracing::debug!("engine shut down");
                    return;
                }
                Input::Command(cmd) => self.command(cmd),
                Input::Stream {
                    conversation,
                    run,
                    event,
                } => self.stream_event(&conversation, run, event),
                Input::StreamEnded { conversation, run } => self.stream_ended(&conversation, run),
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::NewConversation { conversation } => {
                self.conversation(&conversation);
                self.bus
                    .publish(EngineEvent::ConversationCreated { conversation });
            }
            Command::SendMessage { conversation, text } => {
                if self.refuse_if_active(&conversation) {
                    return;
                }
                self.conversation(&conversation)
                    .history
                    .push(ChatMessage::user(text.clone()));
                self.bus.publish(EngineEvent::UserMessage {
                    conversation: conversation.clone(),
                    text,
                });
                self.start_run(&conversation);
            }
            Command::Retry { conversation } => {
                if self.refuse_if_active(&conversation) {
                    return;
                }
                let conv = self.conversation(&conversation);
                // The answer being retried (partial or complete) is dropped from what is sent.
                while conv
                    .history
                    .last()
                    .is_some_and(|m| m.role != crate::llm::Role::User)
                {
                    conv.history.pop();
                }
                if conv.history.is_empty() {
                    self.error(Some(&conversation), "there is no message to retry".into());
                    return;
                }
                self.start_run(&conversation);
            }
            Command::Stop { conversation } => self.stop(&conversation),
            Command::SetModel { model } => self.config.model = model,
            Command::ApproveTool { conversation, .. } | Command::DenyTool { conversation, .. } => {
                self.error(
                    Some(&conversation),
                    "no tool call is waiting for approval in this conversation".into(),
                );
            }
            Command::Shutdown => {}
        }
    }

    fn conversation(&mut self, id: &ConversationId) -> &mut Conversation {
        let clock = self.clock;
        self.conversations
            .entry(id.clone())
            .or_insert_with(|| Conversation {
                history: Vec::new(),
                machine: StateMachine::new(clock),
                run: None,
            })
    }

    fn refuse_if_active(&mut self, id: &ConversationId) -> bool {
        let active = self.conversation(id).run.is_some();
        if active {
            self.error(
                Some(id),
                "an answer is still being written in this conversation: stop it first or wait"
                    .into(),
            );
        }
        active
    }

    fn error(&self, conversation: Option<&ConversationId>, message: String) {
        self.bus.publish(EngineEvent::Error {
            conversation: conversation.cloned(),
            message,
        });
    }

    /// Applies a transition and publishes it; a refused one is reported, never applied.
    fn go(&mut self, id: &ConversationId, to: AgentState) -> bool {
        let conv = self.conversation(id);
        match conv.machine.go(to) {
            Ok(t) => {
                self.bus.publish(EngineEvent::State {
                    conversation: id.clone(),
                    from: t.from.to_string(),
                    to: t.to.to_string(),
                    at_ms: t.at_ms,
                });
                true
            }
            Err(e) => {
                self.error(Some(id), e.to_string());
                false
            }
        }
    }

    fn start_run(&mut self, id: &ConversationId) {
        self.next_run += 1;
        let run_id = self.next_run;
        let budget = self
            .config
            .context_tokens
            .saturating_sub(
                self.config
                    .max_tokens
                    .map_or(ANSWER_RESERVE_TOKENS, u64::from),
            )
            .max(1);
        let system = self.config.system_prompt.clone();
        let (messages, dropped) =
            fit_history(system.as_deref(), &self.conversation(id).history, budget);
        if !self.go(id, AgentState::Sending) {
            return;
        }
        if dropped > 0 {
            self.bus.publish(EngineEvent::ContextTrimmed {
                conversation: id.clone(),
                dropped_turns: dropped,
            });
        }
        let request = ChatRequest {
            model: self.config.model.clone(),
            system,
            messages,
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
            tools: Vec::new(),
        };
        let cancel = CancellationToken::new();
        self.conversation(id).run = Some(Run {
            id: run_id,
            cancel: cancel.clone(),
            model: request.model.clone(),
            started: Instant::now(),
            first_token: None,
            text: String::new(),
            tool_calls: ToolCallAccumulator::default(),
            usage: None,
            finish: None,
            error: None,
        });
        self.bus.publish(EngineEvent::RunStarted {
            conversation: id.clone(),
            model: request.model.clone(),
        });
        tokio::spawn(stream_task(
            Arc::clone(&self.config.provider),
            request,
            cancel,
            Arc::clone(&self.queue),
            id.clone(),
            run_id,
        ));
    }

    fn stream_event(
        &mut self,
        id: &ConversationId,
        run_id: u64,
        event: Result<StreamEvent, LlmError>,
    ) {
        // Events of a run that was stopped or replaced are stale: drop them.
        let current = self.conversation(id).run.as_ref().map(|r| r.id);
        if current != Some(run_id) {
            return;
        }
        if matches!(
            self.conversation(id).machine.state(),
            AgentState::Retrying { .. }
        ) {
            // Any news after a retry notice means the next attempt was made.
            self.go(id, AgentState::Sending);
        }
        match event {
            Ok(StreamEvent::TextDelta(delta)) => {
                self.mark_first_token(id);
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.text.push_str(&delta);
                }
                self.bus.publish(EngineEvent::Text {
                    conversation: id.clone(),
                    delta,
                });
            }
            Ok(delta @ StreamEvent::ToolCallDelta { .. }) => {
                self.mark_first_token(id);
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.tool_calls.push(&delta);
                }
            }
            Ok(StreamEvent::Usage(usage)) => {
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.usage = Some(usage);
                }
                self.bus.publish(EngineEvent::Usage {
                    conversation: id.clone(),
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    cost_usd: usage.cost_usd,
                });
            }
            Ok(StreamEvent::Retrying {
                attempt,
                delay_ms,
                reason,
            }) => {
                let until_ms = self.clock.elapsed().as_millis() as u64 + delay_ms;
                self.go(id, AgentState::Retrying { attempt, until_ms });
                self.bus.publish(EngineEvent::Retrying {
                    conversation: id.clone(),
                    attempt,
                    delay_ms,
                    reason,
                });
            }
            Ok(StreamEvent::Finished(reason)) => {
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.finish = Some(reason);
                }
            }
            Err(e) => {
                if let Some(run) = self.conversation(id).run.as_mut() {
                    run.error.get_or_insert(e);
                }
            }
        }
    }

    fn mark_first_token(&mut self, id: &ConversationId) {
        let conv = self.conversation(id);
        let first = conv.run.as_ref().is_some_and(|r| r.first_token.is_none());
        if first {
            if let Some(run) = conv.run.as_mut() {
                run.first_token = Some(Instant::now());
            }
            self.go(id, AgentState::Streaming);
        }
    }

    fn stream_ended(&mut self, id: &ConversationId, run_id: u64) {
        let current = self.conversation(id).run.as_ref().map(|r| r.id);
        if current != Some(run_id) {
            return;
        }
        let Some(mut run) = self.conversation(id).run.take() else {
            return;
        };
        if run.error.is_none() && run.finish.is_none() {
            run.error = Some(LlmError::Incomplete {
                detail: "the answer ended without a finish signal".into(),
            });
        }
        if let Some(error) = run.error.take() {
            let message = error.to_string();
            self.error(Some(id), message.clone());
            self.go(
                id,
                AgentState::Failed {
                    error: message.clone(),
                },
            );
            self.finish(id, run, RunStatus::Failed, "error".into(), Some(message));
        } else {
            let reason = run
                .finish
                .clone()
                .unwrap_or(FinishReason::Stop)
                .as_str()
                .to_string();
            self.go(id, AgentState::Idle);
            self.finish(id, run, RunStatus::Complete, reason, None);
        }
    }

    fn stop(&mut self, id: &ConversationId) {
        let Some(run) = self.conversation(id).run.take() else {
            return;
        };
        // Cancelling drops the HTTP response in the stream task: the socket closes now, not
        // at the next chunk.
        run.cancel.cancel();
        self.go(id, AgentState::Stopping);
        self.go(id, AgentState::Idle);
        self.finish(id, run, RunStatus::Stopped, "stopped".into(), None);
    }

    /// Keeps the answer (whole or partial) in the history and publishes `Done` with metrics.
    fn finish(
        &mut self,
        id: &ConversationId,
        run: Run,
        status: RunStatus,
        reason: String,
        error: Option<String>,
    ) {
        let now = Instant::now();
        let calls = run.tool_calls.finish();
        if !run.text.is_empty() || !calls.is_empty() {
            let mut msg = ChatMessage::assistant(run.text.clone());
            msg.tool_calls = calls;
            self.conversation(id).history.push(msg);
        }
        let usage = run.usage.unwrap_or_default();
        let tokens_reported = run.usage.is_some_and(|u| u.completion_tokens > 0);
        let completion_tokens = if tokens_reported {
            usage.completion_tokens
        } else {
            estimate_tokens(&run.text)
        };
        let tokens_per_sec = run.first_token.and_then(|first| {
            let secs = now.duration_since(first).as_secs_f64();
            (secs > 0.0 && completion_tokens > 0).then(|| completion_tokens as f64 / secs)
        });
        let metrics = RunMetrics {
            ttft_ms: run
                .first_token
                .map(|t| t.duration_since(run.started).as_millis() as u64),
            duration_ms: now.duration_since(run.started).as_millis() as u64,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens,
            tokens_reported,
            tokens_per_sec,
            cost_usd: run
                .usage
                .and_then(|u| pricing::cost_usd(&run.model, &u, None)),
            model: run.model,
        };
        self.bus.publish(EngineEvent::Done {
            conversation: id.clone(),
            status,
            reason,
            text: run.text,
            error,
            metrics,
        });
    }
}

/// Streams one answer into the queue until it ends or `cancel` fires.
async fn stream_task(
    provider: Arc<dyn Provider>,
    request: ChatRequest,
    cancel: CancellationToken,
    queue: Arc<EventQueue<Input>>,
    conversation: ConversationId,
    run: u64,
) {
    let push = |event| {
        queue.push(
            Priority::Normal,
            Input::Stream {
                conversation: conversation.clone(),
                run,
                event,
            },
        )
    };
    let stream = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        s = provider.stream(request, cancel.clone()) => Some(s),
    };
    match stream {
        None => {}
        Some(Err(e)) => push(Err(e)),
        Some(Ok(mut events)) => loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                next = events.next() => match next {
                    Some(event) => push(event),
                    None => break,
                },
            }
        },
    }
    queue.push(
        Priority::Normal,
        Input::StreamEnded {
            conversation: conversation.clone(),
            run,
        },
    );
}
