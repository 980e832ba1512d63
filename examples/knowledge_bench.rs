//! The knowledge-base budgets of issue 21, measured in-process (release build):
//!
//! - `search [CHUNKS]` (100,000): a generated base of CHUNKS chunks (text from a 6,000-word
//!   vocabulary, random unit vectors: the cost of a search does not depend on their values),
//!   then hybrid searches with the real embedding model for the question: median and p95 time,
//!   the parts (embedding the question, BM25, the int8 pass), and the resident memory the base
//!   adds once searched.
//! - `index [FILES]` (1,000): FILES generated files of ~4 KB indexed from scratch with the real
//!   model (time, chunks, chunks/s), then one file changed and re-indexed.
//! - `embed OUT.json [TEXTS]` (512): TEXTS chunk-sized texts embedded in batches (texts/s), and
//!   written to OUT.json so scripts/bench_embeddings_st.py can embed the same ones.
//!
//! The embedding model is `RUSTBOT_TEST_EMBEDDING_MODEL` (an all-MiniLM-L6-v2 folder).
//! `cargo run --release --example knowledge_bench -- search 100000`; scripts/bench_knowledge.sh
//! runs all three.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::path::{Path, PathBuf};
use std::time::Instant;

use rustbot::knowledge::chunk::Chunk;
use rustbot::knowledge::{KnowledgeDb, Retriever, VectorIndex, index_path};

/// A deterministic xorshift generator (benchmarks need the same corpus every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ten", "vor", "sel", "dan", "pri", "ul", "gor", "fen", "ash", "bri",
    "col", "dem", "est", "fal", "gin", "hal", "ith", "jor", "kel", "lum", "mor", "nel", "ost",
    "pal", "qua", "ren", "sol", "tur", "ume", "vel", "wyn", "xan", "yor", "zel",
];

/// 6,000 made-up words; low indexes are drawn far more often (like real text).
fn vocabulary() -> Vec<String> {
    let mut rng = Rng(7);
    (0..6000)
        .map(|_| {
            let n = 2 + rng.below(2);
            (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect()
        })
        .collect()
}

fn sentence(rng: &mut Rng, vocab: &[String], words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        // Squaring skews the draw toward common words.
        let r = rng.below(1000) as f64 / 1000.0;
        let w = &vocab[((r * r) * vocab.len() as f64) as usize];
        if i > 0 {
            s.push(' ');
        }
        s.push_str(w);
    }
    s.push('.');
    s
}

fn rss_mib() -> f64 {
    rustbot::core::process::resident_bytes().map_or(0.0, |b| b as f64 / 1_048_576.0)
}

