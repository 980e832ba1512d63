//! Agents and profiles in the desktop app, driven by labels through egui_kittest: the agent
//! picked in the chat header (or by auto mode) is the system prompt of the next request, a
//! profile switched in the sidebar sends the next request to another server, the Agents page
//! writes agent files, and a file written by hand appears without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rustbot::bootstrap::{self, DoorOptions};
use rustbot::config::{Config, Overrides, Paths, ResolvedSettings};
use rustbot::engine::Command;
use rustbot::store::{NewConversation, NewMessage, Role, StoreHandle};
use rustbot::tools::{CliApproval, ToolFilter};
use rustbot::ui::bridge::agent_parts;
use rustbot::ui::history::History;
use rustbot::ui::{AppParts, EngineLink, GuiSettings, RustbotApp};

struct Rig {
    harness: Harness<'static, RustbotApp>,
    commands: mpsc::Receiver<Command>,
    agents_dir: std::path::PathBuf,
    store: StoreHandle,
    _engine: bootstrap::Started,
    _runtime: tokio::runtime::Runtime,
    _home: tempfile::TempDir,
}

/// The real app over the real engine; the config's provider is `main`, its profile `other`
/// goes to `other` with model `m-other`.
fn start(main: &ScriptedServer, other: &ScriptedServer, agents: &[(&str, &str)]) -> Rig {
    start_with(main, other, agents, None)
}

