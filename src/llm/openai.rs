//! The OpenAI chat-completions wire format (OpenRouter, OpenAI, Ollama, llama.cpp, vLLM, ...).

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::llm::embeddings::{Embeddings, EmbeddingsBody, RerankBody, WireEmbeddings, WireRerank};
use crate::llm::error::LlmError;
use crate::llm::http::{RequestContext, StreamDecoder, Transport};
use crate::llm::provider::{EventStream, Provider, ProviderKind};
use crate::llm::types::{
    ChatMessage, ChatRequest, FinishReason, ModelInfo, Role, StreamEvent, ToolSpec, Usage,
};

mod models;

/// Request body of `POST /chat/completions`.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireRequest {
    /// Model id.
    pub model: String,
    /// History, system prompt first.
    pub messages: Vec<WireMessage>,
    /// Always true here.
    pub stream: bool,
    /// Asks for a final usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Answer token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Tools the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WireTool>,
    /// `low`, `medium` or `high` (OpenAI and most compatible servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'static str>,
    /// OpenRouter's form of the same: `{"effort": "high"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<serde_json::Value>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop texts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// OpenRouter's plugins: `[{"id": "web"}]` has OpenRouter search the web itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins: Option<serde_json::Value>,
}

impl WireRequest {
    /// Moves `reasoning_effort` into OpenRouter's `reasoning: {effort}`, and asks for its web
    /// plugin when `web_search` is set (other servers never see `plugins`).
    pub fn for_openrouter(mut self, web_search: bool) -> Self {
        if let Some(effort) = self.reasoning_effort.take() {
            self.reasoning = Some(serde_json::json!({ "effort": effort }));
        }
        if web_search {
            self.plugins = Some(serde_json::json!([{ "id": "web" }]));
        }
        self
    }
}

/// `stream_options` of a request.
#[derive(Debug, Serialize, PartialEq)]
pub struct StreamOptions {
    /// Ask for usage in the last chunk.
    pub include_usage: bool,
}

/// One message on the wire.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct WireMessage {
    /// system, user, assistant or tool.
    pub role: String,
    /// Text (always a string: llama-cpp-python rejects `null` next to `tool_calls`), or text
    /// and image parts for a user message with images.
    pub content: WireContent,
    /// Calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A message's content on the wire.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum WireContent {
    /// Plain text.
    Text(String),
    /// `{"type":"text",...}` and `{"type":"image_url",...}` parts.
    Parts(Vec<serde_json::Value>),
}

/// A complete tool call on the wire.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct WireToolCall {
    /// Call id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name and arguments.
    pub function: WireFunction,
}

/// The function part of a tool call.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct WireFunction {
    /// Tool name.
    pub name: String,
    /// JSON arguments text.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireTool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function description.
    pub function: WireToolFunction,
}

/// Name, description and schema of an offered tool.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireToolFunction {
    /// Tool name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// One streamed chunk.
#[derive(Debug, Deserialize, Default)]
pub struct Chunk {
    /// Choices; empty in the final usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, in the last chunk.
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// An error reported inside the stream (OpenRouter).
    #[serde(default)]
    pub error: Option<WireError>,
}

