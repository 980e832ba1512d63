//! Sentence embeddings with a sentence-transformers BERT model (a folder with config.json,
//! tokenizer.json and model.safetensors, e.g. all-MiniLM-L6-v2): mean pooling over the
//! attention mask, then L2 normalisation, as sentence-transformers does. Batched.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::local::LocalError;

/// Texts run through the model at once.
const BATCH: usize = 32;

/// A loaded embedding model.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    /// Length of each vector.
    pub dimensions: usize,
    /// The folder it came from.
    pub path: PathBuf,
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>, LocalError> {
    let path = dir.join(file);
    std::fs::read(&path).map_err(|e| LocalError::io(path, e))
}

impl Embedder {
    /// Loads the sentence-transformers folder `dir`.
    pub fn load(dir: &Path) -> Result<Self, LocalError> {
        let config: Config = serde_json::from_slice(&read(dir, "config.json")?)
            .map_err(|e| LocalError::Model(format!("{}/config.json: {e}", dir.display())))?;
        let max_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("max_seq_length")?.as_u64())
            .map_or(config.max_position_embeddings, |n| n as usize);
        let mut tokenizer = Tokenizer::from_bytes(read(dir, "tokenizer.json")?)
            .map_err(|e| LocalError::Tokenizer(format!("{}/tokenizer.json: {e}", dir.display())))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| LocalError::Tokenizer(e.to_string()))?;
        let weights = read(dir, "model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| LocalError::Model(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            model,
            tokenizer,
            dimensions: config.hidden_size,
            path: dir.to_path_buf(),
        })
    }

    /// One unit-length vector per text, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LocalError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            out.extend(self.embed_batch(batch)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LocalError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| LocalError::Tokenizer(e.to_string()))?;
        let ids = stack(&encodings, Encoding::get_ids)?;
        let type_ids = stack(&encodings, Encoding::get_type_ids)?;
        let mask = stack(&encodings, Encoding::get_attention_mask)?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        // Mean over the real tokens: sum(h * mask) / sum(mask).
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

/// One row per encoding of the field `field` picks, as a (batch, length) tensor.
fn stack(encodings: &[Encoding], field: fn(&Encoding) -> &[u32]) -> Result<Tensor, LocalError> {
    let rows = encodings
        .iter()
        .map(|e| Tensor::new(field(e), &Device::Cpu))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::stack(&rows, 0)?)
}
