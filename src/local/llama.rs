//! The llama family's forward pass (SmolLM2, Llama 3.x, TinyLlama, Mistral) over GGUF weights.
//!
//! Written here instead of using candle-transformers' `quantized_llama`, for two measured
//! reasons (docs/PERFORMANCE.md, issue 20):
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
//! The maths is the usual one (RMSNorm, rotary embeddings in GGUF's interleaved layout,
//! grouped-query attention, SwiGLU); the tests compare logits with candle-transformers' runner
//! on the real SmolLM2 file.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};

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
    /// Keys and values of the positions run so far: (batch, kv heads, positions, head dim).
    cache: Option<(Tensor, Tensor)>,
}

/// Sizes read from the GGUF header.
#[derive(Debug, Clone, Copy)]
struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
}

/// A llama-family model ready to run.
pub struct Llama {
    embeddings: Arc<QTensor>,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    shape: Shape,
    /// Rotary tables, (positions, head_dim / 2).
    cos: Tensor,
    sin: Tensor,
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
        if ct
            .metadata
            .get("llama.expert_count")
            .and_then(|v| v.to_u32().ok())
            .is_some_and(|n| n > 1)
        {
            candle_core::bail!("mixture-of-experts llama models are not supported");
        }
        let heads = metadata_u32(ct, "llama.attention.head_count")?;
        let kv_heads = metadata_u32(ct, "llama.attention.head_count_kv").unwrap_or(heads);
        let width = metadata_u32(ct, "llama.embedding_length")?;
        let layers = metadata_u32(ct, "llama.block_count")?;
        let head_dim = metadata_u32(ct, "llama.rope.dimension_count").unwrap_or(width / heads);
        let eps = metadata_f32(ct, "llama.attention.layer_norm_rms_epsilon", 1e-5);
        let freq_base = metadata_f32(ct, "llama.rope.freq_base", 10_000.0);
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
            let mut w = |part: &str| tensor(&format!("blk.{i}.{part}.weight"));
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
                cache: None,
            });
        }
        let (cos, sin) = rotary_tables(head_dim, freq_base, positions.max(1), &device)?;
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
            },
            cos,
            sin,
        })
    }

    /// How many positions the rotary tables cover.
    pub fn positions(&self) -> usize {
        self.cos.dims().first().copied().unwrap_or(0)
    }

    /// Forgets the keys and values of every position.
    pub fn clear_kv_cache(&mut self) {
        for block in &mut self.blocks {
            block.cache = None;
        }
    }

    /// Keeps the keys and values of the first `len` positions and forgets the rest (a
    /// regenerated or edited last turn shares only part of the cached conversation).
    pub fn truncate_kv_cache(&mut self, len: usize) -> Result<()> {
        for block in &mut self.blocks {
            if let Some((k, v)) = block.cache.take() {
                if len == 0 || len > k.dim(2)? {
                    candle_core::bail!("cannot cut a cache of {} positions to {len}", k.dim(2)?);
                }
                block.cache = Some((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?));
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
        let mask = match tokens {
            1 => None,
            _ => Some(causal_mask(tokens, pos, x.device())?),
        };
        let cos = self.cos.narrow(0, pos, tokens)?;
        let sin = self.sin.narrow(0, pos, tokens)?;
        for block in &mut self.blocks {
            if cancelled() {
                return Ok(None);
            }
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, self.shape.eps)?;
            let h = block.attention(&h, mask.as_ref(), pos, &cos, &sin, self.shape)?;
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
        mask: Option<&Tensor>,
        pos: usize,
        cos: &Tensor,
        sin: &Tensor,
        shape: Shape,
    ) -> Result<Tensor> {
        let (batch, tokens, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| {
            t.reshape((batch, tokens, n, shape.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(self.wq.forward(x)?, shape.heads)?;
        let k = heads(self.wk.forward(x)?, shape.kv_heads)?;
        let v = heads(self.wv.forward(x)?, shape.kv_heads)?;
        let q = candle_nn::rotary_emb::rope_i(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, cos, sin)?;
        let (k, v) = match self.cache.take() {
            Some((k_before, v_before)) if pos > 0 => (
                Tensor::cat(&[&k_before, &k], 2)?,
                Tensor::cat(&[&v_before, &v], 2)?,
            ),
            _ => (k, v),
        };
        self.cache = Some((k.clone(), v.clone()));
        // The query heads that share a key/value head are stacked as rows of one matrix, so the
        // keys and values are used as they are (copying them once per query head cost more
        // than the attention itself at a long context).
        let (kv_heads, groups) = (shape.kv_heads, shape.heads / shape.kv_heads);
        let keys = k.dim(2)?;
        let q = q.reshape((batch, kv_heads, groups * tokens, shape.head_dim))?;
        let scores = (q.matmul(&k.t()?)? / (shape.head_dim as f64).sqrt())?;
        let scores = match mask {
            Some(mask) => {
                let by_head = scores.reshape((batch, kv_heads, groups, tokens, keys))?;
                let mask = mask.broadcast_as(by_head.shape())?;
                let blocked = Tensor::new(f32::NEG_INFINITY, scores.device())?
                    .broadcast_as(by_head.shape())?;
                mask.where_cond(&blocked, &by_head)?.reshape((
                    batch,
                    kv_heads,
                    groups * tokens,
                    keys,
                ))?
            }
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = weights.matmul(&v.contiguous()?)?;
        let y = y
            .reshape((batch, shape.heads, tokens, shape.head_dim))?
            .transpose(1, 2)?
            .reshape((batch, tokens, shape.heads * shape.head_dim))?;
        self.wo.forward(&y)
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

/// cos and sin of each position times each rotary frequency, (positions, head_dim / 2).
fn rotary_tables(
    head_dim: usize,
    freq_base: f32,
    positions: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inverse: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / freq_base.powf(i as f32 / head_dim as f32))
        .collect();
    let inverse = Tensor::from_vec(inverse, (1, head_dim / 2), device)?;
    let angles = Tensor::arange(0u32, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?
        .broadcast_mul(&inverse)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// 1 where token `i` of this chunk (at position `pos + i`) may not look: keys after it.
fn causal_mask(tokens: usize, pos: usize, device: &Device) -> Result<Tensor> {
    let keys = pos + tokens;
    let mask: Vec<u8> = (0..tokens)
        .flat_map(|i| (0..keys).map(move |j| u8::from(j > pos + i)))
        .collect();
    Tensor::from_slice(&mask, (tokens, keys), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_lets_each_token_see_the_cache_and_the_tokens_before_it() {
        let mask = causal_mask(3, 2, &Device::Cpu).unwrap();
        let rows: Vec<Vec<u8>> = mask.to_vec2().unwrap();
        assert_eq!(
            rows,
            [[0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]].map(|r| r.to_vec())
        );
    }

    #[test]
    fn rotary_tables_turn_position_zero_by_nothing() {
        let (cos, sin) = rotary_tables(4, 10_000.0, 3, &Device::Cpu).unwrap();
        assert_eq!(cos.dims(), [3, 2]);
        let cos: Vec<Vec<f32>> = cos.to_vec2().unwrap();
        let sin: Vec<Vec<f32>> = sin.to_vec2().unwrap();
        assert_eq!(cos[0], [1.0, 1.0]);
        assert_eq!(sin[0], [0.0, 0.0]);
        // Position 1, first frequency (1/base^0 = 1): one radian.
        assert!((sin[1][0] - 1f32.sin()).abs() < 1e-6);
        // Second frequency: 1/10000^(2/4) = 0.01.
        assert!((sin[1][1] - 0.01f32.sin()).abs() < 1e-6);
    }
}