/// One choice of a chunk.
#[derive(Debug, Deserialize, Default)]
pub struct ChunkChoice {
    /// The increment (`message` in non-streaming answers).
    #[serde(default, alias = "message")]
    pub delta: Option<Delta>,
    /// Set on the last content chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The increment of a chunk.
#[derive(Debug, Deserialize, Default)]
pub struct Delta {
    /// Text (`null` in llama-server's first chunk).
    #[serde(default)]
    pub content: Option<String>,
    /// Tool-call fragments.
    #[serde(default)]
    pub tool_calls: Option<Vec<DeltaToolCall>>,
    /// Reasoning text (DeepSeek, llama.cpp with reasoning models, vLLM).
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Reasoning text (OpenRouter).
    #[serde(default)]
    pub reasoning: Option<String>,
    /// Structured reasoning (OpenRouter): used when `reasoning` is absent.
    #[serde(default)]
    pub reasoning_details: Option<Vec<ReasoningDetail>>,
    /// Sources (OpenRouter's web search: `url_citation` entries); any shape parses.
    #[serde(default)]
    pub annotations: Option<serde_json::Value>,
}

/// One entry of OpenRouter's `reasoning_details`.
#[derive(Debug, Deserialize, Default)]
pub struct ReasoningDetail {
    /// `reasoning.text`, `reasoning.summary` or `reasoning.encrypted`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The text of a `reasoning.text` entry.
    #[serde(default)]
    pub text: Option<String>,
    /// The text of a `reasoning.summary` entry.
    #[serde(default)]
    pub summary: Option<String>,
}

impl Delta {
    /// The reasoning this delta carries, from whichever field the server uses.
    fn reasoning_text(&mut self) -> Option<String> {
        let direct = self
            .reasoning_content
            .take()
            .or_else(|| self.reasoning.take());
        let text = direct.or_else(|| {
            let details = self.reasoning_details.take()?;
            let joined: String = details
                .into_iter()
                .filter_map(|d| d.text.or(d.summary))
                .collect();
            Some(joined)
        })?;
        (!text.is_empty()).then_some(text)
    }
}

/// A fragment of a streamed tool call.
#[derive(Debug, Deserialize, Default)]
pub struct DeltaToolCall {
    /// Which call this fragment belongs to.
    #[serde(default)]
    pub index: Option<usize>,
    /// The call id (OpenAI sends it once, llama-cpp-python every time).
    #[serde(default)]
    pub id: Option<String>,
    /// Name and arguments fragment.
    #[serde(default)]
    pub function: Option<DeltaFunction>,
}

/// The function part of a tool-call fragment.
#[derive(Debug, Deserialize, Default)]
pub struct DeltaFunction {
    /// The complete name, when present.
    #[serde(default)]
    pub name: Option<String>,
    /// The next piece of the arguments text.
    #[serde(default)]
    pub arguments: Option<String>,
}

/// Usage as sent by OpenAI-compatible servers (OpenRouter adds `cost`).
#[derive(Debug, Deserialize, Default, Clone, Copy)]
pub struct WireUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// Answer tokens.
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// Cost in credits (USD) on OpenRouter.
    #[serde(default)]
    pub cost: Option<f64>,
    /// The split of the answer's tokens (OpenAI, OpenRouter, DeepSeek: reasoning tokens).
    #[serde(default)]
    pub completion_tokens_details: Option<WireCompletionDetails>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Deserialize, Default, Clone, Copy)]
pub struct WireCompletionDetails {
    /// Tokens spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// An error object.
#[derive(Debug, Deserialize, Default)]
pub struct WireError {
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// Builds the request body for `req`.
pub fn build_body(req: &ChatRequest, include_usage: bool) -> WireRequest {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_ref().filter(|s| !s.is_empty()) {
        messages.push(WireMessage {
            role: "system".into(),
            content: WireContent::Text(system.clone()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
    messages.extend(req.messages.iter().map(wire_message));
    WireRequest {
        model: req.model.clone(),
        messages,
        stream: true,
        stream_options: include_usage.then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: req.temperature,
        max_tokens: req.max_tokens,
        tools: req.tools.iter().map(wire_tool).collect(),
        reasoning_effort: req.reasoning_effort.map(|e| e.as_str()),
        reasoning: None,
        top_p: req.top_p,
        seed: req.seed,
        stop: req.stop.clone(),
        plugins: None,
    }
}

fn wire_message(m: &ChatMessage) -> WireMessage {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let content =
        if m.images.is_empty() {
            WireContent::Text(m.content.clone())
        } else {
            let mut parts = vec![serde_json::json!({"type": "text", "text": m.content})];
            parts.extend(m.images.iter().map(
                |i| serde_json::json!({"type": "image_url", "image_url": {"url": i.data_url()}}),
            ));
            WireContent::Parts(parts)
        };
    WireMessage {
        role: role.into(),
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| WireToolCall {
                id: c.id.clone(),
                kind: "function".into(),
                function: WireFunction {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            })
            .collect(),
        tool_call_id: m.tool_call_id.clone(),
    }
}

fn wire_tool(t: &ToolSpec) -> WireTool {
    WireTool {
        kind: "function",
        function: WireToolFunction {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        },
    }
}

/// Stateful decoder of an OpenAI-format stream.
#[derive(Debug, Default)]
pub struct OpenAiDecoder {
    provider: String,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl OpenAiDecoder {
    /// A decoder that names `provider` in its errors.
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.into(),
            ..Default::default()
        }
    }

    fn apply_chunk(&mut self, chunk: Chunk, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if let Some(err) = chunk.error {
            return Err(LlmError::Api {
                provider: self.provider.clone(),
                message: if err.message.is_empty() {
                    "unknown error".into()
                } else {
                    err.message
                },
            });
        }
        for choice in chunk.choices {
            if let Some(mut delta) = choice.delta {
                if let Some(reasoning) = delta.reasoning_text() {
                    out.push(StreamEvent::ReasoningDelta(reasoning));
                }
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta(text));
                }
                let citations = delta
                    .annotations
                    .as_ref()
                    .map(crate::llm::citations::from_annotations)
                    .unwrap_or_default();
                if !citations.is_empty() {
                    out.push(StreamEvent::Citations(citations));
                }
                for (pos, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                    let function = call.function.unwrap_or_default();
                    out.push(StreamEvent::ToolCallDelta {
                        index: call.index.unwrap_or(pos),
                        id: call.id.filter(|s| !s.is_empty()),
                        name: function.name.filter(|s| !s.is_empty()),
                        arguments_fragment: function.arguments.unwrap_or_default(),
                    });
                }
            }
            if let Some(reason) = choice.finish_reason {
                if reason == "error" {
                    return Err(LlmError::Api {
                        provider: self.provider.clone(),
                        message: "the model stopped with an error".into(),
                    });
                }
                self.finish = Some(FinishReason::from_wire(&reason));
            }
        }
        if let Some(u) = chunk.usage {
            let usage = Usage::reported(
                u.prompt_tokens.unwrap_or(0),
                u.completion_tokens.unwrap_or(0),
                u.cost,
            )
            .with_reasoning(
                u.completion_tokens_details
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            );
            self.usage = Some(usage);
        }
        Ok(())
    }

    fn finish_events(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        out.push(StreamEvent::Finished(
            self.finish.take().unwrap_or(FinishReason::Stop),
        ));
    }
}

impl StreamDecoder for OpenAiDecoder {
    fn on_event(
        &mut self,
        _name: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<bool, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.finish_events(out);
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| LlmError::Protocol {
            provider: self.provider.clone(),
            detail: format!("a stream chunk is not valid JSON ({e}): {}", clip(data)),
        })?;
        self.apply_chunk(chunk, out)?;
        Ok(false)
    }

    fn complete_without_terminator(&mut self, out: &mut Vec<StreamEvent>) -> bool {
        // Some servers close after the finish reason without `[DONE]`: the answer is whole.
        if self.finish.is_some() {
            self.finish_events(out);
            true
        } else {
            false
        }
    }

    fn on_json_body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let chunk: Chunk = serde_json::from_slice(body).map_err(|e| LlmError::Protocol {
            provider: self.provider.clone(),
            detail: format!("the answer is not valid JSON ({e})"),
        })?;
        self.apply_chunk(chunk, out)?;
        self.finish_events(out);
        Ok(())
    }
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// A provider speaking the OpenAI format.
pub struct OpenAiProvider {
    transport: Transport,
}

impl OpenAiProvider {
    /// Wraps a transport.
    pub fn new(transport: Transport) -> Self {
        Self { transport }
    }

