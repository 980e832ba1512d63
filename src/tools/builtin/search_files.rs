//! `search_files`: a regex search over the files of the workspace, honouring .gitignore
//! (the `ignore` crate's walker, as ripgrep uses), without following symlinks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;
use regex::Regex;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{str_arg, u64_arg, workspace};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Searches file contents in the workspace.
#[derive(Debug, Clone)]
pub struct SearchFiles {
    /// Most matching lines returned.
    pub max_results: usize,
    /// Files larger than this are skipped.
    pub max_file_bytes: u64,
}

impl Default for SearchFiles {
    fn default() -> Self {
        Self {
            max_results: 200,
            max_file_bytes: 4 * 1024 * 1024,
        }
    }
}

struct Query {
    root: PathBuf,
    base: PathBuf,
    regex: Regex,
    glob: Option<String>,
    max_results: usize,
    max_file_bytes: u64,
}

#[async_trait]
impl Tool for SearchFiles {
    fn name(&self) -> &str {
        "search_files"
    }

    fn description(&self) -> &str {
        "Search the contents of files in the workspace with a regular expression (Rust regex syntax). Respects .gitignore. Returns `path:line: text` lines."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Regular expression to look for"},
                "path": {"type": "string", "description": "Directory to search, relative to the workspace (default: all of it)"},
                "glob": {"type": "string", "description": "Only files whose path matches this glob, e.g. `*.rs`"},
                "case_insensitive": {"type": "boolean"},
                "max_results": {"type": "integer"}
            },
            "required": ["pattern"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let pattern = str_arg(&args, "pattern")?;
        let ci = args
            .get("case_insensitive")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let regex = regex::RegexBuilder::new(pattern)
            .case_insensitive(ci)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| ToolError::InvalidArguments(format!("bad pattern: {e}")))?;
        let ws = workspace(ctx)?;
        let base = ws.resolve(args.get("path").and_then(Value::as_str).unwrap_or("."))?;
        let max_results = u64_arg(&args, "max_results")
            .map_or(self.max_results, |n| (n as usize).min(self.max_results));
        let query = Query {
            root: ws.root().to_path_buf(),
            base,
            regex,
            glob: args.get("glob").and_then(Value::as_str).map(String::from),
            max_results,
            max_file_bytes: self.max_file_bytes,
        };
        let cancel = ctx.cancel.clone();
        // The walk is blocking I/O; the token lets it stop early when the call is abandoned.
        tokio::task::spawn_blocking(move || search(&query, &cancel))
            .await
            .map_err(|e| ToolError::Failed(format!("search task failed: {e}")))?
    }
}

fn search(q: &Query, cancel: &CancellationToken) -> Result<ToolOutput, ToolError> {
    let mut walk = WalkBuilder::new(&q.base);
    walk.follow_links(false).require_git(false);
    if let Some(glob) = &q.glob {
        let mut ob = OverrideBuilder::new(&q.base);
        ob.add(glob)
            .map_err(|e| ToolError::InvalidArguments(format!("bad glob: {e}")))?;
        let ov = ob
            .build()
            .map_err(|e| ToolError::InvalidArguments(format!("bad glob: {e}")))?;
        walk.overrides(ov);
    }
    let mut hits = Vec::new();
    let mut truncated = false;
    'files: for entry in walk.build() {
        if cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        let Ok(entry) = entry else { continue };
        // Only regular files: symlinks are skipped so none is read through to outside.
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        if entry
            .metadata()
            .map_or(true, |m| m.len() > q.max_file_bytes)
        {
            continue;
        }
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
            let Ok(line) = line else { continue 'files };
            if line.contains(&0) {
                continue 'files; // binary
            }
            let text = String::from_utf8_lossy(&line);
            if q.regex.is_match(&text) {
                if hits.len() >= q.max_results {
                    truncated = true;
                    break 'files;
                }
                let shown: String = text.trim_end().chars().take(300).collect();
                hits.push(format!("{}:{}: {shown}", rel(&q.root, path), i + 1));
            }
        }
    }
    if hits.is_empty() {
        return Ok(ToolOutput::text("no matches"));
    }
    let mut out = hits.join("\n");
    if truncated {
        out.push_str(&format!("\n[stopped at {} matches]", q.max_results));
    }
    Ok(ToolOutput::text(out))
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
