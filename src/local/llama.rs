//! The llama family's forward pass over GGUF weights: llama (SmolLM2, Llama 3.x, TinyLlama,
//! Mistral), Qwen2 / Qwen2.5 (the same with biases on the query, key and value projections)
//! and Qwen3 (with an RMSNorm of each query and key head instead); both Qwens turn the two
//! halves of a head by the rotary embedding where llama's GGUF layout turns neighbours.
//!
//! Written here instead of using candle-transformers' `quantized_llama` / `quantized_qwen2` /
//! `quantized_qwen3`, for measured reasons (docs/PERFORMANCE.md, issue 20; candle's Qwen2 read
//! a 500-token prompt at 28 tokens/s where this runner reads ~500):
//! - **Prompt speed.** candle's quantized matmul multiplies one token row at a time with the
//!   quantized dot product, which a portable x86-64 build runs without SIMD: 22 prompt tokens/s
//!   on SmolLM2 Q4_1 against llama.cpp's 275. Here a chunk of prompt tokens is multiplied by
//!   each weight matrix dequantised once, in one f32 GEMM (the `gemm` crate picks AVX2/FMA at
//!   run time). One token at a time (decoding) keeps the quantized dot product, which reads
//!   4–8× fewer bytes.
//! - **Memory.** candle dequantises the whole token-embedding table to f32 (113 MB for
//!   SmolLM2's 49,152 × 576); here it stays quantized and only the looked-up rows are expanded,
//!   and a tied output head shares it.
//!
//! - **Attention.** Keys and values are kept in f16 per head (src/local/kv_cache.rs) and each
//!   query attends over them in one pass of our kernel (`RowOps::attend`), split over the
//!   model's threads: no copy of the cache per step, no matrix of scores per chunk, and the
//!   softmax's `exp` vectorised (candle's matmul packed the 2,000 cached keys of a follow-up
//!   question anew for every chunk, and its softmax called libm's `expf` one lane at a time).
//!
//! The maths is the usual one (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU).
//! tests/local_models.rs holds the llama path to llama.cpp's tokens on the real SmolLM2 file;
//! tests/local_qwen.rs holds the Qwen paths to candle-transformers' Qwen runners.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use rayon::prelude::*;
use rustbot_kernels::rows::RowOps;

use crate::local::kv_cache::KvCache;

/// Rows (tokens) from which a matmul dequantises its weights for one f32 GEMM instead of a
/// quantized dot product per token and weight row (measured: examples/local_bench.rs).
const GEMM_FROM_ROWS: usize = 8;

/// A weight matrix kept quantized, multiplied either way.
struct Linear {
    weight: Arc<QTensor>,
    quantized: QMatMul,
}

impl Linear {
    fn new(weight: QTensor) -> Result<Self> {
        let weight = Arc::new(weight);
        Ok(Self {
            quantized: QMatMul::from_arc(Arc::clone(&weight))?,
            weight,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (batch, rows, width) = x.dims3()?;
        if batch * rows < GEMM_FROM_ROWS {
            // Row by row: our AVX2 dot products for the formats candle runs without SIMD.
            let values = x.flatten_all()?.to_vec1::<f32>()?;
            let mut out = Vec::new();
            for row in values.chunks_exact(width) {
                match crate::local::quant_dot::matvec(&self.weight, row) {
                    Some(y) => out.extend(y),
                    None => return self.quantized.forward(x),
                }
            }
            return Tensor::from_vec(out, (batch, rows, ()), x.device());
        }
        // Expanded for this call only: memory stays at the quantized size.
        let expanded = crate::local::quant_dot::dequantize_transposed(&self.weight)
            .or_else(|| crate::local::expand::transposed(&self.weight));
        if let Some(wt) = expanded {
            let x = x.flatten_all()?.to_vec1::<f32>()?;
            let outputs = wt.len() / width.max(1);
            let mut y = vec![0f32; batch * rows * outputs];
            crate::local::matmul::matmul_into(&x, batch * rows, width, &wt, outputs, &mut y, false)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            return Tensor::from_vec(y, (batch, rows, outputs), &Device::Cpu);
        }
        let w = self.weight.dequantize(x.device())?;
        x.reshape((batch * rows, width))?
            .matmul(&w.t()?)?
            .reshape((batch, rows, ()))
    }
}

/// Which member of the family a file holds: what its forward pass does differently.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Llama,
    Qwen2,
    Qwen3,
}

/// How the rotary embedding pairs a head's values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RopePairs {
    /// `(x[2i], x[2i + 1])`: llama's GGUF layout (the converter permutes the weights so).
    Neighbours,
    /// `(x[i], x[i + d/2])`: the Qwens (llama.cpp's NEOX style).
    Halves,
}

