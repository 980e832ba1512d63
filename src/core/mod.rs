//! The floor: types and constants every layer shares, importing nothing of the crate. The
//! layers, bottom up: core → config → store · llm · tools · agents · attachments (and local
//! models, knowledge) → engine → bootstrap → server · ui · cli → main. `tests/layers.rs` holds
//! that no module reaches up.

mod ids;
mod reasoning;

pub use ids::{ApprovalScope, ConversationId};
pub use reasoning::ReasoningEffort;

/// The version, from the `VERSION` file.
pub const VERSION: &str = include_str!("../../VERSION");
