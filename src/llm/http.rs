//! The HTTP side shared by every provider: retries before the first token, timeouts,
//! cancellation, the plain-JSON fallback, and turning error statuses into sentences.

use std::time::{Duration, SystemTime};

use futures::StreamExt;

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::error_chain;
use crate::llm::error::LlmError;
use crate::llm::provider::{EventStream, ProviderSettings};
use crate::llm::sse::{BodyFault, sse_events};
use crate::llm::types::StreamEvent;

/// Longest backoff between retries (a server's own `Retry-After` is capped by
/// `[network] max_retry_wait_secs` instead).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// First backoff step; doubled per attempt.
const BASE_RETRY_DELAY: Duration = Duration::from_millis(500);
/// How much of an error body is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Decodes one provider's wire format.
pub trait StreamDecoder: Send + 'static {
    /// Decodes one SSE event into `out`; returns true when it was the stream's terminator.
    fn on_event(
        &mut self,
        name: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<bool, LlmError>;

    /// Whether the stream may end here without an explicit terminator (e.g. the finish reason
    /// arrived and only `[DONE]` is missing).
    fn complete_without_terminator(&mut self, out: &mut Vec<StreamEvent>) -> bool;

    /// Decodes a whole non-streaming JSON answer (a proxy that ignored `stream: true`).
    fn on_json_body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError>;
}

/// What a request is about, for error messages.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The full URL.
    pub url: String,
    /// The model asked for.
    pub model: String,
}

/// An HTTP client configured for one provider.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    settings: ProviderSettings,
}

impl Transport {
    /// Builds the client with the configured connect timeout.
    pub fn new(settings: ProviderSettings) -> Result<Self, LlmError> {
        // reqwest is built without a bundled crypto provider; ring is ours. Installing twice is
        // harmless (the second call returns Err and changes nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.network.connect_timeout())
            .user_agent(concat!("rustbot/", env!("CARGO_PKG_VERSION")));
        if settings.base_url.starts_with("http://") {
            // A plain-HTTP server (Ollama, llama.cpp, LM Studio on this machine) needs no
            // certificates: without this, building the client reads and parses the system's
            // whole root store (~150 files) on every start. A redirect to https then fails
            // with an unknown-issuer error instead of trusting the system roots.
            builder = builder.tls_certs_only(Vec::new());
        }
        let client = builder
            .build()
            .map_err(|e| LlmError::Config(format!("could not set up the HTTP client: {e}")))?;
        Ok(Self { client, settings })
    }

