//! Model providers: the provider-neutral `Provider` trait, its wire formats and SSE decoding.

pub mod anthropic;
pub mod citations;
pub mod embeddings;
pub mod error;
pub mod http;
pub mod openai;
pub mod pricing;
pub mod provider;
pub mod sse;
pub mod tool_calls;
pub mod types;
pub mod window;

pub use citations::Citation;
pub use embeddings::Embeddings;
pub use error::LlmError;
pub use provider::{EventStream, Provider, ProviderKind, ProviderSettings, build_provider};
pub use tool_calls::ToolCallAccumulator;
pub use types::{
    ChatMessage, ChatRequest, FinishReason, ImagePart, ModelInfo, ReasoningEffort, Role,
    StreamEvent, ThinkingBlock, ToolCall, ToolSpec, Usage,
};
