//! Tools the model may call: the `Tool` trait, the registry, approvals, the built-in tools
//! confined to a workspace, and tools served by MCP servers.

pub mod approval;
pub mod builtin;
pub mod call_display;
pub mod mcp;
pub mod mcp_config;
pub mod registry;
pub mod schema;
pub mod workspace;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use approval::{
    ApprovalMode, ApprovalPolicy, ApprovedBy, CliApproval, Decision, DeniedBy, ToolsConfig,
};
pub use mcp::{McpError, McpFailure, McpManager, McpOptions, McpTool};
pub use mcp_config::{McpConfigError, McpServerConfig, import_claude_desktop};
pub use registry::{ToolFilter, ToolInfo, ToolRegistry, ToolResult, ValidatedCall};
pub use workspace::{Workspace, WorkspaceError};

/// Where a tool comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolSource {
    /// Compiled into Rustbot.
    Builtin,
    /// Served by the MCP server configured under this name.
    Mcp {
        /// The server's name in the configuration.
        server: String,
    },
}

impl std::fmt::Display for ToolSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolSource::Builtin => f.write_str("builtin"),
            ToolSource::Mcp { server } => write!(f, "mcp:{server}"),
        }
    }
}

/// What a tool call runs with.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// Root directory for file and shell tools.
    pub workspace: PathBuf,
    /// Cancelled when the user stops the run.
    pub cancel: CancellationToken,
    /// Longest time one call may take.
    pub timeout: Duration,
}

impl ToolContext {
    /// A context for `workspace` with a fresh token and the default timeout.
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        Self {
            workspace: workspace.into(),
            cancel: CancellationToken::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The default time limit of one tool call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a tool returns to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Text for the model.
    pub content: String,
    /// Whether the tool reports a failure (an MCP `isError` result, say).
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful result.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
        }
    }

    /// A failure the tool itself reports.
    pub fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: true,
        }
    }
}

/// Why a tool call failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No tool has this name.
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    /// The arguments are not valid JSON.
    #[error("arguments are not valid JSON: {0}")]
    BadJson(String),
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The path is not allowed.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path as the model gave it.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The call took longer than allowed.
    #[error("timed out after {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The user stopped the run.
    #[error("cancelled")]
    Cancelled,
    /// An HTTP request failed.
    #[error("http: {0}")]
    Http(String),
    /// An MCP server failed or is gone.
    #[error("mcp server `{server}`: {message}")]
    Mcp {
        /// The server's name.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// Any other failure, as a sentence.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// An `Io` error for `path`.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// A function the model may call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The name the model uses (unique in a registry).
    fn name(&self) -> &str;
    /// What the tool does, for the model.
    fn description(&self) -> &str;
    /// JSON Schema of the arguments object.
    fn parameters(&self) -> Value;
    /// Where the tool comes from.
    fn source(&self) -> ToolSource {
        ToolSource::Builtin
    }
    /// Whether a call with these arguments needs the user's approval (zed's
    /// `needs_confirmation`): anything that writes, runs or reaches the network does.
    fn needs_approval(&self, args: &Value) -> bool;
    /// The approval mode when the configuration names none.
    fn default_mode(&self) -> ApprovalMode {
        // An empty object stands for "any call"; tools whose answer depends on the
        // arguments should override this.
        if self.needs_approval(&Value::Object(serde_json::Map::new())) {
            ApprovalMode::Ask
        } else {
            ApprovalMode::Allow
        }
    }
    /// Runs the tool. Arguments have been checked against `parameters()`.
    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError>;
}
