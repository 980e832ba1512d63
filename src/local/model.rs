//! A loaded GGUF model: weights (our llama-family runner: llama, qwen2, qwen3), tokenizer, chat
//! template and the tokens its KV cache holds, so a follow-up turn only reads what is new.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};

use crate::local::LocalError;
use crate::local::gguf::{GgufInfo, read_info};
use crate::local::llama::Llama;
use crate::local::template::ChatTemplate;
use crate::local::tokenizer::ModelTokenizer;

/// A model ready to generate.
pub struct LoadedModel {
    weights: Llama,
    /// The tokenizer and its special tokens.
    pub tokenizer: ModelTokenizer,
    /// The chat template.
    pub template: ChatTemplate,
    /// What the header says.
    pub info: GgufInfo,
    /// Context window in tokens (the model's, capped by `[local] context_tokens` and by the
    /// runner's own limit).
    pub context_tokens: usize,
    /// The tokens whose keys and values the cache holds, in order.
    cached: Vec<u32>,
    /// How long loading took.
    pub load_ms: u128,
}

/// The longest context the llama runner makes rotary tables for (16 MB of them at a head
/// size of 128; the KV cache grows with what is used, not with this).
const LLAMA_MAX_POSITIONS: usize = 32_768;

impl LoadedModel {
    /// Loads the GGUF at `path` on the CPU; `context_cap` caps its context window.
    pub fn load(path: &Path, context_cap: Option<usize>) -> Result<Self, LocalError> {
        let started = Instant::now();
        let info = read_info(path)?;
        if let Some(err) = info.unsupported() {
            return Err(err);
        }
        // Buffered: the header is ~100,000 small reads (the vocabulary and merges are metadata
        // arrays of strings); unbuffered they were 60 ms of a 100 MB model's load.
        let mut file = std::io::BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path).map_err(|e| LocalError::io(path, e))?,
        );
        let ct = Content::read(&mut file).map_err(|e| LocalError::NotGguf {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let tokenizer = ModelTokenizer::load(path, &ct)?;
        let template_src = ct
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .cloned();
        let text = |t: &Option<(u32, String)>| t.as_ref().map_or(String::new(), |(_, s)| s.clone());
        let template = ChatTemplate::new(
            template_src.as_deref(),
            &text(&tokenizer.bos),
            &text(&tokenizer.eos),
        );
        let model_err =
            |e: candle_core::Error| LocalError::Model(format!("{}: {e}", path.display()));
        // The model's window, capped by the runner's and the user's; the rotary tables cover
        // exactly it. Other architectures were refused by `unsupported` above.
        let context_tokens = info
            .context_length
            .map_or(2048, |c| c as usize)
            .min(LLAMA_MAX_POSITIONS)
            .min(context_cap.filter(|c| *c > 0).unwrap_or(usize::MAX));
        let weights = Llama::from_gguf(&ct, &mut file, context_tokens).map_err(model_err)?;
        Ok(Self {
            weights,
            tokenizer,
            template,
            info,
            context_tokens,
            cached: Vec::new(),
            load_ms: started.elapsed().as_millis(),
        })
    }

    /// The file this model came from.
    pub fn path(&self) -> &PathBuf {
        &self.info.path
    }

    /// How many leading tokens of `prompt` the cache can serve: the prefix it shares with
    /// the prompt (0 when the cache must be cleared). At least one prompt token is always
    /// left to run, for its logits. A cache longer than that prefix (a regenerated or edited
    /// last turn) is cut back to it by `keep_prefix`.
    pub fn reusable_prefix(&self, prompt: &[u32]) -> usize {
        self.cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len().saturating_sub(1))
    }

    /// Keeps the first `len` cached positions (from `reusable_prefix`) and forgets the rest.
    pub fn keep_prefix(&mut self, len: usize) -> Result<(), LocalError> {
        if len == 0 {
            self.clear_cache();
            return Ok(());
        }
        if len >= self.cached.len() {
            return Ok(());
        }
        match self.weights.truncate_kv_cache(len) {
            Ok(()) => {
                self.cached.truncate(len);
                Ok(())
            }
            Err(e) => {
                self.clear_cache();
                Err(e.into())
            }
        }
    }

    /// Forgets the cache.
    pub fn clear_cache(&mut self) {
        self.cached.clear();
        self.weights.clear_kv_cache();
    }

    /// Runs `tokens` (appended after the cached ones) and returns the logits of the last, as
    /// a vector over the vocabulary.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Tensor, LocalError> {
        self.forward_unless(tokens, &|| false)?
            .ok_or_else(|| LocalError::Model("the forward pass was cancelled".into()))
    }

    /// Like `forward`, stopping early when `cancelled` says so (the llama runner asks between
    /// blocks; the others run the chunk whole). Cancelled, it returns None with the cache
    /// cleared.
    pub fn forward_unless(
        &mut self,
        tokens: &[u32],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Tensor>, LocalError> {
        let pos = self.cached.len();
        if pos + tokens.len() > self.context_tokens {
            return Err(LocalError::ContextExceeded {
                prompt_tokens: pos + tokens.len(),
                context_tokens: self.context_tokens,
            });
        }
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        let logits = self.weights.forward_unless(&input, pos, cancelled);
        let logits = match logits {
            Ok(l) => l,
            Err(e) => {
                // A failed step leaves the cache in an unknown state.
                self.clear_cache();
                return Err(e.into());
            }
        };
        let Some(logits) = logits else {
            // Part of the chunk is in the cache, part not.
            self.clear_cache();
            return Ok(None);
        };
        self.cached.extend_from_slice(tokens);
        Ok(Some(logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?))
    }
}
