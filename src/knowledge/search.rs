//! Hybrid retrieval: candidates from BM25 over FTS5 (exact words, rare names and codes) and
//! from cosine similarity over the embeddings (meaning; brute force, the vectors are unit
//! length); each candidate scored `0.7 × cosine + 0.3 × keyword coverage` (the share of the
//! question's content words it contains); adjacent chunks of one file merged into one passage.
//!
//! Why not reciprocal rank fusion: on the test corpus (tests/knowledge.rs) a paraphrase's
//! passage ranked first by meaning (cosine 0.48 against 0.26 for the next) fell out of RRF's
//! top 3, behind distractors that shared two common words with the question and so sat high
//! in both lists. Ranks throw the margin away; scores keep it.

use std::collections::{HashMap, HashSet};

use crate::knowledge::db::KnowledgeDb;
use crate::knowledge::vectors::VectorIndex;
use crate::knowledge::{Embedder, KnowledgeError};

/// Candidates each method contributes.
const CANDIDATES: usize = 50;
/// Weight of meaning against words in a candidate's score.
const MEANING_WEIGHT: f64 = 0.7;

/// Words that say nothing about what a passage is about.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "did", "do", "does", "each", "for", "from", "had", "has", "have",
    "how", "i", "if", "in", "into", "is", "it", "its", "me", "must", "my", "no", "not", "of", "on",
    "or", "other", "our", "should", "so", "some", "such", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "to", "up", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "why", "will", "with", "would", "you", "your",
];

/// One passage found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// The file.
    pub path: String,
    /// Score (higher is better; at most 1).
    pub score: f64,
    /// The passage.
    pub text: String,
    /// First and last line in the file.
    pub lines: [i64; 2],
    /// The headings above it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub heading: String,
}

/// A word reduced to a rough stem, so "sleeping" meets "sleeps".
fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(root) = w.strip_suffix(suffix)
            && root.chars().count() >= 3
        {
            return root.to_string();
        }
    }
    w
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The question's content words, stemmed.
fn content_words(query: &str) -> Vec<String> {
    let mut out: Vec<String> = words(query)
        .filter(|w| !STOP_WORDS.contains(&w.to_lowercase().as_str()))
        .map(stem)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The share of `terms` that `text` contains.
fn coverage(terms: &[String], text: &str) -> f64 {
    if terms.is_empty() {
        return 0.0;
    }
    let have: HashSet<String> = words(text).map(stem).collect();
    terms.iter().filter(|t| have.contains(*t)).count() as f64 / terms.len() as f64
}

/// The `top` best passages for `query` in `bases`. `vectors` is the in-memory copy of the
/// embeddings to search (None: read now, for a single search).
pub fn search(
    db: &KnowledgeDb,
    bases: &[String],
    query: &str,
    top: usize,
    embedder: Option<&Embedder>,
    vectors: Option<&VectorIndex>,
) -> Result<Vec<Hit>, KnowledgeError> {
    let terms = content_words(query);
    // FTS5 stems with Porter itself: it gets the words as written.
    let plain: Vec<&str> = words(query)
        .filter(|w| !STOP_WORDS.contains(&w.to_lowercase().as_str()))
        .collect();
    let keyword = db.keyword_hits(bases, &plain.join(" "), CANDIDATES)?;
    let mut meaning: HashMap<i64, f64> = HashMap::new();
    if let Some(embedder) = embedder {
        let q = embedder
            .embed(&[query.to_string()])?
            .into_iter()
            .next()
            .unwrap_or_default();
        let loaded;
        let vectors = match vectors {
            Some(v) => v,
            None => {
                loaded = VectorIndex::load(db)?;
                &loaded
            }
        };
        // The nearest by the int8 codes, then every candidate (keyword ones too) scored
        // exactly from its stored vector.
        let mut ids: Vec<i64> = vectors
            .nearest(&q, bases, CANDIDATES)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.extend(keyword.iter().map(|(id, _)| *id));
        for id in ids {
            if let Some(v) = db.embedding(id)?.filter(|v| v.len() == q.len()) {
                let cos = v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>();
                meaning.insert(id, f64::from(cos));
            }
        }
    }
    let mut candidates: Vec<i64> = keyword.iter().map(|(id, _)| *id).collect();
    candidates.extend(meaning.keys().copied());
    candidates.sort_unstable();
    candidates.dedup();
    let mut scored = Vec::with_capacity(candidates.len());
    for id in candidates {
        let Some((chunk, file_id)) = db.chunk(id)? else {
            continue;
        };
        let words = coverage(&terms, &format!("{} {}", chunk.heading, chunk.text));
        let score = match embedder {
            Some(_) => {
                let cos = meaning.get(&id).copied().unwrap_or(0.0);
                MEANING_WEIGHT * cos + (1.0 - MEANING_WEIGHT) * words
            }
            None => words,
        };
        scored.push((score, file_id, chunk));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.id.cmp(&b.2.id)));
    let mut hits: Vec<(i64, i64, Hit)> = Vec::new();
    for (score, file_id, chunk) in scored {
        if hits.len() >= top || score <= 0.0 {
            break;
        }
        // A neighbour of a passage already found joins it instead of taking a place.
        if let Some((_, _, hit)) = hits
            .iter_mut()
            .find(|(f, ord, _)| *f == file_id && (*ord - chunk.ord).abs() == 1)
        {
            if chunk.start_line < hit.lines[0] {
                hit.text = format!("{}\n\n{}", chunk.text, hit.text);
                hit.lines[0] = chunk.start_line;
            } else {
                hit.text = format!("{}\n\n{}", hit.text, chunk.text);
                hit.lines[1] = hit.lines[1].max(chunk.end_line);
            }
            continue;
        }
        hits.push((
            file_id,
            chunk.ord,
            Hit {
                path: chunk.path,
                score,
                text: chunk.text,
                lines: [chunk.start_line, chunk.end_line],
                heading: chunk.heading,
            },
        ));
    }
    Ok(hits.into_iter().map(|(_, _, h)| h).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_words_drop_stop_words_and_meet_other_forms() {
        assert_eq!(
            content_words("Why do sea otters hold hands while sleeping?"),
            ["hand", "hold", "otter", "sea", "sleep"]
        );
        let terms = content_words("sleeping otters");
        assert_eq!(coverage(&terms, "An otter sleeps."), 1.0);
        assert_eq!(coverage(&terms, "A cat sleeps."), 0.5);
        assert_eq!(coverage(&[], "anything"), 0.0);
    }
}
