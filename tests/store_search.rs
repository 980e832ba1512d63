//! Full-text search: ranking, snippets, and the index following inserts, updates and deletes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rustbot::store::{MessageFinish, MessageStatus, NewConversation, NewMessage, Role, Store};

fn setup() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for (id, title) in [("c1", "Rust lifetimes"), ("c2", "Cooking"), ("c3", "Misc")] {
        let new = NewConversation {
            title: Some(title.into()),
            ..Default::default()
        };
        s.create_conversation(id, &new).unwrap();
    }
    (dir, s)
}

#[test]
fn ranks_by_relevance_and_returns_snippets() {
    let (_dir, s) = setup();
    let weak = s
        .append_message(&NewMessage::new(
            "c2",
            Role::User,
            "Add a borrow of salt, then simmer the sauce for a long long long long long time \
             while you read the recipe and prepare the vegetables and the table",
        ))
        .unwrap();
    let strong = s
        .append_message(&NewMessage::new(
            "c1",
            Role::Assistant,
            "The borrow checker checks every borrow: a shared borrow or a mutable borrow.",
        ))
        .unwrap();
    let hits = s.search("borrow", 10).unwrap();
    let ids: Vec<_> = hits.iter().filter_map(|h| h.message_id).collect();
    assert_eq!(ids, [strong, weak]);
    assert_eq!(hits[0].conversation_id, "c1");
    assert_eq!(hits[0].title.as_deref(), Some("Rust lifetimes"));
    assert!(hits[0].snippet.contains("[borrow]"), "{}", hits[0].snippet);
    assert!(hits[0].score <= hits[1].score);

    // Prefix on the last word, every word required, diacritics folded.
    assert_eq!(s.search("borrow check", 10).unwrap().len(), 1);
    assert_eq!(s.search("sauce checker", 10).unwrap().len(), 0);
    s.append_message(&NewMessage::new("c3", Role::User, "café crème"))
        .unwrap();
    assert_eq!(s.search("cafe", 10).unwrap().len(), 1);
    // Operators and quotes in the input are plain text, not syntax errors.
    assert!(s.search("\"borrow OR NEAR(", 10).is_ok());
    assert!(s.search("   ", 10).unwrap().is_empty());
    assert_eq!(s.search("borrow", 1).unwrap().len(), 1);
}

#[test]
fn titles_are_searchable_and_follow_renames() {
    let (_dir, s) = setup();
    let hits = s.search("lifetimes", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].conversation_id.as_str(), hits[0].message_id),
        ("c1", None)
    );
    assert!(hits[0].snippet.contains("[lifetimes]"));
    s.rename("c1", "Ownership").unwrap();
    assert!(s.search("lifetimes", 10).unwrap().is_empty());
    assert_eq!(s.search("ownership", 10).unwrap().len(), 1);
    s.delete_conversation("c1").unwrap();
    assert!(s.search("ownership", 10).unwrap().is_empty());
}

#[test]
fn index_stays_in_sync_with_updates_and_deletes() {
    let (_dir, s) = setup();
    let mut a = NewMessage::new("c1", Role::Assistant, "");
    a.status = MessageStatus::Streaming;
    let a = s.append_message(&a).unwrap();
    s.update_streaming(a, "partial zebra").unwrap();
    // Streaming text is not indexed yet (keeps the 500 ms flush cheap)...
    assert!(s.search("zebra", 10).unwrap().is_empty());
    let finish = MessageFinish {
        content: "final giraffe".into(),
        ..Default::default()
    };
    s.finish_message(a, &finish).unwrap();
    // ...and once finished only the final text is.
    assert!(s.search("zebra", 10).unwrap().is_empty());
    assert_eq!(s.search("giraffe", 10).unwrap()[0].message_id, Some(a));

    let finish = MessageFinish {
        content: "corrected okapi".into(),
        status: Some(MessageStatus::Complete),
        ..Default::default()
    };
    s.finish_message(a, &finish).unwrap();
    assert!(s.search("giraffe", 10).unwrap().is_empty());
    assert_eq!(s.search("okapi", 10).unwrap().len(), 1);

    s.delete_conversation("c1").unwrap();
    assert!(s.search("okapi", 10).unwrap().is_empty());
    // The external-content index agrees with its table (FTS5's own consistency check).
    let check = rusqlite::Connection::open(s.path()).unwrap();
    check
        .execute(
            "INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')",
            [],
        )
        .unwrap();
}

#[test]
fn searches_many_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for i in 0..200 {
        let id = format!("c{i}");
        s.create_conversation(&id, &NewConversation::default())
            .unwrap();
        let text = if i % 50 == 0 { "needle here" } else { "hay" };
        s.append_message(&NewMessage::new(&id, Role::User, text))
            .unwrap();
    }
    assert_eq!(s.search("needle", 100).unwrap().len(), 4);
}

#[test]
fn a_models_reasoning_is_searchable_apart_from_its_answer() {
    let (_dir, s) = setup();
    let mut answer = NewMessage::new("c1", Role::Assistant, "");
    answer.status = MessageStatus::Streaming;
    let id = s.append_message(&answer).unwrap();
    s.finish_message(
        id,
        &MessageFinish {
            content: "Use an arena.".into(),
            reasoning: Some("The graph has cycles, so Rc would leak; consider indices.".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let hits = s.search("cycles", 10).unwrap();
    assert_eq!(hits.len(), 1, "found by its thinking");
    assert_eq!(hits[0].message_id, Some(id));
    assert!(hits[0].snippet.contains("[cycles]"), "{}", hits[0].snippet);
    assert_eq!(s.search("arena", 10).unwrap().len(), 1, "and by its answer");
    s.delete_conversation("c1").unwrap();
    assert!(
        s.search("cycles", 10).unwrap().is_empty(),
        "the index follows deletes"
    );
}
