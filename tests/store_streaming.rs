//! Append-only answer writes: a streaming answer is stored as the chunks that arrived since the
//! last flush; every reader sees the joined text; finishing or recovering folds the chunks in;
//! and a long answer's database traffic grows with its length, not with its length squared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

use rustbot::store::{
    MessageFinish, MessageId, MessageStatus, NewConversation, NewMessage, NulText, Role, Store,
};

fn streaming_answer(store: &Store) -> MessageId {
    store
        .create_conversation("c", &NewConversation::default())
        .unwrap();
    let q = store
        .append_message(&NewMessage::new("c", Role::User, "tell me a story"))
        .unwrap();
    let mut a = NewMessage::new("c", Role::Assistant, "");
    a.parent_id = Some(q);
    a.status = MessageStatus::Streaming;
    store.append_message(&a).unwrap()
}

fn chunk_rows(store: &Store) -> i64 {
    store
        .connection_for_bench()
        .query_row("SELECT COUNT(*) FROM message_chunks", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn every_reader_sees_the_appended_text_while_it_streams() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = streaming_answer(&store);
    store.append_streaming(a, "Once upon ").unwrap();
    store.append_streaming(a, "a time").unwrap();

    assert_eq!(
        store.message(a).unwrap().unwrap().content,
        "Once upon a time"
    );
    let all = store.messages("c").unwrap();
    assert_eq!(all[1].content, "Once upon a time");
    let path = store.active_path("c").unwrap();
    assert_eq!(path[1].content, "Once upon a time");
    assert!(store.export_json("c").unwrap().contains("Once upon a time"));
    assert!(
        store
            .export_markdown("c")
            .unwrap()
            .contains("Once upon a time")
    );

    // A second process reading the same database sees it too.
    let reader = Store::open(dir.path()).unwrap();
    assert_eq!(
        reader.message(a).unwrap().unwrap().content,
        "Once upon a time"
    );

    // A whole-text write replaces the chunks; appending goes on after it.
    store.update_streaming(a, "Twice").unwrap();
    store.append_streaming(a, " upon").unwrap();
    assert_eq!(store.message(a).unwrap().unwrap().content, "Twice upon");
}

#[test]
fn finishing_folds_the_chunks_into_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = streaming_answer(&store);
    store.append_streaming(a, "Hel").unwrap();
    store.append_streaming(a, "lo").unwrap();
    assert_eq!(chunk_rows(&store), 2);
    let finish = MessageFinish {
        content: "Hello there".into(),
        status: Some(MessageStatus::Complete),
        ..Default::default()
    };
    store.finish_message(a, &finish).unwrap();
    let m = store.message(a).unwrap().unwrap();
    assert_eq!(
        (m.status, m.content.as_str()),
        (MessageStatus::Complete, "Hello there")
    );
    assert_eq!(
        chunk_rows(&store),
        0,
        "the table holds answers in flight only"
    );
    assert_eq!(store.search("there", 5).unwrap().len(), 1);
    assert!(matches!(
        store.append_streaming(a, "more"),
        Err(rustbot::store::StoreError::Invalid(_))
    ));
}

/// The engine's path: the final text handed over NUL-terminated and bound in place. Every
/// column, the search index and the folded chunks must come out as with `finish_message`.
#[test]
fn a_text_read_in_place_is_stored_and_indexed_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = streaming_answer(&store);
    store.append_streaming(a, "Hel").unwrap();
    let long = format!("Hello wanderer. {}", "a long answer, ".repeat(20_000));
    let finish = MessageFinish {
        status: Some(MessageStatus::Stopped),
        error: Some("stopped by the user".into()),
        completion_tokens: Some(7),
        cost_usd: Some(0.25),
        reasoning: Some("thought".into()),
        ..Default::default()
    };
    let text = NulText::new(long.clone());
    store.finish_message_text(a, &text, &finish).unwrap();
    assert_eq!(text.as_str(), long, "the caller keeps its text");
    assert_eq!(text.into_string(), long);

    let m = store.message(a).unwrap().unwrap();
    assert_eq!(m.content, long);
    assert_eq!(m.status, MessageStatus::Stopped);
    assert_eq!(m.error.as_deref(), Some("stopped by the user"));
    assert_eq!(m.completion_tokens, Some(7));
    assert_eq!(m.cost_usd, Some(0.25));
    assert_eq!(m.reasoning.as_deref(), Some("thought"));
    assert_eq!(chunk_rows(&store), 0);
    assert_eq!(store.search("wanderer", 5).unwrap().len(), 1);
    // Read back through a second connection: the text was written, not a pointer to it.
    let reader = Store::open(dir.path()).unwrap();
    assert_eq!(reader.message(a).unwrap().unwrap().content, long);
}

/// A NUL inside the text (a server may send `\u0000`) would end a C string early: such a text
/// is bound the ordinary way and kept whole.
#[test]
fn a_text_with_a_nul_inside_is_kept_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = streaming_answer(&store);
    let text = NulText::new("before\0after".to_string());
    store
        .finish_message_text(a, &text, &MessageFinish::default())
        .unwrap();
    assert_eq!(store.message(a).unwrap().unwrap().content, "before\0after");
    assert_eq!(store.search("after", 5).unwrap().len(), 1);
}

