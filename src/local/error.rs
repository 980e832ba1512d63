//! `LocalError`: everything that can go wrong with a local model, each as one sentence.

use std::path::PathBuf;

use thiserror::Error;

/// Why a local model could not be listed, loaded, run or downloaded.
#[derive(Debug, Error)]
pub enum LocalError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a GGUF model (wrong magic, truncated or inconsistent header).
    #[error("{path} is not a GGUF model file: {reason}")]
    NotGguf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The model's architecture or quantization is one Rustbot cannot run.
    #[error(
        "{path}: architecture `{architecture}` with quantization {quantization} is not supported ({reason}); supported are llama (SmolLM2, Llama, TinyLlama, Mistral), qwen2 and qwen3 with F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants"
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// `general.architecture`.
        architecture: String,
        /// The quantization (`Q4_K_M`, `IQ4_XS`...).
        quantization: String,
        /// What exactly is missing.
        reason: String,
    },
    /// No model of that name or path.
    #[error("no local model `{name}`: {hint}")]
    NotFound {
        /// What was asked for.
        name: String,
        /// What exists or what to do.
        hint: String,
    },
    /// The tokenizer could not be built or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model failed while loading or computing.
    #[error("model: {0}")]
    Model(String),
    /// The prompt does not fit in the context window.
    #[error(
        "the prompt is {prompt_tokens} tokens but the model's context holds {context_tokens}: shorten the conversation or raise [local] context_tokens"
    )]
    ContextExceeded {
        /// Tokens of the prompt.
        prompt_tokens: usize,
        /// The context window.
        context_tokens: usize,
    },
    /// A download failed.
    #[error("{0}")]
    Download(String),
}

impl LocalError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<candle_core::Error> for LocalError {
    fn from(e: candle_core::Error) -> Self {
        Self::Model(e.to_string())
    }
}
