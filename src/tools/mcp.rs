//! MCP servers through the official SDK (`rmcp`): starts each configured server (stdio child
//! process or streamable HTTP), lists its tools and wraps each as a `Tool` named
//! `SERVER__tool`. A server that fails to start or hangs is reported in a list of failures
//! while the others keep working; a server that dies makes its calls return errors.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::mcp_config::McpServerConfig;
use super::{ApprovalMode, Tool, ToolContext, ToolError, ToolOutput, ToolRegistry, ToolSource};

/// Separates the server name from the tool name in `SERVER__tool`.
pub const SEPARATOR: &str = "__";

type Client = RunningService<RoleClient, ()>;

/// Time limits for MCP servers.
#[derive(Debug, Clone, Copy)]
pub struct McpOptions {
    /// Longest time to start a server, initialize it and list its tools.
    pub start_timeout: Duration,
    /// Longest time one tool call may take (the registry's own timeout also applies).
    pub call_timeout: Duration,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            start_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a server could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// The configuration has neither `command` nor `url`, or both.
    #[error("needs exactly one of `command` or `url`")]
    BadConfig,
    /// The process could not be started.
    #[error("cannot start: {0}")]
    Spawn(String),
    /// The MCP handshake or tool listing failed.
    #[error("initialize failed: {0}")]
    Initialize(String),
    /// The server did not finish starting in time.
    #[error("did not start within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// A server that could not be used, for the user to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpFailure {
    /// The server's name in the configuration.
    pub server: String,
    /// What went wrong.
    pub error: McpError,
}

/// One running server.
struct Server {
    client: Arc<Client>,
    pid: Option<u32>,
    tools: Vec<Arc<dyn Tool>>,
}

/// The running MCP servers and their tools.
#[derive(Default)]
pub struct McpManager {
    servers: BTreeMap<String, Server>,
}

impl McpManager {
    /// Starts every server in `configs` at once; returns the manager of those that came up
    /// and the failures of those that did not.
    pub async fn start(
        configs: &BTreeMap<String, McpServerConfig>,
        opts: McpOptions,
    ) -> (Self, Vec<McpFailure>) {
        let starts = configs.iter().map(|(name, cfg)| async move {
            let started =
                tokio::time::timeout(opts.start_timeout, start_server(name, cfg, opts)).await;
            let result = match started {
                Ok(r) => r,
                Err(_) => Err(McpError::Timeout(opts.start_timeout)),
            };
            (name.clone(), result)
        });
        let mut manager = Self::default();
        let mut failures = Vec::new();
        for (name, result) in futures::future::join_all(starts).await {
            match result {
                Ok(server) => {
                    manager.servers.insert(name, server);
                }
                Err(error) => {
                    tracing::warn!(server = %name, %error, "MCP server unavailable");
                    failures.push(McpFailure {
                        server: name,
                        error,
                    });
                }
            }
        }
        (manager, failures)
    }

    /// Names of the running servers.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    /// Process id of a stdio server (for diagnostics and tests).
    pub fn pid(&self, server: &str) -> Option<u32> {
        self.servers.get(server).and_then(|s| s.pid)
    }

    /// Every tool of every running server.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        self.servers
            .values()
            .flat_map(|s| s.tools.iter().cloned())
            .collect()
    }

    /// Adds every server's tools to `registry`.
    pub fn register_into(&self, registry: &mut ToolRegistry) {
        for tool in self.tools() {
            registry.register(tool);
        }
    }

    /// Closes every connection (stdio servers are ended with their transport).
    pub async fn shutdown(self) {
        for (name, server) in self.servers {
            // Tools still hold the client; cancelling its token ends the connection anyway.
            let token = server.client.cancellation_token();
            token.cancel();
            tracing::debug!(server = %name, "MCP server closed");
        }
    }
}