    /// The provider settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// The HTTP client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.settings.base_url,
            path.trim_start_matches('/')
        )
    }

    /// Sends a request built by `build` (its argument is true once the server has rejected
    /// optional fields such as `stream_options`) and streams decoded events.
    pub fn stream<B, D>(
        &self,
        ctx: RequestContext,
        build: B,
        decoder: D,
        cancel: CancellationToken,
    ) -> EventStream
    where
        B: Fn(bool) -> reqwest::RequestBuilder + Send + Sync + 'static,
        D: StreamDecoder,
    {
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(async move {
            let task = this.run_stream(ctx, build, decoder, &tx);
            // Dropping the task drops the response, which closes the connection at once.
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {}
                _ = tx.closed() => {}
                _ = task => {}
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
    }

    async fn run_stream<B, D>(
        &self,
        ctx: RequestContext,
        build: B,
        mut decoder: D,
        tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
    ) where
        B: Fn(bool) -> reqwest::RequestBuilder,
        D: StreamDecoder,
    {
        let response = match self.send_with_retries(&ctx, &build, tx).await {
            Some(r) => r,
            None => return,
        };
        let idle = self.settings.network.idle_timeout();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        let mut out = Vec::new();
        if is_json {
            let body = match tokio::time::timeout(idle, response.bytes()).await {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => {
                    let _ = tx
                        .send(Err(LlmError::Incomplete {
                            detail: e.to_string(),
                        }))
                        .await;
                    return;
                }
                Err(_) => {
                    let _ = tx
                        .send(Err(LlmError::Idle {
                            secs: idle.as_secs(),
                        }))
                        .await;
                    return;
                }
            };
            let result = decoder.on_json_body(&body, &mut out);
            for ev in out.drain(..) {
                let _ = tx.send(Ok(ev)).await;
            }
            if let Err(e) = result {
                let _ = tx.send(Err(self.redact(e))).await;
            }
            return;
        }
        let mut events = std::pin::pin!(sse_events(response.bytes_stream(), idle));
        loop {
            let item = events.next().await;
            let (terminated, error) = match item {
                Some(Ok(ev)) => match decoder.on_event(&ev.name, &ev.data, &mut out) {
                    Ok(done) => (done, None),
                    Err(e) => (true, Some(self.redact(e))),
                },
                Some(Err(BodyFault::Idle)) => (
                    true,
                    Some(LlmError::Idle {
                        secs: idle.as_secs(),
                    }),
                ),
                Some(Err(BodyFault::Transport(detail))) => (
                    true,
                    Some(LlmError::Incomplete {
                        detail: format!("the connection failed mid-answer ({detail})"),
                    }),
                ),
                Some(Err(BodyFault::Malformed(detail))) => (
                    true,
                    Some(LlmError::Protocol {
                        provider: self.settings.kind.id().into(),
                        detail,
                    }),
                ),
                None => {
                    let ok = decoder.complete_without_terminator(&mut out);
                    let error = (!ok).then(|| LlmError::Incomplete {
                        detail: "the server closed the stream before the answer was finished"
                            .into(),
                    });
                    (true, error)
                }
            };
            for ev in out.drain(..) {
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            if let Some(e) = error {
                let _ = tx.send(Err(e)).await;
            }
            if terminated {
                return;
            }
        }
    }

    /// Sends until a success response, a final error, or cancellation of the receiver.
    async fn send_with_retries<B>(
        &self,
        ctx: &RequestContext,
        build: &B,
        tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
    ) -> Option<reqwest::Response>
    where
        B: Fn(bool) -> reqwest::RequestBuilder,
    {
        let mut attempt: u32 = 0;
        let mut degraded = false;
        loop {
            let (error, retry_after) = match build(degraded).send().await {
                Ok(resp) if resp.status().is_success() => return Some(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = parse_retry_after(resp.headers(), SystemTime::now());
                    let body = read_limited(resp).await;
                    if !degraded && matches!(status, 400 | 422) && body.contains("stream_options") {
                        // An OpenAI-compatible server that rejects `stream_options`: ask again
                        // without it (usage is then estimated). Not counted as a retry.
                        degraded = true;
                        continue;
                    }
                    (
                        self.status_error(ctx, status, &body, retry_after),
                        retry_after,
                    )
                }
                Err(e) => (self.request_error(ctx, &e), None),
            };
            let error = self.redact(error);
            let max = self.settings.network.max_retries;
            let delay = retry_after.unwrap_or_else(|| backoff(attempt));
            if !error.is_retryable()
                || attempt >= max
                || delay > self.settings.network.max_retry_wait()
            {
                let _ = tx.send(Err(error)).await;
                return None;
            }
            attempt += 1;
            let retrying = StreamEvent::Retrying {
                attempt,
                delay_ms: delay.as_millis() as u64,
                reason: error.to_string(),
            };
            if tx.send(Ok(retrying)).await.is_err() {
                return None;
            }
            tokio::time::sleep(delay).await;
        }
    }

    fn request_error(&self, ctx: &RequestContext, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                url: ctx.url.clone(),
                secs: self.settings.network.connect_timeout_secs,
            }
        } else {
            LlmError::Connect {
                url: ctx.url.clone(),
                detail: error_chain(e),
            }
        }
    }

    /// Maps an error status and its body to the error a user can act on.
    pub fn status_error(
        &self,
        ctx: &RequestContext,
        status: u16,
        body: &str,
        retry_after: Option<Duration>,
    ) -> LlmError {
        let provider = self.settings.kind.id().to_string();
        let message = error_message(body);
        match status {
            401 | 403 => LlmError::Auth {
                provider,
                status,
                hint: self.settings.kind.key_hint(),
            },
            404 => LlmError::ModelNotFound {
                model: ctx.model.clone(),
                url: ctx.url.clone(),
                detail: message,
            },
            429 => LlmError::RateLimited {
                provider,
                retry_after,
            },
            400 | 413 => match crate::llm::window::parse_overflow(body, &message) {
                Some(overflow) => LlmError::ContextLength {
                    detail: message,
                    window: overflow.window,
                    prompt_tokens: overflow.prompt_tokens,
                },
                None => LlmError::Server {
                    provider,
                    status,
                    message,
                },
            },
            _ => LlmError::Server {
                provider,
                status,
                message,
            },
        }
    }

    /// Removes the key from anything a server echoed back.
    pub fn redact(&self, error: LlmError) -> LlmError {
        let Some(key) = &self.settings.api_key else {
            return error;
        };
        let r = |s: String| key.redact(&s);
        match error {
            LlmError::Server {
                provider,
                status,
                message,
            } => LlmError::Server {
                provider,
                status,
                message: r(message),
            },
            LlmError::Api { provider, message } => LlmError::Api {
                provider,
                message: r(message),
            },
            LlmError::ModelNotFound { model, url, detail } => LlmError::ModelNotFound {
                model,
                url,
                detail: r(detail),
            },
            LlmError::ContextLength {
                detail,
                window,
                prompt_tokens,
            } => LlmError::ContextLength {
                detail: r(detail),
                window,
                prompt_tokens,
            },
            LlmError::Protocol { provider, detail } => LlmError::Protocol {
                provider,
                detail: r(detail),
            },
            other => other,
        }
    }

    /// GETs `path` and parses the JSON answer, mapping errors like `stream` does.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        headers: HeaderMap,
    ) -> Result<T, LlmError> {
        let url = self.url(path);
        let request = self.client.get(&url).headers(headers);
        self.json_answer(request, url, String::new()).await
    }

    /// POSTs `body` as JSON to `path` and parses the JSON answer (embeddings, rerank), mapping
    /// errors like `stream` does. No retries: the caller's own client retries.
    pub async fn post_json<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        model: &str,
        headers: HeaderMap,
        body: &B,
    ) -> Result<T, LlmError> {
        let url = self.url(path);
        let request = self.client.post(&url).headers(headers).json(body);
        self.json_answer(request, url, model.to_string()).await
    }

    /// Sends `request` (to `url`, for `model`) and parses its JSON answer; a refusal becomes
    /// the same error a stream would get, with the key redacted.
    async fn json_answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: String,
        model: String,
    ) -> Result<T, LlmError> {
        let ctx = RequestContext {
            url: url.clone(),
            model,
        };
        let resp = request
            .timeout(self.settings.network.idle_timeout())
            .send()
            .await
            .map_err(|e| self.request_error(&ctx, &e))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let retry_after = parse_retry_after(resp.headers(), SystemTime::now());
            let body = read_limited(resp).await;
            return Err(self.redact(self.status_error(&ctx, status, &body, retry_after)));
        }
        let body = resp.bytes().await.map_err(|e| LlmError::Incomplete {
            detail: e.to_string(),
        })?;
        serde_json::from_slice(&body).map_err(|e| LlmError::Protocol {
            provider: self.settings.kind.id().into(),
            detail: format!("the answer from {url} is not the expected JSON: {e}"),
        })
    }
}

