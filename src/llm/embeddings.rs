//! Embeddings and rerank on the provider's side: OpenAI's `/v1/embeddings` and the Jina/Cohere
//! `/v1/rerank` (llama.cpp, vLLM, Jina, Cohere-compatible servers), wire shapes and answers.

use serde::{Deserialize, Serialize};

use crate::llm::error::LlmError;

/// Vectors for a list of texts, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embeddings {
    /// One vector per input text.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the provider counted (0 when it did not say).
    pub prompt_tokens: u64,
    /// The model the provider says it used.
    pub model: String,
}

/// The body of `POST /v1/embeddings`.
#[derive(Debug, Serialize)]
pub struct EmbeddingsBody<'a> {
    /// Model id.
    pub model: &'a str,
    /// Texts to embed.
    pub input: &'a [String],
}

/// `POST /v1/embeddings`'s answer.
#[derive(Debug, Deserialize)]
pub struct WireEmbeddings {
    data: Vec<WireEmbedding>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct WireEmbedding {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
}

impl WireEmbeddings {
    /// The vectors in input order; `expected` inputs must each have exactly one.
    pub fn into_embeddings(
        self,
        provider: &str,
        model: &str,
        expected: usize,
    ) -> Result<Embeddings, LlmError> {
        let protocol = |detail: String| LlmError::Protocol {
            provider: provider.into(),
            detail,
        };
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for (position, item) in self.data.into_iter().enumerate() {
            let index = item.index.unwrap_or(position);
            match slots.get_mut(index) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => {
                    return Err(protocol(format!(
                        "the embeddings answer has an unexpected or repeated index {index} for {expected} inputs"
                    )));
                }
            }
        }
        let vectors = slots
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                protocol(format!(
                    "the embeddings answer has fewer than {expected} vectors"
                ))
            })?;
        Ok(Embeddings {
            vectors,
            prompt_tokens: self.usage.map_or(0, |u| u.prompt_tokens),
            model: self.model.unwrap_or_else(|| model.to_string()),
        })
    }
}

/// The body of `POST /v1/rerank`.
#[derive(Debug, Serialize)]
pub struct RerankBody<'a> {
    /// Model id.
    pub model: &'a str,
    /// What the documents are ranked against.
    pub query: &'a str,
    /// The documents.
    pub documents: &'a [String],
    /// Return every document's score.
    pub top_n: usize,
}

/// `POST /v1/rerank`'s answer.
#[derive(Debug, Deserialize)]
pub struct WireRerank {
    results: Vec<WireRanked>,
}

#[derive(Debug, Deserialize)]
struct WireRanked {
    index: usize,
    relevance_score: f32,
}

impl WireRerank {
    /// (index, score), best first; an index past the documents is a protocol error.
    pub fn into_ranked(
        self,
        provider: &str,
        documents: usize,
    ) -> Result<Vec<(usize, f32)>, LlmError> {
        let mut ranked = Vec::with_capacity(self.results.len());
        for r in self.results {
            if r.index >= documents {
                return Err(LlmError::Protocol {
                    provider: provider.into(),
                    detail: format!(
                        "the rerank answer names document {} of {documents}",
                        r.index
                    ),
                });
            }
            ranked.push((r.index, r.relevance_score));
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ranked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_in_input_order_whatever_order_the_server_sends() {
        let wire: WireEmbeddings = serde_json::from_str(
            r#"{"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#,
        )
        .unwrap();
        let e = wire.into_embeddings("p", "asked", 2).unwrap();
        assert_eq!(e.vectors, vec![vec![1.0], vec![2.0]]);
        assert_eq!((e.prompt_tokens, e.model.as_str()), (7, "m"));
    }

    #[test]
    fn a_missing_or_stray_vector_is_a_protocol_error() {
        let short: WireEmbeddings =
            serde_json::from_str(r#"{"data":[{"embedding":[1.0]}]}"#).unwrap();
        assert!(matches!(
            short.into_embeddings("p", "m", 2),
            Err(LlmError::Protocol { .. })
        ));
        let stray: WireEmbeddings =
            serde_json::from_str(r#"{"data":[{"index":5,"embedding":[1.0]}]}"#).unwrap();
        assert!(matches!(
            stray.into_embeddings("p", "m", 1),
            Err(LlmError::Protocol { .. })
        ));
    }

    #[test]
    fn rerank_results_are_sorted_and_checked() {
        let wire: WireRerank = serde_json::from_str(
            r#"{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.9}]}"#,
        )
        .unwrap();
        assert_eq!(wire.into_ranked("p", 2).unwrap(), vec![(1, 0.9), (0, 0.1)]);
        let bad: WireRerank =
            serde_json::from_str(r#"{"results":[{"index":3,"relevance_score":0.1}]}"#).unwrap();
        assert!(bad.into_ranked("p", 2).is_err());
    }
}
