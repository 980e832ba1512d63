//! `rustbot agents list|show`, `ask --agent NAME|auto` and `--profile NAME` as processes,
//! checked against what the scripted server received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

fn rustbot(home: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rustbot"));
    cmd.current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("RUSTBOT_CONFIG", home.path().join("config.toml"))
        .env("RUSTBOT_DATA_DIR", home.path().join("data"))
        .stdin(Stdio::null());
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn agent_file(home: &tempfile::TempDir, file: &str, body: &str) {
    let dir = home.path().join("agents");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), body).unwrap();
}

fn custom<'a>(cmd: &'a mut Command, server: &ScriptedServer) -> &'a mut Command {
    cmd.args(["--provider", "custom", "--base-url", &server.base_url()])
}

fn tool_names(body: &serde_json::Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn agents_list_and_show_include_builtins_and_user_files() {
    let home = tempfile::tempdir().unwrap();
    agent_file(
        &home,
        "pirate.md",
        "---\nname: pirate\ndescription: Talks like a pirate\nmodel: pm\n---\nArr.\n",
    );
    agent_file(
        &home,
        "broken.md",
        "---\nname: broken\ntemperature: [\n---\nx\n",
    );
    let out = rustbot(&home).args(["agents", "list"]).output().unwrap();
    ok(&out);
    let stdout = text(&out.stdout);
    for name in ["general", "coder", "writer", "shell", "pirate"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name}: {stdout}"
        );
    }
    let pirate = stdout.lines().find(|l| l.starts_with("pirate")).unwrap();
    assert!(
        pirate.contains("pirate.md") && pirate.contains("Talks like a pirate"),
        "{pirate}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("coder") && l.contains("builtin"))
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("broken.md:"),
        "{stderr}"
    );

    let out = rustbot(&home)
        .args(["agents", "list", "--json"])
        .output()
        .unwrap();
    ok(&out);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let p = rows.iter().find(|r| r["name"] == "pirate").unwrap();
    assert_eq!(p["model"], "pm");
    assert!(p["source"].as_str().unwrap().ends_with("pirate.md"));
    assert!(
        rows.iter()
            .any(|r| r["name"] == "coder" && r["source"] == "builtin")
    );

    let out = rustbot(&home)
        .args(["agents", "show", "coder"])
        .output()
        .unwrap();
    ok(&out);
    let shown = text(&out.stdout);
    assert!(shown.starts_with("---\nname: coder\n"), "{shown}");
    assert!(
        shown.contains("run_shell") && shown.contains("senior software engineer"),
        "{shown}"
    );

    let out = rustbot(&home)
        .args(["agents", "show", "nobody"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pirate"),
        "the error lists the agents"
    );
}

#[test]
fn ask_agent_sets_prompt_model_temperature_and_narrows_tools() {
    let home = tempfile::tempdir().unwrap();
    agent_file(
        &home,
        "reader.md",
        "---\nname: reader\ndescription: Reads files\nmodel: agent-model\ntemperature: 0.4\ntools: [read_file, list_dir]\n---\nYou read files.\n",
    );
    let server = ScriptedServer::start(vec![
        openai_answer(&["a"], false),
        openai_answer(&["b"], false),
        openai_answer(&["c"], false),
    ]);
    let out = custom(&mut rustbot(&home), &server)
        .args(["ask", "--agent", "reader", "--tools", "all", "hi"])
        .output()
        .unwrap();
    ok(&out);
    // --model beats the agent's model; --system its prompt.
    let out2 = custom(&mut rustbot(&home), &server)
        .args(["--model", "flag-model", "--system", "Flag prompt."])
        .args([
            "ask",
            "--agent",
            "reader",
            "--tools",
            "read_file,run_shell",
            "hi",
        ])
        .output()
        .unwrap();
    ok(&out2);
    // The writer agent has `tools: []`: nothing is offered even with --tools all.
    let out3 = custom(&mut rustbot(&home), &server)
        .args(["ask", "--agent", "writer", "--tools", "all", "hi"])
        .output()
        .unwrap();
    ok(&out3);

    let reqs: Vec<_> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(reqs[0]["model"], "agent-model");
    assert_eq!(reqs[0]["messages"][0]["role"], "system");
    assert_eq!(reqs[0]["messages"][0]["content"], "You read files.");
    assert!((reqs[0]["temperature"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    let mut tools = tool_names(&reqs[0]);
    tools.sort();
    assert_eq!(tools, ["list_dir", "read_file"]);

    assert_eq!(reqs[1]["model"], "flag-model");
    assert_eq!(reqs[1]["messages"][0]["content"], "Flag prompt.");
    assert_eq!(tool_names(&reqs[1]), ["read_file"], "the intersection");

    assert!(tool_names(&reqs[2]).is_empty());
    let writer = reqs[2]["messages"][0]["content"].as_str().unwrap();
    assert!(writer.contains("writer and editor"), "{writer}");
}

#[test]
fn ask_agent_auto_says_which_it_chose_and_unknown_agents_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = custom(&mut rustbot(&home), &server)
        .args([
            "ask",
            "--agent",
            "auto",
            "My Rust code does not compile: borrow checker error",
        ])
        .output()
        .unwrap();
    ok(&out);
    let stderr = text(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("agent: "))
        .unwrap_or_default();
    assert!(
        line.starts_with("agent: coder (") && line.contains("rust"),
        "{stderr}"
    );
    let body = server.requests()[0].json();
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("software engineer")
    );

    let out = custom(&mut rustbot(&home), &server)
        .args(["ask", "--agent", "nobody", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no agent is called `nobody`") && stderr.contains("general"),
        "{stderr}"
    );
    assert_eq!(server.requests().len(), 1, "nothing was sent");
}

#[test]
fn the_default_agent_carries_instructions_and_personality() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "[ui]\ninstructions = \"Answer in French.\"\npersonality = \"Cheerful.\"\n",
    )
    .unwrap();
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let out = custom(&mut rustbot(&home), &server)
        .args(["ask", "--agent", "general", "hi"])
        .output()
        .unwrap();
    ok(&out);
    let body = server.requests()[0].json();
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are Rustbot"), "{system}");
    assert!(
        system.ends_with(
            "## Personality\n\nCheerful.\n\n## Instructions from the user\n\nAnswer in French."
        ),
        "{system}"
    );
}

