//! The built-in tools, one per file. File and shell tools are confined to the workspace in
//! `ToolContext::workspace` (see `workspace.rs`).

mod html_text;
mod http_get;
mod list_dir;
mod net_guard;
mod read_file;
mod run_shell;
mod search_files;
mod system_info;
mod web_search;
mod write_file;

use std::sync::Arc;

use serde_json::Value;

pub use html_text::html_to_text;
pub use http_get::HttpGet;
pub use list_dir::ListDir;
pub use read_file::ReadFile;
pub use run_shell::RunShell;
pub use search_files::SearchFiles;
pub use system_info::SystemInfo;
pub use web_search::{
    SearchBackend, SearchHit, WebSearch, WebSearchConfig, format_hits, parse_hits,
};
pub use write_file::WriteFile;

use super::{Tool, ToolContext, ToolError, ToolsConfig, Workspace};

/// Every built-in tool with its default settings.
pub fn all() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(ReadFile::default()),
        Arc::new(ListDir::default()),
        Arc::new(WriteFile),
        Arc::new(SearchFiles::default()),
        Arc::new(RunShell::default()),
        Arc::new(HttpGet::default()),
        Arc::new(SystemInfo),
    ]
}

/// The built-in tools as `[tools]` sets them up: `http_get` with its local-network rule, and
/// `web_search` when a backend is configured — else the sentence saying why it is not offered.
pub fn configured(config: &ToolsConfig) -> (Vec<Arc<dyn Tool>>, Option<String>) {
    let mut tools = all();
    if config.http_allow_private {
        tools.retain(|t| t.name() != "http_get");
        tools.push(Arc::new(HttpGet {
            allow_private: true,
            ..Default::default()
        }));
    }
    let mut note = None;
    match web_search::web_search_tool(&config.web_search) {
        Ok(search) => tools.push(Arc::new(search)),
        Err(why) => note = Some(format!("web_search: {why}")),
    }
    if config.web_search.openrouter_plugin {
        let on = "OpenRouter's own web search is on (openrouter_plugin = true): requests to OpenRouter ask it to search";
        note = Some(match note {
            Some(n) => format!("{n}\n{on}"),
            None => on.to_string(),
        });
    }
    (tools, note)
}

/// The workspace of a call.
fn workspace(ctx: &ToolContext) -> Result<Workspace, ToolError> {
    Ok(Workspace::new(&ctx.workspace)?)
}

/// A required string argument (the schema check already made sure it is there).
fn str_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::InvalidArguments(format!("missing string `{name}`")))
}

/// An optional non-negative integer argument.
fn u64_arg(args: &Value, name: &str) -> Option<u64> {
    args.get(name)
        .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
}