/// [`start`], with `seed` filling the store before the window opens.
fn start_with(
    main: &ScriptedServer,
    other: &ScriptedServer,
    agents: &[(&str, &str)],
    seed: Option<&dyn Fn(&StoreHandle)>,
) -> Rig {
    let home = tempfile::tempdir().unwrap();
    let config_file = home.path().join("config.toml");
    std::fs::write(
        &config_file,
        format!(
            "provider = \"custom\"\nbase_url = \"{}\"\nmodel = \"m\"\n\n\
             [network]\nmax_retries = 0\n\n\
             [profiles.other]\nprovider = \"custom\"\nbase_url = \"{}\"\nmodel = \"m-other\"\n",
            main.base_url(),
            other.base_url()
        ),
    )
    .unwrap();
    let paths = Paths::resolve(Some(config_file.clone()), Some(home.path().join("data"))).unwrap();
    let agents_dir = paths.agents_dir();
    std::fs::create_dir_all(&agents_dir).unwrap();
    for (file, text) in agents {
        std::fs::write(agents_dir.join(file), text).unwrap();
    }
    let config = Config::load(&config_file).unwrap();
    let resolved = ResolvedSettings::resolve(config, &Overrides::default(), paths).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The real engine with its store, as `run_desktop` starts it (no titles, no model list:
    // every request the scripted servers see is an answer).
    let door = DoorOptions {
        tools: ToolFilter::None,
        approve: CliApproval::None,
        workspace: None,
        store: true,
        titles: false,
        refresh_models: false,
        remote: false,
    };
    let started = runtime.block_on(bootstrap::start(&resolved, door)).unwrap();
    let handle = started.engine.clone();
    let store = started.store.clone().unwrap();
    if let Some(seed) = seed {
        seed(&store);
    }
    let (tx, commands) = mpsc::channel();
    let sender = handle.clone();
    let link = EngineLink::new(
        move |c: Command| {
            let _ = tx.send(c.clone());
            sender.send(c);
        },
        |w| handle.subscribe_with_waker(w),
    );
    let parts = AppParts {
        engine: link,
        settings: GuiSettings {
            provider: "custom".into(),
            base_url: main.base_url(),
            model: "m".into(),
            api_key: "k".into(),
            ..GuiSettings::default()
        },
        save_settings: None,
        history: Some(History::new(store.clone(), runtime.handle().clone())),
        models: None,
        started_at: None,
    };
    let agents = agent_parts(&resolved, None, Some(store));
    let harness = Harness::builder()
        .with_size(egui::vec2(1100.0, 760.0))
        .build_eframe(move |cc| RustbotApp::new(cc, parts).with_agents(&cc.egui_ctx, agents));
    let mut rig = Rig {
        harness,
        commands,
        agents_dir,
        store: started.store.clone().unwrap(),
        _engine: started,
        _runtime: runtime,
        _home: home,
    };
    rig.harness.run_steps(3);
    rig
}

impl Rig {
    /// Steps frames until `check` holds (real time passes: engine and watcher run on threads).
    fn wait_for(&mut self, what: &str, check: impl Fn(&Harness<'static, RustbotApp>) -> bool) {
        step_until(&mut self.harness, what, check);
    }

    fn send(&mut self, text: &str) {
        // A picker may hold the focus: give it back to the input box.
        self.harness.get_by_label("Message").focus();
        self.harness.run_steps(1);
        self.harness.get_by_label("Message").type_text(text);
        self.harness.key_press(Key::Enter);
        self.harness.run_steps(2);
    }

    fn send_and_wait(&mut self, text: &str, answer: &str) {
        self.send(text);
        self.wait_for(answer, |h| {
            shown(h, answer)
                && h.state()
                    .view_model()
                    .selected()
                    .is_some_and(|c| !c.run.is_active())
        });
    }

    /// Opens a combo box by its accessible name and clicks an entry.
    fn choose(&mut self, combo: &str, entry: &str) {
        self.harness.get_by_label(combo).click();
        self.harness.run_steps(2);
        self.harness.get_by_label(entry).click();
        self.harness.run_steps(2);
    }

    fn commands(&self) -> Vec<Command> {
        self.commands.try_iter().collect()
    }
}

fn shown(h: &Harness<'static, RustbotApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

fn system_prompt(request: &Recorded) -> String {
    let json = request.json();
    assert_eq!(json["messages"][0]["role"], "system", "{json}");
    json["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const PIRATE: &str = "---\nname: pirate\ndescription: Talks like a pirate about ships and sailing\ntags: [pirate, ship]\n---\n\nYou are a pirate. Say arr.\n";

#[test]
fn picked_agents_are_the_next_requests_system_prompt_and_a_profile_switch_changes_server() {
    let main = ScriptedServer::start(vec![openai_answer(&["Ahoy"], false)]);
    let other = ScriptedServer::start(vec![openai_answer(&["From", " elsewhere"], false)]);
    let mut rig = start(&main, &other, &[("pirate.md", PIRATE)]);

    // A new chat: the picker above it chooses the agent the conversation starts with.
    rig.choose("Agent", "pirate");
    rig.send_and_wait("Hello there", "Ahoy");
    let set = rig.commands().into_iter().find_map(|c| match c {
        Command::SetAgent {
            agent: Some(agent), ..
        } => Some(agent),
        _ => None,
    });
    assert_eq!(set.map(|a| a.name), Some("pirate".to_string()));
    assert_eq!(
        system_prompt(&main.requests()[0]),
        "You are a pirate. Say arr."
    );
    let vm = rig.harness.state().view_model();
    let conv = vm.selected().unwrap();
    assert_eq!(conv.agent.as_deref(), Some("pirate"));
    let key = conv.id.0.clone();
    let stored = rig.store.call_blocking(move |s| s.conversation(&key));
    let stored = stored
        .unwrap()
        .unwrap()
        .expect("the conversation is stored");
    assert_eq!(
        stored.agent.as_deref(),
        Some("pirate"),
        "the agent's name is stored"
    );

    // The chat header's picker changes the agent of this conversation.
    rig.choose("Agent", "coder");
    rig.send("Now as a coder");
    rig.wait_for("the second request", |_| main.requests().len() == 2);
    let coder = system_prompt(&main.requests()[1]);
    assert!(coder.contains("senior software engineer"), "{coder}");
    rig.wait_for("the second answer", |h| {
        h.state()
            .view_model()
            .selected()
            .is_some_and(|c| !c.run.is_active())
    });

    // The sidebar's profile switcher sends this conversation to the other server.
    rig.choose("Profile", "other");
    assert!(rig.commands().iter().any(|c| matches!(
        c,
        Command::SetProfile { profile: Some(p), .. } if p.name == "other"
    )));
    rig.send_and_wait("And now?", "From elsewhere");
    assert_eq!(main.requests().len(), 2, "the main server got nothing more");
    let moved = &other.requests()[0];
    assert_eq!(moved.json()["model"], "m-other");
    assert!(system_prompt(moved).contains("senior software engineer"));
    let vm = rig.harness.state().view_model();
    assert_eq!(vm.selected().unwrap().profile.as_deref(), Some("other"));
    let key = vm.selected().unwrap().id.0.clone();
    let stored = rig.store.call_blocking(move |s| s.conversation(&key));
    let stored = stored.unwrap().unwrap().unwrap();
    assert_eq!(
        (stored.agent.as_deref(), stored.profile.as_deref()),
        (Some("coder"), Some("other"))
    );
}

#[test]
fn auto_mode_picks_the_agent_from_the_first_message_and_says_which() {
    let main = ScriptedServer::start(vec![openai_answer(&["Check the borrow"], false)]);
    let other = ScriptedServer::start(vec![openai_answer(&["unused"], false)]);
    let mut rig = start(&main, &other, &[]);
    rig.choose("Agent", "Auto");
    rig.send_and_wait(
        "Why does my Rust code fail to compile? The borrow checker complains.",
        "Check the borrow",
    );
    assert!(shown(&rig.harness, "Agent: coder (matched:"));
    assert!(system_prompt(&main.requests()[0]).contains("senior software engineer"));
}

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(Instant::now() < deadline, "{} is written", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_agents_page_creates_an_agent_file() {
    let main = ScriptedServer::start(vec![openai_answer(&["unused"], false)]);
    let mut rig = start(&main, &main, &[]);
    rig.harness.get_by_label("Agents").click();
    rig.harness.run_steps(2);
    rig.harness.get_by_label("New agent").click();
    rig.harness.run_steps(2);
    for (field, text) in [
        ("Name", "reviewer"),
        ("Description", "Reviews pull requests"),
        ("Temperature", "0.3"),
        ("Tools", "read_file, list_*"),
        ("Tags", "review, diff"),
        ("Knowledge bases", "specs, style-guide"),
        ("Prompt", "Review the change carefully."),
    ] {
        rig.harness.get_by_label(field).focus();
        rig.harness.run_steps(1);
        rig.harness.get_by_label(field).type_text(text);
        rig.harness.run_steps(1);
    }
    rig.harness.get_by_label("Create").click();
    rig.harness.run_steps(2);

    let text = wait_for_file(&rig.agents_dir.join("reviewer.md"));
    assert!(text.contains("name: reviewer"), "{text}");
    assert!(text.contains("Reviews pull requests"), "{text}");
    assert!(text.contains("list_*"), "{text}");
    let written = rustbot::agents::parse_agent(&text, &rig.agents_dir.join("reviewer.md"))
        .map(|(a, _)| a.knowledge);
    assert_eq!(
        written.ok(),
        Some(vec!["specs".to_string(), "style-guide".to_string()]),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("Review the change carefully."),
        "{text}"
    );
    rig.wait_for("the new agent in the list", |h| {
        shown(h, "Edit agent reviewer")
    });
    assert!(shown(&rig.harness, "Created reviewer"));
}

#[test]
fn agent_files_written_by_hand_appear_without_a_restart_and_bad_ones_are_reported() {
    let main = ScriptedServer::start(vec![openai_answer(&["unused"], false)]);
    let mut rig = start(&main, &main, &[]);
    rig.harness.get_by_label("Agents").click();
    rig.harness.run_steps(2);
    assert!(!shown(&rig.harness, "Edit agent handmade"));

    std::fs::write(
        rig.agents_dir.join("handmade.md"),
        "---\nname: handmade\ndescription: Written in a text editor\n---\n\nBe handy.\n",
    )
    .unwrap();
    std::fs::write(
        rig.agents_dir.join("broken.md"),
        "---\nname: broken\ntemperature: [not a number\n---\n\nx\n",
    )
    .unwrap();
    rig.wait_for("the hand-written agent", |h| {
        shown(h, "Edit agent handmade")
    });
    rig.wait_for("the load problem", |h| shown(h, "broken.md:"));
    assert!(!shown(&rig.harness, "Edit agent broken"));

    // It can be picked for a new chat straight away.
    rig.harness.get_by_label("Chat").click();
    rig.harness.run_steps(2);
    rig.choose("Agent", "handmade");
    rig.send_and_wait("Hi", "unused");
    assert_eq!(system_prompt(&main.requests()[0]), "Be handy.");
}

#[test]
fn an_idle_window_with_agents_and_profiles_requests_no_repaints() {
    let main = ScriptedServer::start(vec![openai_answer(&["unused"], false)]);
    let mut rig = start(&main, &main, &[("pirate.md", PIRATE)]);
    // The profiles are built in the background; once that is done nothing else wakes us.
    std::thread::sleep(Duration::from_millis(300));
    rig.harness.run_steps(2);
    let steps = rig.harness.run();
    assert!(steps <= 3, "idle window kept repainting ({steps} steps)");
}

#[test]
fn a_reopened_conversation_answers_with_its_stored_agent_and_profile() {
    let main = ScriptedServer::start(vec![openai_answer(&["wrong server"], false)]);
    let other = ScriptedServer::start(vec![openai_answer(&["Arr", " again"], false)]);
    let id = rustbot::engine::ConversationId::new();
    let key = id.0.clone();
    let seed = move |store: &StoreHandle| {
        let key = key.clone();
        store
            .call_blocking(move |s| {
                s.create_conversation(
                    &key,
                    &NewConversation {
                        title: Some("Treasure maps".into()),
                        provider: "custom".into(),
                        model: "m-other".into(),
                        system_prompt: String::new(),
                        agent: Some("pirate".into()),
                        profile: Some("other".into()),
                    },
                )?;
                let q = s.append_message(&NewMessage::new(&key, Role::User, "Where is it?"))?;
                s.append_message(&NewMessage {
                    parent_id: Some(q),
                    ..NewMessage::new(&key, Role::Assistant, "Under the palm, arr.")
                })?;
                Ok::<_, rustbot::store::StoreError>(())
            })
            .unwrap()
            .unwrap();
    };
    let mut rig = start_with(&main, &other, &[("pirate.md", PIRATE)], Some(&seed));
    rig.wait_for("the stored conversation", |h| shown(h, "Treasure maps"));
    rig.harness.get_by_label("Treasure maps").click();
    rig.wait_for("its agent and profile", |h| {
        h.state().view_model().selected().is_some_and(|c| {
            c.agent.as_deref() == Some("pirate") && c.profile.as_deref() == Some("other")
        })
    });
    rig.wait_for("its messages", |h| shown(h, "Under the palm"));
    rig.send_and_wait("And then?", "Arr again");
    assert!(main.requests().is_empty(), "{:?}", main.requests());
    let request = &other.requests()[0];
    assert_eq!(request.json()["model"], "m-other");
    assert_eq!(system_prompt(request), "You are a pirate. Say arr.");
}