/// One transformer block.
struct Block {
    attn_norm: Tensor,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// Qwen2: biases added to the query, key and value projections.
    qkv_bias: Option<[Vec<f32>; 3]>,
    /// Qwen3: RMSNorm weights of each query head and each key head.
    qk_norm: Option<[Vec<f32>; 2]>,
    /// Keys and values of the positions run so far.
    cache: KvCache,
}

/// Sizes read from the GGUF header.
#[derive(Debug, Clone, Copy)]
struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
    pairs: RopePairs,
}

/// A llama-family model ready to run.
pub struct Llama {
    embeddings: Arc<QTensor>,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    shape: Shape,
    rotary: Rotary,
    ops: RowOps,
}

/// cos and sin of each position times each rotary frequency: positions × (head size / 2).
struct Rotary {
    positions: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

/// The values of a small f32 (or f16) tensor, such as a norm's weights or a bias.
fn values(t: QTensor) -> Result<Vec<f32>> {
    t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()
}

/// `row = row / rms(row) * weight`, for each `weight.len()`-wide piece of `rows`.
fn rms_norm_pieces(rows: &mut [f32], weight: &[f32], eps: f32) {
    for piece in rows.chunks_exact_mut(weight.len().max(1)) {
        let mean = piece.iter().map(|x| x * x).sum::<f32>() / piece.len() as f32;
        let inverse = 1.0 / (mean + eps).sqrt();
        for (x, w) in piece.iter_mut().zip(weight) {
            *x *= inverse * w;
        }
    }
}

/// Adds `bias` to each `bias.len()`-wide row of `rows`.
fn add_bias(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len().max(1)) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

fn metadata_u32(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    match ct.metadata.get(key) {
        Some(v) => Ok(v.to_u32()? as usize),
        None => candle_core::bail!("the GGUF header has no `{key}`"),
    }
}

fn metadata_f32(ct: &gguf_file::Content, key: &str, default: f32) -> f32 {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_f32().ok())
        .unwrap_or(default)
}

