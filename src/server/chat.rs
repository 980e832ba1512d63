//! One chat turn driven through the engine, shared by the HTTP API and the native host: start
//! it, read its text deltas and its end; dropping it before the end stops the run.

use crate::engine::{Command, ConversationId, EngineEvent, EngineHandle, RunStatus, Subscription};
use crate::llm::ChatMessage;

/// What a door asks for.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// A stored conversation to continue (its history comes from the store); None: a fresh
    /// in-memory conversation seeded with `history`, never stored.
    pub stored: Option<ConversationId>,
    /// Earlier messages (ignored when `stored` is set).
    pub history: Vec<ChatMessage>,
    /// The user's new message.
    pub prompt: String,
    /// The model for this turn (None: the configured one).
    pub model: Option<String>,
    /// Images sent with the prompt.
    pub images: Vec<crate::llm::ImagePart>,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnEnd {
    /// Complete, stopped or failed.
    pub status: RunStatus,
    /// The finish reason (`stop`, `length`, ...; `stopped` or `error` otherwise).
    pub reason: String,
    /// The whole answer text as kept.
    pub text: String,
    /// The error sentence, when it failed.
    pub error: Option<String>,
    /// The model that answered.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Answer tokens.
    pub completion_tokens: u64,
    /// Cost in USD, when known.
    pub cost_usd: Option<f64>,
}

/// Something a turn produced.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    /// A piece of the answer.
    Delta(String),
    /// The end (always the last event).
    Done(TurnEnd),
}

/// A turn in flight. Dropping it before `Done` sends `Command::Stop` (a client went away).
pub struct Turn {
    engine: EngineHandle,
    events: Subscription,
    conversation: ConversationId,
    ephemeral: bool,
    accepted: bool,
    finished: bool,
    /// A delta read while waiting for acceptance, for the next `next`.
    early: Option<String>,
}

impl Turn {
    /// Starts the turn (subscribing first, so no event is missed).
    pub fn start(engine: &EngineHandle, request: TurnRequest) -> Self {
        let events = engine.subscribe();
        let (conversation, ephemeral) = match request.stored {
            Some(id) => (id, false),
            None => {
                let id = ConversationId::new();
                engine.send(Command::Seed {
                    conversation: id.clone(),
                    history: request.history,
                });
                (id, true)
            }
        };
        engine.send(Command::SendMessage {
            conversation: conversation.clone(),
            text: request.prompt,
            model: request.model,
            images: request.images,
        });
        Self {
            engine: engine.clone(),
            events,
            conversation,
            ephemeral,
            accepted: false,
            finished: false,
            early: None,
        }
    }

    /// The conversation the turn runs in.
    pub fn conversation(&self) -> &ConversationId {
        &self.conversation
    }

    /// Waits until the engine has taken the message in; Err(its end) when it refused it
    /// before any run (a spending limit, a busy conversation), so a door can answer with a
    /// status of its own instead of opening a stream.
    pub async fn accept(&mut self) -> Result<(), TurnEnd> {
        if self.accepted || self.finished {
            return Ok(());
        }
        match self.receive(true).await {
            Some(TurnEvent::Done(end)) => Err(end),
            Some(TurnEvent::Delta(delta)) => {
                // Text follows acceptance, so this is not expected; kept for `next` all the same.
                self.early = Some(delta);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The next delta or the end; None after the end.
    pub async fn next(&mut self) -> Option<TurnEvent> {
        if let Some(delta) = self.early.take() {
            return Some(TurnEvent::Delta(delta));
        }
        self.receive(false).await
    }

    /// Reads events until a delta or the end (or, with `until_accepted`, the acceptance).
    async fn receive(&mut self, until_accepted: bool) -> Option<TurnEvent> {
        if self.finished {
            return None;
        }
        loop {
            let event = self.events.recv().await;
            if event.conversation() != Some(&self.conversation) {
                continue;
            }
            match event {
                EngineEvent::UserMessage { .. } => {
                    self.accepted = true;
                    if until_accepted {
                        return None;
                    }
                }
                EngineEvent::Text { delta, .. } => return Some(TurnEvent::Delta(delta)),
                // An error before the message was accepted means no run will follow (e.g. the
                // conversation is busy): the turn fails now instead of waiting forever.
                EngineEvent::Error { message, .. } if !self.accepted => {
                    self.finished = true;
                    return Some(TurnEvent::Done(TurnEnd {
                        status: RunStatus::Failed,
                        reason: "error".into(),
                        text: String::new(),
                        error: Some(message),
                        model: String::new(),
                        prompt_tokens: 0,
                        completion_tokens: 0,
                        cost_usd: None,
                    }));
                }
                EngineEvent::Done {
                    status,
                    reason,
                    text,
                    error,
                    metrics,
                    ..
                } => {
                    self.finished = true;
                    return Some(TurnEvent::Done(TurnEnd {
                        status,
                        reason,
                        text,
                        error,
                        model: metrics.model,
                        prompt_tokens: metrics.prompt_tokens,
                        completion_tokens: metrics.completion_tokens,
                        cost_usd: metrics.cost_usd,
                    }));
                }
                _ => {}
            }
        }
    }

    /// Stops the run (the partial answer is kept); `next` then yields its end.
    pub fn stop(&self) {
        self.engine.send(Command::Stop {
            conversation: self.conversation.clone(),
        });
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!(conversation = %self.conversation, "turn dropped: stopping its run");
            self.stop();
        }
        if self.ephemeral {
            self.engine.send(Command::Forget {
                conversation: self.conversation.clone(),
            });
        }
    }
}