async fn start_server(
    name: &str,
    cfg: &McpServerConfig,
    opts: McpOptions,
) -> Result<Server, McpError> {
    let (client, pid) = match (&cfg.command, &cfg.url) {
        (Some(command), None) => {
            let mut cmd = tokio::process::Command::new(command);
            // No API key or serve token reaches a server unless its `env` names it.
            for var in crate::config::secrets::SECRET_VARS {
                cmd.env_remove(var);
            }
            cmd.args(&cfg.args).envs(&cfg.env);
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| McpError::Spawn(format!("{command}: {e}")))?;
            let pid = transport.id();
            if let Some(stderr) = stderr {
                let server = name.to_string();
                // Servers log to stderr; keep it out of the terminal but in the log.
                tokio::spawn(async move {
                    let mut lines = tokio::io::BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::debug!(server = %server, "{line}");
                    }
                });
            }
            let client =
                ().serve(transport)
                    .await
                    .map_err(|e| McpError::Initialize(e.to_string()))?;
            (client, pid)
        }
        (None, Some(url)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut headers = reqwest::header::HeaderMap::new();
            for (k, v) in &cfg.headers {
                let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| McpError::Spawn(format!("header {k}: {e}")))?;
                let value = reqwest::header::HeaderValue::from_str(v)
                    .map_err(|e| McpError::Spawn(format!("header {k}: {e}")))?;
                headers.insert(name, value);
            }
            let http = reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .map_err(|e| McpError::Spawn(e.to_string()))?;
            let transport = StreamableHttpClientTransport::with_client(
                http,
                StreamableHttpClientTransportConfig::with_uri(url.as_str()),
            );
            let client =
                ().serve(transport)
                    .await
                    .map_err(|e| McpError::Initialize(e.to_string()))?;
            (client, None)
        }
        _ => return Err(McpError::BadConfig),
    };
    let client = Arc::new(client);
    let listed = client
        .list_all_tools()
        .await
        .map_err(|e| McpError::Initialize(format!("tools/list: {e}")))?;
    let tools = listed
        .into_iter()
        .map(|t| {
            let tool: Arc<dyn Tool> = Arc::new(McpTool {
                full_name: format!("{name}{SEPARATOR}{}", t.name),
                server: name.to_string(),
                remote_name: t.name.to_string(),
                description: t.description.map(|d| d.to_string()).unwrap_or_default(),
                schema: Value::Object((*t.input_schema).clone()),
                client: Arc::clone(&client),
                call_timeout: opts.call_timeout,
            });
            tool
        })
        .collect();
    Ok(Server { client, pid, tools })
}

/// One tool of an MCP server.
pub struct McpTool {
    full_name: String,
    server: String,
    remote_name: String,
    description: String,
    schema: Value,
    client: Arc<Client>,
    call_timeout: Duration,
}

impl McpTool {
    fn error(&self, message: impl Into<String>) -> ToolError {
        ToolError::Mcp {
            server: self.server.clone(),
            message: message.into(),
        }
    }
}

#[async_trait]
impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.full_name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> Value {
        self.schema.clone()
    }

    fn source(&self) -> ToolSource {
        ToolSource::Mcp {
            server: self.server.clone(),
        }
    }

    // We cannot know what a third-party tool does; MCP's `readOnlyHint` is only a hint
    // from the server, so every MCP tool asks unless the config says otherwise.
    fn needs_approval(&self, _args: &Value) -> bool {
        true
    }

    fn default_mode(&self) -> ApprovalMode {
        ApprovalMode::Ask
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let mut params = CallToolRequestParams::new(self.remote_name.clone());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        let limit = self.call_timeout.min(ctx.timeout);
        let result = tokio::select! {
            r = tokio::time::timeout(limit, self.client.call_tool(params)) => match r {
                Ok(r) => r.map_err(|e| self.error(e.to_string()))?,
                Err(_) => return Err(self.error(format!("no answer within {} s", limit.as_secs()))),
            },
            _ = ctx.cancel.cancelled() => return Err(ToolError::Cancelled),
        };
        Ok(to_output(result))
    }
}

/// Flattens an MCP result to text: text blocks as is, other blocks described.
fn to_output(result: CallToolResult) -> ToolOutput {
    let mut parts: Vec<String> = result
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => format!("[image {}]", i.mime_type),
            ContentBlock::Audio(a) => format!("[audio {}]", a.mime_type),
            other => serde_json::to_string(other).unwrap_or_else(|_| "[content]".to_string()),
        })
        .collect();
    if parts.is_empty()
        && let Some(structured) = &result.structured_content
    {
        parts.push(structured.to_string());
    }
    let content = parts.join("\n");
    if result.is_error.unwrap_or(false) {
        ToolOutput::error(content)
    } else {
        ToolOutput::text(content)
    }
}
