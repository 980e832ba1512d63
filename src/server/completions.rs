//! `POST /v1/chat/completions`: validation, then one engine turn answered as a whole
//! `chat.completion` or streamed as `chat.completion.chunk` SSE events ending in `[DONE]`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::engine::{ConversationId, RunStatus};
use crate::server::chat::{Turn, TurnEnd, TurnEvent, TurnRequest};
use crate::server::http::{AppState, api_error};
use crate::server::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice, Delta,
    ErrorBody, ErrorDetail, OutMessage, UsageOut, prompt_images, split_messages,
};

/// The header that names a stored conversation (the body field `conversation_id` wins).
pub const CONVERSATION_HEADER: &str = "x-conversation-id";

/// The handler.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                None,
                format!(
                    "the request body is larger than {} bytes ([serve] max_body_bytes)",
                    state.settings.max_body_bytes
                ),
            );
        }
        Err(rejection) => {
            return bad_request(None, format!("could not read the body: {rejection}"));
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("invalid_json"),
                None,
                format!("the body is not valid JSON ({e}): send a JSON object"),
            );
        }
    };
    let request: ChatCompletionRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            let text = e.to_string();
            let param = text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some(if param.is_some() {
                    "missing_required_parameter"
                } else {
                    "invalid_value"
                }),
                param.as_deref(),
                format!("the request is not a chat completion request: {text}"),
            );
        }
    };
    let (history, prompt) = match split_messages(&request.messages) {
        Ok(split) => split,
        Err(e) => return bad_request(Some("messages"), e.to_string()),
    };
    let sampling = match request.sampling.clone().checked() {
        Ok(s) => s,
        Err(message) => {
            let param = message
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            return bad_request(Some(&param), message);
        }
    };
    let images = match prompt_images(&request.messages) {
        Ok(images) => images,
        Err(e) => return bad_request(Some("messages"), e.to_string()),
    };
    let model = request
        .model
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| state.default_model.clone());
    if model != state.default_model
        && let Some(models) = state.models().await
        && !models.iter().any(|m| m.id == model)
    {
        return api_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            Some("model"),
            format!(
                "the model `{model}` does not exist at provider {}: GET /v1/models lists them",
                state.provider.id()
            ),
        );
    }
    let stored = match conversation_id(&request, &headers) {
        Ok(id) => id,
        Err(message) => return bad_request(Some("conversation_id"), message),
    };
    let permit = match state.request_slot() {
        Ok(permit) => permit,
        Err(busy) => return *busy,
    };
    let mut turn = Turn::start(
        &state.engine,
        TurnRequest {
            stored: stored.clone(),
            history,
            prompt,
            model: Some(model.clone()),
            images,
            sampling,
        },
    );
    // A refusal before any run (a spending limit, a busy conversation) is an HTTP status of
    // its own, not a 200 stream that ends in an error.
    if let Err(end) = turn.accept().await {
        return refusal(&end);
    }
    let deadline = Instant::now() + state.settings.request_timeout();
    let mut response = if request.stream {
        let include_usage = request
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        stream_response(state, turn, model, include_usage, deadline, permit)
    } else {
        whole_response(turn, model, deadline, permit).await
    };
    if let Some(id) = stored
        && let Ok(v) = HeaderValue::from_str(&id.0)
    {
        response.headers_mut().insert(CONVERSATION_HEADER, v);
    }
    response
}

fn bad_request(param: Option<&str>, message: String) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("invalid_value"),
        param,
        message,
    )
}

/// The stored conversation asked for: the body field, else the header.
fn conversation_id(
    request: &ChatCompletionRequest,
    headers: &HeaderMap,
) -> Result<Option<ConversationId>, String> {
    let from_header = headers
        .get(CONVERSATION_HEADER)
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| "the X-Conversation-Id header is not plain text".to_string())?;
    let Some(id) = request.conversation_id.clone().or(from_header) else {
        return Ok(None);
    };
    let id = id.trim().to_string();
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err("conversation_id must be 1-200 printable characters".into());
    }
    Ok(Some(ConversationId(id)))
}

fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// OpenAI's finish reasons; a stop by the server (timeout, shutdown, disconnect) is `stop`.
fn finish_reason(end: &TurnEnd) -> String {
    match end.reason.as_str() {
        "stopped" => "stop".into(),
        other => other.to_string(),
    }
}

/// The response to a message the engine refused before any run.
pub(crate) fn refusal(end: &TurnEnd) -> Response {
    let message = end
        .error
        .clone()
        .unwrap_or_else(|| "the message was refused".into());
    if end.reason == "budget" {
        return api_error(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            Some("budget_exceeded"),
            None,
            message,
        );
    }
    // Otherwise the conversation could not take the message (an answer is still being
    // written in it, or it could not be saved): the sentence says which.
    api_error(
        StatusCode::CONFLICT,
        "invalid_request_error",
        Some("message_refused"),
        None,
        message,
    )
}

fn upstream_error(end: &TurnEnd) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            message: end
                .error
                .clone()
                .unwrap_or_else(|| "the answer failed".into()),
            kind: "server_error".into(),
            param: None,
            code: Some("upstream_error".into()),
        },
    }
}

