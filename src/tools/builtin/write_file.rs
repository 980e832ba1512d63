//! `write_file`: creates or replaces (or appends to) a file in the workspace.

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{str_arg, workspace};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Writes a text file in the workspace; needs approval.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteFile;

#[async_trait]
impl Tool for WriteFile {
    fn name(&self) -> &str {
        "write_file"
    }

    fn description(&self) -> &str {
        "Write text to a file in the workspace, creating parent directories. Replaces the file unless `append` is true."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the workspace"},
                "content": {"type": "string", "description": "The text to write"},
                "append": {"type": "boolean", "description": "Append instead of replacing (default false)"}
            },
            "required": ["path", "content"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        true
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let given = str_arg(&args, "path")?;
        let content = str_arg(&args, "content")?;
        let append = args.get("append").and_then(Value::as_bool).unwrap_or(false);
        let ws = workspace(ctx)?;
        let path = ws.resolve(given)?;
        let io = |e| ToolError::io(given, e);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create(true);
        if append {
            opts.append(true);
        } else {
            opts.truncate(true);
        }
        // A symlink planted after the check must not be followed out of the workspace.
        opts.custom_flags(libc::O_NOFOLLOW);
        let mut file = opts.open(&path).await.map_err(io)?;
        file.write_all(content.as_bytes()).await.map_err(io)?;
        file.flush().await.map_err(io)?;
        let verb = if append { "appended" } else { "wrote" };
        Ok(ToolOutput::text(format!(
            "{verb} {} bytes to {}",
            content.len(),
            ws.display(&path)
        )))
    }
}
