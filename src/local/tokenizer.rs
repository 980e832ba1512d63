//! The tokenizer of a GGUF model, built from its `tokenizer.ggml.*` metadata (GPT-2 style
//! byte-level BPE, or llama SentencePiece), or read from a `NAME.tokenizer.json` beside it.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{NFC, Prepend, Replace};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, SplitDelimiterBehavior, Tokenizer};

use crate::local::LocalError;

/// The pre-tokenizer split of Qwen2 (llama.cpp's `qwen2` pre type).
const REGEX_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The pre-tokenizer split of Llama 3 (digits in groups of three).
const REGEX_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token texts that end a turn in the common chat formats.
const END_OF_TURN_TEXTS: [&str; 7] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
];

/// A model's tokenizer and the special tokens generation needs.
pub struct ModelTokenizer {
    /// The tokenizer (special tokens in text are parsed as such).
    pub inner: Tokenizer,
    /// The beginning-of-sequence token, with its text.
    pub bos: Option<(u32, String)>,
    /// The end-of-sequence token, with its text.
    pub eos: Option<(u32, String)>,
    /// Whether a BOS token starts every prompt.
    pub add_bos: bool,
    /// Tokens that end the answer (EOS, end-of-turn).
    pub stop_ids: Vec<u32>,
}

impl ModelTokenizer {
    /// Builds the tokenizer of the GGUF at `path` whose header is `ct`.
    pub fn load(path: &Path, ct: &Content) -> Result<Self, LocalError> {
        let beside = path.with_extension("tokenizer.json");
        let inner = if beside.is_file() {
            Tokenizer::from_file(&beside)
                .map_err(|e| LocalError::Tokenizer(format!("{}: {e}", beside.display())))?
        } else {
            from_gguf(ct)?
        };
        let id = |key: &str| ct.metadata.get(key).and_then(|v| v.to_u32().ok());
        let text = |id: u32| inner.id_to_token(id);
        let bos = id("tokenizer.ggml.bos_token_id").and_then(|i| Some((i, text(i)?)));
        let eos = id("tokenizer.ggml.eos_token_id").and_then(|i| Some((i, text(i)?)));
        let model = str_value(ct, "tokenizer.ggml.model").unwrap_or_default();
        let add_bos = ct
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(model == "llama");
        let mut stop_ids: Vec<u32> = ["eos", "eot", "eom"]
            .iter()
            .filter_map(|k| id(&format!("tokenizer.ggml.{k}_token_id")))
            .collect();
        stop_ids.extend(END_OF_TURN_TEXTS.iter().filter_map(|t| {
            let id = inner.token_to_id(t)?;
            // Only as a special token: a plain word in the vocabulary must not stop generation.
            inner
                .get_added_vocabulary()
                .is_special_token(t)
                .then_some(id)
        }));
        stop_ids.sort_unstable();
        stop_ids.dedup();
        Ok(Self {
            inner,
            bos,
            eos,
            add_bos,
            stop_ids,
        })
    }

    /// Token ids of a rendered prompt (special tokens written in it are parsed as such; a BOS
    /// is prepended when the model wants one and the text does not start with it).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        let enc = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| LocalError::Tokenizer(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if let Some((bos, _)) = &self.bos
            && self.add_bos
            && ids.first() != Some(bos)
        {
            ids.insert(0, *bos);
        }
        Ok(ids)
    }

    /// The text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LocalError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| LocalError::Tokenizer(e.to_string()))
    }
}

fn str_value(ct: &Content, key: &str) -> Option<String> {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

fn array<'a>(ct: &'a Content, key: &str) -> Result<&'a Vec<Value>, LocalError> {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_vec().ok())
        .ok_or_else(|| LocalError::Tokenizer(format!("the file has no `{key}` array")))
}

fn strings(ct: &Content, key: &str) -> Result<Vec<String>, LocalError> {
    array(ct, key)?
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|_| LocalError::Tokenizer(format!("`{key}` holds a non-string")))
        })
        .collect()
}

fn tok_err(e: impl std::fmt::Display) -> LocalError {
    LocalError::Tokenizer(e.to_string())
}

