//! `POST /v1/responses`: OpenAI's Responses API over the same turns as chat completions.
//! `input` is a string or message items, `instructions` a system prompt; `stream` sends the
//! `response.created` / `response.output_text.delta` / `response.output_text.done` /
//! `response.completed` events the official SDKs parse. A response is stored as a conversation
//! (`store`, default true, as OpenAI does), and its id names that conversation, so
//! `previous_response_id` continues it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::{ConversationId, RunStatus};
use crate::llm::{ChatMessage, Role};
use crate::server::chat::{Turn, TurnEnd, TurnEvent, TurnRequest};
use crate::server::http::{AppState, api_error};

#[derive(Deserialize)]
pub(crate) struct ResponsesRequest {
    #[serde(default)]
    model: Option<String>,
    input: Value,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(flatten)]
    sampling: crate::server::chat::SamplingIn,
}

fn bad(param: &str, message: impl Into<String>) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("invalid_value"),
        Some(param),
        message,
    )
}

/// The text of an item's `content`: a string, or `input_text` / `output_text` / `text` parts.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter(|p| {
                    matches!(
                        p["type"].as_str(),
                        Some("input_text" | "output_text" | "text")
                    )
                })
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// The history and the new prompt an `input` holds.
fn split_input(input: &Value) -> Result<(Vec<ChatMessage>, String), String> {
    match input {
        Value::String(s) if !s.trim().is_empty() => Ok((Vec::new(), s.clone())),
        Value::Array(items) if !items.is_empty() => {
            let mut messages = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let role = match item["role"].as_str() {
                    Some("system" | "developer") => Role::System,
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    _ => {
                        return Err(format!(
                            "input[{i}] needs a role: system, developer, user or assistant"
                        ));
                    }
                };
                let text = content_text(&item["content"])
                    .ok_or_else(|| format!("input[{i}].content must be text or content parts"))?;
                messages.push(ChatMessage::text(role, text));
            }
            match messages.pop() {
                Some(last) if last.role == Role::User => Ok((messages, last.content)),
                _ => Err("the last input item must be the user's message".into()),
            }
        }
        _ => Err("input must be non-empty text or an array of message items".into()),
    }
}

