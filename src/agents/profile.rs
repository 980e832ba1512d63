//! What the engine needs to answer as an agent (a persona), resolved from its file.

/// What the engine needs to answer as an agent: everything already resolved, so the engine
/// never reads agent files.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentProfile {
    /// The agent's name (stored with the conversation).
    pub name: String,
    /// Replaces the engine's system prompt (`None`: keep it).
    pub system_prompt: Option<String>,
    /// Replaces the engine's model (`None`: keep it; a `SendMessage` model still wins).
    pub model: Option<String>,
    /// Replaces the engine's temperature (`None`: keep it).
    pub temperature: Option<f32>,
    /// The tools the agent may call, within those the engine offers. Enforced: a call to any
    /// other tool gets an error result and never runs.
    pub tools: crate::tools::ToolFilter,
    /// Knowledge bases whose best passages go with each question.
    pub knowledge: Vec<String>,
}
