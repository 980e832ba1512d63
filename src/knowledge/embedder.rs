//! Where a knowledge base's vectors come from: the local sentence-transformers model run in
//! this process (`[knowledge] embeddings = "local"`), or the provider's `/v1/embeddings`
//! (`"provider"`, with `[knowledge] embedding_model` naming the provider's model).

use std::sync::Arc;

use crate::knowledge::KnowledgeError;
use crate::llm::Provider;

/// Texts sent to the provider per request.
const PROVIDER_BATCH: usize = 64;

/// An embedding model for knowledge bases.
pub enum Embedder {
    /// The local model, run on this process's threads.
    Local(Box<crate::local::embed::Embedder>),
    /// The provider's embeddings endpoint.
    Provider {
        /// The provider.
        provider: Arc<dyn Provider>,
        /// Its embedding model id.
        model: String,
        /// The runtime its requests run on (callers are blocking threads).
        runtime: tokio::runtime::Handle,
    },
}

impl Embedder {
    /// The local model in `folder`.
    pub fn load_local(folder: &std::path::Path) -> Result<Self, KnowledgeError> {
        let model = crate::local::embed::Embedder::load(folder)?;
        Ok(Self::Local(Box::new(model)))
    }

    /// The name recorded per base (a change of it re-embeds the base).
    pub fn name(&self) -> String {
        match self {
            Self::Local(e) => e.path.to_string_lossy().into_owned(),
            Self::Provider {
                provider, model, ..
            } => format!("{}:{model}", provider.id()),
        }
    }

    /// One unit-length vector per text, in order. Blocking: call it off the async threads.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        match self {
            Self::Local(e) => Ok(e.embed(texts)?),
            Self::Provider {
                provider,
                model,
                runtime,
            } => {
                let mut out = Vec::with_capacity(texts.len());
                for batch in texts.chunks(PROVIDER_BATCH) {
                    let answer = runtime
                        .block_on(provider.embed(model, batch))
                        .map_err(|e| KnowledgeError::Provider(e.to_string()))?;
                    // Not every server sends unit vectors; the search assumes them.
                    out.extend(answer.vectors.into_iter().map(normalized));
                }
                Ok(out)
            }
        }
    }
}

/// `v` scaled to unit length (a zero vector stays zero).
fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_are_scaled_to_unit_length() {
        assert_eq!(super::normalized(vec![3.0, 4.0]), vec![0.6, 0.8]);
        assert_eq!(super::normalized(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
