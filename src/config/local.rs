//! The `[local]` section of config.toml: where models live and how they run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The model `[local] default_model_url` points at unless configured: Qwen2.5-0.5B-Instruct
/// in Q4_K_M (about 400 MB), from Qwen's own Hugging Face repository.
pub const DEFAULT_MODEL_URL: &str = "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf";

/// Local models (`[local]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalSettings {
    /// Folder of `.gguf` files (default: `models` in the data dir; filled in when resolved).
    pub models_dir: Option<PathBuf>,
    /// Threads that run a model (default: the number of physical cores).
    pub threads: Option<usize>,
    /// Caps the model's context window, in tokens (default: the model's own).
    pub context_tokens: Option<u64>,
    /// Seconds a loaded model stays in memory after its last answer.
    pub keep_loaded_secs: u64,
    /// What the desktop app offers to download on first run.
    pub default_model_url: String,
    /// The embedding model: a sentence-transformers folder (config.json, tokenizer.json,
    /// model.safetensors), or a URL to pull.
    pub embedding_model: Option<String>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            models_dir: None,
            threads: None,
            context_tokens: None,
            keep_loaded_secs: 300,
            default_model_url: DEFAULT_MODEL_URL.to_string(),
            embedding_model: None,
        }
    }
}

impl LocalSettings {
    /// These settings with `models_dir` defaulted to `models` in `data_dir`.
    pub fn resolved(&self, data_dir: &Path) -> Self {
        let mut s = self.clone();
        if s.models_dir.is_none() {
            s.models_dir = Some(data_dir.join("models"));
        }
        s
    }

    /// The models folder (`models` under the working directory if never resolved).
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("models"))
    }

    /// Threads to run a model on: the setting, else physical cores, else what the OS offers.
    pub fn thread_count(&self) -> usize {
        self.threads.filter(|t| *t > 0).unwrap_or_else(|| {
            let physical = num_cpus::get_physical();
            if physical > 0 {
                physical
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            }
        })
    }
}
