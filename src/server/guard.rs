//! Who may call `rustbot serve` from a browser: the `Host`, `Origin` and `Content-Type` checks
//! that stop web pages (cross-site "simple" requests, DNS rebinding) from using the API.
//!
//! A loopback server is reachable by every page the user opens: a `text/plain` POST needs no
//! CORS preflight, and a rebound DNS name makes the page same-origin. So a request must name
//! this server in `Host`, carry no foreign `Origin`, and send its body as JSON.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::http::{AppState, api_error};

/// The request checks, fixed when the server starts listening.
#[derive(Debug, Clone, Default)]
pub struct RequestGuard {
    /// The port the server listens on (`Host: localhost:PORT`).
    pub port: u16,
    /// `[serve] allowed_hosts`, lower-cased.
    pub allowed_hosts: Vec<String>,
    /// `[serve] allowed_origins`, lower-cased, without a trailing `/`.
    pub allowed_origins: Vec<String>,
}

/// Why a request is refused before it reaches a handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The `Host` header names another server.
    #[error(
        "the Host header `{0}` does not name this server: use 127.0.0.1, [::1] or localhost with port {1}, or add the name to [serve] allowed_hosts"
    )]
    ForeignHost(String, u16),
    /// No usable `Host` header.
    #[error("the request has no valid Host header")]
    NoHost,
    /// A browser page from an origin not in `[serve] allowed_origins`.
    #[error(
        "requests from the web origin `{0}` are refused: add it to [serve] allowed_origins to let that page use the API"
    )]
    ForeignOrigin(String),
    /// A POST whose body is not declared as JSON.
    #[error("the request body must be JSON: send `Content-Type: application/json`")]
    NotJson,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::ForeignHost(..) | Refusal::NoHost => StatusCode::MISDIRECTED_REQUEST,
            Refusal::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            Refusal::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::ForeignHost(..) | Refusal::NoHost => "invalid_host",
            Refusal::ForeignOrigin(_) => "origin_not_allowed",
            Refusal::NotJson => "unsupported_media_type",
        }
    }
}

impl RequestGuard {
    /// The guard for a server on `port` with the `[serve]` lists.
    pub fn new(port: u16, allowed_hosts: &[String], allowed_origins: &[String]) -> Self {
        Self {
            port,
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allowed_origins: allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Checks one request's method and headers; Ok(the allowed origin, if one was sent).
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
        self.check_host(headers)?;
        let origin = self.check_origin(headers)?;
        if *method == Method::POST && !is_json(headers) {
            return Err(Refusal::NotJson);
        }
        Ok(origin)
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .ok_or(Refusal::NoHost)?;
        if self.allowed_hosts.iter().any(|a| a == &host) {
            return Ok(());
        }
        let (name, port) = split_host_port(&host);
        if self.allowed_hosts.iter().any(|a| a == name) {
            return Ok(());
        }
        let loopback = name == "localhost"
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        // A port is required: a browser always sends it for a non-default port, and a rebound
        // name on port 80 must not pass.
        if loopback && port == Some(self.port) {
            return Ok(());
        }
        Err(Refusal::ForeignHost(printable(&host), self.port))
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(None);
        };
        let origin = value
            .to_str()
            .unwrap_or("")
            .trim()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if !origin.is_empty() && self.allowed_origins.iter().any(|o| o == &origin) {
            Ok(Some(origin))
        } else {
            Err(Refusal::ForeignOrigin(printable(&origin)))
        }
    }
}

/// Whether the body is declared as JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// `name` and port of a Host value (`[::1]:8080`, `localhost:80`, `example`).
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    let (name, port) = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], Some(&host[i + 1..])),
        _ => (host, None),
    };
    (name, port.and_then(|p| p.parse().ok()))
}

/// A header value safe to echo in an error: at most 100 characters, no control characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Middleware: refuses requests that fail the guard; answers CORS for allowed origins.
pub async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let origin = match state.guard().check(request.method(), request.headers()) {
        Ok(origin) => origin,
        Err(refusal) => {
            tracing::info!("serve refused a request: {refusal}");
            return api_error(
                refusal.status(),
                "invalid_request_error",
                Some(refusal.code()),
                None,
                refusal.to_string(),
            );
        }
    };
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-conversation-id"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn guard() -> RequestGuard {
        RequestGuard::new(
            8080,
            &["rustbot.lan".into()],
            &["https://ok.example/".into()],
        )
    }

    const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");

    #[test]
    fn loopback_hosts_with_the_port_pass() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "LOCALHOST:8080",
        ] {
            let h = headers(&[("host", host), JSON]);
            assert_eq!(guard().check(&Method::POST, &h), Ok(None), "{host}");
        }
    }

    #[test]
    fn foreign_hosts_and_wrong_ports_get_421() {
        for host in [
            "attacker.example:8080",
            "localhost:80",
            "localhost",
            "127.0.0.2.evil:8080",
        ] {
            let h = headers(&[("host", host), JSON]);
            let e = guard().check(&Method::POST, &h).unwrap_err();
            assert_eq!(e.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
        }
        assert_eq!(
            guard().check(&Method::GET, &HeaderMap::new()),
            Err(Refusal::NoHost)
        );
    }

    #[test]
    fn an_allowed_host_passes_with_or_without_port() {
        for host in ["rustbot.lan", "rustbot.lan:9999"] {
            let h = headers(&[("host", host), JSON]);
            assert!(guard().check(&Method::POST, &h).is_ok(), "{host}");
        }
    }

    #[test]
    fn origins_must_be_listed() {
        let evil = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
            JSON,
        ]);
        let e = guard().check(&Method::POST, &evil).unwrap_err();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null"), JSON]);
        assert!(guard().check(&Method::POST, &null).is_err());
        let ok = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://ok.example"),
            JSON,
        ]);
        assert_eq!(
            guard().check(&Method::POST, &ok),
            Ok(Some("https://ok.example".into()))
        );
    }

    #[test]
    fn a_post_must_be_json() {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            let h = headers(&[("host", "127.0.0.1:8080"), ("content-type", ct)]);
            assert_eq!(
                guard().check(&Method::POST, &h),
                Err(Refusal::NotJson),
                "{ct}"
            );
        }
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert_eq!(guard().check(&Method::POST, &none), Err(Refusal::NotJson));
        assert_eq!(guard().check(&Method::GET, &none), Ok(None));
    }
}
