//! The token loop: prompt (in chunks, reusing the cached prefix), then sample one token at a
//! time until an end token, the token limit, the context end or a stop request.

use std::time::Instant;

use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::local::LocalError;
use crate::local::model::LoadedModel;

/// Prompt tokens run per forward pass. Large, because the llama runner dequantises each weight
/// matrix once per pass (measured on SmolLM2 Q4_1, 2 threads: 145 prompt tokens/s in chunks of
/// 64, 244 in chunks of 256); Stop still lands quickly, since the runner asks between blocks.
const PROMPT_CHUNK: usize = 512;

/// Sampling settings of one answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenParams {
    /// Temperature; 0 or less is greedy (arg-max).
    pub temperature: f64,
    /// Nucleus sampling mass, when set.
    pub top_p: Option<f64>,
    /// Seed of the sampler.
    pub seed: u64,
    /// Most tokens to generate.
    pub max_tokens: usize,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence or end-of-turn token.
    EndToken,
    /// `max_tokens` or the context window was reached.
    Length,
    /// The caller asked to stop.
    Cancelled,
}

/// What one generation did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenOutcome {
    /// Tokens of the prompt (including the reused prefix).
    pub prompt_tokens: usize,
    /// Of those, the tokens read from the cache instead of being run.
    pub reused_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Why it ended.
    pub stop: StopReason,
    /// Milliseconds spent on the prompt.
    pub prompt_ms: u128,
    /// Milliseconds spent generating.
    pub decode_ms: u128,
}

/// Generates an answer to `prompt` (token ids). `on_token` gets each generated id and
/// whatever complete text it finished (possibly empty); it returns false to stop, as does
/// `cancelled`, which is checked between every two forward passes.
pub fn generate(
    model: &mut LoadedModel,
    prompt: &[u32],
    params: GenParams,
    cancelled: &dyn Fn() -> bool,
    mut on_token: impl FnMut(u32, &str) -> bool,
) -> Result<GenOutcome, LocalError> {
    if prompt.is_empty() {
        return Err(LocalError::Tokenizer("the prompt is empty".into()));
    }
    if prompt.len() >= model.context_tokens {
        return Err(LocalError::ContextExceeded {
            prompt_tokens: prompt.len(),
            context_tokens: model.context_tokens,
        });
    }
    let started = Instant::now();
    let reused = model.reusable_prefix(prompt);
    model.keep_prefix(reused)?;
    let mut outcome = GenOutcome {
        prompt_tokens: prompt.len(),
        reused_tokens: reused,
        completion_tokens: 0,
        stop: StopReason::Length,
        prompt_ms: 0,
        decode_ms: 0,
    };
    let mut logits = None;
    for chunk in prompt[reused..].chunks(PROMPT_CHUNK) {
        if cancelled() {
            outcome.stop = StopReason::Cancelled;
            return Ok(outcome);
        }
        match model.forward_unless(chunk, cancelled)? {
            Some(l) => logits = Some(l),
            None => {
                outcome.stop = StopReason::Cancelled;
                return Ok(outcome);
            }
        }
    }
    let Some(mut logits) = logits else {
        return Err(LocalError::Model("the prompt produced no logits".into()));
    };
    outcome.prompt_ms = started.elapsed().as_millis();
    let decode_started = Instant::now();
    let sampling = if params.temperature <= 0.0 {
        Sampling::ArgMax
    } else {
        match params.top_p {
            Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP {
                p,
                temperature: params.temperature,
            },
            _ => Sampling::All {
                temperature: params.temperature,
            },
        }
    };
    let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
    let mut text = TextStream::default();
    let room = model.context_tokens.saturating_sub(prompt.len());
    let limit = params.max_tokens.min(room);
    loop {
        if cancelled() {
            outcome.stop = StopReason::Cancelled;
            break;
        }
        let token = sampler.sample(&logits)?;
        if model.tokenizer.stop_ids.contains(&token) {
            outcome.stop = StopReason::EndToken;
            break;
        }
        outcome.completion_tokens += 1;
        let piece = text.push(&model.tokenizer, token)?;
        if !on_token(token, &piece) {
            outcome.stop = StopReason::Cancelled;
            break;
        }
        if outcome.completion_tokens >= limit {
            outcome.stop = StopReason::Length;
            break;
        }
        logits = model.forward(&[token])?;
    }
    let rest = text.finish(&model.tokenizer)?;
    if !rest.is_empty() {
        on_token(u32::MAX, &rest);
    }
    outcome.decode_ms = decode_started.elapsed().as_millis();
    Ok(outcome)
}

/// Turns tokens into text that only ever contains whole characters: a character split across
/// tokens (UTF-8 bytes in byte tokens) comes out once its last byte has arrived.
#[derive(Debug, Default)]
pub struct TextStream {
    tokens: Vec<u32>,
    /// Start of the window being decoded.
    prev: usize,
    /// End of the part of the window already emitted.
    current: usize,
}

impl TextStream {
    /// Adds `token`; returns the newly completed text (possibly empty).
    pub fn push(
        &mut self,
        tokenizer: &crate::local::tokenizer::ModelTokenizer,
        token: u32,
    ) -> Result<String, LocalError> {
        self.tokens.push(token);
        let before = tokenizer.decode(&self.tokens[self.prev..self.current])?;
        let now = tokenizer.decode(&self.tokens[self.prev..])?;
        if now.len() > before.len()
            && !now.ends_with('\u{FFFD}')
            && now.is_char_boundary(before.len())
        {
            let piece = now[before.len()..].to_string();
            self.prev = self.current;
            self.current = self.tokens.len();
            Ok(piece)
        } else {
            Ok(String::new())
        }
    }

    /// Whatever is left when generation ends (an incomplete character comes out as U+FFFD).
    pub fn finish(
        &mut self,
        tokenizer: &crate::local::tokenizer::ModelTokenizer,
    ) -> Result<String, LocalError> {
        let before = tokenizer.decode(&self.tokens[self.prev..self.current])?;
        let now = tokenizer.decode(&self.tokens[self.prev..])?;
        self.prev = self.tokens.len();
        self.current = self.tokens.len();
        Ok(match now.get(before.len()..) {
            Some(rest) if now.len() > before.len() => rest.to_string(),
            _ => String::new(),
        })
    }
}
