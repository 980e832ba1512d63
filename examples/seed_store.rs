//! Fills a data directory with generated conversations through the crate's store API, for the
//! "idle memory with 1,000 stored conversations" figure of scripts/bench.sh.
//!
//! `cargo run --release --example seed_store -- DATA_DIR [CONVERSATIONS] [MESSAGES_EACH]`
//! (defaults: 1,000 conversations of 10 messages).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rustbot::store::{MessageId, NewConversation, NewMessage, Role, Store};

const TOPICS: &[&str] = &[
    "borrow checker errors",
    "async cancellation in tokio",
    "egui layout",
    "SQLite full-text search",
    "Python generators",
    "shell quoting",
    "TLS certificates",
    "JSON schema design",
];

fn text(conversation: usize, i: usize, topic: &str) -> String {
    if i.is_multiple_of(2) {
        return format!("Question {i} about {topic}: what is the usual way to handle this?");
    }
    format!(
        "**Answer {i}** on {topic} (conversation {conversation}). The usual way is to keep the \
         data owned in one place and lend it out:\n\n```rust\nfn longest<'a>(a: &'a str, b: \
         &'a str) -> &'a str {{\n    if a.len() >= b.len() {{ a }} else {{ b }}\n}}\n```\n\n\
         - keep borrows short\n- clone only at the edges\n"
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .or_else(|| std::env::var("RUSTBOT_DATA_DIR").ok())
        .ok_or("usage: seed_store DATA_DIR [CONVERSATIONS] [MESSAGES_EACH]")?;
    let conversations: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let per: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let store = Store::open(std::path::Path::new(&dir))?;
    // A commit's fsync per message would make seeding take minutes; durability of a
    // generated fixture does not matter.
    store
        .connection_for_bench()
        .execute_batch("PRAGMA synchronous = OFF")?;
    for c in 0..conversations {
        let id = uuid::Uuid::now_v7().to_string();
        let topic = TOPICS[c % TOPICS.len()];
        let new = NewConversation {
            title: Some(format!("{topic} #{c}")),
            provider: "custom".into(),
            model: "m".into(),
            ..NewConversation::default()
        };
        store.create_conversation(&id, &new)?;
        let mut parent: Option<MessageId> = None;
        for i in 0..per {
            let role = if i.is_multiple_of(2) {
                Role::User
            } else {
                Role::Assistant
            };
            let mut m = NewMessage::new(&id, role, &text(c, i, topic));
            m.parent_id = parent;
            if role == Role::Assistant {
                m.model = Some("m".into());
            }
            parent = Some(store.append_message(&m)?);
        }
    }
    store
        .connection_for_bench()
        .execute_batch("PRAGMA synchronous = FULL")?;
    println!("{conversations} conversations of {per} messages in {dir}");
    Ok(())
}
