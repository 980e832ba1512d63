//! The `Provider` trait and the table of provider ids (design.md §2).

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use crate::llm::embeddings::Embeddings;
use crate::llm::error::LlmError;
use crate::llm::types::{ChatRequest, ModelInfo, StreamEvent};

/// A stream of provider-neutral events for one answer.
pub type EventStream = BoxStream<'static, Result<StreamEvent, LlmError>>;

/// A model provider: streams answers and lists models.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider id (`openrouter`, `openai`, ...).
    fn id(&self) -> &str;

    /// Starts streaming an answer. Retries (before the first token) show as
    /// `StreamEvent::Retrying`; cancelling `cancel` ends the stream and closes the connection.
    async fn stream(
        &self,
        req: ChatRequest,
        cancel: CancellationToken,
    ) -> Result<EventStream, LlmError>;

    /// Lists the models the provider offers.
    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError>;

    /// Embeds `input` with `model` on the provider's side (OpenAI's `/v1/embeddings`).
    async fn embed(&self, model: &str, input: &[String]) -> Result<Embeddings, LlmError> {
        let _ = (model, input);
        Err(LlmError::Config(format!(
            "the provider '{}' has no embeddings endpoint: use the local embedding model",
            self.id()
        )))
    }

    /// Ranks `documents` by relevance to `query` with `model` on the provider's side (the
    /// Jina/Cohere `/v1/rerank` that llama.cpp serves): (index, score), best first.
    async fn rerank(
        &self,
        model: &str,
        query: &str,
        documents: &[String],
    ) -> Result<Vec<(usize, f32)>, LlmError> {
        let _ = (model, query, documents);
        Err(LlmError::Config(format!(
            "the provider '{}' has no rerank endpoint: use the local embedding model",
            self.id()
        )))
    }
}

pub use crate::config::provider::{ProviderKind, ProviderSettings, WireFormat};

/// Builds the provider for `settings`.
pub fn build_provider(settings: ProviderSettings) -> Result<Arc<dyn Provider>, LlmError> {
    if settings.kind == ProviderKind::Local {
        return Ok(Arc::new(crate::local::LocalProvider::new(settings.local)));
    }
    let transport = crate::llm::http::Transport::new(settings)?;
    Ok(match transport.settings().kind.wire() {
        WireFormat::OpenAi => Arc::new(crate::llm::openai::OpenAiProvider::new(transport)),
        WireFormat::Anthropic => Arc::new(crate::llm::anthropic::AnthropicProvider::new(transport)),
    })
}
