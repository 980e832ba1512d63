//! `web_search`: searches the web through a configured backend — a SearXNG instance (JSON API,
//! self-hosted, no key), the Brave Search API or Tavily — and returns a numbered list of
//! results the model can cite as `[n]` and read further with `http_get`.
//!
//! Every failure (backend down, slow, rate-limited, malformed JSON) is an error result with a
//! sentence the model can act on, never a crash; the key never appears in a result.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use serde_json::{Value, json};

use super::{str_arg, u64_arg};
use crate::config::secrets::{Secret, key_from_env};
use crate::core::error_chain;
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Results returned when the model does not say (at most 10).
const DEFAULT_COUNT: u64 = 5;
/// Longest snippet kept per result, in characters.
const SNIPPET_CHARS: usize = 300;

pub use crate::config::tools::{SearchBackend, WebSearchConfig};

/// The tool for `config`, or the sentence saying why it is not offered and what to set.
pub fn web_search_tool(config: &WebSearchConfig) -> Result<WebSearch, String> {
    let Some(backend) = config.backend else {
        return Err("not offered: set [tools.web_search] backend = \"searxng\" with url = \"http://your-searxng\", or backend = \"brave\" (BRAVE_API_KEY) or \"tavily\" (TAVILY_API_KEY)".into());
    };
    let endpoint = match (backend, config.url.as_deref()) {
        (SearchBackend::Searxng, Some(base)) => {
            format!("{}/search", base.trim_end_matches('/'))
        }
        (SearchBackend::Searxng, None) => {
            return Err("not offered: backend \"searxng\" needs [tools.web_search] url, the instance's base URL (with format=json enabled in its settings.yml)".into());
        }
        (_, Some(url)) => url.to_string(),
        (_, None) => backend.default_url().unwrap_or_default().to_string(),
    };
    let key = match backend.key_var() {
        Some(var) => Some(key_from_env(var).ok_or_else(|| {
            format!(
                "not offered: backend \"{}\" needs {var} (environment, .env or the keyring)",
                backend.as_str()
            )
        })?),
        None => None,
    };
    Ok(WebSearch {
        backend,
        endpoint,
        key,
    })
}

/// Searches the web; needs approval (it reaches the network).
#[derive(Debug, Clone)]
pub struct WebSearch {
    backend: SearchBackend,
    endpoint: String,
    key: Option<Secret>,
}

impl WebSearch {
    /// The tool for `backend` at `endpoint` (the full search URL; SearXNG's ends in `/search`).
    pub fn new(backend: SearchBackend, endpoint: impl Into<String>, key: Option<Secret>) -> Self {
        Self {
            backend,
            endpoint: endpoint.into(),
            key,
        }
    }
}

/// One search result as the model sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHit {
    /// The page title.
    pub title: String,
    /// The page address.
    pub url: String,
    /// A short extract.
    pub snippet: String,
    /// The engine that found it (SearXNG), or the backend.
    pub engine: String,
    /// The publication date or age, when given.
    pub date: Option<String>,
}

#[async_trait]
impl Tool for WebSearch {
    fn name(&self) -> &str {
        "web_search"
    }

    fn description(&self) -> &str {
        "Search the web. Returns a numbered list of results (title, URL, snippet); cite them as [n] and read a page with http_get."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to search for"},
                "count": {"type": "integer", "minimum": 1, "maximum": 10, "description": "How many results (default 5)"},
                "freshness": {"type": "string", "enum": ["day", "week", "month", "year"], "description": "Only results from the last day, week, month or year"}
            },
            "required": ["query"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        true
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let query = str_arg(&args, "query")?.trim().to_string();
        if query.is_empty() {
            return Err(ToolError::InvalidArguments("the query is empty".into()));
        }
        let count = u64_arg(&args, "count")
            .unwrap_or(DEFAULT_COUNT)
            .clamp(1, 10);
        let freshness = args
            .get("freshness")
            .and_then(Value::as_str)
            .filter(|f| ["day", "week", "month", "year"].contains(f));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(ctx.timeout)
            .user_agent(concat!("rustbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ToolError::Http(e.to_string()))?;
        let request = match self.request(&client, &query, count, freshness) {
            Ok(r) => r,
            Err(e) => return Ok(ToolOutput::error(e)),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(ToolOutput::error(
                    self.redact(&self.send_error(&e, ctx.timeout)),
                ));
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after_secs(v, SystemTime::now()));
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(ToolOutput::error(
                    self.redact(&self.send_error(&e, ctx.timeout)),
                ));
            }
        };
        if !status.is_success() {
            return Ok(ToolOutput::error(self.redact(&self.status_error(
                status.as_u16(),
                &body,
                retry_after,
            ))));
        }
        match parse_hits(self.backend, &body) {
            Ok(hits) => Ok(ToolOutput::text(format_hits(&query, &hits, count as usize))),
            Err(e) => Ok(ToolOutput::error(format!(
                "the {} search backend answered with something that is not its JSON ({e}); try again later or use http_get on a search page",
                self.backend.as_str()
            ))),
        }
    }
}

