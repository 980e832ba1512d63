//! Schema history. Each entry upgrades version N-1 to N; shipped entries are never edited,
//! because databases in the wild were built from them.

use rusqlite::{Connection, TransactionBehavior};

use super::error::{Result, StoreError};

/// v1: the first release kept a flat history per conversation.
pub const V1: &str = r#"
CREATE TABLE conversations (
    id            TEXT PRIMARY KEY NOT NULL,
    title         TEXT,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    system_prompt TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    pinned        INTEGER NOT NULL DEFAULT 0,
    archived      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_updated ON conversations(pinned DESC, updated_at DESC);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    conversation_id   TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role              TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('streaming', 'complete', 'stopped', 'failed')),
    error             TEXT,
    model             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          REAL,
    ttft_ms           INTEGER,
    duration_ms       INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);

CREATE TABLE usage (
    id                INTEGER PRIMARY KEY,
    conversation_id   TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    message_id        INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd          REAL,
    at                INTEGER NOT NULL
);
CREATE INDEX usage_at ON usage(at);
CREATE INDEX usage_conversation ON usage(conversation_id);
"#;

/// v2: messages become a tree (edit and regenerate add siblings); agents, tool calls, event log.
pub const V2: &str = r#"
ALTER TABLE conversations ADD COLUMN agent TEXT;
ALTER TABLE conversations ADD COLUMN selected_leaf_id INTEGER;
ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE;
ALTER TABLE messages ADD COLUMN tool_call_id TEXT;
ALTER TABLE messages ADD COLUMN tool_calls TEXT;

-- A flat v1 history is one chain: each message's parent is the one before it.
UPDATE messages SET parent_id = (
    SELECT MAX(p.id) FROM messages p
    WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id
);
UPDATE conversations SET selected_leaf_id = (
    SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = conversations.id
);
CREATE INDEX messages_parent ON messages(parent_id);

CREATE TABLE tool_calls (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    message_id      INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    call_id         TEXT,
    name            TEXT NOT NULL,
    arguments       TEXT NOT NULL,
    result          TEXT,
    approval        TEXT NOT NULL,
    status          TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX tool_calls_conversation ON tool_calls(conversation_id);

-- No foreign key: the log outlives the conversations it mentions.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT,
    kind            TEXT NOT NULL,
    json            TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX events_at ON events(at);
"#;

/// v3: full-text search, and which process is streaming a message (so a second process does
/// not mark a live answer as stopped).
pub const V3: &str = r#"
ALTER TABLE messages ADD COLUMN writer TEXT;

-- External content: the text lives once, in messages. Answers still streaming are not indexed
-- so the 500 ms flush stays cheap; they are indexed when they finish or are recovered.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages WHERE status <> 'streaming';

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status <> 'streaming' BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status <> 'streaming' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content)
        SELECT 'delete', old.id, old.content WHERE old.status <> 'streaming';
    INSERT INTO messages_fts(rowid, content)
        SELECT new.id, new.content WHERE new.status <> 'streaming';
END;

-- Titles are few and short: a plain FTS table keyed by the conversation id.
CREATE VIRTUAL TABLE titles_fts USING fts5(
    conversation_id UNINDEXED, title, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO titles_fts(conversation_id, title)
    SELECT id, title FROM conversations WHERE title IS NOT NULL;

CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations WHEN new.title IS NOT NULL BEGIN
    INSERT INTO titles_fts(conversation_id, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM titles_fts WHERE conversation_id = old.id;
END;
CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
    DELETE FROM titles_fts WHERE conversation_id = old.id;
    INSERT INTO titles_fts(conversation_id, title) SELECT new.id, new.title WHERE new.title IS NOT NULL;
END;
"#;

/// All migrations in order; index i upgrades version i to i+1.
/// v4: the provider profile a conversation uses.
pub const V4: &str = r#"
ALTER TABLE conversations ADD COLUMN profile TEXT;
"#;

/// v5: a streaming answer is stored by appending what arrived since the last flush, one row
/// per flush, instead of rewriting the whole text every 500 ms (O(n²) bytes over a long answer).
/// Reading a streaming message joins `content` with its chunks in `id` order; finishing the
/// answer (or recovering it after a crash) folds them into `content` and deletes them, so the
/// table only ever holds the answers in flight.
///
/// No index on `message_id`: every index is one more page written per flush, and the table
/// is a few rows long (a lookup scans it; a message delete's cascade scans it too).
pub const V5: &str = r#"
CREATE TABLE message_chunks (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    text       TEXT NOT NULL
);
"#;

/// v6: a reasoning model's thinking, kept apart from the answer's text (never sent back as
/// content); images attached to messages, stored once by content hash and shared between the
/// messages that carry them.
pub const V6: &str = r#"
ALTER TABLE messages ADD COLUMN reasoning TEXT;
CREATE TABLE attachments (
    hash       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    data       BLOB NOT NULL
);
CREATE TABLE message_attachments (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    hash       TEXT NOT NULL REFERENCES attachments(hash),
    PRIMARY KEY (message_id, position)
);
"#;

/// v7: compaction. A summary of older turns is a message of kind `summary` (role `system`)
/// placed in the tree between the last message it replaces and the first it keeps, so a path
/// through it sends the summary and a branch from before it sends the originals. Context
/// windows learned from servers are remembered per provider and model.
pub const V7: &str = r#"
ALTER TABLE messages ADD COLUMN kind TEXT;
CREATE TABLE model_windows (
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    learned_at INTEGER NOT NULL,
    PRIMARY KEY (provider, model)
);
"#;

/// v8: a reasoning model's thinking is searchable too: the message index gets a `reasoning`
/// column (same external content, same rule: answers still streaming are not indexed).
pub const V8: &str = r#"
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, reasoning, content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts(rowid, content, reasoning)
    SELECT id, content, reasoning FROM messages WHERE status <> 'streaming';
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status <> 'streaming' BEGIN
    INSERT INTO messages_fts(rowid, content, reasoning)
        VALUES (new.id, new.content, new.reasoning);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status <> 'streaming' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content, reasoning)
        VALUES ('delete', old.id, old.content, old.reasoning);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status, reasoning ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content, reasoning)
        SELECT 'delete', old.id, old.content, old.reasoning WHERE old.status <> 'streaming';
    INSERT INTO messages_fts(rowid, content, reasoning)
        SELECT new.id, new.content, new.reasoning WHERE new.status <> 'streaming';
END;
"#;

/// v9: the tokens a reasoning model spent thinking, per request (part of its completion
/// tokens; 0 where the server did not say).
pub const V9: &str = r#"
ALTER TABLE usage ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
"#;

/// Every migration in order; `MIGRATIONS[n]` takes a database from version n to n + 1.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads `PRAGMA user_version`.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the database up to `SCHEMA_VERSION`, one committed step per version.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two processes
        // opening an old database at once cannot both apply the same step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = schema_version(&tx)?;
        if version >= SCHEMA_VERSION {
            return Ok(());
        }
        let sql = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
            .ok_or_else(|| StoreError::Invalid(format!("Unknown schema version {version}.")))?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(
            from = version,
            to = version + 1,
            "migrated the database schema"
        );
    }
}