fn model() -> PathBuf {
    std::env::var("RUSTBOT_TEST_EMBEDDING_MODEL")
        .expect("set RUSTBOT_TEST_EMBEDDING_MODEL (eval \"$(../shared/tools/model-fixtures.sh)\")")
        .into()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn search_bench(chunks: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let vocab = vocabulary();
    let mut rng = Rng(42);
    let started = Instant::now();
    {
        let mut db = KnowledgeDb::open(&data).unwrap();
        db.set_base("bench", "bench-vectors").unwrap();
        let per_file = 10;
        for f in 0..chunks.div_ceil(per_file) {
            let n = per_file.min(chunks - f * per_file);
            let texts: Vec<Chunk> = (0..n)
                .map(|i| Chunk {
                    start_line: i * 5 + 1,
                    end_line: i * 5 + 5,
                    heading: format!("Part {i}"),
                    text: sentence(&mut rng, &vocab, 60),
                })
                .collect();
            let vectors: Vec<Vec<f32>> = (0..n)
                .map(|_| {
                    let v: Vec<f32> = (0..384).map(|_| rng.unit()).collect();
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter().map(|x| x / norm).collect()
                })
                .collect();
            db.replace_file(
                "bench",
                &format!("/corpus/file{f}.md"),
                "h",
                &texts,
                Some(&vectors),
            )
            .unwrap();
        }
    }
    println!(
        "built a base of {chunks} chunks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let retriever = Retriever::new(data.clone(), Some(model()));
    retriever.loaded_embedder().unwrap();
    // Let the allocator settle: the figure is what the base adds, not the model.
    let before = rss_mib();
    let bases = vec!["bench".to_string()];
    // Questions of the corpus's own skewed words (many of them in most chunks, the worst case
    // for BM25), and of content words (drawn evenly from the vocabulary, as a question's
    // subject words are rarer than the text's most common ones).
    let questions: Vec<String> = (0..21).map(|_| sentence(&mut rng, &vocab, 8)).collect();
    let content: Vec<String> = (0..21)
        .map(|_| {
            (0..4)
                .map(|_| vocab[rng.below(vocab.len())].clone())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let t = Instant::now();
    retriever.retrieve(&bases, &questions[0], 5).unwrap();
    let first = t.elapsed().as_secs_f64() * 1000.0;
    let after = rss_mib();
    let mut times = Vec::new();
    for q in &questions[1..] {
        let t = Instant::now();
        let hits = retriever.retrieve(&bases, q, 5).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!hits.is_empty());
    }
    times.sort_by(f64::total_cmp);
    let mut content_times = Vec::new();
    for q in &content {
        let t = Instant::now();
        retriever.retrieve(&bases, q, 5).unwrap();
        content_times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    content_times.sort_by(f64::total_cmp);
    // The parts, each alone.
    let db = KnowledgeDb::open(&data).unwrap();
    let embedder = retriever.loaded_embedder().unwrap().unwrap();
    let t = Instant::now();
    let index = VectorIndex::load(&db).unwrap();
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut embed_ms = Vec::new();
    let mut nearest_ms = Vec::new();
    let mut keyword_ms = Vec::new();
    for q in &questions[1..] {
        let t = Instant::now();
        let v = embedder.embed(std::slice::from_ref(q)).unwrap().remove(0);
        embed_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        index.nearest(&v, &bases, 50);
        nearest_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        db.keyword_hits(&bases, q, 50).unwrap();
        keyword_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    for v in [&mut embed_ms, &mut nearest_ms, &mut keyword_ms] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "search over {chunks} chunks: median {:.1} ms, p95 {:.1} ms (first, reading the vectors: {first:.0} ms)",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
    println!(
        "search with 4 content words: median {:.1} ms, p95 {:.1} ms",
        percentile(&content_times, 0.5),
        percentile(&content_times, 0.95)
    );
    println!(
        "  parts (medians, common-word questions): embed the question {:.1} ms, BM25 {:.1} ms, int8 pass {:.1} ms; reading the vectors {load_ms:.0} ms",
        percentile(&embed_ms, 0.5),
        percentile(&keyword_ms, 0.5),
        percentile(&nearest_ms, 0.5)
    );
    println!(
        "RSS added by the searched base: {:.1} MiB (index heap {:.1} MiB; RSS {before:.0} → {after:.0} MiB with the model loaded)",
        after - before,
        index.heap_bytes() as f64 / 1048576.0
    );
}

/// FILES files of ~4 KB under `root`: paragraphs under headings.
fn write_corpus(root: &Path, files: usize, rng: &mut Rng, vocab: &[String]) {
    std::fs::create_dir_all(root).unwrap();
    for f in 0..files {
        let mut text = format!("# Document {f}\n\n");
        let mut section = 0;
        while text.len() < 4000 {
            if text.len() > 1200 * (section + 1) {
                section += 1;
                text.push_str(&format!("## Section {section}\n\n"));
            }
            for _ in 0..4 {
                text.push_str(&sentence(rng, vocab, 12));
                text.push(' ');
            }
            text.push_str("\n\n");
        }
        std::fs::write(root.join(format!("doc{f:05}.md")), text).unwrap();
    }
}

fn index_bench(files: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (data, docs) = (dir.path().join("data"), dir.path().join("docs"));
    let vocab = vocabulary();
    let mut rng = Rng(99);
    write_corpus(&docs, files, &mut rng, &vocab);
    let retriever = Retriever::new(data.clone(), Some(model()));
    let embedder = retriever.loaded_embedder().unwrap().unwrap();
    let mut db = KnowledgeDb::open(&data).unwrap();
    db.set_base("bench", &embedder.name()).unwrap();
    let t = Instant::now();
    let mut last = Instant::now();
    let report = index_path(&mut db, "bench", &docs, 300, Some(&embedder), &mut |p| {
        if last.elapsed().as_secs() >= 30 {
            eprintln!("  … {p}");
            last = Instant::now();
        }
    })
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let chunks: u64 = db.list().unwrap().iter().map(|b| b.chunks).sum();
    println!(
        "index {files} files × 4 KB from scratch: {secs:.1} s ({chunks} chunks, {:.1} chunks/s; {} indexed, {} skipped)",
        chunks as f64 / secs,
        report.indexed.len(),
        report.skipped.len()
    );
    std::fs::write(
        docs.join("doc00007.md"),
        "# Changed\n\nThis document was rewritten.\n",
    )
    .unwrap();
    let t = Instant::now();
    let again = index_path(&mut db, "bench", &docs, 300, Some(&embedder), &mut |_| {}).unwrap();
    println!(
        "re-index after one file changed: {:.0} ms ({} indexed, {} unchanged)",
        t.elapsed().as_secs_f64() * 1000.0,
        again.indexed.len(),
        again.unchanged
    );
}

fn embed_bench(out: &Path, count: usize) {
    let vocab = vocabulary();
    let mut rng = Rng(5);
    // Chunk-sized texts: ~300 tokens at ~4 bytes a token is ~200 made-up words.
    let chunks: Vec<String> = (0..count)
        .map(|_| {
            (0..16)
                .map(|_| sentence(&mut rng, &vocab, 12))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // Sentence-sized texts (~45 tokens), as issue 20's "sentences/s" figure counts them.
    let sentences: Vec<String> = (0..count * 4)
        .map(|_| sentence(&mut rng, &vocab, 14))
        .collect();
    std::fs::write(out, serde_json::to_string(&chunks).unwrap()).unwrap();
    std::fs::write(
        out.with_extension("sentences.json"),
        serde_json::to_string(&sentences).unwrap(),
    )
    .unwrap();
    let retriever = Retriever::new(PathBuf::from("/nonexistent"), Some(model()));
    let embedder = retriever.loaded_embedder().unwrap().unwrap();
    for (texts, what) in [(&chunks, "chunk-sized texts"), (&sentences, "sentences")] {
        embedder.embed(&texts[..32.min(texts.len())]).unwrap();
        let t = Instant::now();
        for batch in texts.chunks(32) {
            embedder.embed(batch).unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "embed {} {what} in batches of 32: {:.1} texts/s ({secs:.1} s)",
            texts.len(),
            texts.len() as f64 / secs
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("search") => search_bench(n(1, 100_000)),
        Some("index") => index_bench(n(1, 1_000)),
        Some("embed") => embed_bench(
            Path::new(
                args.get(1)
                    .map_or("/tmp/knowledge_chunks.json", String::as_str),
            ),
            n(2, 512),
        ),
        _ => eprintln!(
            "usage: knowledge_bench search [CHUNKS] | index [FILES] | embed OUT.json [TEXTS]"
        ),
    }
}