    fn auth_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.settings().api_key
            && let Ok(value) = format!("Bearer {}", key.expose()).parse()
        {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        if self.transport.settings().kind == ProviderKind::OpenRouter {
            headers.insert(
                "X-Title",
                reqwest::header::HeaderValue::from_static("Rustbot"),
            );
        }
        headers
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn id(&self) -> &str {
        self.transport.settings().kind.id()
    }

    async fn stream(
        &self,
        req: ChatRequest,
        cancel: CancellationToken,
    ) -> Result<EventStream, LlmError> {
        let settings = self.transport.settings();
        if settings.kind.requires_key() && settings.api_key.is_none() {
            return Err(LlmError::MissingKey {
                provider: settings.kind.id().into(),
                hint: settings.kind.key_hint(),
            });
        }
        let url = self.transport.url("chat/completions");
        let ctx = RequestContext {
            url: url.clone(),
            model: req.model.clone(),
        };
        let client = self.transport.client().clone();
        let headers = self.auth_headers();
        let openrouter = settings.kind == ProviderKind::OpenRouter;
        let build = move |degraded: bool| {
            let body = build_body(&req, !degraded);
            let body = if openrouter {
                body.for_openrouter(req.web_search)
            } else {
                body
            };
            client.post(&url).headers(headers.clone()).json(&body)
        };
        let decoder = OpenAiDecoder::new(settings.kind.id());
        Ok(self.transport.stream(ctx, build, decoder, cancel))
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let list: models::WireModelList = self
            .transport
            .get_json("models", self.auth_headers())
            .await?;
        Ok(models::model_infos(list))
    }

    async fn embed(&self, model: &str, input: &[String]) -> Result<Embeddings, LlmError> {
        let wire: WireEmbeddings = self
            .transport
            .post_json(
                "embeddings",
                model,
                self.auth_headers(),
                &EmbeddingsBody { model, input },
            )
            .await?;
        wire.into_embeddings(self.id(), model, input.len())
    }

    async fn rerank(
        &self,
        model: &str,
        query: &str,
        documents: &[String],
    ) -> Result<Vec<(usize, f32)>, LlmError> {
        let body = RerankBody {
            model,
            query,
            documents,
            top_n: documents.len(),
        };
        let wire: WireRerank = self
            .transport
            .post_json("rerank", model, self.auth_headers(), &body)
            .await?;
        wire.into_ranked(self.id(), documents.len())
    }
}

#[cfg(test)]
mod tests;
