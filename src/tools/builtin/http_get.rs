//! `http_get`: fetches an http(s) URL and returns its text; HTML is turned into plain text.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{str_arg, u64_arg};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Fetches a web page; needs approval (it reaches the network).
#[derive(Debug, Clone)]
pub struct HttpGet {
    /// Most bytes of the body read.
    pub max_bytes: usize,
    /// Time limit of the whole request.
    pub timeout: Duration,
}

impl Default for HttpGet {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            timeout: Duration::from_secs(30),
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
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(self.timeout.min(ctx.timeout))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Redirects must not leave http(s) (no file:, no data:).
                if attempt.previous().len() >= 5
                    || !matches!(attempt.url().scheme(), "http" | "https")
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(concat!("rustbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ToolError::Http(e.to_string()))?;
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| ToolError::Http(e.to_string()))?;
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
            html2text::from_read(body.as_slice(), 100)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned())
        } else if is_texty(&content_type) {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            format!("[{} bytes of {content_type} not shown]", body.len())
        };
        let mut out = format!("HTTP {} {url}\n\n{}", status.as_u16(), text.trim());
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
