//! `POST /v1/completions`: the legacy text completions API (`prompt` → text), whole or
//! streamed as `text_completion` chunks ending with `[DONE]`, over the same turns as chat.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::RunStatus;
use crate::server::chat::{Turn, TurnEnd, TurnEvent, TurnRequest};
use crate::server::http::{AppState, api_error};

#[derive(Deserialize)]
pub(crate) struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    prompt: Value,
    #[serde(default)]
    stream: bool,
    #[serde(flatten)]
    sampling: crate::server::chat::SamplingIn,
}

fn chunk(id: &str, created: u64, model: &str, text: &str, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
    })
}

fn finish_reason(end: &TurnEnd) -> &str {
    match end.reason.as_str() {
        "stopped" | "error" => "stop",
        other => other,
    }
}

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<CompletionRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let bad = |message: String| {
        api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("invalid_value"),
            Some("prompt"),
            message,
        )
    };
    let axum::Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad(format!("the body is not a completions request: {e}")),
    };
    // One prompt: a string, or an array holding one string (what SDKs send).
    let prompt = match &req.prompt {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_string()
        }
        _ => return bad("prompt must be text (one prompt per request)".into()),
    };
    if prompt.trim().is_empty() {
        return bad("prompt must not be empty".into());
    }
    let sampling = match req.sampling.clone().checked() {
        Ok(s) => s,
        Err(message) => return bad(message),
    };
    let model = req
        .model
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| state.default_model.clone());
    let permit = match state.request_slot() {
        Ok(permit) => permit,
        Err(busy) => return *busy,
    };
    let mut turn = Turn::start(
        &state.engine,
        TurnRequest {
            stored: None,
            history: Vec::new(),
            prompt,
            model: Some(model.clone()),
            images: Vec::new(),
            sampling,
        },
    );
    if let Err(end) = turn.accept().await {
        return crate::server::completions::refusal(&end);
    }
    let id = format!("cmpl-{}", uuid::Uuid::now_v7().simple());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let deadline = tokio::time::Instant::now() + state.settings.request_timeout();
    if !req.stream {
        let end = match crate::server::completions::whole_turn(&mut turn, deadline).await {
            Ok(end) => end,
            Err(response) => return response,
        };
        drop(permit);
        if end.status == RunStatus::Failed {
            return api_error(
                StatusCode::BAD_GATEWAY,
                "server_error",
                Some("upstream_error"),
                None,
                end.error.unwrap_or_else(|| "the answer failed".into()),
            );
        }
        let mut body = chunk(&id, created, &model, &end.text, Some(finish_reason(&end)));
        body["usage"] = json!({
            "prompt_tokens": end.prompt_tokens,
            "completion_tokens": end.completion_tokens,
            "total_tokens": end.prompt_tokens.saturating_add(end.completion_tokens),
        });
        return axum::Json(body).into_response();
    }
    let stream =
        futures::stream::unfold((turn, false, permit), move |(mut turn, ended, permit)| {
            let (id, model) = (id.clone(), model.clone());
            async move {
                if ended {
                    return None;
                }
                let data = match tokio::time::timeout_at(deadline, turn.next()).await {
                    Ok(Some(TurnEvent::Delta(text))) => {
                        format!("data: {}\n\n", chunk(&id, created, &model, &text, None))
                    }
                    Ok(Some(TurnEvent::Done(end))) => format!(
                        "data: {}\n\ndata: [DONE]\n\n",
                        chunk(&id, created, &model, "", Some(finish_reason(&end)))
                    ),
                    Ok(None) | Err(_) => {
                        turn.stop();
                        "data: [DONE]\n\n".to_string()
                    }
                };
                let done = data.ends_with("[DONE]\n\n");
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(data)),
                    (turn, done, permit),
                ))
            }
        });
    crate::server::completions::sse_response(stream)
}
