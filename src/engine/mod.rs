//! The engine: priority queue, the agent state machine, the pure core (`step.rs`) and the event
//! loop around it, between the doors and the providers.

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
pub mod event_loop;
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

pub use bus::{EventBus, Subscription};
pub use config::{EngineConfig, ToolSetup};
pub use event_loop::{EngineHandle, FLUSH_INTERVAL, start};
pub use events::{
    AgentProfile, ApprovalScope, Command, ConversationId, EngineEvent, ProviderProfile, RunMetrics,
    RunSampling, RunStatus, StoredPlace,
};
pub use queue::{EventQueue, Priority};
pub use state::{AgentState, StateMachine};
