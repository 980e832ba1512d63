//! The tool-calling loop: assembled calls are checked, approved or not, run in parallel, and
//! their results sent back until the model answers without tools or the round limit is hit.

use std::sync::Arc;

use crate::engine::event_loop::{Engine, Input};
use crate::engine::events::{ApprovalScope, ConversationId, EngineEvent, RunStatus};
use crate::engine::queue::Priority;
use crate::engine::run::PendingCall;
use crate::engine::state::AgentState;
use crate::engine::step::{self, StepInput, denial};
use crate::llm::ChatMessage;
use crate::tools::{Decision, ToolContext, ToolResult};

impl Engine {
    /// The model finished a round with tool calls: sort them into decisions.
    pub(crate) async fn tool_calls_arrived(&mut self, id: &ConversationId) {
        let Some(setup) = self.config.tools.clone() else {
            return;
        };
        let Some(run) = self.conversation(id).run.as_mut() else {
            return;
        };
        run.close_round_usage();
        run.round += 1;
        let round = run.round;
        let calls = std::mem::take(&mut run.tool_calls).finish();
        let text = run.take_text();
        run.finish = None;
        let mut msg = ChatMessage::assistant(text.clone());
        msg.tool_calls = calls.clone();
        msg.thinking = std::mem::take(&mut run.thinking);
        self.conversation(id).history.push(msg);
        self.persist_round_calls(id, &text, &calls).await;
        if round > setup.max_rounds {
            let message = format!(
                "the model asked for tools in more than {} rounds of one turn, so the turn was ended (max_tool_rounds): ask again to let it continue",
                setup.max_rounds
            );
            if let Some(run) = self.conversation(id).run.as_mut() {
                run.pending = calls
                    .into_iter()
                    .map(|call| PendingCall {
                        call,
                        validated: None,
                        decision: None,
                        result: None,
                    })
                    .collect();
            }
            self.error(Some(id), message);
            self.go(id, AgentState::Idle);
            self.finish(id, RunStatus::Complete, "max_tool_rounds".into(), None)
                .await;
            return;
        }
        let mut pending = Vec::with_capacity(calls.len());
        for call in calls {
            let allowed = setup.filter.allows(&call.name) && self.agent_allows(id, &call.name);
            let (validated, decision, result) = if !allowed {
                let r = ToolResult {
                    content: format!(
                        "error: the tool `{}` is not available in this conversation",
                        call.name
                    ),
                    is_error: true,
                };
                (None, None, Some(r))
            } else {
                match setup.registry.validate(&call) {
                    Err(e) => (None, None, Some(ToolResult::from_error(&e))),
                    Ok(v) => {
                        let d = setup.policy.decide(id, &call.name, v.needs_approval());
                        let denied = matches!(d, Decision::Denied(_)).then(|| denial(&d));
                        (Some(v), Some(d), denied)
                    }
                }
            };
            self.bus.publish(EngineEvent::ToolCall {
                conversation: id.clone(),
                call_id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                decision,
            });
            pending.push(PendingCall {
                call,
                validated,
                decision,
                result,
            });
        }
        let waiting = pending
            .iter()
            .any(|p| p.decision == Some(Decision::NeedsApproval));
        if let Some(run) = self.conversation(id).run.as_mut() {
            run.pending = pending;
        }
        if waiting {
            self.go(id, AgentState::AwaitingApproval);
        } else {
            self.run_tools(id);
        }
    }

    /// The user answered an approval question (`scope` None means denied).
    pub(crate) async fn answer_approval(
        &mut self,
        id: &ConversationId,
        call_id: &str,
        scope: Option<ApprovalScope>,
    ) {
        let input = StepInput::Approval {
            call_id: call_id.to_string(),
            scope,
        };
        match self.current_run(id) {
            Some(run) => self.step(id, run, input).await,
            None => self.error(Some(id), step::not_waiting(call_id)),
        }
    }

    /// Runs every approved call of the round in parallel; results come back as an input.
    pub(crate) fn run_tools(&mut self, id: &ConversationId) {
        let Some(setup) = self.config.tools.clone() else {
            return;
        };
        self.go(id, AgentState::RunningTool);
        let Some(run) = self.conversation(id).run.as_mut() else {
            return;
        };
        let jobs: Vec<_> = run
            .pending
            .iter_mut()
            .filter(|p| p.result.is_none() && matches!(p.decision, Some(Decision::Approved(_))))
            .filter_map(|p| p.validated.take().map(|v| (p.call.id.clone(), v)))
            .collect();
        let ctx = ToolContext {
            workspace: setup.workspace.clone(),
            cancel: run.cancel.child_token(),
            timeout: setup.timeout,
        };
        let (run_id, queue, conversation) = (run.id, Arc::clone(&self.queue), id.clone());
        let registry = Arc::clone(&setup.registry);
        tokio::spawn(async move {
            let results = futures::future::join_all(jobs.into_iter().map(|(call_id, v)| {
                let (registry, ctx) = (Arc::clone(&registry), ctx.clone());
                async move { (call_id, registry.run(v, &ctx).await) }
            }))
            .await;
            queue.push(
                Priority::Normal,
                Input::ToolsFinished {
                    conversation,
                    run: run_id,
                    results,
                },
            );
        });
    }
}
