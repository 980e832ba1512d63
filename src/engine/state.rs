//! The agent state machine: a table of allowed transitions, a pure transition function, and
//! a timestamped history (the Stats panel draws its timeline from it).

use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where a conversation's agent is in its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentState {
    /// Nothing is running.
    Idle,
    /// A request is on its way; no token yet.
    Sending,
    /// Tokens are arriving.
    Streaming,
    /// A tool call waits for the user's approval.
    AwaitingApproval,
    /// A tool is running.
    RunningTool,
    /// The request failed before its first token and will be retried.
    Retrying {
        /// The attempt about to be made.
        attempt: u32,
        /// Milliseconds (engine clock) when it will be made.
        until_ms: u64,
    },
    /// The run failed; the sentence says why.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// Stop was asked; the run is winding down.
    Stopping,
}

/// The state without its data, for the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// See `AgentState::Idle`.
    Idle,
    /// See `AgentState::Sending`.
    Sending,
    /// See `AgentState::Streaming`.
    Streaming,
    /// See `AgentState::AwaitingApproval`.
    AwaitingApproval,
    /// See `AgentState::RunningTool`.
    RunningTool,
    /// See `AgentState::Retrying`.
    Retrying,
    /// See `AgentState::Failed`.
    Failed,
    /// See `AgentState::Stopping`.
    Stopping,
}

impl StateKind {
    /// Every kind.
    pub const ALL: [StateKind; 8] = [
        StateKind::Idle,
        StateKind::Sending,
        StateKind::Streaming,
        StateKind::AwaitingApproval,
        StateKind::RunningTool,
        StateKind::Retrying,
        StateKind::Failed,
        StateKind::Stopping,
    ];
}

impl AgentState {
    /// Its kind.
    pub fn kind(&self) -> StateKind {
        match self {
            AgentState::Idle => StateKind::Idle,
            AgentState::Sending => StateKind::Sending,
            AgentState::Streaming => StateKind::Streaming,
            AgentState::AwaitingApproval => StateKind::AwaitingApproval,
            AgentState::RunningTool => StateKind::RunningTool,
            AgentState::Retrying { .. } => StateKind::Retrying,
            AgentState::Failed { .. } => StateKind::Failed,
            AgentState::Stopping => StateKind::Stopping,
        }
    }

    /// Whether a run is under way (anything but Idle and Failed).
    pub fn is_active(&self) -> bool {
        !matches!(self, AgentState::Idle | AgentState::Failed { .. })
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind(), f)
    }
}

/// Whether `from → to` is in the table.
pub fn is_allowed(from: StateKind, to: StateKind) -> bool {
    use StateKind::*;
    matches!(
        (from, to),
        (Idle, Sending)
            | (Sending, Streaming | Retrying | Failed | Stopping | Idle)
            | (Retrying, Sending | Failed | Stopping)
            | (
                Streaming,
                Idle | AwaitingApproval | RunningTool | Failed | Stopping
            )
            | (AwaitingApproval, RunningTool | Sending | Stopping | Failed)
            | (
                RunningTool,
                AwaitingApproval | Sending | Stopping | Failed | Idle
            )
            | (Failed, Idle | Sending)
            | (Stopping, Idle)
    )
}

/// A transition outside the table.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("refused state transition {from} → {to}: not allowed by the agent state table")]
pub struct TransitionError {
    /// The current state.
    pub from: StateKind,
    /// The state asked for.
    pub to: StateKind,
}

/// The pure transition function: the new state, or why not.
pub fn transition(from: &AgentState, to: AgentState) -> Result<AgentState, TransitionError> {
    if is_allowed(from.kind(), to.kind()) {
        Ok(to)
    } else {
        Err(TransitionError {
            from: from.kind(),
            to: to.kind(),
        })
    }
}

/// One applied transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The state left.
    pub from: AgentState,
    /// The state entered.
    pub to: AgentState,
    /// Milliseconds since the engine clock's start.
    pub at_ms: u64,
}

/// A conversation's current state and its history.
#[derive(Debug, Clone)]
pub struct StateMachine {
    state: AgentState,
    history: Vec<Transition>,
    clock: Instant,
}

/// How many transitions a machine remembers (a long chat must not grow without bound).
const HISTORY_LIMIT: usize = 1024;

impl StateMachine {
    /// A machine at Idle that timestamps against `clock`.
    pub fn new(clock: Instant) -> Self {
        Self {
            state: AgentState::Idle,
            history: Vec::new(),
            clock,
        }
    }

    /// The current state.
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// Past transitions, oldest first.
    pub fn history(&self) -> &[Transition] {
        &self.history
    }

    /// Milliseconds since the engine clock's start.
    pub fn elapsed_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Moves to `to` if the table allows it, recording the transition.
    pub fn go(&mut self, to: AgentState) -> Result<Transition, TransitionError> {
        let next = transition(&self.state, to)?;
        let t = Transition {
            from: std::mem::replace(&mut self.state, next.clone()),
            to: next,
            at_ms: self.elapsed_ms(),
        };
        if self.history.len() >= HISTORY_LIMIT {
            self.history.remove(0);
        }
        self.history.push(t.clone());
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: StateKind) -> AgentState {
        match kind {
            StateKind::Idle => AgentState::Idle,
            StateKind::Sending => AgentState::Sending,
            StateKind::Streaming => AgentState::Streaming,
            StateKind::AwaitingApproval => AgentState::AwaitingApproval,
            StateKind::RunningTool => AgentState::RunningTool,
            StateKind::Retrying => AgentState::Retrying {
                attempt: 1,
                until_ms: 5,
            },
            StateKind::Failed => AgentState::Failed { error: "x".into() },
            StateKind::Stopping => AgentState::Stopping,
        }
    }

    #[test]
    fn every_pair_of_states_moves_only_if_allowed() {
        let mut allowed = 0;
        for from in StateKind::ALL {
            for to in StateKind::ALL {
                let r = transition(&sample(from), sample(to));
                if is_allowed(from, to) {
                    assert_eq!(r, Ok(sample(to)), "{from} → {to}");
                    allowed += 1;
                } else {
                    assert_eq!(r, Err(TransitionError { from, to }), "{from} → {to}");
                }
            }
        }
        // The table itself is part of the contract: changing it should be deliberate.
        assert_eq!(allowed, 26);
    }

    #[test]
    fn a_full_turn_with_a_tool_is_allowed_and_recorded() {
        let mut m = StateMachine::new(Instant::now());
        for s in [
            AgentState::Sending,
            AgentState::Streaming,
            AgentState::AwaitingApproval,
            AgentState::RunningTool,
            AgentState::Sending,
            AgentState::Streaming,
            AgentState::Idle,
        ] {
            m.go(s).unwrap();
        }
        assert_eq!(m.history().len(), 7);
        assert_eq!(m.state(), &AgentState::Idle);
    }

    #[test]
    fn a_refused_transition_leaves_the_state_alone() {
        let mut m = StateMachine::new(Instant::now());
        assert!(m.go(AgentState::Streaming).is_err());
        assert_eq!(m.state(), &AgentState::Idle);
        assert!(m.history().is_empty());
    }
}
