//! `POST /v1/embeddings` and `POST /v1/rerank`: the local embedding model (the knowledge
//! bases' all-MiniLM class model, run in-process) when the model is absent or `local`, the
//! provider's own endpoints otherwise; and `GET /v1/models/{id}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::knowledge::{KnowledgeError, Retriever};
use crate::llm::LlmError;
use crate::server::http::{AppState, api_error};

/// Most inputs one request may embed.
const MAX_INPUTS: usize = 2048;
/// Most characters of one input.
const MAX_INPUT_CHARS: usize = 100_000;

/// `input`: one string or many.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
pub(crate) struct EmbeddingsRequest {
    input: Input,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RerankRequest {
    query: String,
    documents: Vec<String>,
    #[serde(default)]
    top_n: Option<usize>,
    #[serde(default)]
    model: Option<String>,
}

fn bad(param: &str, message: impl Into<String>) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        Some(param),
        message,
    )
}

/// The local model's name in answers: `local` plus its folder's name.
fn model_name(state: &AppState) -> String {
    state.retriever.as_ref().map_or_else(
        || "local".into(),
        |r| {
            let name = r.model_name();
            let short = std::path::Path::new(&name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(name);
            format!("local:{short}")
        },
    )
}

/// Checks the model asked for and the inputs; runs `work` with the retriever off the async
/// threads.
async fn with_retriever<T: Send + 'static>(
    state: &AppState,
    model: Option<&str>,
    inputs: &[String],
    work: impl FnOnce(&Retriever) -> Result<T, KnowledgeError> + Send + 'static,
) -> Result<T, Response> {
    debug_assert!(is_local(model));
    if let Some(response) = check_inputs(inputs) {
        return Err(response);
    }
    let Some(retriever) = state.retriever.clone() else {
        return Err(no_model());
    };
    match tokio::task::spawn_blocking(move || work(&retriever)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(KnowledgeError::NoEmbeddingModel)) => Err(no_model()),
        Ok(Err(e)) => Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            None,
            e.to_string(),
        )),
        Err(e) => Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            None,
            e.to_string(),
        )),
    }
}

/// Whether `model` names the local embedding model (absent, empty, `local` or `local:NAME`);
/// serve and the native host both ask.
pub(crate) fn is_local(model: Option<&str>) -> bool {
    model.is_none_or(|m| m.is_empty() || m == "local" || m.starts_with("local:"))
}

/// The provider model a rerank goes to: the one the request names unless it is the local
/// model, else `[knowledge] rerank_model` when the request names none; None: the local model.
pub(crate) fn rerank_target(asked: Option<&str>, configured: Option<&String>) -> Option<String> {
    match asked {
        Some(m) if !is_local(Some(m)) => Some(m.to_string()),
        Some(_) => None,
        None => configured.cloned(),
    }
}

/// A provider's failure in OpenAI's error shape: its status where it gave one (a missing
/// model is 404, a refused key 401, rate limits 429), else 502.
fn provider_error(e: &LlmError) -> Response {
    let (status, code) = match e {
        LlmError::ModelNotFound { .. } => (StatusCode::NOT_FOUND, Some("model_not_found")),
        LlmError::Auth { .. } | LlmError::MissingKey { .. } => {
            (StatusCode::UNAUTHORIZED, Some("invalid_api_key"))
        }
        LlmError::RateLimited { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limit_exceeded"))
        }
        LlmError::Config(_) => (StatusCode::BAD_REQUEST, None),
        _ => (StatusCode::BAD_GATEWAY, None),
    };
    let kind = if status == StatusCode::BAD_GATEWAY {
        "server_error"
    } else {
        "invalid_request_error"
    };
    api_error(status, kind, code, Some("model"), e.to_string())
}

/// Checks the inputs of a request (None: fine; Some: the 400 to send).
fn check_inputs(inputs: &[String]) -> Option<Response> {
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Some(bad(
            "input",
            format!("give 1 to {MAX_INPUTS} texts to embed"),
        ));
    }
    inputs
        .iter()
        .position(|t| t.chars().count() > MAX_INPUT_CHARS)
        .map(|i| {
            bad(
                "input",
                format!("input {i} is over {MAX_INPUT_CHARS} characters"),
            )
        })
}

fn no_model() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("model_not_found"),
        Some("model"),
        KnowledgeError::NoEmbeddingModel.to_string(),
    )
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<EmbeddingsRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            return bad(
                "input",
                format!("the body is not an embeddings request: {e}"),
            );
        }
    };
    let inputs = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if !is_local(req.model.as_deref()) {
        let model = req.model.unwrap_or_default();
        if let Some(response) = check_inputs(&inputs) {
            return response;
        }
        return match state.provider.embed(&model, &inputs).await {
            Ok(e) => embeddings_answer(e.vectors, &e.model, e.prompt_tokens),
            Err(e) => provider_error(&e),
        };
    }
    let tokens: usize = inputs.iter().map(|t| t.len().div_ceil(4)).sum();
    let texts = inputs.clone();
    let vectors = match with_retriever(&state, req.model.as_deref(), &inputs, move |r| {
        r.embed(&texts)
    })
    .await
    {
        Ok(v) => v,
        Err(response) => return response,
    };
    embeddings_answer(vectors, &model_name(&state), tokens as u64)
}

/// OpenAI's embeddings answer: one object per vector, in input order.
fn embeddings_answer(vectors: Vec<Vec<f32>>, model: &str, tokens: u64) -> Response {
    let data: Vec<_> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| json!({"object": "embedding", "index": index, "embedding": embedding}))
        .collect();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// `POST /v1/rerank` (the Jina/Cohere shape llama.cpp serves): documents by embedding
/// similarity to the query, best first.
pub(crate) async fn rerank(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<RerankRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            return bad(
                "documents",
                format!("the body is not a rerank request: {e}"),
            );
        }
    };
    let count = req.documents.len();
    let top = req.top_n.unwrap_or(count).min(count);
    let mut inputs = vec![req.query.clone()];
    inputs.extend(req.documents.iter().cloned());
    let (ranked, model) = match rerank_target(req.model.as_deref(), state.rerank_model.as_ref()) {
        Some(model) => {
            if let Some(response) = check_inputs(&inputs) {
                return response;
            }
            match state
                .provider
                .rerank(&model, &req.query, &req.documents)
                .await
            {
                Ok(ranked) => (ranked, model),
                Err(e) => return provider_error(&e),
            }
        }
        None => {
            let (query, documents) = (req.query, req.documents);
            match with_retriever(&state, req.model.as_deref(), &inputs, move |r| {
                r.rerank(&query, &documents)
            })
            .await
            {
                Ok(ranked) => (ranked, model_name(&state)),
                Err(response) => return response,
            }
        }
    };
    let results: Vec<_> = ranked
        .into_iter()
        .take(top)
        .map(|(index, score)| json!({"index": index, "relevance_score": score}))
        .collect();
    axum::Json(json!({"model": model, "results": results})).into_response()
}

/// `GET /v1/models/{id}`.
pub(crate) async fn get_model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let known = match state.models().await {
        Some(models) => models.iter().any(|m| m.id == id),
        None => id == state.default_model,
    };
    if !known {
        return api_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            Some("model"),
            format!("there is no model '{id}' here: GET /v1/models lists them"),
        );
    }
    axum::Json(json!({
        "id": id,
        "object": "model",
        "created": 0,
        "owned_by": state.provider.id(),
    }))
    .into_response()
}
