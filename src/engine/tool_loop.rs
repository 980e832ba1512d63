//! The tool-calling loop: assembled calls are checked, approved or not, run in parallel, and
//! their results sent back until the model answers without tools or the round limit is hit.

use std::sync::Arc;

use crate::engine::agent::{Engine, Input};
use crate::engine::events::{ApprovalScope, ConversationId, EngineEvent, RunStatus};
use crate::engine::queue::Priority;
use crate::engine::run::PendingCall;
use crate::engine::state::AgentState;
use crate::llm::ChatMessage;
use crate::tools::{ApprovedBy, Decision, DeniedBy, ToolContext, ToolResult};

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
    pub(crate) fn answer_approval(
        &mut self,
        id: &ConversationId,
        call_id: &str,
        scope: Option<ApprovalScope>,
    ) {
        let waiting = self.conversation(id).run.as_mut().and_then(|run| {
            run.pending
                .iter_mut()
                .find(|p| p.call.id == call_id && p.decision == Some(Decision::NeedsApproval))
        });
        let Some(p) = waiting else {
            self.error(
                Some(id),
                format!("no tool call `{call_id}` is waiting for approval in this conversation"),
            );
            return;
        };
        let decision = match scope {
            Some(scope) => Decision::Approved(ApprovedBy::User(scope)),
            None => Decision::Denied(DeniedBy::User),
        };
        p.decision = Some(decision);
        if scope.is_none() {
            p.result = Some(denial(&decision));
        }
        let name = p.call.name.clone();
        if let (Some(scope), Some(setup)) = (scope, self.config.tools.as_mut()) {
            setup.policy.grant(id, &name, scope);
        }
        self.bus.publish(EngineEvent::ToolDecision {
            conversation: id.clone(),
            call_id: call_id.to_string(),
            decision,
        });
        let still_waiting = self.conversation(id).run.as_ref().is_some_and(|r| {
            r.pending
                .iter()
                .any(|p| p.decision == Some(Decision::NeedsApproval))
        });
        if !still_waiting {
            self.run_tools(id);
        }
    }

    /// Runs every approved call of the round in parallel; results come back as an input.
    fn run_tools(&mut self, id: &ConversationId) {
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

    /// Every call of the round has a result: send them back for the next round.
    pub(crate) async fn tools_finished(
        &mut self,
        id: &ConversationId,
        run_id: u64,
        results: Vec<(String, ToolResult)>,
    ) {
        if self.current_run(id) != Some(run_id) {
            return;
        }
        let Some(run) = self.conversation(id).run.as_mut() else {
            return;
        };
        for (call_id, result) in results {
            if let Some(p) = run.pending.iter_mut().find(|p| p.call.id == call_id) {
                p.result = Some(result);
            }
        }
        let pending = std::mem::take(&mut run.pending);
        for p in pending {
            let result = p.result.unwrap_or_else(|| ToolResult {
                content: "error: the tool did not run".into(),
                is_error: true,
            });
            self.bus.publish(EngineEvent::ToolResult {
                conversation: id.clone(),
                call_id: p.call.id.clone(),
                name: p.call.name.clone(),
                content: result.content.clone(),
                is_error: result.is_error,
            });
            self.persist_tool_call(id, &p.call, p.decision, &result);
            let msg = ChatMessage::tool_result(p.call.id, result.content);
            self.persist_tool_result(id, &msg).await;
            self.conversation(id).history.push(msg);
        }
        let model = self
            .conversation(id)
            .run
            .as_ref()
            .map(|r| r.model.clone())
            .unwrap_or_default();
        let message = self.new_assistant_message(id, &model).await;
        if let Some(run) = self.conversation(id).run.as_mut() {
            run.message = message;
        }
        self.send_round(id);
    }
}

/// What the model is told about a denied call.
fn denial(decision: &Decision) -> ToolResult {
    let who = match decision {
        Decision::Denied(DeniedBy::Config) => "the configuration denies this tool",
        Decision::Denied(DeniedBy::Cli) => "tool calls needing approval are denied in this run",
        _ => "the user denied this call",
    };
    ToolResult {
        content: format!("error: not run: {who}"),
        is_error: true,
    }
}
