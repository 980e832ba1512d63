//! The engine: priority queue, agent state machine and agent loop between the doors and providers.

pub mod bus;
pub mod events;
pub mod queue;

pub use bus::{EventBus, Subscription};
pub use events::{ApprovalScope, Command, ConversationId, EngineEvent, RunMetrics, RunStatus};
pub use queue::{EventQueue, Priority};