impl WebSearch {
    fn request(
        &self,
        client: &reqwest::Client,
        query: &str,
        count: u64,
        freshness: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let url = |params: &[(&str, String)]| {
            let parsed = if params.is_empty() {
                reqwest::Url::parse(&self.endpoint)
            } else {
                reqwest::Url::parse_with_params(&self.endpoint, params)
            };
            parsed.map_err(|e| {
                format!(
                    "[tools.web_search] url `{}` is not a valid URL ({e})",
                    self.endpoint
                )
            })
        };
        Ok(match self.backend {
            SearchBackend::Searxng => {
                let mut params = vec![("q", query.to_string()), ("format", "json".into())];
                if let Some(f) = freshness {
                    params.push(("time_range", f.to_string()));
                }
                client.get(url(&params)?)
            }
            SearchBackend::Brave => {
                let mut params = vec![("q", query.to_string()), ("count", count.to_string())];
                if let Some(f) = freshness {
                    let code = match f {
                        "day" => "pd",
                        "week" => "pw",
                        "month" => "pm",
                        _ => "py",
                    };
                    params.push(("freshness", code.into()));
                }
                let mut r = client
                    .get(url(&params)?)
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(key) = &self.key {
                    r = r.header("X-Subscription-Token", key.expose());
                }
                r
            }
            SearchBackend::Tavily => {
                let mut body = json!({"query": query, "max_results": count});
                if let Some(f) = freshness {
                    body["time_range"] = json!(f);
                }
                let mut r = client.post(url(&[])?).json(&body);
                if let Some(key) = &self.key {
                    r = r.bearer_auth(key.expose());
                }
                r
            }
        })
    }

    fn send_error(&self, e: &reqwest::Error, timeout: Duration) -> String {
        let backend = self.backend.as_str();
        if e.is_timeout() {
            format!(
                "the {backend} search backend did not answer within {} s ([tools] timeout_secs); try again later",
                timeout.as_secs()
            )
        } else {
            format!(
                "the {backend} search backend at {} cannot be reached ({}); check that it is running",
                self.endpoint,
                error_chain(e)
            )
        }
    }

    fn status_error(&self, status: u16, body: &[u8], retry_after: Option<u64>) -> String {
        let backend = self.backend.as_str();
        let detail: String = String::from_utf8_lossy(body).chars().take(200).collect();
        match status {
            429 => format!(
                "the {backend} search backend is rate-limiting requests (429){}; search less often",
                retry_after.map_or_else(String::new, |s| format!(", it asks to wait {s} s"))
            ),
            401 | 403 => format!(
                "the {backend} search backend refused the key ({status}); check {}",
                self.backend.key_var().unwrap_or("its access settings")
            ),
            _ => format!(
                "the {backend} search backend answered {status}: {}",
                detail.trim()
            ),
        }
    }

    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(key) => key.redact(text),
            None => text.to_string(),
        }
    }
}

/// `Retry-After` in whole seconds (seconds or an HTTP date), bounded; None when unusable.
fn retry_after_secs(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.min(86_400));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).ok()?.as_secs().min(86_400))
}

/// The results in a backend's documented JSON shape.
pub fn parse_hits(backend: SearchBackend, body: &[u8]) -> Result<Vec<SearchHit>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let (list, snippet_key, date_keys): (&Value, &str, &[&str]) = match backend {
        SearchBackend::Searxng => (&value["results"], "content", &["publishedDate"]),
        SearchBackend::Brave => (
            &value["web"]["results"],
            "description",
            &["page_age", "age"],
        ),
        SearchBackend::Tavily => (&value["results"], "content", &["published_date"]),
    };
    let Some(items) = list.as_array() else {
        // Brave leaves `web` out when nothing was found.
        if backend == SearchBackend::Brave && value.is_object() && value.get("web").is_none() {
            return Ok(Vec::new());
        }
        return Err("no result list".into());
    };
    Ok(items
        .iter()
        .filter(|item| item.get("url").and_then(Value::as_str).is_some())
        .map(|item| SearchHit {
            title: text(item, "title"),
            url: text(item, "url"),
            snippet: text(item, snippet_key),
            engine: match backend {
                SearchBackend::Searxng => item
                    .get("engine")
                    .and_then(Value::as_str)
                    .unwrap_or("searxng")
                    .to_string(),
                other => other.as_str().to_string(),
            },
            date: date_keys
                .iter()
                .find_map(|k| item.get(*k).and_then(Value::as_str))
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        })
        .collect())
}