impl Llama {
    /// Reads the weights of `ct` from `reader`, with rotary tables for `positions` tokens.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: &gguf_file::Content,
        reader: &mut R,
        positions: usize,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let arch = match ct.metadata.get("general.architecture") {
            Some(v) => v.to_string()?.clone(),
            None => candle_core::bail!("the GGUF header has no `general.architecture`"),
        };
        let family = match arch.as_str() {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "qwen3" => Family::Qwen3,
            other => candle_core::bail!("the llama runner does not run `{other}`"),
        };
        let key = |name: &str| format!("{arch}.{name}");
        if ct
            .metadata
            .get(&key("expert_count"))
            .and_then(|v| v.to_u32().ok())
            .is_some_and(|n| n > 1)
        {
            candle_core::bail!("mixture-of-experts {arch} models are not supported");
        }
        let heads = metadata_u32(ct, &key("attention.head_count"))?;
        let kv_heads = metadata_u32(ct, &key("attention.head_count_kv")).unwrap_or(heads);
        let width = metadata_u32(ct, &key("embedding_length"))?;
        let layers = metadata_u32(ct, &key("block_count"))?;
        let head_dim = match family {
            Family::Llama => metadata_u32(ct, &key("rope.dimension_count")).ok(),
            // Qwen3's heads are wider than embedding / heads (128 in Qwen3-0.6B's 1,024).
            Family::Qwen3 => metadata_u32(ct, &key("attention.key_length")).ok(),
            Family::Qwen2 => None,
        }
        .unwrap_or(width / heads.max(1));
        let eps = metadata_f32(ct, &key("attention.layer_norm_rms_epsilon"), 1e-5);
        let freq_base = metadata_f32(ct, &key("rope.freq_base"), 10_000.0);
        let pairs = match family {
            Family::Llama => RopePairs::Neighbours,
            Family::Qwen2 | Family::Qwen3 => RopePairs::Halves,
        };
        if heads == 0
            || kv_heads == 0
            || !heads.is_multiple_of(kv_heads)
            || !head_dim.is_multiple_of(2)
        {
            candle_core::bail!(
                "inconsistent attention shape: {heads} heads, {kv_heads} key/value heads, head size {head_dim}"
            );
        }
        let mut tensor = |name: &str| ct.tensor(reader, name, &device);
        let embeddings = Arc::new(tensor("token_embd.weight")?);
        let norm = tensor("output_norm.weight")?.dequantize(&device)?;
        let output = match tensor("output.weight") {
            Ok(w) => Linear::new(w)?,
            // Tied: the head is the embedding table itself.
            Err(_) => Linear {
                quantized: QMatMul::from_arc(Arc::clone(&embeddings))?,
                weight: Arc::clone(&embeddings),
            },
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let qkv_bias = match family {
                Family::Qwen2 => {
                    let mut bias = |part: &str| values(tensor(&format!("blk.{i}.{part}.bias"))?);
                    Some([bias("attn_q")?, bias("attn_k")?, bias("attn_v")?])
                }
                _ => None,
            };
            let mut w = |part: &str| tensor(&format!("blk.{i}.{part}.weight"));
            let qk_norm = match family {
                Family::Qwen3 => Some([values(w("attn_q_norm")?)?, values(w("attn_k_norm")?)?]),
                _ => None,
            };
            blocks.push(Block {
                attn_norm: w("attn_norm")?.dequantize(&device)?,
                wq: Linear::new(w("attn_q")?)?,
                wk: Linear::new(w("attn_k")?)?,
                wv: Linear::new(w("attn_v")?)?,
                wo: Linear::new(w("attn_output")?)?,
                ffn_norm: w("ffn_norm")?.dequantize(&device)?,
                gate: Linear::new(w("ffn_gate")?)?,
                up: Linear::new(w("ffn_up")?)?,
                down: Linear::new(w("ffn_down")?)?,
                qkv_bias,
                qk_norm,
                cache: KvCache::new(kv_heads, head_dim),
            });
        }
        let rotary = Rotary::new(head_dim, freq_base, positions.max(1));
        Ok(Self {
            embeddings,
            blocks,
            norm,
            output,
            shape: Shape {
                heads,
                kv_heads,
                head_dim,
                eps,
                pairs,
            },
            rotary,
            ops: RowOps::detect(),
        })
    }

    /// How many positions the rotary tables cover.
    pub fn positions(&self) -> usize {
        self.rotary.positions
    }

    /// Forgets the keys and values of every position (and frees their memory).
    pub fn clear_kv_cache(&mut self) {
        for block in &mut self.blocks {
            block.cache = KvCache::new(self.shape.kv_heads, self.shape.head_dim);
        }
    }

    /// Keeps the keys and values of the first `len` positions and forgets the rest (a
    /// regenerated or edited last turn shares only part of the cached conversation).
    pub fn truncate_kv_cache(&mut self, len: usize) -> Result<()> {
        for block in &mut self.blocks {
            let held = block.cache.len();
            if held > 0 {
                if len == 0 || len > held {
                    candle_core::bail!("cannot cut a cache of {held} positions to {len}");
                }
                block.cache.truncate(len);
            }
        }
        Ok(())
    }

    /// Runs `input` (batch, tokens) at positions `pos..` after the cached ones and returns
    /// the logits of the last token, (batch, vocabulary).
    pub fn forward(&mut self, input: &Tensor, pos: usize) -> Result<Tensor> {
        match self.forward_unless(input, pos, &|| false)? {
            Some(logits) => Ok(logits),
            None => candle_core::bail!("a forward pass that cannot be cancelled was cancelled"),
        }
    }

    /// Like `forward`, asking `cancelled` between blocks: a long prompt chunk stops within
    /// one block's time. Cancelled, it returns None and the cache holds only part of the
    /// chunk: the caller must clear it.
    pub fn forward_unless(
        &mut self,
        input: &Tensor,
        pos: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Tensor>> {
        let (_, tokens) = input.dims2()?;
        if pos + tokens > self.positions() {
            candle_core::bail!(
                "position {} is past the {} positions of the rotary tables",
                pos + tokens,
                self.positions()
            );
        }
        let mut x = self.embeddings.embedding(input)?;
        for block in &mut self.blocks {
            if cancelled() {
                return Ok(None);
            }
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, self.shape.eps)?;
            let h = block.attention(&h, pos, &self.rotary, self.shape, self.ops)?;
            let x_mid = (h + &x)?;
            let h = candle_nn::ops::rms_norm(&x_mid, &block.ffn_norm, self.shape.eps)?;
            let h = block.mlp(&h)?;
            x = (h + x_mid)?;
        }
        let last = x.i((.., tokens - 1..tokens, ..))?.contiguous()?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, self.shape.eps)?;
        Ok(Some(self.output.forward(&last)?.squeeze(1)?))
    }
}