/// Builds a tokenizer from `tokenizer.ggml.*` metadata.
pub fn from_gguf(ct: &Content) -> Result<Tokenizer, LocalError> {
    let model = str_value(ct, "tokenizer.ggml.model").unwrap_or_default();
    let tokens = strings(ct, "tokenizer.ggml.tokens")?;
    let types: Vec<i64> = match array(ct, "tokenizer.ggml.token_type") {
        Ok(a) => a.iter().map(|v| v.to_i32().map_or(1, i64::from)).collect(),
        Err(_) => Vec::new(),
    };
    let mut tokenizer = match model.as_str() {
        "gpt2" => gpt2(ct, &tokens)?,
        "llama" => sentencepiece(ct, &tokens)?,
        other => {
            return Err(LocalError::Tokenizer(format!(
                "tokenizer model `{other}` is not supported (gpt2 and llama are); put a NAME.tokenizer.json beside the file"
            )));
        }
    };
    // Control (3) and user-defined (4) tokens are matched whole in text, as llama.cpp does.
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter())
        .filter(|(_, t)| matches!(**t, 3 | 4))
        .map(|(tok, _)| AddedToken::from(tok.clone(), true))
        .collect();
    tokenizer.add_special_tokens(specials).map_err(tok_err)?;
    Ok(tokenizer)
}

/// GPT-2 style byte-level BPE (SmolLM2, Qwen, Llama 3).
fn gpt2(ct: &Content, tokens: &[String]) -> Result<Tokenizer, LocalError> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges = strings(ct, "tokenizer.ggml.merges")?
        .into_iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(matches!(
            str_value(ct, "tokenizer.ggml.pre").as_deref(),
            Some("llama3" | "llama-bpe")
        ))
        .build()
        .map_err(tok_err)?;
    let mut t = Tokenizer::new(bpe);
    let split = |re: &str| {
        Split::new(
            SplitPattern::Regex(re.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)
    };
    let pre = str_value(ct, "tokenizer.ggml.pre").unwrap_or_else(|| "gpt2".into());
    match pre.as_str() {
        "qwen2" | "deepseek-r1-qwen" => {
            t.with_normalizer(Some(NFC)).map_err(tok_err)?;
            t.with_pre_tokenizer(Some(Sequence::new(vec![
                split(REGEX_QWEN2)?.into(),
                ByteLevel::new(false, false, false).into(),
            ])));
        }
        "llama3" | "llama-bpe" | "smaug-bpe" => {
            t.with_pre_tokenizer(Some(Sequence::new(vec![
                split(REGEX_LLAMA3)?.into(),
                ByteLevel::new(false, false, false).into(),
            ])));
        }
        // SmolLM and StarCoder: digits one by one, then GPT-2's split.
        "smollm" | "starcoder" | "refact" => {
            t.with_pre_tokenizer(Some(Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])));
        }
        _ => {
            t.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        }
    }
    t.with_decoder(Some(ByteLevelDecoder::new(false, true, true)));
    Ok(t)
}

/// Llama SentencePiece (Llama 2, TinyLlama, Mistral): scores, byte fallback, `▁` for spaces.
fn sentencepiece(ct: &Content, tokens: &[String]) -> Result<Tokenizer, LocalError> {
    let scores: Vec<f64> = match array(ct, "tokenizer.ggml.scores") {
        Ok(a) => a
            .iter()
            .map(|v| v.to_f32().map_or(0.0, f64::from))
            .collect(),
        Err(_) => vec![0.0; tokens.len()],
    };
    let unk = ct
        .metadata
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(|v| v.to_u32().ok())
        .map_or(0, |v| v as usize);
    let vocab = tokens
        .iter()
        .cloned()
        .zip(scores.into_iter().chain(std::iter::repeat(0.0)))
        .collect();
    let model = Unigram::from(vocab, Some(unk), true).map_err(tok_err)?;
    let mut t = Tokenizer::new(model);
    let add_space = ct
        .metadata
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    let replace = Replace::new(" ", "▁").map_err(tok_err)?;
    if add_space {
        t.with_normalizer(Some(tokenizers::normalizers::Sequence::new(vec![
            Prepend::new("▁".into()).into(),
            replace.into(),
        ])))
        .map_err(tok_err)?;
    } else {
        t.with_normalizer(Some(replace)).map_err(tok_err)?;
    }
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ").map_err(tok_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    t.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(t)
}
