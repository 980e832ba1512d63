//! MCP server entries (`[mcp_servers.NAME]`), owned by `config` (`config/mcp.rs`).

pub use crate::config::mcp::{McpConfigError, McpServerConfig, import_claude_desktop};
