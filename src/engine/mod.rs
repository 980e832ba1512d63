//! The engine: priority queue, agent state machine and agent loop between the doors and providers.

pub mod agent;
mod branches;
pub mod budget;
pub mod bus;
pub mod context;
pub mod events;
mod persist;
mod persona;
pub mod queue;
mod run;
mod spending;
pub mod state;
mod titles;
mod tool_loop;

pub use agent::{EngineConfig, EngineHandle, FLUSH_INTERVAL, ToolSetup, start};
pub use bus::{EventBus, Subscription};
pub use events::{
    AgentProfile, ApprovalScope, Command, ConversationId, EngineEvent, ProviderProfile, RunMetrics,
    RunStatus,
};
pub use queue::{EventQueue, Priority};
pub use state::{AgentState, StateMachine};
