//! Loading the agents folder (good files, bad front matter with its line, unknown fields,
//! duplicate names), the editor's writes, and hot reload through the watcher.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::time::{Duration, Instant};

use rustbot::agents::{
    Agent, AgentLoadError, AgentRegistry, AgentSource, AgentWatcher, create, delete, duplicate,
    update,
};

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

#[test]
fn good_bad_unknown_and_duplicate_files_are_sorted_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "a-reviewer.md",
        "---\nname: reviewer\ndescription: Reviews pull requests\ntools: [read_file]\ntags: [review]\n---\nReview carefully.\n",
    );
    write(
        d,
        "b-bad.md",
        "---\nname: bad\ndescription: d\ntags: [unclosed\n---\nbody\n",
    );
    write(d, "c-noname.md", "---\ndescription: nameless\n---\nbody\n");
    write(
        d,
        "d-typo.md",
        "---\nname: typo\ndescription: d\ntemprature: 0.1\n---\nbody\n",
    );
    write(d, "e-dup.md", "---\nname: Reviewer\n---\nsecond\n");
    write(
        d,
        "f-coder.md",
        "---\nname: coder\ndescription: My own coder\n---\nMine.\n",
    );
    write(d, "notes.txt", "not an agent");
    write(d, ".hidden.md", "---\nname: hidden\n---\nx\n");

    let (registry, problems) = AgentRegistry::load(d);
    let names = registry.names();
    assert!(
        names.contains(&"reviewer") && names.contains(&"typo"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"bad") && !names.contains(&"hidden"),
        "{names:?}"
    );
    // The built-ins are there, and the user's coder replaced the built-in one.
    assert!(names.contains(&"general") && names.contains(&"writer"));
    let coder = registry.get("CODER").unwrap();
    assert_eq!(coder.prompt, "Mine.");
    assert_eq!(coder.source, AgentSource::File(d.join("f-coder.md")));
    assert_eq!(
        registry.get("reviewer").unwrap().prompt,
        "Review carefully."
    );

    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 4, "{texts:#?}");
    let bad = problems
        .iter()
        .find(|p| matches!(p, AgentLoadError::Parse { path, .. } if path.ends_with("b-bad.md")))
        .expect("bad YAML reported");
    // The flow sequence is never closed: the parser notices on the fence's line or before.
    match bad {
        AgentLoadError::Parse { line, .. } => assert!((4..=6).contains(line), "{bad}"),
        _ => unreachable!(),
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains("c-noname.md:1:") && t.contains("name")),
        "{texts:#?}"
    );
    let typo = problems.iter().find(|p| p.is_warning()).unwrap();
    assert!(
        typo.to_string()
            .contains("d-typo.md:4: unknown field `temprature`"),
        "{typo}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("e-dup.md") && t.contains("a-reviewer.md")),
        "{texts:#?}"
    );
}

#[test]
fn a_missing_folder_is_only_the_builtins() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, problems) = AgentRegistry::load(&dir.path().join("absent"));
    assert!(problems.is_empty());
    assert_eq!(registry.list().len(), 4);
    assert!(
        registry
            .list()
            .iter()
            .all(|a| a.source == AgentSource::Builtin)
    );
}

#[test]
fn the_editor_creates_duplicates_updates_and_deletes_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("agents");
    let reload = || AgentRegistry::load(&d).0;

    let mut agent = Agent::new("Work: Rust/Go", "Be terse.");
    agent.description = "Work persona".into();
    agent.tools = Some(vec!["read_file".into()]);
    let path = create(&reload(), &d, &agent).unwrap();
    assert_eq!(path, d.join("work-rust-go.md"));
    assert!(create(&reload(), &d, &agent).is_err(), "the name is taken");
    let r = reload();
    let loaded = r.get("work: rust/go").unwrap();
    assert_eq!(
        (loaded.description.as_str(), loaded.prompt.as_str()),
        ("Work persona", "Be terse.")
    );

    // Duplicating a built-in makes a user file.
    let copy = duplicate(&reload(), &d, "shell", "my shell").unwrap();
    assert_eq!(copy, d.join("my-shell.md"));
    assert_eq!(
        reload().get("my shell").unwrap().tools,
        reload().get("shell").unwrap().tools
    );

    // Updating a user agent rewrites its file; renaming keeps the file.
    let mut changed = reload().get("my shell").unwrap().clone();
    changed.name = "Shell Pro".into();
    changed.prompt = "Only POSIX sh.".into();
    assert_eq!(update(&reload(), &d, "my shell", &changed).unwrap(), copy);
    assert!(reload().get("my shell").is_none());
    assert_eq!(reload().get("shell pro").unwrap().prompt, "Only POSIX sh.");
    assert!(
        update(&reload(), &d, "shell pro", &Agent::new("coder", "x")).is_err(),
        "name taken"
    );

    // Updating a built-in writes a user copy that wins.
    let mut general = reload().get("general").unwrap().clone();
    general.prompt = "Custom general.".into();
    let written = update(&reload(), &d, "general", &general).unwrap();
    assert_eq!(reload().get("general").unwrap().prompt, "Custom general.");

    // Deleting the copy brings the built-in back; built-ins cannot be deleted.
    delete(&reload(), "general").unwrap();
    assert!(!written.exists());
    assert_eq!(
        reload().get("general").unwrap().source,
        AgentSource::Builtin
    );
    assert!(delete(&reload(), "general").is_err());
    delete(&reload(), "shell pro").unwrap();
    assert!(reload().get("shell pro").is_none());
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// Waits for a reload whose registry satisfies `ok`.
fn wait_for(
    rx: &std::sync::mpsc::Receiver<(AgentRegistry, Vec<AgentLoadError>)>,
    ok: impl Fn(&AgentRegistry) -> bool,
) -> AgentRegistry {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (registry, _) = rx.recv_timeout(left).expect("a reload within 10 s");
        if ok(&registry) {
            return registry;
        }
    }
}

#[test]
fn files_written_by_hand_appear_and_change_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("agents");
    let (watcher, rx) = AgentWatcher::with_channel(&d).unwrap();
    assert_eq!(watcher.dir(), d);

    write(
        &d,
        "pirate.md",
        "---\nname: pirate\ndescription: Talks like a pirate\n---\nArr.\n",
    );
    let r = wait_for(&rx, |r| r.get("pirate").is_some());
    assert_eq!(r.get("pirate").unwrap().prompt, "Arr.");

    write(
        &d,
        "pirate.md",
        "---\nname: pirate\ndescription: Talks like a pirate\n---\nYo ho ho.\n",
    );
    wait_for(&rx, |r| {
        r.get("pirate").is_some_and(|a| a.prompt == "Yo ho ho.")
    });

    std::fs::remove_file(d.join("pirate.md")).unwrap();
    wait_for(&rx, |r| r.get("pirate").is_none());
    drop(watcher);
}
