//! The engine: priority queue, agent state machine and agent loop between the doors and providers.

pub mod agent;
mod branches;
pub mod budget;
pub mod bus;
mod command;
mod commands;
mod compaction;
mod config;
pub mod context;
mod dangling;
mod decide;
pub mod events;
mod persist;
mod persona;
pub mod queue;
mod retrieval;
mod run;
mod spending;
pub mod state;
mod step;
mod stream;
mod titles;
mod tool_loop;

pub use agent::{EngineHandle, FLUSH_INTERVAL, start};
pub use bus::{EventBus, Subscription};
pub use config::{EngineConfig, ToolSetup};
pub use events::{
    AgentProfile, ApprovalScope, Command, ConversationId, EngineEvent, ProviderProfile, RunMetrics,
    RunSampling, RunStatus, StoredPlace,
};
pub use queue::{EventQueue, Priority};
pub use state::{AgentState, StateMachine};
