//! What the engine is started with: provider, model, prompt, tools, store, budgets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::budget::BudgetLimits;
use crate::llm::Provider;
use crate::store::StoreHandle;
use crate::tools::{ApprovalPolicy, ToolFilter, ToolRegistry};

/// The tools a run may use and how calls are approved.
#[derive(Clone)]
pub struct ToolSetup {
    /// Every tool that exists.
    pub registry: Arc<ToolRegistry>,
    /// Which of them the model is offered.
    pub filter: ToolFilter,
    /// How calls are approved.
    pub policy: ApprovalPolicy,
    /// Root folder of the file and shell tools.
    pub workspace: PathBuf,
    /// Time limit of one call.
    pub timeout: Duration,
    /// Model rounds with tool calls allowed in one turn.
    pub max_rounds: u32,
}

/// What the engine needs to answer.
#[derive(Clone)]
pub struct EngineConfig {
    /// The provider to stream from.
    pub provider: Arc<dyn Provider>,
    /// The model to ask.
    pub model: String,
    /// The system prompt, if any.
    pub system_prompt: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on answer tokens.
    pub max_tokens: Option<u32>,
    /// How hard a reasoning model should think (None: not sent).
    pub reasoning_effort: Option<crate::llm::ReasoningEffort>,
    /// Context windows assumed and when to compact (`[context]`).
    pub context: crate::config::context::ContextSettings,
    /// Knowledge bases, for agents that name some (`knowledge:` in their front matter).
    pub knowledge: Option<crate::knowledge::Retriever>,
    /// Ask the provider to search the web itself (OpenRouter's web plugin).
    pub provider_web_search: bool,
    /// Tools, if the model may call any.
    pub tools: Option<ToolSetup>,
    /// Where conversations are kept, if anywhere.
    pub store: Option<StoreHandle>,
    /// Whether to ask the model for a title after a conversation's first exchange.
    pub generate_titles: bool,
    /// Spending limits.
    pub budget: BudgetLimits,
    /// Where the provider's model list (prices, context lengths) is cached.
    pub models_cache: Option<PathBuf>,
    /// Whether to fetch the model list at start (Low priority).
    pub refresh_models: bool,
}

impl EngineConfig {
    /// A config with defaults: no system prompt, no tools, no store, the default `[context]`.
    pub fn new(provider: Arc<dyn Provider>, model: impl Into<String>) -> Self {
        Self {
            provider,
            model: model.into(),
            system_prompt: None,
            temperature: None,
            max_tokens: None,
            reasoning_effort: None,
            context: Default::default(),
            provider_web_search: false,
            knowledge: None,
            tools: None,
            store: None,
            generate_titles: false,
            budget: BudgetLimits::default(),
            models_cache: None,
            refresh_models: false,
        }
    }
}
