//! Assembles streamed tool-call fragments into whole calls.

use std::collections::BTreeMap;

use crate::llm::types::{StreamEvent, ToolCall};

/// Collects `ToolCallDelta`s by index. Names and ids replace (llama-cpp-python repeats the full
/// name in every fragment, OpenAI sends it once); argument fragments append.
#[derive(Debug, Default, Clone)]
pub struct ToolCallAccumulator {
    calls: BTreeMap<usize, ToolCall>,
}

impl ToolCallAccumulator {
    /// Takes one stream event; anything but a tool-call fragment is ignored.
    pub fn push(&mut self, event: &StreamEvent) {
        if let StreamEvent::ToolCallDelta {
            index,
            id,
            name,
            arguments_fragment,
        } = event
        {
            let call = self.calls.entry(*index).or_insert_with(|| ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
            if let Some(id) = id {
                call.id.clone_from(id);
            }
            if let Some(name) = name {
                call.name.clone_from(name);
            }
            call.arguments.push_str(arguments_fragment);
        }
    }

    /// Whether any call was seen.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The assembled calls in index order; calls without an id get `call_<index>`.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .map(|(index, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{index}");
                }
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".into();
                }
                call
            })
            .collect()
    }
}
