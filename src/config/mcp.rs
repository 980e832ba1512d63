//! MCP server configuration: `[mcp_servers.NAME]` tables in config.toml, and the import of a
//! Claude-Desktop-style `{"mcpServers": {...}}` file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How to reach one MCP server: a command (stdio) or a URL (streamable HTTP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct McpServerConfig {
    /// Program to start for a stdio server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables for it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// URL of a streamable-HTTP server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP headers sent to it (`Authorization`, say).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Why an MCP configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum McpConfigError {
    /// The file is not valid JSON of the expected shape.
    #[error("not a Claude Desktop MCP config: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Deserialize)]
struct ClaudeDesktopFile {
    #[serde(rename = "mcpServers", default)]
    mcp_servers: BTreeMap<String, ClaudeServer>,
}

// Claude Desktop and its imitators use the same field names as ours, plus `type`
// ("stdio" | "http" | "sse") and `disabled`, which we read and drop.
#[derive(Deserialize)]
struct ClaudeServer {
    #[serde(flatten)]
    config: McpServerConfig,
    #[serde(default)]
    disabled: bool,
}

/// Reads the `mcpServers` of a Claude Desktop config (`claude_desktop_config.json`);
/// disabled servers are left out.
pub fn import_claude_desktop(
    json: &str,
) -> Result<BTreeMap<String, McpServerConfig>, McpConfigError> {
    let file: ClaudeDesktopFile = serde_json::from_str(json)?;
    Ok(file
        .mcp_servers
        .into_iter()
        .filter(|(_, s)| !s.disabled)
        .map(|(name, s)| (name, s.config))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_claude_desktop_servers() {
        let json = r#"{
          "mcpServers": {
            "filesystem": {
              "command": "npx",
              "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
              "env": {"DEBUG": "1"}
            },
            "remote": {"type": "http", "url": "http://127.0.0.1:3001/mcp", "headers": {"Authorization": "Bearer x"}},
            "off": {"command": "x", "disabled": true}
          },
          "globalShortcut": "Ctrl+Space"
        }"#;
        let servers = import_claude_desktop(json).unwrap();
        assert_eq!(servers.len(), 2);
        let fs = &servers["filesystem"];
        assert_eq!(fs.command.as_deref(), Some("npx"));
        assert_eq!(fs.args.len(), 3);
        assert_eq!(fs.env["DEBUG"], "1");
        let remote = &servers["remote"];
        assert_eq!(remote.url.as_deref(), Some("http://127.0.0.1:3001/mcp"));
        assert_eq!(remote.headers["Authorization"], "Bearer x");
        assert!(import_claude_desktop("[1]").is_err());
    }

    #[test]
    fn reads_toml_tables() {
        #[derive(Deserialize)]
        struct Cfg {
            mcp_servers: BTreeMap<String, McpServerConfig>,
        }
        let cfg: Cfg = toml::from_str(
            "[mcp_servers.everything]\ncommand = \"mcp-server-everything\"\nargs = [\"stdio\"]\n\
             [mcp_servers.web]\nurl = \"http://127.0.0.1:3001/mcp\"\nheaders = { Authorization = \"Bearer t\" }\n",
        )
        .unwrap();
        assert_eq!(cfg.mcp_servers["everything"].args, vec!["stdio"]);
        assert!(cfg.mcp_servers["web"].command.is_none());
    }
}
