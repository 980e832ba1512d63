//! The Anthropic Messages wire format.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::llm::error::LlmError;
use crate::llm::http::{RequestContext, StreamDecoder, Transport};
use crate::llm::provider::{EventStream, Provider};
use crate::llm::types::{
    ChatRequest, FinishReason, ModelInfo, Role, StreamEvent, ThinkingBlock, Usage,
};

/// The API version header Rustbot speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; used when the config sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Request body of `POST /messages`.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireRequest {
    /// Model id.
    pub model: String,
    /// Answer token limit (required by the API).
    pub max_tokens: u32,
    /// System prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Alternating user/assistant messages.
    pub messages: Vec<WireMessage>,
    /// Always true here.
    pub stream: bool,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Tools the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WireTool>,
    /// Extended thinking: `{"type": "enabled", "budget_tokens": N}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Stop texts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// One message: a role and content blocks.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireMessage {
    /// `user` or `assistant`.
    pub role: &'static str,
    /// Content blocks.
    pub content: Vec<Value>,
}

/// A tool offered to the model.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireTool {
    /// Tool name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Value,
}

/// Builds the request body for `req`, merging adjacent same-role messages as the API requires.
pub fn build_body(req: &ChatRequest) -> WireRequest {
    let mut messages: Vec<WireMessage> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => {
                // Images first, then the text (Anthropic's recommended order).
                let mut blocks: Vec<Value> = m
                    .images
                    .iter()
                    .map(|i| {
                        serde_json::json!({"type": "image", "source": {
                            "type": "base64", "media_type": i.media_type, "data": &*i.data,
                        }})
                    })
                    .collect();
                blocks.push(text_block(&m.content));
                ("user", blocks)
            }
            Role::Tool => (
                "user",
                vec![serde_json::json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                })],
            ),
            Role::Assistant => {
                // Thinking first, unchanged with its signature: the API checks it.
                let mut blocks: Vec<Value> = m.thinking.iter().map(thinking_block).collect();
                if !m.content.is_empty() {
                    blocks.push(text_block(&m.content));
                }
                for call in &m.tool_calls {
                    let input: Value = serde_json::from_str(&call.arguments)
                        .unwrap_or_else(|_| Value::Object(Default::default()));
                    blocks.push(serde_json::json!({
                        "type": "tool_use", "id": call.id, "name": call.name, "input": input,
                    }));
                }
                if blocks.is_empty() {
                    blocks.push(text_block(""));
                }
                ("assistant", blocks)
            }
        };
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let budget = req
        .reasoning_effort
        .and_then(|e| e.anthropic_budget(max_tokens));
    WireRequest {
        model: req.model.clone(),
        max_tokens,
        system: req.system.clone().filter(|s| !s.is_empty()),
        messages,
        stream: true,
        // With thinking on, the API takes no temperature other than 1.
        temperature: req.temperature.filter(|_| budget.is_none()),
        thinking: budget.map(|b| serde_json::json!({"type": "enabled", "budget_tokens": b})),
        top_p: req.top_p.filter(|_| budget.is_none()),
        stop_sequences: req.stop.clone(),
        tools: req
            .tools
            .iter()
            .map(|t| WireTool {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: t.parameters.clone(),
            })
            .collect(),
    }
}

fn text_block(text: &str) -> Value {
    serde_json::json!({"type": "text", "text": text})
}

fn thinking_block(t: &ThinkingBlock) -> Value {
    match &t.redacted {
        Some(data) => serde_json::json!({"type": "redacted_thinking", "data": data}),
        None => serde_json::json!({
            "type": "thinking",
            "thinking": t.text,
            "signature": t.signature.clone().unwrap_or_default(),
        }),
    }
}

/// One streamed event, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireMessageStart,
    },
    ContentBlockStart {
        index: usize,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: WireDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: WireErrorBody,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize, Default)]
struct WireMessageStart {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize, Default)]
struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
struct WireErrorBody {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

/// A whole non-streaming answer.
#[derive(Debug, Deserialize)]
struct WireWholeMessage {
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    error: Option<WireErrorBody>,
}

/// Stateful decoder of an Anthropic stream: usage is split between `message_start` and
/// `message_delta`, and is emitted once at `message_stop`.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    prompt_tokens: u64,
    completion_tokens: u64,
    finish: Option<FinishReason>,
    /// The thinking block being streamed, handed on whole (with its signature) at its end.
    thinking: Option<ThinkingBlock>,
}

impl AnthropicDecoder {
    fn add_usage(&mut self, u: Option<WireUsage>) {
        if let Some(u) = u {
            if let Some(i) = u.input_tokens.filter(|i| *i > 0) {
                self.prompt_tokens = i;
            }
            if let Some(o) = u.output_tokens {
                self.completion_tokens = o;
            }
        }
    }

    fn finish_events(&mut self, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Usage(Usage::reported(
            self.prompt_tokens,
            self.completion_tokens,
            None,
        )));
        out.push(StreamEvent::Finished(
            self.finish.take().unwrap_or(FinishReason::Stop),
        ));
    }
}

fn api_error(e: WireErrorBody) -> LlmError {
    let message = match (e.kind.is_empty(), e.message.is_empty()) {
        (_, true) => e.kind,
        (true, false) => e.message,
        (false, false) => format!("{} ({})", e.message, e.kind),
    };
    LlmError::Api {
        provider: "anthropic".into(),
        message,
    }
}

