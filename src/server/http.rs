//! `rustbot serve`: the router, shared state, auth and rate-limit middleware, OpenAI-shaped
//! errors, `/health` and `/v1/models`. The chat endpoint is in `completions.rs`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::OnceLock;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

use crate::config::secrets::Secret;
use crate::engine::EngineHandle;
use crate::llm::{ModelInfo, Provider};
use crate::server::ServeSettings;
use crate::server::guard::{RequestGuard, guard};
use crate::server::limits::{RateLimiter, constant_time_eq};
use crate::server::openai::{ErrorBody, ErrorDetail, ModelEntry, ModelList};

/// How long the provider's model list may take before it counts as unknown.
const MODELS_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler shares.
pub struct AppState {
    /// The engine.
    pub engine: EngineHandle,
    /// The provider (for its model list).
    pub provider: Arc<dyn Provider>,
    /// The configured model, used when a request names none.
    pub default_model: String,
    /// The bearer token clients must send, if one is required.
    pub token: Option<Secret>,
    /// The `[serve]` settings.
    pub settings: ServeSettings,
    /// Fired on SIGTERM: streams end cleanly.
    pub shutdown: CancellationToken,
    pub(crate) models: OnceCell<Option<Vec<ModelInfo>>>,
    pub(crate) slots: Arc<Semaphore>,
    limiter: RateLimiter,
    request_guard: OnceLock<RequestGuard>,
    /// The local embedding model's runner (`/v1/embeddings`, `/v1/rerank`).
    pub(crate) retriever: Option<crate::knowledge::Retriever>,
    /// The provider's rerank model for requests that name none (`[knowledge] rerank_model`).
    pub(crate) rerank_model: Option<String>,
}

impl AppState {
    /// The state for a server over `engine`.
    pub fn new(
        engine: EngineHandle,
        provider: Arc<dyn Provider>,
        default_model: String,
        token: Option<Secret>,
        settings: ServeSettings,
    ) -> Self {
        Self {
            engine,
            provider,
            default_model,
            token,
            slots: Arc::new(Semaphore::new(settings.request_slots())),
            limiter: RateLimiter::new(settings.requests_per_minute),
            settings,
            shutdown: CancellationToken::new(),
            models: OnceCell::new(),
            request_guard: OnceLock::new(),
            retriever: None,
            rerank_model: None,
        }
    }

    /// Serves embeddings and reranking with `retriever`'s local model.
    pub fn with_embeddings(mut self, retriever: crate::knowledge::Retriever) -> Self {
        self.retriever = Some(retriever);
        self
    }

    /// Sends rerank requests that name no model to the provider's `model`.
    pub fn with_rerank_model(mut self, model: Option<String>) -> Self {
        self.rerank_model = model;
        self
    }

    /// The Host/Origin/Content-Type checks (set when the server starts listening).
    pub fn guard(&self) -> &RequestGuard {
        self.request_guard.get_or_init(|| {
            let port = self
                .settings
                .listen
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            RequestGuard::new(
                port,
                &self.settings.allowed_hosts,
                &self.settings.allowed_origins,
            )
        })
    }

    /// One of the `[serve] max_concurrent_requests` slots, or the 503 that says they are taken.
    pub(crate) fn request_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Box<Response>> {
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| {
            Box::new(api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("server_busy"),
                None,
                format!(
                    "the server is handling {} requests already ([serve] max_concurrent_requests): try again shortly",
                    self.settings.max_concurrent_requests
                ),
            ))
        })
    }

    /// The provider's models, asked once; None when the provider could not list them.
    pub async fn models(&self) -> Option<&[ModelInfo]> {
        self.models
            .get_or_init(|| async {
                match tokio::time::timeout(MODELS_TIMEOUT, self.provider.models()).await {
                    Ok(Ok(models)) if !models.is_empty() => Some(models),
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => {
                        tracing::warn!("the provider's model list is unknown: {e}");
                        None
                    }
                    Err(_) => {
                        tracing::warn!("the provider's model list timed out");
                        None
                    }
                }
            })
            .await
            .as_deref()
    }
}