/// `resp_{conversation}_{n}` → the conversation (`x`: a response that was not stored).
fn conversation_of(response_id: &str) -> Option<ConversationId> {
    let rest = response_id.strip_prefix("resp_")?;
    let (conv, _) = rest.rsplit_once('_')?;
    (!conv.is_empty() && conv != "x").then(|| ConversationId(conv.to_string()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The Response object; `text` None while it is still being written.
fn response_object(id: &str, model: &str, created: u64, end: Option<&TurnEnd>) -> Value {
    let (status, output, usage) = match end {
        None => ("in_progress", json!([]), Value::Null),
        Some(end) => (
            match end.status {
                RunStatus::Complete => "completed",
                RunStatus::Stopped => "incomplete",
                RunStatus::Failed => "failed",
            },
            json!([{
                "type": "message",
                "id": format!("msg_{id}"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": end.text, "annotations": []}],
            }]),
            json!({
                "input_tokens": end.prompt_tokens,
                "output_tokens": end.completion_tokens,
                "total_tokens": end.prompt_tokens.saturating_add(end.completion_tokens),
            }),
        ),
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": end.filter(|e| e.status == RunStatus::Failed).map(|e| json!({"code": "server_error", "message": e.error})),
        "parallel_tool_calls": false,
        "tool_choice": "auto",
        "tools": [],
    })
}

fn sse(kind: &str, mut data: Value, seq: &mut u64) -> Bytes {
    data["type"] = json!(kind);
    data["sequence_number"] = json!(*seq);
    *seq += 1;
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// `POST /v1/responses`.
pub(crate) async fn responses(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<ResponsesRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            return bad(
                "input",
                format!("the body is not a Responses API request: {e}"),
            );
        }
    };
    let (history, prompt) = match split_input(&req.input) {
        Ok(split) => split,
        Err(message) => return bad("input", message),
    };
    // Instructions are this response's system prompt only: a continued response does not
    // inherit them (as in OpenAI's API), so they go with the run, not into the history.
    let instructions = req.instructions.filter(|i| !i.trim().is_empty());
    // Stored: a plain input (a new conversation), or a continuation (whose history is in the
    // store). Several input items make an in-memory turn (not continuable).
    let stored = match (&req.previous_response_id, req.store.unwrap_or(true)) {
        (Some(prev), _) => match conversation_of(prev) {
            Some(conv) => Some(conv),
            None => {
                return bad(
                    "previous_response_id",
                    format!(
                        "'{prev}' is not a stored response of this server (responses to several input items or with store: false are not kept)"
                    ),
                );
            }
        },
        (None, true) if history.is_empty() => Some(ConversationId::new()),
        (None, _) => None,
    };
    let mut sampling = match req.sampling.clone().checked() {
        Ok(s) => s,
        Err(message) => {
            let param = message
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            return bad(&param, message);
        }
    };
    if let Some(instructions) = instructions {
        sampling.get_or_insert_default().system = Some(instructions);
    }
    let model = req
        .model
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| state.default_model.clone());
    let permit = match state.request_slot() {
        Ok(permit) => permit,
        Err(busy) => return *busy,
    };
    // A new stored conversation starts from the items given; a continued one from the store.
    let mut turn = Turn::start(
        &state.engine,
        TurnRequest {
            stored: stored.clone(),
            history,
            prompt,
            model: Some(model.clone()),
            images: Vec::new(),
            sampling,
        },
    );
    if let Err(end) = turn.accept().await {
        return crate::server::completions::refusal(&end);
    }
    let created = unix_now();
    let id = format!(
        "resp_{}_{}",
        stored.as_ref().map_or("x", |c| c.0.as_str()),
        uuid::Uuid::now_v7().simple()
    );
    let deadline = tokio::time::Instant::now() + state.settings.request_timeout();
    if !req.stream {
        let end = match crate::server::completions::whole_turn(&mut turn, deadline).await {
            Ok(end) => end,
            Err(response) => return response,
        };
        drop(permit);
        let status = if end.status == RunStatus::Failed {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        };
        return (
            status,
            axum::Json(response_object(&id, &model, created, Some(&end))),
        )
            .into_response();
    }
    let mut seq = 0;
    let first = sse(
        "response.created",
        json!({"response": response_object(&id, &model, created, None)}),
        &mut seq,
    );
    let item = format!("msg_{id}");
    let stream = futures::stream::unfold(
        (
            turn,
            seq,
            Some(first),
            false,
            permit,
            id,
            model,
            item,
            created,
        ),
        move |(mut turn, mut seq, pending, ended, permit, id, model, item, created)| async move {
            if let Some(bytes) = pending {
                return Some((
                    Ok::<_, std::convert::Infallible>(bytes),
                    (turn, seq, None, ended, permit, id, model, item, created),
                ));
            }
            if ended {
                return None;
            }
            let next = tokio::time::timeout_at(deadline, turn.next()).await;
            let bytes = match next {
                Ok(Some(TurnEvent::Delta(text))) => sse(
                    "response.output_text.delta",
                    json!({"item_id": item, "output_index": 0, "content_index": 0, "delta": text}),
                    &mut seq,
                ),
                Ok(Some(TurnEvent::Done(end))) => {
                    let done = sse(
                        "response.output_text.done",
                        json!({"item_id": item, "output_index": 0, "content_index": 0, "text": end.text}),
                        &mut seq,
                    );
                    let kind = if end.status == RunStatus::Failed {
                        "response.failed"
                    } else {
                        "response.completed"
                    };
                    let completed = sse(
                        kind,
                        json!({"response": response_object(&id, &model, created, Some(&end))}),
                        &mut seq,
                    );
                    let mut both = done.to_vec();
                    both.extend_from_slice(&completed);
                    return Some((
                        Ok(Bytes::from(both)),
                        (turn, seq, None, true, permit, id, model, item, created),
                    ));
                }
                Ok(None) => return None,
                Err(_) => {
                    turn.stop();
                    return None;
                }
            };
            Some((
                Ok(bytes),
                (turn, seq, None, false, permit, id, model, item, created),
            ))
        },
    );
    crate::server::completions::sse_response(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_and_ids_are_read() {
        assert_eq!(split_input(&json!("hi")).unwrap().1, "hi");
        let (history, prompt) = split_input(&json!([
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Paris."}]},
            {"role": "user", "content": "And Spain?"}
        ]))
        .unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!(history[1].content, "Capital of France?");
        assert_eq!(prompt, "And Spain?");
        assert!(split_input(&json!([{"role": "assistant", "content": "x"}])).is_err());
        assert!(split_input(&json!(7)).is_err());
        assert_eq!(
            conversation_of("resp_0192-abc_0193def"),
            Some(ConversationId("0192-abc".into()))
        );
        assert_eq!(conversation_of("chatcmpl-1"), None);
        assert_eq!(conversation_of("resp_x_0193def"), None);
    }
}
