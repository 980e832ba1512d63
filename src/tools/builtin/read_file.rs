//! `read_file`: the text of a file in the workspace, up to a size cap.

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{str_arg, u64_arg, workspace};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Reads a text file in the workspace.
#[derive(Debug, Clone)]
pub struct ReadFile {
    /// Most bytes returned by one call.
    pub max_bytes: u64,
}

impl Default for ReadFile {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
        }
    }
}

#[async_trait]
impl Tool for ReadFile {
    fn name(&self) -> &str {
        "read_file"
    }

    fn description(&self) -> &str {
        "Read a text file in the workspace. Large files are cut; use `offset` to read on."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the workspace"},
                "offset": {"type": "integer", "description": "Byte offset to start at (default 0)"},
                "max_bytes": {"type": "integer", "description": "Most bytes to read"}
            },
            "required": ["path"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let given = str_arg(&args, "path")?;
        let path = workspace(ctx)?.resolve(given)?;
        let offset = u64_arg(&args, "offset").unwrap_or(0);
        let cap = u64_arg(&args, "max_bytes")
            .unwrap_or(self.max_bytes)
            .min(self.max_bytes);
        let io = |e| ToolError::io(given, e);
        let mut file = tokio::fs::File::open(&path).await.map_err(io)?;
        let meta = file.metadata().await.map_err(io)?;
        if meta.is_dir() {
            return Err(ToolError::Failed(format!(
                "{given} is a directory; use list_dir"
            )));
        }
        let size = meta.len();
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io)?;
        let mut buf = Vec::new();
        file.take(cap).read_to_end(&mut buf).await.map_err(io)?;
        if buf.contains(&0) {
            return Ok(ToolOutput::error(format!(
                "{given} looks binary ({size} bytes); not shown"
            )));
        }
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        let end = offset + buf.len() as u64;
        if end < size {
            text.push_str(&format!(
                "\n[truncated: bytes {offset}..{end} of {size}; call again with offset {end}]"
            ));
        }
        Ok(ToolOutput::text(text))
    }
}
