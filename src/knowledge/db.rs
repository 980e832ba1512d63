//! `knowledge.db` in the data dir (a sibling of `rustbot.db`: indexing writes a lot and must
//! never wait on, or hold up, the conversation store): bases, their sources, files with a
//! content hash, chunks with line ranges and embeddings, and FTS5 over the chunks.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::knowledge::KnowledgeError;

/// The database file's name in the data dir.
pub const KNOWLEDGE_DB: &str = "knowledge.db";

/// A question word in more than 1 in this many chunks is too common to search by BM25.
const COMMON_SHARE: i64 = 20;
/// ... and in at least this many: smaller bases keep every word.
const COMMON_FLOOR: i64 = 1_000;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS bases (
    name            TEXT PRIMARY KEY,
    embedding_model TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    base TEXT NOT NULL REFERENCES bases(name) ON DELETE CASCADE,
    path TEXT NOT NULL,
    PRIMARY KEY (base, path)
);
CREATE TABLE IF NOT EXISTS files (
    id         INTEGER PRIMARY KEY,
    base       TEXT NOT NULL REFERENCES bases(name) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    indexed_at INTEGER NOT NULL,
    UNIQUE (base, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    id         INTEGER PRIMARY KEY,
    file_id    INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ord        INTEGER NOT NULL,
    start_line INTEGER NOT NULL,
    end_line   INTEGER NOT NULL,
    heading    TEXT NOT NULL,
    text       TEXT NOT NULL,
    embedding  BLOB
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id, ord);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, content = 'chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
        VALUES ('delete', old.id, old.text, old.heading);
END;
-- Bumped by every change to the chunks, so an in-memory copy of the vectors knows it is stale
-- (row ids alone do not tell: a replaced last file reuses its ids).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
CREATE TRIGGER IF NOT EXISTS chunks_generation_insert AFTER INSERT ON chunks BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS chunks_generation_delete AFTER DELETE ON chunks BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS chunks_generation_update AFTER UPDATE OF embedding ON chunks BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
END;
"#;

/// A chunk as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    /// Row id.
    pub id: i64,
    /// The file's path.
    pub path: String,
    /// Its place in the file (0 first).
    pub ord: i64,
    /// First line.
    pub start_line: i64,
    /// Last line.
    pub end_line: i64,
    /// Headings above it.
    pub heading: String,
    /// Its text.
    pub text: String,
}

/// One knowledge base as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BaseSummary {
    /// Its name.
    pub name: String,
    /// The embedding model its vectors come from (`none`: keyword search only).
    pub embedding_model: String,
    /// The files and folders added to it.
    pub sources: Vec<String>,
    /// Files indexed.
    pub files: u64,
    /// Chunks indexed.
    pub chunks: u64,
}

/// The open database.
pub struct KnowledgeDb {
    pub(crate) conn: Connection,
}

