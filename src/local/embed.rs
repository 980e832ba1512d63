//! Sentence embeddings with a sentence-transformers BERT model (a folder with config.json,
//! tokenizer.json and model.safetensors, e.g. all-MiniLM-L6-v2): mean pooling over each text's
//! tokens, then L2 normalisation, as sentence-transformers does. Batched: texts are sorted by
//! length and packed end to end (no padding) up to `BATCH_TOKENS` per run of the encoder.

use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationParams};

use crate::local::LocalError;
use crate::local::bert::{Bert, BertConfig, Scratch};

/// Tokens run through the encoder at once: enough rows for the GEMMs to reach full speed,
/// few enough that the buffers (~12 KB per token for all-MiniLM-L6-v2) stay near the cache.
const BATCH_TOKENS: usize = 4096;

/// A loaded embedding model.
pub struct Embedder {
    model: Bert,
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
        let config: BertConfig = serde_json::from_slice(&read(dir, "config.json")?)
            .map_err(|e| LocalError::Model(format!("{}/config.json: {e}", dir.display())))?;
        let max_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("max_seq_length")?.as_u64())
            .map_or(config.max_position_embeddings, |n| n as usize)
            .min(config.max_position_embeddings);
        let mut tokenizer = Tokenizer::from_bytes(read(dir, "tokenizer.json")?)
            .map_err(|e| LocalError::Tokenizer(format!("{}/tokenizer.json: {e}", dir.display())))?;
        // Texts are packed, never padded.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| LocalError::Tokenizer(e.to_string()))?;
        let model = Bert::load(dir, config, &read(dir, "model.safetensors")?)?;
        Ok(Self {
            dimensions: model.hidden_size(),
            model,
            tokenizer,
            path: dir.to_path_buf(),
        })
    }

    /// One unit-length vector per text, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LocalError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| LocalError::Tokenizer(e.to_string()))?;
        // Similar lengths together keep the attention tasks of a batch even.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        // The encoder's buffers live for this call (every run of the encoder in it reuses them)
        // and not beyond: kept in the embedder, they held ~56 MB for as long as the model
        // stayed loaded, for one allocation per call saved.
        let mut scratch = Scratch::default();
        let mut batch: Vec<usize> = Vec::new();
        let mut batch_tokens = 0;
        for (n, &i) in order.iter().enumerate() {
            batch.push(i);
            batch_tokens += encodings[i].len();
            let next = order.get(n + 1).map_or(0, |&j| encodings[j].len());
            if order.len() == n + 1 || batch_tokens + next > BATCH_TOKENS {
                let ids: Vec<u32> = batch
                    .iter()
                    .flat_map(|&i| encodings[i].get_ids())
                    .copied()
                    .collect();
                let types: Vec<u32> = batch
                    .iter()
                    .flat_map(|&i| encodings[i].get_type_ids())
                    .copied()
                    .collect();
                let lengths: Vec<usize> = batch.iter().map(|&i| encodings[i].len()).collect();
                let hidden = self.model.encode(&ids, &types, &lengths, &mut scratch)?;
                let mut rows = hidden.chunks_exact(self.dimensions);
                for (&i, &len) in batch.iter().zip(&lengths) {
                    out[i] = mean_normalised(rows.by_ref().take(len), self.dimensions);
                }
                batch.clear();
                batch_tokens = 0;
            }
        }
        Ok(out)
    }
}

/// The mean of a text's token vectors, scaled to unit length (sentence-transformers' pooling
/// and `Normalize` modules).
fn mean_normalised<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> Vec<f32> {
    let mut sum = vec![0.0_f32; width];
    let mut count = 0usize;
    for row in rows {
        for (s, x) in sum.iter_mut().zip(row) {
            *s += x;
        }
        count += 1;
    }
    let count = count.max(1) as f32;
    let norm = sum
        .iter()
        .map(|x| (x / count) * (x / count))
        .sum::<f32>()
        .sqrt();
    let scale = 1.0 / (count * norm.max(1e-12));
    sum.iter().map(|x| x * scale).collect()
}
