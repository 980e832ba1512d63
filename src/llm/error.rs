//! Provider errors a user can act on: each reads as a sentence saying what happened and what to do.

use std::time::Duration;

use thiserror::Error;

/// What went wrong talking to a model provider. Never contains an API key.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum LlmError {
    /// The server rejected the key (401/403).
    #[error("the API key for {provider} was rejected ({status}): {hint}")]
    Auth {
        /// Provider id.
        provider: String,
        /// HTTP status.
        status: u16,
        /// Where to set the key.
        hint: String,
    },
    /// No key is configured for a provider that needs one.
    #[error("no API key is set for {provider}: {hint}")]
    MissingKey {
        /// Provider id.
        provider: String,
        /// Where to set the key.
        hint: String,
    },
    /// The model does not exist on this server.
    #[error(
        "the model '{model}' was not found at {url} ({detail}): run `rustbot models` to list the available models"
    )]
    ModelNotFound {
        /// The model asked for.
        model: String,
        /// The URL tried.
        url: String,
        /// The server's words.
        detail: String,
    },
    /// Too many requests; retries were used up.
    #[error("{provider} is rate-limiting requests (429){}: wait a moment and try again", retry_after.map(|d| format!(", it asked to wait {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider id.
        provider: String,
        /// What the server asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The prompt is longer than the model's context window.
    #[error(
        "the conversation is too long for the model's context window ({detail}): start a new conversation or pick a model with a larger context"
    )]
    ContextLength {
        /// The server's words.
        detail: String,
        /// The window the server said the model has, when it said.
        window: Option<u64>,
        /// The size of the refused prompt in tokens, when it said.
        prompt_tokens: Option<u64>,
    },
    /// Could not connect or the connection broke before an answer.
    #[error(
        "could not connect to {url}: {detail}. Check that the server is running and the base URL is right"
    )]
    Connect {
        /// The URL tried.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The server did not answer in time.
    #[error(
        "{url} did not answer within {secs}s: check the network or raise [network] connect_timeout_secs"
    )]
    Timeout {
        /// The URL tried.
        url: String,
        /// The limit that was hit.
        secs: u64,
    },
    /// The stream went silent for too long.
    #[error(
        "the answer stalled: no data for {secs}s, so it was ended (the text so far is kept). Try again, or raise [network] idle_timeout_secs"
    )]
    Idle {
        /// The idle limit.
        secs: u64,
    },
    /// The connection dropped or the stream ended without its terminator.
    #[error("the answer was cut off: {detail} (the text so far is kept). Try again")]
    Incomplete {
        /// What happened.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("{provider} answered with an error ({status}): {message}")]
    Server {
        /// Provider id.
        provider: String,
        /// HTTP status.
        status: u16,
        /// The server's words.
        message: String,
    },
    /// The server sent an error object inside the stream.
    #[error("{provider} reported an error mid-answer: {message} (the text so far is kept)")]
    Api {
        /// Provider id.
        provider: String,
        /// The server's words.
        message: String,
    },
    /// The server sent something that is not the expected format.
    #[error("{provider} sent data Rustbot could not read: {detail}")]
    Protocol {
        /// Provider id.
        provider: String,
        /// What was wrong.
        detail: String,
    },
    /// The configuration cannot make a provider (e.g. `custom` without a base URL).
    #[error("{0}")]
    Config(String),
}

impl LlmError {
    /// Whether trying the same request again may help (only ever done before the first token).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::Connect { .. }
                | LlmError::Timeout { .. }
                | LlmError::Server {
                    status: 408 | 500..=599,
                    ..
                }
        )
    }
}
