//! Storage benchmarks for the closing note: loading a 10,000-message conversation and
//! searching 1,000 conversations. Run with `cargo bench --bench store`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rustbot::store::{MessageId, NewConversation, NewMessage, Role, Store};

const WORDS: &[&str] = &[
    "borrow", "lifetime", "trait", "async", "tokio", "egui", "sqlite", "vector", "closure",
    "iterator", "pattern", "module", "crate", "error", "result", "option", "thread", "channel",
];

fn sentence(seed: usize, len: usize) -> String {
    (0..len)
        .map(|i| WORDS[(seed * 31 + i * 7) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn long_conversation(store: &Store, n: usize) {
    store
        .create_conversation("long", &NewConversation::default())
        .unwrap();
    let mut parent: Option<MessageId> = None;
    for i in 0..n {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        let mut m = NewMessage::new("long", role, &sentence(i, 40));
        m.parent_id = parent;
        parent = Some(store.append_message(&m).unwrap());
    }
}

fn many_conversations(store: &Store, n: usize, per: usize) {
    for c in 0..n {
        let id = format!("c{c:04}");
        store
            .create_conversation(&id, &NewConversation::default())
            .unwrap();
        let mut parent = None;
        for i in 0..per {
            let mut m = NewMessage::new(&id, Role::User, &sentence(c * per + i, 30));
            m.parent_id = parent;
            parent = Some(store.append_message(&m).unwrap());
        }
    }
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Per-commit fsync would dominate the fixture setup; it is not what is measured.
    let conn = store.connection_for_bench();
    conn.execute_batch("PRAGMA synchronous = OFF").unwrap();
    long_conversation(&store, 10_000);
    many_conversations(&store, 1_000, 10);
    conn.execute_batch("PRAGMA synchronous = FULL").unwrap();

    c.bench_function("active_path of 10,000 messages", |b| {
        b.iter(|| black_box(store.active_path("long").unwrap().len()))
    });
    c.bench_function("search 1,000 conversations (2 words)", |b| {
        b.iter(|| black_box(store.search("borrow tokio", 50).unwrap().len()))
    });
    c.bench_function("list 1,001 conversations", |b| {
        b.iter(|| black_box(store.list_conversations(&Default::default()).unwrap().len()))
    });
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