async fn whole_response(
    mut turn: Turn,
    model: String,
    deadline: Instant,
    _permit: OwnedSemaphorePermit,
) -> Response {
    let end = loop {
        match tokio::time::timeout_at(deadline, turn.next()).await {
            Ok(Some(TurnEvent::Done(end))) => break end,
            Ok(Some(TurnEvent::Delta(_))) => {}
            Ok(None) => {
                return api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    None,
                    None,
                    "the answer ended without an end event",
                );
            }
            Err(_) => {
                // Dropping the turn stops the run.
                return api_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "server_error",
                    Some("timeout"),
                    None,
                    "the answer took longer than [serve] request_timeout_secs",
                );
            }
        }
    };
    if end.status == RunStatus::Failed {
        return (StatusCode::BAD_GATEWAY, axum::Json(upstream_error(&end))).into_response();
    }
    let usage = UsageOut::new(end.prompt_tokens, end.completion_tokens);
    axum::Json(ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_now(),
        model: if end.model.is_empty() {
            model
        } else {
            end.model.clone()
        },
        choices: vec![Choice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content: end.text.clone(),
                refusal: None,
            },
            logprobs: None,
            finish_reason: finish_reason(&end),
        }],
        usage,
    })
    .into_response()
}

/// What the SSE stream still has to send.
struct StreamState {
    app: Arc<AppState>,
    turn: Turn,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    deadline: Instant,
    sent_role: bool,
    stop_sent: bool,
    pending: std::collections::VecDeque<Bytes>,
    ended: bool,
    _permit: OwnedSemaphorePermit,
}

impl StreamState {
    fn chunk(&self, delta: Delta, finish: Option<String>) -> Bytes {
        self.event(&ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: self.include_usage.then_some(None),
        })
    }

    fn event(&self, value: &impl serde::Serialize) -> Bytes {
        let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
        Bytes::from(format!("data: {json}\n\n"))
    }

    fn role_delta(&mut self) -> Delta {
        let first = !self.sent_role;
        self.sent_role = true;
        Delta {
            role: first.then_some("assistant"),
            content: None,
        }
    }

    /// Queues the chunks that end the stream.
    fn end(&mut self, end: TurnEnd) {
        if end.status == RunStatus::Failed {
            let error = self.event(&upstream_error(&end));
            self.pending.push_back(error);
        } else {
            let delta = self.role_delta();
            let finish = self.chunk(delta, Some(finish_reason(&end)));
            self.pending.push_back(finish);
            if self.include_usage {
                let usage = self.event(&ChatCompletionChunk {
                    id: self.id.clone(),
                    object: "chat.completion.chunk",
                    created: self.created,
                    model: self.model.clone(),
                    choices: Vec::new(),
                    usage: Some(Some(UsageOut::new(
                        end.prompt_tokens,
                        end.completion_tokens,
                    ))),
                });
                self.pending.push_back(usage);
            }
        }
        self.pending
            .push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        self.ended = true;
    }

    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if self.ended {
                return None;
            }
            let shutdown = self.app.shutdown.clone();
            let event = tokio::select! {
                event = self.turn.next() => event,
                _ = tokio::time::sleep_until(self.deadline), if !self.stop_sent => {
                    self.stop_sent = true;
                    self.turn.stop();
                    continue;
                }
                _ = shutdown.cancelled(), if !self.stop_sent => {
                    self.stop_sent = true;
                    self.turn.stop();
                    continue;
                }
            };
            match event {
                Some(TurnEvent::Delta(text)) => {
                    let mut delta = self.role_delta();
                    delta.content = Some(text);
                    let chunk = self.chunk(delta, None);
                    return Some(chunk);
                }
                Some(TurnEvent::Done(end)) => self.end(end),
                None => return None,
            }
        }
    }
}

/// Waits for the whole turn until `deadline`; the error response when it does not end.
pub(crate) async fn whole_turn(turn: &mut Turn, deadline: Instant) -> Result<TurnEnd, Response> {
    loop {
        match tokio::time::timeout_at(deadline, turn.next()).await {
            Ok(Some(TurnEvent::Done(end))) => return Ok(end),
            Ok(Some(TurnEvent::Delta(_))) => {}
            Ok(None) | Err(_) => {
                // Dropping the turn stops the run.
                return Err(api_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "server_error",
                    Some("timeout"),
                    None,
                    "the answer did not finish within [serve] request_timeout_secs",
                ));
            }
        }
    }
}

/// An SSE response over `stream` (no caching).
pub(crate) fn sse_response(
    stream: impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
) -> Response {
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn stream_response(
    app: Arc<AppState>,
    turn: Turn,
    model: String,
    include_usage: bool,
    deadline: Instant,
    permit: OwnedSemaphorePermit,
) -> Response {
    let mut state = StreamState {
        app,
        turn,
        id: completion_id(),
        created: unix_now(),
        model,
        include_usage,
        deadline,
        sent_role: false,
        stop_sent: false,
        pending: Default::default(),
        ended: false,
        _permit: permit,
    };
    // The first chunk (role only) goes out at once, so the client sees the stream open.
    let delta = state.role_delta();
    let first = state.chunk(
        Delta {
            content: Some(String::new()),
            ..delta
        },
        None,
    );
    state.pending.push_back(first);
    // When the client goes away, hyper drops this stream, and with it the turn: its run stops.
    let stream = futures::stream::unfold(state, |mut state| async move {
        state
            .next_bytes()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), state))
    });
    sse_response(stream)
}
