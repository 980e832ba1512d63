//! Full-text search over message text and titles (SQLite FTS5, ranked by bm25).

use super::error::Result;
use super::{SearchHit, Store};

/// Turns what the user typed into an FTS5 query: every word must match, the last one as a
/// prefix (search-as-you-type). Quoting each word keeps FTS5 operators in the input inert.
pub(crate) fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    let last = words.last()?;
    let mut query = words[..words.len() - 1].join(" ");
    if !query.is_empty() {
        query.push(' ');
    }
    query.push_str(last);
    query.push('*');
    Some(query)
}

impl Store {
    /// Searches all conversations; best matches first, at most `limit`.
    pub fn search(&self, input: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let Some(query) = fts_query(input) else {
            return Ok(Vec::new());
        };
        let mut hits = Vec::new();
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT c.id, t.title, snippet(titles_fts, 1, '[', ']', '…', 12), bm25(titles_fts)
                 FROM titles_fts t JOIN conversations c ON c.id = t.conversation_id
                 WHERE titles_fts MATCH ?1 ORDER BY rank LIMIT ?2",
            )?;
            let rows = stmt.query_map(rusqlite::params![query, limit], |r| {
                Ok(SearchHit {
                    conversation_id: r.get(0)?,
                    message_id: None,
                    title: r.get(1)?,
                    snippet: r.get(2)?,
                    score: r.get(3)?,
                })
            })?;
            for row in rows {
                hits.push(row?);
            }
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.conversation_id, m.id, c.title,
                    snippet(messages_fts, -1, '[', ']', '…', 16), bm25(messages_fts)
             FROM messages_fts
             JOIN messages m ON m.id = messages_fts.rowid
             JOIN conversations c ON c.id = m.conversation_id
             WHERE messages_fts MATCH ?1 ORDER BY rank LIMIT ?2",
        )?;
        let rows = stmt.query_map(rusqlite::params![query, limit], |r| {
            Ok(SearchHit {
                conversation_id: r.get(0)?,
                message_id: Some(r.get(1)?),
                title: r.get(2)?,
                snippet: r.get(3)?,
                score: r.get(4)?,
            })
        })?;
        for row in rows {
            hits.push(row?);
        }
        // bm25 is lower-is-better; title and message scores are close enough to interleave.
        hits.sort_by(|a, b| a.score.total_cmp(&b.score));
        hits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn query_quotes_words_and_prefixes_the_last() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("rust borr").as_deref(),
            Some("\"rust\" \"borr\"*")
        );
        assert_eq!(fts_query("a\"b OR").as_deref(), Some("\"a\"\"b\" \"OR\"*"));
    }
}
