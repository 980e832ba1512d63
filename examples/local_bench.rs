//! The local-model figures of issue 20 for one GGUF file, in-process (release build): load
//! time, prompt processing of a PROMPT-token prompt (tokens/s), decoding of DECODE tokens
//! (tokens/s), a follow-up turn that reuses the cached prefix (time to its first token), and
//! the resident memory added while generating. scripts/bench_local.sh runs it next to
//! llama.cpp's server on the same file and threads.
//!
//! `cargo run --release --example local_bench -- MODEL.gguf [PROMPT] [DECODE] [RUNS]`
//! (defaults 500, 128, 3; the thread count is RAYON_NUM_THREADS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::time::Instant;

use rustbot::local::generate::{GenParams, generate};
use rustbot::local::model::LoadedModel;

fn rss_mib() -> f64 {
    rustbot::core::process::resident_bytes().map_or(0.0, |b| b as f64 / 1_048_576.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// About `n` tokens of plain English for the tokenizer at hand.
fn prompt_of(model: &LoadedModel, n: usize) -> Vec<u32> {
    let sentence = "The quick brown fox jumps over the lazy dog while the river keeps flowing past the old mill. ";
    let mut text = String::new();
    loop {
        text.push_str(sentence);
        let ids = model.tokenizer.encode_prompt(&text).unwrap();
        if ids.len() >= n {
            return ids[..n].to_vec();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .expect("usage: local_bench MODEL.gguf [PROMPT] [DECODE] [RUNS]");
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (prompt_len, decode_len, runs) = (num(1, 500), num(2, 128), num(3, 3));
    let idle = rss_mib();
    let t = Instant::now();
    let mut model = LoadedModel::load(std::path::Path::new(path), None).unwrap();
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{path}: {} {}, loaded in {load_ms:.0} ms",
        model.info.architecture, model.info.quantization
    );
    let prompt = prompt_of(&model, prompt_len);
    let greedy = |max_tokens| GenParams {
        temperature: 0.0,
        top_p: None,
        seed: 1,
        max_tokens,
    };
    let mut peak = 0.0f64;
    // FOLLOW_ONLY=1 runs the follow-up alone (for a profiler).
    if std::env::var_os("FOLLOW_ONLY").is_none() {
        let (mut pp, mut tg) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            model.clear_cache();
            let read = generate(&mut model, &prompt, greedy(1), &|| false, |_, _| true).unwrap();
            pp.push(prompt.len() as f64 * 1000.0 / read.prompt_ms.max(1) as f64);
            // Decoding from a short prompt, so the figure is the per-token cost (the context is
            // small, as in llama.cpp's own tg figure).
            model.clear_cache();
            let mut started = None;
            let mut tokens = 0usize;
            generate(
                &mut model,
                &prompt[..8],
                greedy(decode_len),
                &|| false,
                |id, _| {
                    if id != u32::MAX {
                        tokens += 1;
                        // The first token's time includes the 8-token prompt: time from it on.
                        if started.is_none() {
                            started = Some(Instant::now());
                            tokens = 0;
                        }
                    }
                    true
                },
            )
            .unwrap();
            if let Some(s) = started
                && tokens > 0
            {
                tg.push(tokens as f64 / s.elapsed().as_secs_f64());
            }
            peak = peak.max(rss_mib());
        }
        println!(
            "prompt processing ({} tokens): {:.1} tokens/s; decoding: {:.1} tokens/s (medians of {runs})",
            prompt.len(),
            median(pp),
            median(tg)
        );
    }
    // A follow-up question in a long conversation: the history is in the cache, only the new
    // turn is read before the first token.
    let history = prompt_of(&model, 2000.min(model.context_tokens.saturating_sub(200)));
    model.clear_cache();
    generate(&mut model, &history, greedy(1), &|| false, |_, _| true).unwrap();
    let mut follow = history.clone();
    follow.extend_from_slice(&prompt[..24.min(prompt.len())]);
    let (mut firsts, mut reused, mut read) = (Vec::new(), 0, 0);
    for _ in 0..runs.max(1) {
        // Back to the history alone, as after the previous answer was dropped.
        model.keep_prefix(history.len()).unwrap();
        let t = Instant::now();
        let mut first = None;
        let out = generate(&mut model, &follow, greedy(1), &|| false, |_, _| {
            first.get_or_insert_with(|| t.elapsed().as_secs_f64() * 1000.0);
            true
        })
        .unwrap();
        firsts.push(first.unwrap_or(0.0));
        (reused, read) = (out.reused_tokens, out.prompt_tokens);
    }
    peak = peak.max(rss_mib());
    println!(
        "follow-up in a {}-token conversation: first token after {:.0} ms (median of {}; {reused} of {read} prompt tokens reused)",
        history.len(),
        median(firsts),
        runs.max(1),
    );
    let size_mib = std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1048576.0);
    println!(
        "RSS: idle {idle:.0} MiB, peak while generating {peak:.0} MiB (+{:.0} MiB; the file is {size_mib:.0} MiB)",
        peak - idle
    );
}