#[test]
fn a_continued_conversation_keeps_its_agent() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["one"], false),
        openai_answer(&["two"], false),
    ]);
    let out = custom(&mut rustbot(&home), &server)
        .args(["ask", "--agent", "shell", "list files"])
        .output()
        .unwrap();
    ok(&out);
    let id = text(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("conversation: ").map(String::from))
        .unwrap();
    let out = custom(&mut rustbot(&home), &server)
        .args(["ask", "--conversation", &id, "and hidden ones?"])
        .output()
        .unwrap();
    ok(&out);
    let second = server.requests()[1].json();
    assert!(
        second["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("command line")
    );
}

fn profiles_config(home: &tempfile::TempDir, server: &ScriptedServer, default: Option<&str>) {
    let top = default
        .map(|d| format!("profile = \"{d}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "{top}provider = \"openrouter\"\nmodel = \"top-model\"\n\n[profiles.local]\nprovider = \"custom\"\nbase_url = \"{}\"\nmodel = \"profile-model\"\nkey_env = \"LOCAL_KEY\"\n\n[profiles.\"Other One\"]\nprovider = \"custom\"\nbase_url = \"{}\"\n",
            server.base_url(),
            server.base_url()
        ),
    )
    .unwrap();
}

#[test]
fn profile_chooses_provider_url_model_and_key_below_explicit_flags() {
    let home = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["a"], false),
        openai_answer(&["b"], false),
        openai_answer(&["c"], false),
        openai_answer(&["d"], false),
    ]);
    profiles_config(&home, &server, None);
    let out = rustbot(&home)
        .env("LOCAL_KEY", "sk-local-123")
        .args(["ask", "--profile", "local", "hi"])
        .output()
        .unwrap();
    ok(&out);
    let out = rustbot(&home)
        .env("RUSTBOT_PROFILE", "local")
        .args(["--model", "flag-model", "ask", "hi"])
        .output()
        .unwrap();
    ok(&out);
    let out = rustbot(&home)
        .args(["ask", "--profile", "Other One", "hi"])
        .output()
        .unwrap();
    ok(&out);
    // The file's default profile applies without a flag.
    profiles_config(&home, &server, Some("local"));
    let out = rustbot(&home).args(["ask", "hi"]).output().unwrap();
    ok(&out);

    let reqs = server.requests();
    assert_eq!(reqs[0].json()["model"], "profile-model");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-local-123"));
    assert_eq!(reqs[1].json()["model"], "flag-model");
    // A profile with a provider does not inherit the top-level model.
    assert_eq!(reqs[2].json()["model"], "default");
    assert_eq!(reqs[3].json()["model"], "profile-model");

    let out = rustbot(&home)
        .args(["ask", "--profile", "nope", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no profile `nope`") && stderr.contains("local"),
        "{stderr}"
    );
    assert_eq!(server.requests().len(), 4);
}
