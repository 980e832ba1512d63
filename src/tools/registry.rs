//! The set of tools the model may call: what it is told (`specs`), what `rustbot tools`
//! shows (`list`), and the checked, time-limited call path whose every failure becomes an
//! error result the model can read.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::approval::{ApprovalMode, ApprovalPolicy, glob_match};
use super::{Tool, ToolContext, ToolError, ToolOutput, ToolSource, schema};
use crate::llm::types::{ToolCall, ToolSpec};

/// Longest result text handed back to the model; tools cap their own output below this,
/// this only guards against MCP servers that do not.
pub const MAX_RESULT_CHARS: usize = 100_000;

/// Extra time a tool gets past its timeout to report partial output itself before the
/// registry drops it.
const GRACE: Duration = Duration::from_secs(2);

/// Which tools the model is offered (`--tools NAMES|all|none`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolFilter {
    /// Every registered tool.
    #[default]
    All,
    /// No tool.
    None,
    /// Tools whose name matches one of these names or globs (`fs__*`).
    Names(Vec<String>),
}

impl ToolFilter {
    /// Whether the tool called `name` passes the filter.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            ToolFilter::All => true,
            ToolFilter::None => false,
            ToolFilter::Names(patterns) => patterns.iter().any(|p| glob_match(p, name)),
        }
    }
}

impl FromStr for ToolFilter {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Ok(match s.to_ascii_lowercase().as_str() {
            "all" => ToolFilter::All,
            "none" | "" => ToolFilter::None,
            _ => ToolFilter::Names(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
            ),
        })
    }
}

/// One line of `rustbot tools`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolInfo {
    /// The tool's name.
    pub name: String,
    /// Where it comes from.
    pub source: ToolSource,
    /// Its effective approval mode.
    pub approval: ApprovalMode,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// The result of a call, as sent back to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolResult {
    /// Text for the model.
    pub content: String,
    /// Whether the call failed.
    pub is_error: bool,
}

impl ToolResult {
    /// An error result with the error's message.
    pub fn from_error(err: &ToolError) -> Self {
        Self {
            content: format!("error: {err}"),
            is_error: true,
        }
    }
}

impl From<ToolOutput> for ToolResult {
    fn from(out: ToolOutput) -> Self {
        Self {
            content: truncate_chars(out.content, MAX_RESULT_CHARS),
            is_error: out.is_error,
        }
    }
}

/// A call whose tool exists and whose arguments parsed and matched the schema; ready for
/// an approval decision and then `ToolRegistry::run`.
#[derive(Clone)]
pub struct ValidatedCall {
    /// The call's id.
    pub id: String,
    /// The tool.
    pub tool: Arc<dyn Tool>,
    /// The parsed arguments.
    pub args: Value,
}

impl ValidatedCall {
    /// The tool's own answer to whether these arguments need approval.
    pub fn needs_approval(&self) -> bool {
        self.tool.needs_approval(&self.args)
    }
}

impl std::fmt::Debug for ValidatedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedCall")
            .field("id", &self.id)
            .field("tool", &self.tool.name())
            .field("args", &self.args)
            .finish()
    }
}

/// Built-in and MCP tools by name.
#[derive(Default, Clone)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with every built-in tool.
    pub fn with_builtins() -> Self {
        let mut reg = Self::new();
        for tool in super::builtin::all() {
            reg.register(tool);
        }
        reg
    }

    /// The built-in tools as `[tools]` sets them up (see `builtin::configured`), with the
    /// sentence saying why `web_search` is not offered, if it is not.
    pub fn configured(config: &crate::tools::ToolsConfig) -> (Self, Option<String>) {
        let mut reg = Self::new();
        let (tools, note) = super::builtin::configured(config);
        for tool in tools {
            reg.register(tool);
        }
        (reg, note)
    }

    /// Adds a tool, replacing one of the same name (returned).
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Option<Arc<dyn Tool>> {
        self.tools.insert(tool.name().to_string(), tool)
    }

    /// Removes every tool from `source` (an MCP server being restarted, say).
    pub fn remove_source(&mut self, source: &ToolSource) {
        self.tools.retain(|_, t| &t.source() != source);
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there is no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// What the model is told about the tools that pass `filter`, sorted by name.
    pub fn specs(&self, filter: &ToolFilter) -> Vec<ToolSpec> {
        self.tools
            .values()
            .filter(|t| filter.allows(t.name()))
            .map(|t| ToolSpec {
                name: t.name().to_string(),
                description: t.description().to_string(),
                parameters: t.parameters(),
            })
            .collect()
    }

    /// Every tool with its source and effective approval mode, sorted by name.
    pub fn list(&self, policy: &ApprovalPolicy) -> Vec<ToolInfo> {
        self.tools
            .values()
            .map(|t| ToolInfo {
                name: t.name().to_string(),
                source: t.source(),
                approval: policy.mode(t.name(), t.default_mode()),
                description: t.description().to_string(),
                parameters: t.parameters(),
            })
            .collect()
    }

    /// Finds the tool, parses the arguments and checks them against its schema.
    pub fn validate(&self, call: &ToolCall) -> Result<ValidatedCall, ToolError> {
        let tool = self
            .tools
            .get(&call.name)
            .ok_or_else(|| ToolError::UnknownTool(call.name.clone()))?;
        // Models send "" for a call without arguments.
        let text = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let args: Value =
            serde_json::from_str(text).map_err(|e| ToolError::BadJson(e.to_string()))?;
        schema::validate(&tool.parameters(), &args).map_err(ToolError::InvalidArguments)?;
        Ok(ValidatedCall {
            id: call.id.clone(),
            tool: Arc::clone(tool),
            args,
        })
    }

    /// Runs a validated (and approved) call under the context's timeout and cancellation.
    pub async fn run(&self, call: ValidatedCall, ctx: &ToolContext) -> ToolResult {
        let ValidatedCall { tool, args, .. } = call;
        let limit = ctx.timeout + GRACE;
        let outcome = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => Err(ToolError::Cancelled),
            r = tokio::time::timeout(limit, tool.call(args, ctx)) => match r {
                Ok(r) => r,
                Err(_) => Err(ToolError::Timeout(ctx.timeout)),
            },
        };
        match outcome {
            Ok(out) => out.into(),
            Err(e) => {
                tracing::debug!(tool = tool.name(), error = %e, "tool call failed");
                ToolResult::from_error(&e)
            }
        }
    }

    /// Validates and runs a call without asking about approval (the engine decides that
    /// between `validate` and `run`); every failure is an error result.
    pub async fn call(&self, call: &ToolCall, ctx: &ToolContext) -> ToolResult {
        match self.validate(call) {
            Ok(v) => self.run(v, ctx).await,
            Err(e) => ToolResult::from_error(&e),
        }
    }
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

/// Cuts `text` to at most `max` characters, saying so at the end.
pub fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((idx, _)) = text.char_indices().nth(max) {
        let total = text.chars().count();
        text.truncate(idx);
        text.push_str(&format!("\n[truncated: {max} of {total} characters shown]"));
    }
    text
}