impl StreamDecoder for AnthropicDecoder {
    fn on_event(
        &mut self,
        _name: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<bool, LlmError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let event: WireEvent = serde_json::from_str(data).map_err(|e| LlmError::Protocol {
            provider: "anthropic".into(),
            detail: format!(
                "a stream event is not valid JSON ({e}): {}",
                data.chars().take(200).collect::<String>()
            ),
        })?;
        match event {
            WireEvent::MessageStart { message } => self.add_usage(message.usage),
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                WireBlock::Text { text } if !text.is_empty() => {
                    out.push(StreamEvent::TextDelta(text))
                }
                WireBlock::ToolUse { id, name } => out.push(StreamEvent::ToolCallDelta {
                    index,
                    id: Some(id),
                    name: Some(name),
                    arguments_fragment: String::new(),
                }),
                WireBlock::Thinking {
                    thinking,
                    signature,
                } => {
                    if !thinking.is_empty() {
                        out.push(StreamEvent::ReasoningDelta(thinking.clone()));
                    }
                    self.thinking = Some(ThinkingBlock {
                        text: thinking,
                        signature,
                        redacted: None,
                    });
                }
                WireBlock::RedactedThinking { data } => {
                    out.push(StreamEvent::Thinking(ThinkingBlock {
                        redacted: Some(data),
                        ..ThinkingBlock::default()
                    }))
                }
                _ => {}
            },
            WireEvent::ContentBlockDelta { index, delta } => match delta {
                WireDelta::TextDelta { text } => out.push(StreamEvent::TextDelta(text)),
                WireDelta::InputJsonDelta { partial_json } => {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        id: None,
                        name: None,
                        arguments_fragment: partial_json,
                    })
                }
                WireDelta::ThinkingDelta { thinking } => {
                    if let Some(block) = self.thinking.as_mut() {
                        block.text.push_str(&thinking);
                    }
                    out.push(StreamEvent::ReasoningDelta(thinking));
                }
                WireDelta::SignatureDelta { signature } => {
                    if let Some(block) = self.thinking.as_mut() {
                        block.signature = Some(signature);
                    }
                }
                WireDelta::Other => {}
            },
            WireEvent::MessageDelta { delta, usage } => {
                self.add_usage(usage);
                if let Some(r) = delta.stop_reason {
                    self.finish = Some(FinishReason::from_wire(&r));
                }
            }
            WireEvent::MessageStop {} => {
                self.finish_events(out);
                return Ok(true);
            }
            WireEvent::Error { error } => return Err(api_error(error)),
            WireEvent::ContentBlockStop {} => {
                if let Some(block) = self.thinking.take() {
                    out.push(StreamEvent::Thinking(block));
                }
            }
            WireEvent::Ping {} | WireEvent::Unknown => {}
        }
        Ok(false)
    }

    fn complete_without_terminator(&mut self, _out: &mut Vec<StreamEvent>) -> bool {
        false
    }

    fn on_json_body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let msg: WireWholeMessage =
            serde_json::from_slice(body).map_err(|e| LlmError::Protocol {
                provider: "anthropic".into(),
                detail: format!("the answer is not valid JSON ({e})"),
            })?;
        if msg.kind == "error" {
            return Err(api_error(msg.error.unwrap_or_default()));
        }
        self.add_usage(msg.usage);
        for (index, block) in msg.content.into_iter().enumerate() {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                    out.push(StreamEvent::TextDelta(text.to_string()));
                }
                Some("tool_use") => out.push(StreamEvent::ToolCallDelta {
                    index,
                    id: block.get("id").and_then(Value::as_str).map(str::to_string),
                    name: block
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    arguments_fragment: block
                        .get("input")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".into()),
                }),
                _ => {}
            }
        }
        self.finish = msg.stop_reason.as_deref().map(FinishReason::from_wire);
        self.finish_events(out);
        Ok(())
    }
}

/// A provider speaking the Anthropic Messages format.
pub struct AnthropicProvider {
    transport: Transport,
}

impl AnthropicProvider {
    /// Wraps a transport.
    pub fn new(transport: Transport) -> Self {
        Self { transport }
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(key) = &self.transport.settings().api_key
            && let Ok(mut value) = HeaderValue::from_str(key.expose())
        {
            value.set_sensitive(true);
            headers.insert("x-api-key", value);
        }
        headers
    }
}

#[derive(Debug, Deserialize)]
struct WireModelList {
    data: Vec<WireModel>,
}

#[derive(Debug, Deserialize)]
struct WireModel {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn id(&self) -> &str {
        "anthropic"
    }

    async fn stream(
        &self,
        req: ChatRequest,
        cancel: CancellationToken,
    ) -> Result<EventStream, LlmError> {
        let settings = self.transport.settings();
        if settings.api_key.is_none() {
            return Err(LlmError::MissingKey {
                provider: "anthropic".into(),
                hint: settings.kind.key_hint(),
            });
        }
        let url = self.transport.url("messages");
        let ctx = RequestContext {
            url: url.clone(),
            model: req.model.clone(),
        };
        let client = self.transport.client().clone();
        let headers = self.headers();
        let body = build_body(&req);
        let build = move |_degraded: bool| client.post(&url).headers(headers.clone()).json(&body);
        Ok(self
            .transport
            .stream(ctx, build, AnthropicDecoder::default(), cancel))
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let list: WireModelList = self.transport.get_json("models", self.headers()).await?;
        Ok(list
            .data
            .into_iter()
            .map(|m| ModelInfo {
                id: m.id,
                name: m.display_name,
                ..Default::default()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
