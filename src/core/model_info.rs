//! What the doors and the engine know about a provider's models and an answer's sources:
//! plain data the UI shows, so it sits on the floor rather than in `llm`.

use serde::{Deserialize, Serialize};

/// What a provider knows about one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model id to put in requests.
    pub id: String,
    /// A human name, when the provider gives one.
    pub name: Option<String>,
    /// Context window in tokens, when known.
    pub context_length: Option<u64>,
    /// Price per prompt token in USD, when known.
    pub prompt_price_usd: Option<f64>,
    /// Price per completion token in USD, when known.
    pub completion_price_usd: Option<f64>,
    /// What the model takes as input (`text`, `image`, ...), when the provider says
    /// (OpenRouter's `architecture.input_modalities`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_modalities: Option<Vec<String>>,
}

impl ModelInfo {
    /// Whether the model is known not to take images (unknown: it may).
    pub fn refuses_images(&self) -> bool {
        self.input_modalities
            .as_ref()
            .is_some_and(|m| !m.iter().any(|x| x == "image"))
    }
}

/// One source, numbered by its place in the answer's list (`[1]` is the first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The address.
    pub url: String,
    /// The page's title, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}
