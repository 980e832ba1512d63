//! The Qwen2 and Qwen3 paths of our llama-family runner, held to candle-transformers' own
//! Qwen runners (`quantized_qwen2`, `quantized_qwen3`: an independent implementation) on the
//! same file.
//!
//! No Qwen GGUF can be fetched here (the machine reaches PyPI, not Hugging Face), so each
//! test writes one: the SmolLM2 fixture's weights, unchanged, under a Qwen architecture, with
//! what that architecture adds (Qwen2: query/key/value biases; Qwen3: per-head query/key
//! norms) filled with varied values so that a runner which skipped them would differ. The
//! answers of such a file mean nothing; the two runners must still compute the same thing.
//! scripts/qwen_from_llama.py writes the same files for benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_qwen2, quantized_qwen3};
use rustbot::local::model::LoadedModel;

#[path = "common/fixtures.rs"]
mod fixtures;
use fixtures::gguf;

/// A small tensor of deterministic values around `center`.
fn varied(n: usize, seed: usize, center: f32, spread: f32) -> QTensor {
    let values: Vec<f32> = (0..n)
        .map(|i| center + (((i * 7919 + seed * 104_729) % 101) as f32 / 50.0 - 1.0) * spread)
        .collect();
    QTensor::quantize(&Tensor::new(values, &Device::Cpu).unwrap(), GgmlDType::F32).unwrap()
}

/// Writes the fixture as architecture `arch` into `dir`.
fn qwen_file(arch: &str, dir: &Path) -> PathBuf {
    let mut src = std::fs::File::open(gguf()).unwrap();
    let ct = gguf_file::Content::read(&mut src).unwrap();
    let u32_of = |k: &str| ct.metadata[k].to_u32().unwrap() as usize;
    let (heads, kv_heads) = (
        u32_of("llama.attention.head_count"),
        u32_of("llama.attention.head_count_kv"),
    );
    let head_dim = u32_of("llama.embedding_length") / heads;
    let layers = u32_of("llama.block_count");
    let mut metadata: Vec<(String, Value)> = ct
        .metadata
        .iter()
        .map(|(k, v)| (k.replacen("llama.", &format!("{arch}."), 1), v.clone()))
        .collect();
    for (k, v) in &mut metadata {
        if k == "general.architecture" {
            *v = Value::String(arch.to_string());
        }
    }
    metadata.push((
        format!("{arch}.attention.key_length"),
        Value::U32(head_dim as u32),
    ));
    let mut tensors: Vec<(String, QTensor)> = ct
        .tensor_infos
        .keys()
        .map(|name| {
            (
                name.clone(),
                ct.tensor(&mut src, name, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    for layer in 0..layers {
        let parts: Vec<(&str, usize, f32, f32)> = match arch {
            "qwen2" => vec![
                ("attn_q.bias", heads * head_dim, 0.0, 0.3),
                ("attn_k.bias", kv_heads * head_dim, 0.0, 0.3),
                ("attn_v.bias", kv_heads * head_dim, 0.0, 0.05),
            ],
            _ => vec![
                ("attn_q_norm.weight", head_dim, 1.0, 0.5),
                ("attn_k_norm.weight", head_dim, 1.0, 0.5),
            ],
        };
        for (seed, (part, n, center, spread)) in parts.into_iter().enumerate() {
            tensors.push((
                format!("blk.{layer}.{part}"),
                varied(n, layer * 10 + seed, center, spread),
            ));
        }
    }
    let path = dir.join(format!("{arch}.gguf"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut out, &metadata, &tensors).unwrap();
    drop(out);
    path
}

/// candle-transformers' runner for the file.
enum Reference {
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
}

impl Reference {
    fn load(path: &Path) -> Self {
        let mut file = std::fs::File::open(path).unwrap();
        let ct = gguf_file::Content::read(&mut file).unwrap();
        match ct.metadata["general.architecture"]
            .to_string()
            .unwrap()
            .as_str()
        {
            "qwen2" => Self::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(ct, &mut file, &Device::Cpu).unwrap(),
            ),
            _ => Self::Qwen3(
                quantized_qwen3::ModelWeights::from_gguf(ct, &mut file, &Device::Cpu).unwrap(),
            ),
        }
    }

    fn logits(&mut self, tokens: &[u32], pos: usize) -> Vec<f32> {
        let input = Tensor::new(tokens, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let out = match self {
            Self::Qwen2(m) => m.forward(&input, pos).unwrap(),
            Self::Qwen3(m) => m.forward(&input, pos).unwrap(),
        };
        out.flatten_all().unwrap().to_vec1().unwrap()
    }
}

fn top(v: &[f32], n: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..v.len()).collect();
    ids.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    ids.truncate(n);
    ids
}

/// Our logits and candle's agree, for a 12-token prompt read at once and for two tokens
/// after it read one at a time (the cache and the rotary positions past the prompt).
fn runs_like_candle(arch: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = qwen_file(arch, dir.path());
    let mut ours = LoadedModel::load(&path, Some(512)).unwrap();
    assert_eq!(ours.info.architecture, arch);
    let mut reference = Reference::load(&path);
    let prompt = ours
        .tokenizer
        .encode_prompt("The quick brown fox jumps over the lazy dog near the river bank")
        .unwrap();
    assert!(prompt.len() >= 8, "{prompt:?}");
    let mut steps = vec![(prompt.clone(), 0)];
    steps.push((vec![prompt[1]], prompt.len()));
    steps.push((vec![prompt[2]], prompt.len() + 1));
    for (tokens, pos) in steps {
        let got: Vec<f32> = ours
            .forward(&tokens)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let want = reference.logits(&tokens, pos);
        assert_eq!(got.len(), want.len());
        // Relative to the spread of the logits: candle quantizes the activations to 8 bits
        // for its products, we multiply in f32 for a prompt and keep f16 keys and values.
        let spread = want.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x))
            - want.iter().fold(f32::INFINITY, |m, &x| m.min(x));
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 0.05 * spread,
            "{arch} at position {pos}: logits differ by up to {worst} (spread {spread})"
        );
        assert_eq!(
            top(&got, 1),
            top(&want, 1),
            "{arch} at position {pos}: top tokens {:?} vs {:?}",
            top(&got, 5),
            top(&want, 5)
        );
    }
}

#[test]
fn qwen2_runs_like_candles_qwen2() {
    runs_like_candle("qwen2");
}

#[test]
fn qwen3_runs_like_candles_qwen3() {
    runs_like_candle("qwen3");
}
