//! The BERT encoder of sentence-transformers models (all-MiniLM-L6-v2 and its family), run
//! over several texts packed end to end with no padding.
//!
//! Written here instead of using candle-transformers' `BertModel` for a measured reason
//! (docs/PERFORMANCE.md, issues 20 and 21): candle reached 0.25× sentence-transformers'
//! throughput on this machine. Each of its ops allocates its output (a 32 × 256-token batch
//! moves ~100 MB through mmap per layer: a third of the time was page faults), its softmax and
//! GELU are several passes with libm's scalar `exp`/`erf`, and padding makes every text as long
//! as the batch's longest. Here the buffers live across layers and batches, texts are packed
//! (attention runs per text), the linear layers are single `gemm` calls with the bias folded
//! in, and the row kernels are vectorised (crates/kernels/src/rows.rs).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
use serde::Deserialize;

use crate::local::LocalError;
use crate::local::matmul::matmul_into;
use rustbot_kernels::rows::RowOps;

/// The fields of a BERT `config.json` this encoder reads.
#[derive(Debug, Deserialize)]
pub struct BertConfig {
    /// Rows of the token-embedding table.
    pub vocab_size: usize,
    /// Width of every token's vector.
    pub hidden_size: usize,
    /// Encoder blocks.
    pub num_hidden_layers: usize,
    /// Attention heads per block.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer; only the exact `gelu` is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest text, in tokens.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` positions are supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// A linear layer.
struct Linear {
    /// (in, out) row-major: PyTorch's (out, in) transposed at load. In this layout `gemm`
    /// reads the weights where they are; in PyTorch's it copied the whole matrix into panels on
    /// every call, which was 45 % of embedding a one-line question (17 ms).
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Block {
    /// Query, key and value stacked: one GEMM gives all three.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

/// A loaded encoder.
pub struct Bert {
    config: BertConfig,
    words: Vec<f32>,
    positions: Vec<f32>,
    types: Vec<f32>,
    embedding_norm: Norm,
    blocks: Vec<Block>,
    ops: RowOps,
}

/// Buffers reused from one `encode` to the next: across the layers and the batches of one
/// `Embedder::embed` call (a batch of 4,096 tokens needs ~56 MB; allocating them per op was a
/// third of candle's time).
#[derive(Default)]
pub struct Scratch {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    wide: Vec<f32>,
}

/// The tensors of a safetensors file by name, with the `bert.` prefix some exports add taken
/// off.
struct Weights(HashMap<String, Tensor>);

impl Weights {
    fn get(&self, name: &str) -> Result<Vec<f32>, LocalError> {
        let tensor = self
            .0
            .get(name)
            .ok_or_else(|| LocalError::Model(format!("model.safetensors has no tensor {name}")))?;
        Ok(tensor
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// A tensor that must hold `len` values.
    fn sized(&self, name: &str, len: usize) -> Result<Vec<f32>, LocalError> {
        let values = self.get(name)?;
        if values.len() != len {
            return Err(LocalError::Model(format!(
                "model.safetensors: {name} has {} values, config.json implies {len}",
                values.len()
            )));
        }
        Ok(values)
    }

    /// A layer norm, under either name PyTorch has used for its parameters.
    fn norm(&self, prefix: &str, width: usize) -> Result<Norm, LocalError> {
        let (g, b) = if self.0.contains_key(&format!("{prefix}.gamma")) {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        Ok(Norm {
            gamma: self.sized(&format!("{prefix}.{g}"), width)?,
            beta: self.sized(&format!("{prefix}.{b}"), width)?,
        })
    }

    fn linear(&self, names: &[&str], inputs: usize, outputs: usize) -> Result<Linear, LocalError> {
        let mut weight = Vec::with_capacity(names.len() * outputs * inputs);
        let mut bias = Vec::with_capacity(names.len() * outputs);
        for name in names {
            weight.extend(self.sized(&format!("{name}.weight"), outputs * inputs)?);
            bias.extend(self.sized(&format!("{name}.bias"), outputs)?);
        }
        let outputs = outputs * names.len();
        let mut transposed = vec![0.0; weight.len()];
        for (o, row) in weight.chunks_exact(inputs).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                transposed[i * outputs + o] = w;
            }
        }
        Ok(Linear {
            weight: transposed,
            bias,
            inputs,
            outputs,
        })
    }
}

impl Bert {
    /// Reads `config.json` and `model.safetensors` (f32 or f16) from a sentence-transformers
    /// folder.
    pub fn load(dir: &Path, config: BertConfig, safetensors: &[u8]) -> Result<Self, LocalError> {
        let unsupported = |what: String| {
            LocalError::Model(format!(
                "{}: {what}; supported are BERT encoders with absolute positions and the exact GELU",
                dir.display()
            ))
        };
        if config.hidden_act != "gelu" {
            return Err(unsupported(format!("activation {:?}", config.hidden_act)));
        }
        if let Some(kind) = config.position_embedding_type.as_deref()
            && kind != "absolute"
        {
            return Err(unsupported(format!("position embeddings {kind:?}")));
        }
        let heads = config.num_attention_heads;
        if heads == 0 || !config.hidden_size.is_multiple_of(heads) {
            return Err(unsupported(format!(
                "{} heads over a width of {}",
                heads, config.hidden_size
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(safetensors, &Device::Cpu)?;
        let tensors = tensors
            .into_iter()
            .map(|(name, t)| {
                let name = name
                    .strip_prefix("bert.")
                    .map(str::to_owned)
                    .unwrap_or(name);
                (name, t)
            })
            .collect();
        let w = Weights(tensors);
        let h = config.hidden_size;
        let inter = config.intermediate_size;
        let mut blocks = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            blocks.push(Block {
                qkv: w.linear(
                    &[
                        &format!("{p}.attention.self.query"),
                        &format!("{p}.attention.self.key"),
                        &format!("{p}.attention.self.value"),
                    ],
                    h,
                    h,
                )?,
                attention_out: w.linear(&[&format!("{p}.attention.output.dense")], h, h)?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                up: w.linear(&[&format!("{p}.intermediate.dense")], h, inter)?,
                down: w.linear(&[&format!("{p}.output.dense")], inter, h)?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Self {
            words: w.sized("embeddings.word_embeddings.weight", config.vocab_size * h)?,
            positions: w.sized(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings * h,
            )?,
            types: w.sized(
                "embeddings.token_type_embeddings.weight",
                config.type_vocab_size * h,
            )?,
            embedding_norm: w.norm("embeddings.LayerNorm", h)?,
            blocks,
            config,
            ops: RowOps::detect(),
        })
    }

    /// Width of every token's vector.
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// Longest text in tokens.
    pub fn max_tokens(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Runs texts packed end to end: `ids` and `type_ids` hold every text's tokens in turn,
    /// `lengths` how many each has. Returns the last layer's vectors, one row per token
    /// (borrowed from `scratch`).
    pub fn encode<'s>(
        &self,
        ids: &[u32],
        type_ids: &[u32],
        lengths: &[usize],
        scratch: &'s mut Scratch,
    ) -> Result<&'s [f32], LocalError> {
        let h = self.config.hidden_size;
        let tokens = ids.len();
        if type_ids.len() != tokens || lengths.iter().sum::<usize>() != tokens {
            return Err(LocalError::Model(
                "BERT input: token ids, type ids and lengths disagree".into(),
            ));
        }
        if let Some(&long) = lengths
            .iter()
            .find(|&&n| n > self.config.max_position_embeddings)
        {
            return Err(LocalError::Model(format!(
                "a text of {long} tokens is longer than the model's {}",
                self.config.max_position_embeddings
            )));
        }
        self.embed_tokens(ids, type_ids, lengths, scratch)?;
        for block in &self.blocks {
            self.run_block(block, lengths, scratch)?;
        }
        Ok(&scratch.hidden[..tokens * h])
    }

    /// Word + position + type embeddings, normalised, into `scratch.hidden`.
    fn embed_tokens(
        &self,
        ids: &[u32],
        type_ids: &[u32],
        lengths: &[usize],
        scratch: &mut Scratch,
    ) -> Result<(), LocalError> {
        let h = self.config.hidden_size;
        resize(&mut scratch.hidden, ids.len() * h);
        let positions = lengths.iter().flat_map(|&n| 0..n);
        let rows = scratch.hidden.chunks_exact_mut(h);
        for (((row, &id), &kind), position) in rows.zip(ids).zip(type_ids).zip(positions) {
            let (id, kind) = (id as usize, kind as usize);
            if id >= self.config.vocab_size || kind >= self.config.type_vocab_size {
                return Err(LocalError::Model(format!(
                    "token {id} (type {kind}) is outside the model's tables"
                )));
            }
            let word = &self.words[id * h..(id + 1) * h];
            let pos = &self.positions[position * h..(position + 1) * h];
            let typ = &self.types[kind * h..(kind + 1) * h];
            for (((x, w), p), t) in row.iter_mut().zip(word).zip(pos).zip(typ) {
                *x = w + p;
                *x += t;
            }
        }
        let norm = &self.embedding_norm;
        let eps = self.config.layer_norm_eps as f32;
        let zeros = vec![0.0; h];
        scratch.hidden.par_chunks_mut(h).for_each(|row| {
            self.ops
                .add_layer_norm(row, &zeros, &norm.gamma, &norm.beta, eps)
        });
        Ok(())
    }

    fn run_block(
        &self,
        block: &Block,
        lengths: &[usize],
        scratch: &mut Scratch,
    ) -> Result<(), LocalError> {
        let h = self.config.hidden_size;
        let tokens = lengths.iter().sum::<usize>();
        let eps = self.config.layer_norm_eps as f32;
        let ops = self.ops;
        // Attention.
        linear(&scratch.hidden, tokens, &block.qkv, &mut scratch.qkv)?;
        self.attend(lengths, scratch);
        linear(
            &scratch.context,
            tokens,
            &block.attention_out,
            &mut scratch.wide,
        )?;
        let norm = &block.attention_norm;
        scratch
            .hidden
            .par_chunks_mut(h)
            .zip(scratch.wide.par_chunks(h))
            .for_each(|(x, a)| ops.add_layer_norm(x, a, &norm.gamma, &norm.beta, eps));
        // Feed-forward: the wide buffer holds the intermediate, then the output.
        linear(&scratch.hidden, tokens, &block.up, &mut scratch.wide)?;
        scratch
            .wide
            .par_chunks_mut(block.up.outputs)
            .for_each(|row| ops.gelu(row));
        linear(&scratch.wide, tokens, &block.down, &mut scratch.context)?;
        let norm = &block.output_norm;
        scratch
            .hidden
            .par_chunks_mut(h)
            .zip(scratch.context.par_chunks(h))
            .for_each(|(x, a)| ops.add_layer_norm(x, a, &norm.gamma, &norm.beta, eps));
        Ok(())
    }

    /// Self-attention of each text over its own tokens, one (text, head) per task, from
    /// `scratch.qkv` into `scratch.context`.
    fn attend(&self, lengths: &[usize], scratch: &mut Scratch) {
        let h = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let head = h / heads;
        let tokens = lengths.iter().sum::<usize>();
        let scale = 1.0 / (head as f32).sqrt();
        resize(&mut scratch.context, tokens * h);
        let starts: Vec<usize> = lengths
            .iter()
            .scan(0, |at, &n| {
                let start = *at;
                *at += n;
                Some(start)
            })
            .collect();
        let tasks: Vec<(usize, usize)> = (0..lengths.len())
            .flat_map(|text| (0..heads).map(move |hd| (text, hd)))
            .collect();
        let qkv = &scratch.qkv;
        let context = SharedRows(scratch.context.as_mut_ptr());
        let ops = self.ops;
        tasks
            .par_iter()
            .for_each_init(Vec::new, |scores: &mut Vec<f32>, &(text, hd)| {
                let (start, n) = (starts[text], lengths[text]);
                resize(scores, n * n);
                let q = &qkv[start * 3 * h + hd * head..];
                let k = &qkv[start * 3 * h + h + hd * head..];
                let v = &qkv[start * 3 * h + 2 * h + hd * head..];
                let stride = 3 * h as isize;
                // SAFETY: every pointer/stride pair stays inside its slice: rows `0..n` of a
                // text lie within `qkv` (3h values per token) and within `context`; the
                // (text, head) tasks write disjoint columns of disjoint rows of `context`.
                unsafe {
                    // scores = q · kᵀ (n × n)
                    gemm::gemm(
                        n,
                        n,
                        head,
                        scores.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        q.as_ptr(),
                        1,
                        stride,
                        k.as_ptr(),
                        stride,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
                for row in scores.chunks_exact_mut(n) {
                    ops.softmax(row, scale);
                }
                let out = context.at(start * h + hd * head);
                // SAFETY: as above.
                unsafe {
                    // context[rows of this text, columns of this head] = scores · v
                    gemm::gemm(
                        n,
                        head,
                        n,
                        out,
                        1,
                        h as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        n as isize,
                        v.as_ptr(),
                        1,
                        stride,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            });
    }
}

/// `scratch.context`'s base pointer, shared by the attention tasks that each write their own
/// block of it.
#[derive(Clone, Copy)]
struct SharedRows(*mut f32);
impl SharedRows {
    /// The element `offset` values past the base.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

// SAFETY: the tasks write disjoint (rows, columns) blocks; see `Bert::attend`.
unsafe impl Send for SharedRows {}
// SAFETY: as above.
unsafe impl Sync for SharedRows {}

/// Grows or shrinks `buffer` to `len` values without keeping old contents meaningful.
fn resize(buffer: &mut Vec<f32>, len: usize) {
    buffer.resize(len, 0.0);
}

/// `out = x · weightᵀ + bias` for `rows` rows of `x`, one GEMM across the rayon pool.
fn linear(x: &[f32], rows: usize, layer: &Linear, out: &mut Vec<f32>) -> Result<(), LocalError> {
    let n = layer.outputs;
    resize(out, rows * n);
    for row in out.chunks_exact_mut(n) {
        row.copy_from_slice(&layer.bias);
    }
    matmul_into(x, rows, layer.inputs, &layer.weight, n, out, true)
        .map_err(|e| LocalError::Model(format!("embedding model: {e}")))
}
