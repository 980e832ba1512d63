//! `http_get`: fetches an http(s) URL and returns its text; HTML is turned into plain text.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::html_text::html_to_text;
use super::net_guard::{PublicOnlyResolver, refusal, refusal_message};
use super::{str_arg, u64_arg};
use crate::core::error_chain;
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Fetches a web page; needs approval (it reaches the network).
#[derive(Debug, Clone)]
pub struct HttpGet {
    /// Most bytes of the body read.
    pub max_bytes: usize,
    /// Time limit of the whole request.
    pub timeout: Duration,
    /// Whether loopback, private and link-local addresses may be fetched
    /// (`[tools] http_allow_private`).
    pub allow_private: bool,
}

impl Default for HttpGet {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            allow_private: false,
        }
    }
}

#[async_trait]
impl Tool for HttpGet {
    fn name(&self) -> &str {
        "http_get"
    }

    fn description(&self) -> &str {
        "Fetch an http or https URL with GET. HTML pages are returned as plain text; other text as is."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "An http:// or https:// URL"},
                "max_bytes": {"type": "integer", "description": "Most bytes of the body to read"}
            },
            "required": ["url"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        true
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let url = reqwest::Url::parse(str_arg(&args, "url")?)
            .map_err(|e| ToolError::InvalidArguments(format!("bad url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ToolError::InvalidArguments(format!(
                "only http and https URLs are allowed, not {}",
                url.scheme()
            )));
        }
        let cap = u64_arg(&args, "max_bytes")
            .map_or(self.max_bytes, |n| (n as usize).min(self.max_bytes));
        if !self.allow_private
            && let Some(message) = literal_refusal(&url)
        {
            return Err(ToolError::Http(message));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redirects = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&redirects);
        let allow_private = self.allow_private;
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout.min(ctx.timeout))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // Redirects must not leave http(s) (no file:, no data:), nor lead to a local
                // address given as an IP literal (names are checked by the resolver).
                if attempt.previous().len() >= 5 {
                    return attempt.error("more than 5 redirects");
                }
                if !matches!(attempt.url().scheme(), "http" | "https") {
                    return attempt.stop();
                }
                if !allow_private && let Some(message) = literal_refusal(attempt.url()) {
                    return attempt.error(message);
                }
                if let Ok(mut seen) = seen.lock() {
                    seen.push(attempt.url().to_string());
                }
                attempt.follow()
            }))
            .user_agent(concat!("rustbot/", env!("CARGO_PKG_VERSION")));
        if !self.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder
            .build()
            .map_err(|e| ToolError::Http(e.to_string()))?;
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| ToolError::Http(error_chain(&e)))?;
        let redirects = redirects.lock().map(|r| r.clone()).unwrap_or_default();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = Vec::new();
        let mut truncated = false;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ToolError::Http(e.to_string()))?;
            let room = cap - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let text = if content_type.contains("html")
            || (content_type.is_empty() && looks_like_html(&body))
        {
            html_to_text(&body, 100)
        } else if is_texty(&content_type) {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            format!("[{} bytes of {content_type} not shown]", body.len())
        };
        let mut out = format!("HTTP {} {url}\n", status.as_u16());
        for to in &redirects {
            out.push_str(&format!("redirected to {to}\n"));
        }
        out.push('\n');
        out.push_str(text.trim());
        if truncated {
            out.push_str(&format!("\n[truncated at {cap} bytes]"));
        }
        Ok(if status.is_success() {
            ToolOutput::text(out)
        } else {
            ToolOutput::error(out)
        })
    }
}

/// The refusal for a URL whose host is an IP literal on the local network.
fn literal_refusal(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    refusal(ip).map(|kind| refusal_message(host, ip, kind))
}

fn is_texty(content_type: &str) -> bool {
    content_type.is_empty()
        || content_type.starts_with("text/")
        || ["json", "xml", "javascript", "yaml", "csv"]
            .iter()
            .any(|t| content_type.contains(t))
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}