impl KnowledgeDb {
    /// Opens (creating) `knowledge.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, KnowledgeError> {
        std::fs::create_dir_all(data_dir).map_err(|e| KnowledgeError::Io {
            path: data_dir.to_path_buf(),
            source: e,
        })?;
        let path: PathBuf = data_dir.join(KNOWLEDGE_DB);
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// The embedding model recorded for `base`, if the base exists.
    pub fn base_model(&self, base: &str) -> Result<Option<String>, KnowledgeError> {
        Ok(self
            .conn
            .query_row(
                "SELECT embedding_model FROM bases WHERE name = ?1",
                [base],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Creates `base` or records its (new) embedding model.
    pub fn set_base(&self, base: &str, model: &str) -> Result<(), KnowledgeError> {
        self.conn.execute(
            "INSERT INTO bases (name, embedding_model, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET embedding_model = ?2",
            params![base, model, crate::store::now_ms()],
        )?;
        Ok(())
    }

    /// Remembers a file or folder added to `base`.
    pub fn add_source(&self, base: &str, path: &str) -> Result<(), KnowledgeError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO sources (base, path) VALUES (?1, ?2)",
            params![base, path],
        )?;
        Ok(())
    }

    /// The files and folders added to `base`.
    pub fn sources(&self, base: &str) -> Result<Vec<String>, KnowledgeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM sources WHERE base = ?1 ORDER BY path")?;
        let rows = stmt.query_map([base], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every base's name.
    pub fn base_names(&self) -> Result<Vec<String>, KnowledgeError> {
        let mut stmt = self.conn.prepare("SELECT name FROM bases ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Each base with its sources and counts.
    pub fn list(&self) -> Result<Vec<BaseSummary>, KnowledgeError> {
        let mut out = Vec::new();
        for name in self.base_names()? {
            let (files, chunks): (i64, i64) = self.conn.query_row(
                "SELECT COUNT(DISTINCT f.id), COUNT(c.id) FROM files f
                 LEFT JOIN chunks c ON c.file_id = f.id WHERE f.base = ?1",
                [&name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            out.push(BaseSummary {
                embedding_model: self.base_model(&name)?.unwrap_or_default(),
                sources: self.sources(&name)?,
                files: files.max(0) as u64,
                chunks: chunks.max(0) as u64,
                name,
            });
        }
        Ok(out)
    }

    /// The stored hash of a file of `base`.
    pub fn file_hash(&self, base: &str, path: &str) -> Result<Option<String>, KnowledgeError> {
        Ok(self
            .conn
            .query_row(
                "SELECT hash FROM files WHERE base = ?1 AND path = ?2",
                [base, path],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Replaces a file's chunks (and their embeddings) in one transaction.
    pub fn replace_file(
        &mut self,
        base: &str,
        path: &str,
        hash: &str,
        chunks: &[crate::knowledge::chunk::Chunk],
        embeddings: Option<&[Vec<f32>]>,
    ) -> Result<(), KnowledgeError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM files WHERE base = ?1 AND path = ?2",
            params![base, path],
        )?;
        tx.execute(
            "INSERT INTO files (base, path, hash, indexed_at) VALUES (?1, ?2, ?3, ?4)",
            params![base, path, hash, crate::store::now_ms()],
        )?;
        let file_id = tx.last_insert_rowid();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO chunks (file_id, ord, start_line, end_line, heading, text, embedding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (i, c) in chunks.iter().enumerate() {
                let blob = embeddings.and_then(|e| e.get(i)).map(|v| to_blob(v));
                insert.execute(params![
                    file_id,
                    i as i64,
                    c.start_line as i64,
                    c.end_line as i64,
                    c.heading,
                    c.text,
                    blob
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets files of `base` under `root` that were not seen in the last walk; returns them.
    pub fn remove_unseen(
        &self,
        base: &str,
        root: &str,
        seen: &std::collections::HashSet<String>,
    ) -> Result<Vec<String>, KnowledgeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM files WHERE base = ?1")?;
        let paths: Vec<String> = stmt
            .query_map([base], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut removed = Vec::new();
        for path in paths {
            if under(&path, root) && !seen.contains(&path) {
                self.conn.execute(
                    "DELETE FROM files WHERE base = ?1 AND path = ?2",
                    params![base, path],
                )?;
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// Removes a file or folder (and its files) from `base`; returns how many files went.
    pub fn remove_path(&self, base: &str, root: &str) -> Result<usize, KnowledgeError> {
        self.conn.execute(
            "DELETE FROM sources WHERE base = ?1 AND path = ?2",
            params![base, root],
        )?;
        self.remove_unseen(base, root, &Default::default())
            .map(|r| r.len())
    }

    /// Deletes a whole base.
    pub fn remove_base(&self, base: &str) -> Result<bool, KnowledgeError> {
        Ok(self
            .conn
            .execute("DELETE FROM bases WHERE name = ?1", [base])?
            > 0)
    }

    /// Forgets every file hash of `base`, so the next walk re-reads (and re-embeds) them all.
    pub fn forget_hashes(&self, base: &str) -> Result<(), KnowledgeError> {
        self.conn
            .execute("UPDATE files SET hash = '' WHERE base = ?1", [base])?;
        Ok(())
    }

    /// Chunks matching `query` by BM25, best first (ids and scores).
    pub fn keyword_hits(
        &self,
        bases: &[String],
        query: &str,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KnowledgeError> {
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() > 1)
            .map(|w| format!("\"{}\"", w.to_lowercase()))
            .collect();
        let terms = self.without_common(terms)?;
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id, bm25(chunks_fts) FROM chunks_fts
             JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id
             WHERE chunks_fts MATCH ?1 AND f.base IN (SELECT value FROM json_each(?2))
             ORDER BY rank LIMIT ?3",
        )?;
        let bases = serde_json::to_string(bases).unwrap_or_else(|_| "[]".into());
        let rows = stmt.query_map(params![terms.join(" OR "), bases, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `terms` without those that occur in more than 1 in `COMMON_SHARE` chunks (and at
    /// least `COMMON_FLOOR`). FTS5 scores every chunk an OR query matches, so one word that is
    /// in half of 100,000 chunks cost 60 ms, and its BM25 weight (IDF) is near nothing: such
    /// words rank nothing, the meaning side and the coverage score still use them. A question
    /// of only such words gets no keyword candidates. Counting stops at the limit, so a
    /// common word costs at most that many rows, a rare one its few.
    fn without_common(&self, terms: Vec<String>) -> Result<Vec<String>, KnowledgeError> {
        let chunks: i64 = self
            .conn
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))?;
        let common_from = (chunks / COMMON_SHARE).max(COMMON_FLOOR);
        if chunks < common_from {
            return Ok(terms);
        }
        let mut count = self.conn.prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ?1 LIMIT ?2)",
        )?;
        let mut kept = Vec::with_capacity(terms.len());
        for term in terms {
            let n: i64 = count.query_row(params![term, common_from], |r| r.get(0))?;
            if n < common_from {
                kept.push(term);
            }
        }
        Ok(kept)
    }

    /// A number that changes whenever any chunk is added, removed or re-embedded.
    pub fn generation(&self) -> Result<i64, KnowledgeError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                r.get(0)
            })?)
    }

    /// Calls `f(id, base, vector)` for every embedded chunk, reading one row at a time.
    pub fn for_each_embedding(
        &self,
        mut f: impl FnMut(i64, &str, &[f32]),
    ) -> Result<(), KnowledgeError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, f.base, c.embedding FROM chunks c JOIN files f ON f.id = c.file_id
             WHERE c.embedding IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        let mut vector = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let base = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            let blob = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            vector.clear();
            decode_into(blob, &mut vector);
            f(id, base, &vector);
        }
        Ok(())
    }

    /// The stored vector of one chunk.
    pub fn embedding(&self, id: i64) -> Result<Option<Vec<f32>>, KnowledgeError> {
        let blob: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached("SELECT embedding FROM chunks WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(blob.flatten().map(|b| from_blob(&b)))
    }

    /// One chunk with its file's path, and the chunk before and after it in the file.
    pub fn chunk(&self, id: i64) -> Result<Option<(StoredChunk, i64)>, KnowledgeError> {
        Ok(self
            .conn
            .query_row(
                "SELECT c.id, f.path, c.ord, c.start_line, c.end_line, c.heading, c.text, f.id
                 FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ?1",
                [id],
                |r| {
                    Ok((
                        StoredChunk {
                            id: r.get(0)?,
                            path: r.get(1)?,
                            ord: r.get(2)?,
                            start_line: r.get(3)?,
                            end_line: r.get(4)?,
                            heading: r.get(5)?,
                            text: r.get(6)?,
                        },
                        r.get(7)?,
                    ))
                },
            )
            .optional()?)
    }
}

/// Whether `path` is `root` or inside it.
fn under(path: &str, root: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with(std::path::MAIN_SEPARATOR))
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    let mut v = Vec::with_capacity(b.len() / 4);
    decode_into(b, &mut v);
    v
}

/// Appends the little-endian f32s of a stored vector to `out` (reused across rows).
fn decode_into(b: &[u8], out: &mut Vec<f32>) {
    out.extend(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::chunk::Chunk;

    /// A base of `files` × 10 chunks that all say "common", three of them also "zebra".
    fn base(files: usize) -> (tempfile::TempDir, KnowledgeDb) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = KnowledgeDb::open(dir.path()).unwrap();
        db.set_base("kb", "none").unwrap();
        for f in 0..files {
            let chunks: Vec<Chunk> = (0..10)
                .map(|i| Chunk {
                    start_line: i + 1,
                    end_line: i + 1,
                    heading: String::new(),
                    text: match (f, i) {
                        (0, 0..3) => format!("common words and a zebra {i}"),
                        _ => format!("common words number {f} {i}"),
                    },
                })
                .collect();
            db.replace_file("kb", &format!("/f{f}.md"), "h", &chunks, None)
                .unwrap();
        }
        (dir, db)
    }

    #[test]
    fn a_word_in_most_chunks_of_a_large_base_is_not_searched_by_bm25() {
        let (_dir, db) = base(150);
        let kb = ["kb".to_string()];
        // "common" is in all 1,500 chunks: only "zebra" is searched.
        assert_eq!(db.keyword_hits(&kb, "common zebra", 50).unwrap().len(), 3);
        assert!(db.keyword_hits(&kb, "common words", 50).unwrap().is_empty());
        // A rare word alone is searched as before.
        assert_eq!(db.keyword_hits(&kb, "zebra", 50).unwrap().len(), 3);
    }

    #[test]
    fn a_small_base_searches_every_word() {
        let (_dir, db) = base(20);
        let kb = ["kb".to_string()];
        assert_eq!(
            db.keyword_hits(&kb, "common zebra", 500).unwrap().len(),
            200
        );
    }
}
