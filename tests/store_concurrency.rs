//! Several writers on one database: threads, handles and separate processes lose nothing; a
//! process killed mid-answer leaves its text, marked stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustbot::store::{
    MessageStatus, NewConversation, NewMessage, Role, Store, StoreError, StoreHandle,
};

const PER_WRITER: usize = 500;

fn append_many(store: &Store, conversation: &str, n: usize) {
    let mut parent = None;
    for i in 0..n {
        let mut m = NewMessage::new(conversation, Role::User, &format!("message {i}"));
        m.parent_id = parent;
        parent = Some(store.append_message(&m).unwrap());
    }
}

#[test]
fn two_handles_on_two_threads_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|conv| {
            // Each handle is its own connection (and storage thread) on the same file.
            let handle = StoreHandle::open(dir.path()).unwrap();
            std::thread::spawn(move || {
                handle
                    .call_blocking(move |s| {
                        s.create_conversation(conv, &NewConversation::default())
                    })
                    .unwrap()
                    .unwrap();
                for i in 0..PER_WRITER {
                    handle
                        .call_blocking(move |s| {
                            s.append_message(&NewMessage::new(conv, Role::User, &format!("{i}")))?;
                            s.append_event(Some(conv), "test", "{}")
                        })
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.messages("a").unwrap().len(), PER_WRITER);
    assert_eq!(s.messages("b").unwrap().len(), PER_WRITER);
    assert_eq!(s.recent_events(10_000).unwrap().len(), 2 * PER_WRITER);
}

#[tokio::test]
async fn handle_runs_calls_in_order_and_survives_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path()).unwrap();
    handle
        .call(|s| s.create_conversation("c", &NewConversation::default()))
        .await
        .unwrap()
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let h = handle.clone();
            tokio::spawn(async move {
                h.call(move |s| s.append_event(None, "n", &i.to_string()))
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let err = handle
        .call(|_s| -> () { panic!("boom") })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Panicked(ref m) if m == "boom"),
        "{err:?}"
    );
    let events = handle
        .call(|s| s.recent_events(100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        events.len(),
        20,
        "the store thread is still alive after the panic"
    );
}

/// Starts this test binary again, running only `test_name`, with `vars` set.
fn spawn_child(test_name: &str, vars: &[(&str, &Path)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Child process body for `two_processes_lose_nothing`; does nothing when run normally.
#[test]
fn child_writer() {
    let (Some(dir), Some(conv)) = (
        std::env::var_os("STORE_TEST_DIR"),
        std::env::var_os("STORE_TEST_CONV"),
    ) else {
        return;
    };
    let conv = conv.to_string_lossy().to_string();
    let store = Store::open(Path::new(&dir)).unwrap();
    store
        .create_conversation(&conv, &NewConversation::default())
        .unwrap();
    append_many(&store, &conv, PER_WRITER);
}

#[test]
fn two_processes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Create the schema first so the children race on writes, not on the first migration.
    drop(Store::open(dir.path()).unwrap());
    let children: Vec<_> = ["p1", "p2"]
        .into_iter()
        .map(|conv| {
            spawn_child(
                "child_writer",
                &[
                    ("STORE_TEST_DIR", dir.path()),
                    ("STORE_TEST_CONV", Path::new(conv)),
                ],
            )
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let s = Store::open(dir.path()).unwrap();
    for conv in ["p1", "p2"] {
        let path = s.active_path(conv).unwrap();
        assert_eq!(path.len(), PER_WRITER);
        assert_eq!(
            path.last().unwrap().content,
            format!("message {}", PER_WRITER - 1)
        );
    }
}

/// Child process body for the kill -9 test: streams an answer forever, flushing often.
#[test]
fn child_streamer() {
    let Some(dir) = std::env::var_os("STORE_TEST_STREAM_DIR") else {
        return;
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    store
        .create_conversation("k", &NewConversation::default())
        .unwrap();
    let q = store
        .append_message(&NewMessage::new("k", Role::User, "tell me a long story"))
        .unwrap();
    let mut a = NewMessage::new("k", Role::Assistant, "");
    a.parent_id = Some(q);
    a.status = MessageStatus::Streaming;
    let a = store.append_message(&a).unwrap();
    let mut text = String::new();
    for i in 0.. {
        text.push_str(&format!("word{i} "));
        store.update_streaming(a, &text).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn streamed_text(dir: &Path) -> Option<(MessageStatus, String)> {
    let s = Store::open(dir).ok()?;
    let path = s.active_path("k").ok()?;
    let m = path.get(1)?;
    Some((m.status, m.content.clone()))
}

#[test]
fn kill_9_mid_answer_keeps_the_text_marked_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("child_streamer", &[("STORE_TEST_STREAM_DIR", dir.path())]);
    let started = Instant::now();
    let seen = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the child never streamed"
        );
        if let Some((status, text)) = streamed_text(dir.path())
            && text.len() > 200
        {
            // Opening the database while the writer lives must not stop its answer.
            assert_eq!(status, MessageStatus::Streaming);
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL: no destructors, no clean close.
    child.wait().unwrap();

    let s = Store::open(dir.path()).unwrap();
    let path = s.active_path("k").unwrap();
    assert_eq!(path.len(), 2, "the user message once, the answer once");
    assert_eq!(path[0].content, "tell me a long story");
    let answer = &path[1];
    assert_eq!(answer.status, MessageStatus::Stopped);
    assert!(
        answer.content.starts_with(&seen),
        "nothing flushed was lost"
    );
    let words: Vec<_> = answer.content.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        assert_eq!(*w, format!("word{i}"), "the text is a clean prefix");
    }
    assert_eq!(s.search("word3", 5).unwrap().len(), 1);
    let _: PathBuf = dir.path().to_path_buf();
}
