//! The floor: types and constants every layer shares, importing nothing of the crate. The
//! layers, bottom up: core → config → store · llm · tools · agents · attachments (and local
//! models, knowledge) → engine → bootstrap → server · ui · cli → main. `tests/layers.rs` holds
//! that no module reaches up.

mod ids;
pub mod markdown;
mod model_info;
pub mod process;
mod reasoning;
mod role;

pub use ids::{ApprovalScope, ConversationId};
pub use model_info::{Citation, ModelInfo};
pub use reasoning::ReasoningEffort;
pub use role::Role;

/// An error with its sources as one line, each source once (reqwest and hyper keep the useful
/// part, such as why a connection failed, in the sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The version, from the `VERSION` file.
pub const VERSION: &str = include_str!("../../VERSION");
