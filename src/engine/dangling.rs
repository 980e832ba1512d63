//! Tool calls left without a result: the provider rejects a history in which an assistant's
//! tool call has no answer, so every such call is closed with an error result, in memory and in
//! the store (a turn that ended early, or a conversation reloaded after a crash).

use crate::engine::event_loop::Engine;
use crate::engine::events::ConversationId;
use crate::llm::{ChatMessage, Role};

/// The ids of the last assistant message's tool calls that no later tool message answers.
pub fn unanswered_calls(history: &[ChatMessage]) -> Vec<String> {
    let Some(at) = history
        .iter()
        .rposition(|m| m.role == Role::Assistant && !m.tool_calls.is_empty())
    else {
        return Vec::new();
    };
    let answered: Vec<&str> = history[at + 1..]
        .iter()
        .filter(|m| m.role == Role::Tool)
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    history[at]
        .tool_calls
        .iter()
        .filter(|c| !answered.contains(&c.id.as_str()))
        .map(|c| c.id.clone())
        .collect()
}

impl Engine {
    /// Closes every unanswered tool call of the conversation with "not run: `why`", in the
    /// history and in the store, so the next request is valid now and after a restart.
    pub(crate) async fn close_unanswered_calls(&mut self, id: &ConversationId, why: &str) {
        let calls = unanswered_calls(&self.conversation(id).history);
        for call_id in calls {
            let result = ChatMessage::tool_result(call_id, format!("not run: {why}"));
            self.persist_tool_result(id, &result).await;
            self.conversation(id).history.push(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        }
    }

    #[test]
    fn only_calls_without_a_result_are_listed() {
        let mut asked = ChatMessage::assistant(String::new());
        asked.tool_calls = vec![call("a"), call("b")];
        let history = vec![
            ChatMessage::user("hi"),
            asked,
            ChatMessage::tool_result("a", "done"),
        ];
        assert_eq!(unanswered_calls(&history), vec!["b".to_string()]);
        assert!(unanswered_calls(&history[..1]).is_empty());
        let mut closed = history.clone();
        closed.push(ChatMessage::tool_result("b", "not run"));
        assert!(unanswered_calls(&closed).is_empty());
    }
}