/// The router with every route and limit.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route(
            "/v1/chat/completions",
            post(crate::server::completions::chat_completions),
        )
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(crate::server::embeddings::get_model))
        .route(
            "/v1/embeddings",
            post(crate::server::embeddings::embeddings),
        )
        .route("/v1/rerank", post(crate::server::embeddings::rerank))
        .route("/v1/responses", post(crate::server::responses::responses))
        .route(
            "/v1/completions",
            post(crate::server::text_completions::completions),
        )
        // The last layer runs first: the rate limit also counts unauthorised attempts, so a
        // token cannot be guessed quickly.
        .layer(middleware::from_fn_with_state(Arc::clone(&state), auth))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            rate_limit,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        // Outermost: a request from a foreign page or for a foreign Host never reaches a
        // handler, the rate limit or the token check.
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves; in-flight streams are then ended cleanly
/// (their runs stopped, the stream closed with `[DONE]`) before this returns.
///
/// HTTP/1.1 connections are served by hyper directly (not `axum::serve`) for what axum does not
/// offer: a header-read and keep-alive timeout and a cap on open connections, so slow or idle
/// clients cannot hold every slot.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    let _ = state.request_guard.set(RequestGuard::new(
        bound.port(),
        &state.settings.allowed_hosts,
        &state.settings.allowed_origins,
    ));
    let token = state.shutdown.clone();
    let header_timeout = state.settings.header_timeout();
    let connections = Arc::new(Semaphore::new(state.settings.connection_slots()));
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("serve could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::info!(
                "serve closed a connection from {peer}: [serve] max_connections reached"
            );
            continue;
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().call(request.map(axum::body::Body::new))
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("serve connection from {peer} ended: {e}");
            }
            drop(permit);
        });
    }
    token.cancel();
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// An OpenAI-shaped error response.
pub fn api_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: impl Into<String>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            message: message.into(),
            kind: kind.to_string(),
            param: param.map(str::to_string),
            code: code.map(str::to_string),
        },
    };
    (status, axum::Json(body)).into_response()
}

async fn auth(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g, token.expose()) => next.run(request).await,
        Some(_) => api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            None,
            "the bearer token is wrong: use the token `rustbot serve` printed on its first start (RUSTBOT_SERVE_TOKEN in secrets.env)",
        ),
        None => api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("missing_api_key"),
            None,
            "this server requires a bearer token: send `Authorization: Bearer TOKEN` (the token is RUSTBOT_SERVE_TOKEN in secrets.env)",
        ),
    }
}

async fn rate_limit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match state.limiter.check(peer.ip()) {
        Ok(()) => next.run(request).await,
        Err(wait_secs) => {
            let mut response = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
                None,
                format!(
                    "too many requests from {}: at most {} a minute; try again in {wait_secs} s",
                    peer.ip(),
                    state.settings.requests_per_minute
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&wait_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": crate::core::VERSION.trim(),
        "provider": state.provider.id(),
        "model": state.default_model,
    }))
    .into_response()
}

async fn list_models(State(state): State<Arc<AppState>>) -> Response {
    let owned_by = state.provider.id().to_string();
    let entry = |id: String| ModelEntry {
        id,
        object: "model",
        created: 0,
        owned_by: owned_by.clone(),
    };
    let data = match state.models().await {
        Some(models) => models.iter().map(|m| entry(m.id.clone())).collect(),
        None => vec![entry(state.default_model.clone())],
    };
    axum::Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

async fn not_found(request: Request) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        None,
        format!(
            "unknown endpoint {} {}: this server offers POST /v1/chat/completions, POST /v1/responses, POST /v1/completions, POST /v1/embeddings, POST /v1/rerank, GET /v1/models[/ID] and GET /health",
            request.method(),
            request.uri().path()
        ),
    )
}