/// Exponential backoff with ±25% jitter so that many clients do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = BASE_RETRY_DELAY.saturating_mul(1 << attempt.min(6));
    let jitter = rand::random_range(0.75..1.25);
    base.mul_f64(jitter).min(MAX_RETRY_DELAY)
}

/// `Retry-After` as seconds or an HTTP date, relative to `now`. Whatever a server sends
/// (negative, NaN, `1e20`, garbage) gives a bounded wait or none: never a panic. Waits longer
/// than a day are clamped to a day (the caller refuses anything over its own cap anyway); a
/// date in the past counts as absent (our own backoff applies).
fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    const MAX: Duration = Duration::from_secs(86_400);
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs.min(MAX.as_secs_f64())).unwrap_or(MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).ok()?.min(MAX))
}

async fn read_limited(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_LIMIT {
            body.truncate(ERROR_BODY_LIMIT);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The human part of an error body: `error.message` (OpenAI, Anthropic), `error` as text,
/// `message`, `detail`, else the start of the body.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let candidates = [
            v.pointer("/error/message"),
            v.get("error").filter(|e| e.is_string()),
            v.get("message"),
            v.get("detail"),
        ];
        if let Some(text) = candidates.into_iter().flatten().find_map(|c| c.as_str()) {
            return text.trim().to_string();
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "no details given".into();
    }
    trimmed.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_either_shape() {
        assert_eq!(
            error_message(r#"{"error":{"code":400,"message":"bad thing","type":"x"}}"#),
            "bad thing"
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(error_message(r#"{"error":"nope"}"#), "nope");
        assert_eq!(error_message("plain text"), "plain text");
        assert_eq!(error_message(""), "no details given");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(625));
        assert!(backoff(3) >= Duration::from_millis(3000));
        assert!(backoff(30) <= MAX_RETRY_DELAY);
    }

    #[test]
    fn retry_after_seconds_parse() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(
            parse_retry_after(&h, SystemTime::now()),
            Some(Duration::from_secs(2))
        );
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&h, SystemTime::now()), None);
    }

    #[test]
    fn hostile_retry_after_values_never_panic() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let cases = [
            ("1e20", Some(day)),
            ("1e400", None),
            ("-5", None),
            ("NaN", None),
            ("inf", None),
            ("0.25", Some(Duration::from_millis(250))),
            ("18446744073709551616", Some(day)),
            ("soon", None),
            ("", None),
        ];
        for (value, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, value.parse().unwrap());
            assert_eq!(parse_retry_after(&h, now), want, "{value:?}");
        }
        let mut h = HeaderMap::new();
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        h.insert(RETRY_AFTER, later.parse().unwrap());
        let wait = parse_retry_after(&h, now).unwrap();
        assert!(wait > Duration::from_secs(118) && wait <= Duration::from_secs(120));
        h.insert(
            RETRY_AFTER,
            "Fri, 31 Dec 9999 23:59:59 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&h, now), Some(day));
    }
}