/// The numbered list the model reads: compact, one result per block.
pub fn format_hits(query: &str, hits: &[SearchHit], count: usize) -> String {
    if hits.is_empty() {
        return format!("No results for \"{query}\".");
    }
    let mut out = format!("Results for \"{query}\" (cite as [n]):\n");
    for (i, hit) in hits.iter().take(count).enumerate() {
        let snippet = one_line(&hit.snippet, SNIPPET_CHARS);
        out.push_str(&format!(
            "\n[{}] {}\n{}\n",
            i + 1,
            one_line(&hit.title, 200),
            hit.url
        ));
        if !snippet.is_empty() {
            out.push_str(&snippet);
            out.push('\n');
        }
        match &hit.date {
            Some(date) => out.push_str(&format!("({} · {date})\n", hit.engine)),
            None => out.push_str(&format!("({})\n", hit.engine)),
        }
    }
    out
}

/// `text` on one line, whitespace collapsed, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backends_shape_parses() {
        let searx = br#"{"query":"q","results":[{"title":"Rust","url":"https://rust-lang.org","content":"A language","engine":"duckduckgo","publishedDate":"2024-01-02"},{"title":"no url"}]}"#;
        let hits = parse_hits(SearchBackend::Searxng, searx).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].engine, "duckduckgo");
        assert_eq!(hits[0].date.as_deref(), Some("2024-01-02"));
        let brave = br#"{"type":"search","web":{"results":[{"title":"B","url":"https://b.example","description":"<strong>bold</strong> text","age":"2 days ago"}]}}"#;
        let hits = parse_hits(SearchBackend::Brave, brave).unwrap();
        assert_eq!(hits[0].snippet, "<strong>bold</strong> text");
        assert_eq!(hits[0].date.as_deref(), Some("2 days ago"));
        assert!(
            parse_hits(SearchBackend::Brave, br#"{"type":"search"}"#)
                .unwrap()
                .is_empty()
        );
        let tavily = br#"{"query":"q","results":[{"title":"T","url":"https://t.example","content":"c","score":0.9}]}"#;
        assert_eq!(
            parse_hits(SearchBackend::Tavily, tavily).unwrap()[0].engine,
            "tavily"
        );
        assert!(parse_hits(SearchBackend::Tavily, b"<html>").is_err());
        assert!(parse_hits(SearchBackend::Searxng, br#"{"results":7}"#).is_err());
    }

    #[test]
    fn the_list_is_numbered_compact_and_cut() {
        let hit = SearchHit {
            title: "A\n title".into(),
            url: "https://a.example".into(),
            snippet: "x ".repeat(400),
            engine: "brave".into(),
            date: None,
        };
        let text = format_hits("q", &[hit.clone(), hit.clone(), hit], 2);
        assert!(text.contains("[1] A title\nhttps://a.example\n"), "{text}");
        assert!(text.contains("[2] ") && !text.contains("[3] "), "{text}");
        assert!(text.contains("…\n(brave)"), "{text}");
        assert_eq!(format_hits("q", &[], 5), "No results for \"q\".");
    }

    #[test]
    fn config_says_what_is_missing() {
        let none = web_search_tool(&WebSearchConfig::default()).unwrap_err();
        assert!(none.contains("backend"), "{none}");
        let searx = WebSearchConfig {
            backend: Some(SearchBackend::Searxng),
            url: None,
            ..Default::default()
        };
        assert!(web_search_tool(&searx).unwrap_err().contains("url"));
        let ok = web_search_tool(&WebSearchConfig {
            backend: Some(SearchBackend::Searxng),
            url: Some("http://127.0.0.1:8888/".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.endpoint, "http://127.0.0.1:8888/search");
        assert_eq!(retry_after_secs("7", SystemTime::now()), Some(7));
        assert_eq!(retry_after_secs("1e20", SystemTime::now()), None);
    }
}