/// The in-place path reports SQLite's errors as the ordinary one does.
#[test]
fn finishing_an_unknown_message_in_place_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    streaming_answer(&store);
    let err = store
        .finish_message_text(
            MessageId(9_999),
            &NulText::new("x".into()),
            &MessageFinish::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, rustbot::store::StoreError::NotFound { .. }),
        "{err:?}"
    );
}

#[test]
fn a_crashed_writers_chunks_are_recovered_whole_and_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let answer = {
        let store = Store::open(dir.path()).unwrap();
        let a = streaming_answer(&store);
        for part in ["The dragon ", "slept ", "under the ", "mountain"] {
            store.append_streaming(a, part).unwrap();
        }
        // kill -9: never closed, and the session lock goes with the process.
        std::mem::forget(store);
        a
    };
    for entry in std::fs::read_dir(dir.path().join("sessions")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let m = store.message(answer).unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Stopped);
    assert_eq!(m.content, "The dragon slept under the mountain");
    assert_eq!(chunk_rows(&store), 0);
    assert_eq!(store.search("mountain", 5).unwrap().len(), 1);
    // Deleting the conversation takes everything with it (no orphaned chunks either way).
    store.delete_conversation("c").unwrap();
    assert_eq!(chunk_rows(&store), 0);
}

/// Bytes in the database file plus its WAL (checkpoints off, so the WAL holds every frame).
fn disk_bytes(dir: &Path) -> u64 {
    ["rustbot.db", "rustbot.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// Streams `flushes` flushes of `chunk` bytes, then finishes; returns (bytes after the last
/// flush, bytes after the finish), counted from before the answer's first flush.
fn traffic(flushes: usize, chunk: usize, append: bool) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .connection_for_bench()
        .pragma_update(None, "wal_autocheckpoint", 0)
        .unwrap();
    let a = streaming_answer(&store);
    let before = disk_bytes(dir.path());
    let piece: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(chunk)
        .collect();
    let mut text = String::new();
    for _ in 0..flushes {
        text.push_str(&piece);
        if append {
            store.append_streaming(a, &piece).unwrap();
        } else {
            store.update_streaming(a, &text).unwrap();
        }
    }
    let streamed = disk_bytes(dir.path()) - before;
    let finish = MessageFinish {
        content: text,
        status: Some(MessageStatus::Complete),
        ..Default::default()
    };
    store.finish_message(a, &finish).unwrap();
    (streamed, disk_bytes(dir.path()) - before)
}

#[test]
fn a_long_answers_database_traffic_grows_linearly() {
    const PAGE: u64 = 4096 + 24; // one WAL frame: the floor of any commit
    // 16 KiB flushes (a fast answer, 500 ms apart), 1 MiB in all: at most 3x the answer,
    // WAL and the final fold (row + full-text index) included, and the streamed part grows
    // linearly.
    let (k, n) = (16 * 1024, 64);
    let answer = (k * n) as u64;
    let (streamed, total) = traffic(n, k, true);
    assert!(total <= 3 * answer, "{total} bytes written for {answer}");
    let (half, _) = traffic(n / 2, k, true);
    assert!(
        streamed <= 2 * half + 4 * PAGE,
        "twice the flushes, {streamed} vs {half} bytes: not linear"
    );

    // Small flushes (a slow answer, 100 bytes per 500 ms): each commit costs one page, so the
    // traffic is linear in the number of flushes, never in the answer so far.
    let (k, n) = (100, 400);
    let (streamed, _) = traffic(n, k, true);
    assert!(
        streamed <= n as u64 * (k as u64 + 2 * PAGE),
        "{streamed} bytes for {n} flushes of {k}"
    );
    let (half, _) = traffic(n / 2, k, true);
    assert!(streamed <= 2 * half + 4 * PAGE, "{streamed} vs {half}");

    // The whole-text rewrite this replaced writes the answer so far on every flush.
    let (k, n) = (4096, 128);
    let (rewrite, _) = traffic(n, k, false);
    let (append, _) = traffic(n, k, true);
    assert!(
        rewrite > 10 * append,
        "rewrite {rewrite} bytes vs append {append}"
    );
}

/// The table in docs/PERFORMANCE.md: `cargo test --test store_streaming traffic_table --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn traffic_table() {
    for (k, n) in [
        (160, 120),
        (1024, 120),
        (4096, 120),
        (16384, 60),
        (65536, 16),
        (524288, 2),
    ] {
        let (s, t) = traffic(n, k, true);
        let (rs, rt) = traffic(n, k, false);
        let a = (k * n) as f64;
        eprintln!(
            "k={k} n={n} answer={a}: append streamed {:.2}x total {:.2}x | rewrite streamed {:.2}x total {:.2}x",
            s as f64 / a,
            t as f64 / a,
            rs as f64 / a,
            rt as f64 / a
        );
    }
}
