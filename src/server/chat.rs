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
    /// The client's sampling for this turn (None: the configured one).
    pub sampling: Option<crate::engine::RunSampling>,
}

/// The sampling fields of an OpenAI-style body (chat, completions, responses, native chat).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SamplingIn {
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default, alias = "max_output_tokens")]
    max_tokens: Option<u32>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Option<StopIn>,
}

/// `stop`: one text or several.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
enum StopIn {
    One(String),
    Many(Vec<String>),
}

impl SamplingIn {
    /// The run's sampling (None when no field was given), or the field that is out of range.
    pub fn checked(self) -> Result<Option<crate::engine::RunSampling>, String> {
        if let Some(t) = self.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            return Err(format!("temperature must be from 0 to 2, not {t}"));
        }
        if let Some(p) = self.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
            return Err(format!("top_p must be from 0 to 1, not {p}"));
        }
        if self.max_tokens == Some(0) {
            return Err("max_tokens must be at least 1".into());
        }
        let stop = match self.stop {
            None => Vec::new(),
            Some(StopIn::One(s)) => vec![s],
            Some(StopIn::Many(v)) if v.len() <= 4 => v,
            Some(StopIn::Many(_)) => return Err("stop takes at most 4 texts".into()),
        };
        let sampling = crate::engine::RunSampling {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            seed: self.seed,
            stop,
            system: None,
        };
        Ok((sampling != crate::engine::RunSampling::default()).then_some(sampling))
    }
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
        if let Some(sampling) = request.sampling {
            engine.send(Command::SetRunSampling {
                conversation: conversation.clone(),
                sampling,
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(v: serde_json::Value) -> Result<Option<crate::engine::RunSampling>, String> {
        serde_json::from_value::<SamplingIn>(v).unwrap().checked()
    }

    #[test]
    fn sampling_fields_are_checked_and_none_given_is_none() {
        assert_eq!(checked(serde_json::json!({"messages": []})), Ok(None));
        let s =
            checked(serde_json::json!({"temperature": 0.5, "stop": "END", "max_output_tokens": 9}))
                .unwrap()
                .unwrap();
        assert_eq!(
            (s.temperature, s.max_tokens, s.stop),
            (Some(0.5), Some(9), vec!["END".to_string()])
        );
        assert!(
            checked(serde_json::json!({"temperature": 2.5}))
                .unwrap_err()
                .starts_with("temperature")
        );
        assert!(
            checked(serde_json::json!({"top_p": 1.5}))
                .unwrap_err()
                .starts_with("top_p")
        );
        assert!(
            checked(serde_json::json!({"max_tokens": 0}))
                .unwrap_err()
                .starts_with("max_tokens")
        );
        assert!(
            checked(serde_json::json!({"stop": ["a", "b", "c", "d", "e"]}))
                .unwrap_err()
                .starts_with("stop")
        );
    }
}