impl Block {
    fn attention(
        &mut self,
        x: &Tensor,
        pos: usize,
        rotary: &Rotary,
        shape: Shape,
        ops: RowOps,
    ) -> Result<Tensor> {
        let (batch, tokens, _) = x.dims3()?;
        if batch != 1 {
            candle_core::bail!("the llama runner runs one sequence at a time, not {batch}");
        }
        let (heads, kv_heads, d) = (shape.heads, shape.kv_heads, shape.head_dim);
        let rows = |t: Tensor| t.flatten_all()?.to_vec1::<f32>();
        let mut q = rows(self.wq.forward(x)?)?;
        let mut k = rows(self.wk.forward(x)?)?;
        let mut v = rows(self.wv.forward(x)?)?;
        if let Some([bq, bk, bv]) = &self.qkv_bias {
            add_bias(&mut q, bq);
            add_bias(&mut k, bk);
            add_bias(&mut v, bv);
        }
        if let Some([nq, nk]) = &self.qk_norm {
            rms_norm_pieces(&mut q, nq, shape.eps);
            rms_norm_pieces(&mut k, nk, shape.eps);
        }
        rotary.apply(&mut q, pos, heads * d, d, shape.pairs);
        rotary.apply(&mut k, pos, kv_heads * d, d, shape.pairs);
        if pos == 0 {
            self.cache.truncate(0);
        }
        if self.cache.len() != pos {
            candle_core::bail!(
                "the cache holds {} positions, not the {pos} before this chunk",
                self.cache.len()
            );
        }
        self.cache.append(&k, &v);
        // One task per (token, key/value head), for the query heads that share it: each
        // cached row is widened from f16 once for all of them.
        let (cache, groups) = (&self.cache, heads / kv_heads);
        let scale = 1.0 / (d as f32).sqrt();
        let mut out = vec![0f32; tokens * heads * d];
        out.par_chunks_mut(groups * d)
            .zip(q.par_chunks(groups * d))
            .enumerate()
            .for_each_init(Vec::new, |scores, (item, (out, queries))| {
                let visible = pos + item / kv_heads + 1;
                let (keys, values) = cache.head(item % kv_heads);
                scores.resize(groups * visible, 0.0);
                ops.attend(
                    queries,
                    d,
                    &keys[..visible * d],
                    &values[..visible * d],
                    scale,
                    &mut scores[..groups * visible],
                    out,
                );
            });
        self.wo
            .forward(&Tensor::from_vec(out, (1, tokens, heads * d), x.device())?)
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

impl Rotary {
    fn new(head_dim: usize, freq_base: f32, positions: usize) -> Self {
        let inverse: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / freq_base.powf(i as f32 / head_dim as f32))
            .collect();
        let angles: Vec<f32> = (0..positions)
            .flat_map(|p| inverse.iter().map(move |f| p as f32 * f))
            .collect();
        Self {
            positions,
            cos: angles.iter().map(|a| a.cos()).collect(),
            sin: angles.iter().map(|a| a.sin()).collect(),
        }
    }

    /// Turns each pair of each head in `rows` (one row of `width` values per token from
    /// position `pos`, heads of `head_dim` values) by the angle of its position and frequency.
    fn apply(&self, rows: &mut [f32], pos: usize, width: usize, head_dim: usize, pairs: RopePairs) {
        let half = head_dim / 2;
        for (t, row) in rows.chunks_exact_mut(width.max(1)).enumerate() {
            let at = (pos + t) * half;
            let (Some(cos), Some(sin)) = (self.cos.get(at..at + half), self.sin.get(at..at + half))
            else {
                return;
            };
            for head in row.chunks_exact_mut(head_dim.max(2)) {
                let turn = |a: f32, b: f32, c: f32, s: f32| (a * c - b * s, a * s + b * c);
                match pairs {
                    RopePairs::Neighbours => {
                        for ((pair, &c), &s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
                            (pair[0], pair[1]) = turn(pair[0], pair[1], c, s);
                        }
                    }
                    RopePairs::Halves => {
                        let (low, high) = head.split_at_mut(half);
                        for (((a, b), &c), &s) in low.iter_mut().zip(high).zip(cos).zip(sin) {
                            (*a, *b) = turn(*a, *b, c, s);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotary_turns_each_pair_by_its_position_and_frequency() {
        let rotary = Rotary::new(4, 10_000.0, 3);
        // Two tokens from position 1, one head of 4 values each: pairs (1, 0) and (0, 1).
        let mut rows = vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        rotary.apply(&mut rows, 1, 4, 4, RopePairs::Neighbours);
        // Position 1, first frequency (1/base^0 = 1): one radian; second: 1/10000^(2/4) = 0.01.
        let want = [
            1f32.cos(),
            1f32.sin(),
            -(0.01f32.sin()),
            0.01f32.cos(),
            2f32.cos(),
            2f32.sin(),
            -(0.02f32.sin()),
            0.02f32.cos(),
        ];
        for (got, want) in rows.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{rows:?}");
        }
        // Position 0 turns nothing.
        let mut first = vec![0.3, -0.7, 2.0, 5.0];
        rotary.apply(&mut first, 0, 4, 4, RopePairs::Neighbours);
        assert_eq!(first, [0.3, -0.7, 2.0, 5.0]);
        // The Qwens pair value i with value i + 2 (of 4): (1, 0) and (0, 1) again.
        let mut halves = vec![1.0, 0.0, 0.0, 1.0];
        rotary.apply(&mut halves, 1, 4, 4, RopePairs::Halves);
        let want = [1f32.cos(), -(0.01f32.sin()), 1f32.sin(), 0.01f32.cos()];
        for (got, want) in halves.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{halves:?}");
        }
    }

    #[test]
    fn rms_norm_pieces_normalises_each_head_alone() {
        let mut rows = vec![3.0, 4.0, 1.0, 1.0];
        rms_norm_pieces(&mut rows, &[1.0, 2.0], 0.0);
        let r = (12.5f32).sqrt();
        let want = [3.0 / r, 8.0 / r, 1.0, 2.0];
        for (got, want) in rows.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{rows:?}");
        }
    }
}
