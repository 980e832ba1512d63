//! `list_dir`: the entries of a directory in the workspace.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::workspace;
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Lists a directory in the workspace.
#[derive(Debug, Clone)]
pub struct ListDir {
    /// Most entries shown.
    pub max_entries: usize,
}

impl Default for ListDir {
    fn default() -> Self {
        Self { max_entries: 1000 }
    }
}

#[async_trait]
impl Tool for ListDir {
    fn name(&self) -> &str {
        "list_dir"
    }

    fn description(&self) -> &str {
        "List a directory in the workspace: one entry a line, directories end with `/`, files show their size."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Directory relative to the workspace (default: the workspace root)"}
            }
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let given = args.get("path").and_then(Value::as_str).unwrap_or(".");
        let path = workspace(ctx)?.resolve(given)?;
        let io = |e| ToolError::io(given, e);
        let mut dir = tokio::fs::read_dir(&path).await.map_err(io)?;
        let mut lines = Vec::new();
        while let Some(entry) = dir.next_entry().await.map_err(io)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            // DirEntry metadata does not follow links, so a link out of the workspace is
            // shown as a link rather than read through.
            let line = match entry.metadata().await {
                Ok(m) if m.is_dir() => format!("{name}/"),
                Ok(m) if m.is_symlink() => format!("{name}@"),
                Ok(m) => format!("{name}\t{} bytes", m.len()),
                Err(_) => name,
            };
            lines.push(line);
        }
        lines.sort();
        let total = lines.len();
        if total == 0 {
            return Ok(ToolOutput::text("(empty directory)"));
        }
        lines.truncate(self.max_entries);
        let mut out = lines.join("\n");
        if total > self.max_entries {
            out.push_str(&format!(
                "\n[{} of {total} entries shown]",
                self.max_entries
            ));
        }
        Ok(ToolOutput::text(out))
    }
}
