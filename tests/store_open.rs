//! Opening the database: migrations from every version, newer/corrupt/locked files, recovery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use rusqlite::Connection;
use rustbot::store::migrations::SCHEMA_VERSION;
use rustbot::store::{
    MessageStatus, NewConversation, NewMessage, OpenOptions, Role, Store, StoreError,
};

/// The v1 schema exactly as the first release shipped it (frozen here on purpose: the
/// migration must work on what is in the wild, not on whatever `migrations::V1` says today).
const V1_SQL: &str = r#"
CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL, title TEXT, provider TEXT NOT NULL, model TEXT NOT NULL,
    system_prompt TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_updated ON conversations(pinned DESC, updated_at DESC);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('streaming', 'complete', 'stopped', 'failed')),
    error TEXT, model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL,
    ttft_ms INTEGER, duration_ms INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    provider TEXT NOT NULL, model TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, cost_usd REAL, at INTEGER NOT NULL
);
CREATE INDEX usage_at ON usage(at);
CREATE INDEX usage_conversation ON usage(conversation_id);
"#;

fn v1_database(dir: &std::path::Path) {
    let conn = Connection::open(dir.join("rustbot.db")).unwrap();
    conn.execute_batch(V1_SQL).unwrap();
    conn.execute_batch(
        "INSERT INTO conversations VALUES ('c1', 'Borrowing', 'openrouter', 'm1', 'be brief', 1, 5, 1, 0);
         INSERT INTO messages (id, conversation_id, role, content, status, created_at, updated_at)
           VALUES (1, 'c1', 'user', 'what is a lifetime', 'complete', 1, 1),
                  (2, 'c1', 'assistant', 'a lifetime is a region', 'complete', 2, 2),
                  (3, 'c1', 'user', 'and borrowing?', 'complete', 3, 3),
                  (4, 'c1', 'assistant', 'half an answer', 'streaming', 4, 4);
         INSERT INTO usage (conversation_id, message_id, provider, model, prompt_tokens, completion_tokens, cost_usd, at)
           VALUES ('c1', 2, 'openrouter', 'm1', 10, 20, 0.5, 2);
         PRAGMA user_version = 1;",
    )
    .unwrap();
}

#[test]
fn migrates_v1_keeping_data_and_building_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    v1_database(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let version: i64 = Connection::open(store.path())
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);

    let conv = store.conversation("c1").unwrap().unwrap();
    assert_eq!(conv.title.as_deref(), Some("Borrowing"));
    assert_eq!(conv.system_prompt, "be brief");
    let path = store.active_path("c1").unwrap();
    let texts: Vec<_> = path.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        [
            "what is a lifetime",
            "a lifetime is a region",
            "and borrowing?",
            "half an answer"
        ]
    );
    assert_eq!(path[0].parent_id, None);
    assert_eq!(path[3].parent_id, Some(path[2].id));
    // The answer that was streaming when v1 crashed is recovered as stopped, text intact.
    assert_eq!(path[3].status, MessageStatus::Stopped);
    // Existing text is searchable after the FTS migration.
    let hits = store.search("lifetime", 10).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(store.usage_totals(None).unwrap().completion_tokens, 20);
}

#[test]
fn migrates_v2_keeping_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("rustbot.db")).unwrap();
    conn.execute_batch(V1_SQL).unwrap();
    conn.execute_batch(rustbot::store::migrations::V2).unwrap();
    conn.execute_batch(
        "INSERT INTO conversations (id, title, provider, model, created_at, updated_at, agent, selected_leaf_id)
           VALUES ('c2', 'Tree', 'openai', 'm', 1, 1, 'coder', 2);
         INSERT INTO messages (id, conversation_id, parent_id, role, content, status, created_at, updated_at)
           VALUES (1, 'c2', NULL, 'user', 'question', 'complete', 1, 1),
                  (2, 'c2', 1, 'assistant', 'first answer', 'complete', 2, 2),
                  (3, 'c2', 1, 'assistant', 'second answer', 'complete', 3, 3);
         INSERT INTO events (conversation_id, kind, json, at) VALUES ('c2', 'state', '{}', 1);
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path()).unwrap();
    let conv = store.conversation("c2").unwrap().unwrap();
    assert_eq!(conv.agent.as_deref(), Some("coder"));
    let path = store.active_path("c2").unwrap();
    assert_eq!(path.last().unwrap().content, "first answer");
    let (siblings, index) = store.siblings(path[1].id).unwrap();
    assert_eq!((siblings.len(), index), (2, 0));
    assert_eq!(store.search("second", 5).unwrap().len(), 1);
    assert_eq!(store.recent_events(10).unwrap().len(), 1);
}

#[test]
fn newer_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rustbot.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    match &err {
        StoreError::TooNew {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (99, SCHEMA_VERSION));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("newer Rustbot") && msg.contains("Update Rustbot"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the file must not change"
    );
    assert!(!dir.path().join("rustbot.db-wal").exists());
}

#[test]
fn corrupt_file_is_moved_aside_and_a_fresh_one_starts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rustbot.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let moved = store
        .moved_aside()
        .expect("the open reports where the file went")
        .to_path_buf();
    let name = moved.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("rustbot.db.corrupt-"), "{name}");
    assert_eq!(
        std::fs::read(&moved).unwrap(),
        garbage,
        "the damaged file is kept as is"
    );
    store
        .create_conversation("c", &NewConversation::default())
        .unwrap();
    assert_eq!(
        store.list_conversations(&Default::default()).unwrap().len(),
        1
    );
}

#[test]
fn creates_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/c");
    let store = Store::open(&nested).unwrap();
    assert!(nested.join("rustbot.db").exists());
    assert_eq!(store.path(), nested.join("rustbot.db"));
}

#[test]
fn streaming_answer_becomes_stopped_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let answer = {
        let store = Store::open(dir.path()).unwrap();
        store
            .create_conversation("c", &NewConversation::default())
            .unwrap();
        let q = store
            .append_message(&NewMessage::new("c", Role::User, "hi"))
            .unwrap();
        let mut a = NewMessage::new("c", Role::Assistant, "");
        a.parent_id = Some(q);
        a.status = MessageStatus::Streaming;
        let a = store.append_message(&a).unwrap();
        store.update_streaming(a, "Hello, wor").unwrap();
        // Simulate a crash: the store is never closed cleanly and its session lock is gone.
        std::mem::forget(store);
        a
    };
    for entry in std::fs::read_dir(dir.path().join("sessions")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let m = store.message(answer).unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Stopped);
    assert_eq!(m.content, "Hello, wor");
    assert_eq!(store.messages("c").unwrap().len(), 2, "nothing duplicated");
    assert_eq!(
        store.search("wor", 5).unwrap().len(),
        1,
        "recovered text is indexed"
    );
}

#[test]
fn a_live_writer_keeps_its_streaming_answer() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    writer
        .create_conversation("c", &NewConversation::default())
        .unwrap();
    let mut a = NewMessage::new("c", Role::Assistant, "");
    a.status = MessageStatus::Streaming;
    let a = writer.append_message(&a).unwrap();

    // A second program (say `rustbot conversations list`) opens the same database.
    let reader = Store::open(dir.path()).unwrap();
    assert_eq!(
        reader.message(a).unwrap().unwrap().status,
        MessageStatus::Streaming
    );
    writer.update_streaming(a, "still going").unwrap();
    drop(writer);
    drop(reader);
    // The writer closed without finishing: now it is really interrupted.
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(
        again.message(a).unwrap().unwrap().status,
        MessageStatus::Stopped
    );
}

#[test]
fn locked_database_gives_a_clear_error_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .create_conversation("c", &NewConversation::default())
        .unwrap();
    drop(store);
    let locker = Connection::open(dir.path().join("rustbot.db")).unwrap();
    locker
        .execute_batch("BEGIN EXCLUSIVE; UPDATE conversations SET pinned = 1;")
        .unwrap();

    let options = OpenOptions {
        busy_timeout: Duration::from_millis(300),
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    let started = Instant::now();
    let err = store.rename("c", "new").unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(matches!(err, StoreError::Busy), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("locked") && msg.contains("try again"), "{msg}");
    locker.execute_batch("ROLLBACK").unwrap();
    store.rename("c", "new").unwrap();
}
