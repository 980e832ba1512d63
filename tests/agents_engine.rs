//! Per-conversation agents in the engine over the scripted server: `Command::SetAgent` changes
//! what the next request sends, and the agent's tool allow-list is enforced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use common::*;
use rustbot::agents::AgentRegistry;
use rustbot::config::{NetworkSettings, Secret};
use rustbot::engine::{
    self, AgentProfile, Command, ConversationId, EngineConfig, EngineEvent, EngineHandle,
    Subscription, ToolSetup,
};
use rustbot::llm::{ProviderKind, ProviderSettings, build_provider};
use rustbot::store::StoreHandle;
use rustbot::tools::{ApprovalPolicy, CliApproval, ToolFilter, ToolRegistry};

/// One OpenAI-format streamed tool call.
fn tool_call(id: &str, name: &str, args: &str) -> Vec<Step> {
    let start = serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":id,"type":"function","function":{"name":name,"arguments":args}}]},"finish_reason":null}]}).to_string();
    let body = sse_body(&[&start, &openai_finish("tool_calls"), "[DONE]"]);
    vec![Step::Bytes(sse_head()), Step::Bytes(body)]
}

fn start(
    server: &ScriptedServer,
    ws: &std::path::Path,
    store: Option<StoreHandle>,
) -> EngineHandle {
    let provider = build_provider(ProviderSettings {
        kind: ProviderKind::Custom,
        base_url: server.base_url(),
        api_key: Some(Secret::new("k")),
        network: NetworkSettings::default(),
        local: Default::default(),
    })
    .unwrap();
    let tools = ToolSetup {
        registry: std::sync::Arc::new(ToolRegistry::with_builtins()),
        filter: ToolFilter::All,
        // Everything approved: only the agent's allow-list can stop a call.
        policy: ApprovalPolicy::new(Default::default(), CliApproval::All),
        workspace: ws.to_path_buf(),
        timeout: Duration::from_secs(30),
        max_rounds: 5,
    };
    engine::start(
        EngineConfig {
            tools: Some(tools),
            system_prompt: Some("engine prompt".into()),
            store,
            ..EngineConfig::new(provider, "engine-model")
        },
        &tokio::runtime::Handle::current(),
    )
}

async fn until_done(sub: &Subscription) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("Done within 20 s");
        let done = matches!(ev, EngineEvent::Done { .. });
        events.push(ev);
        if done {
            return events;
        }
    }
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

fn reader() -> AgentProfile {
    AgentProfile {
        name: "reader".into(),
        system_prompt: Some("You only read.".into()),
        model: Some("agent-model".into()),
        temperature: Some(0.3),
        tools: ToolFilter::Names(vec!["read_*".into(), "list_dir".into()]),
        knowledge: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_run_shell_cannot_run_it_even_when_the_model_asks() {
    let ws = tempfile::tempdir().unwrap();
    let marker = ws.path().join("ran.txt");
    let server = ScriptedServer::start(vec![
        tool_call("c1", "run_shell", r#"{"command": "echo ran > ran.txt"}"#),
        openai_answer(&["ok"], false),
    ]);
    let handle = start(&server, ws.path(), None);
    let sub = handle.subscribe();
    let id = ConversationId::new();
    handle.send(Command::SetAgent {
        conversation: id.clone(),
        agent: Some(reader()),
    });
    handle.send(Command::SendMessage {
        conversation: id.clone(),
        text: "run something".into(),
        model: None,
        images: Vec::new(),
    });
    let events = until_done(&sub).await;
    let result = events
        .iter()
        .find_map(|e| match e {
            EngineEvent::ToolResult {
                name,
                content,
                is_error,
                ..
            } => Some((name.clone(), content.clone(), *is_error)),
            _ => None,
        })
        .expect("the call gets a result");
    assert_eq!(result.0, "run_shell");
    assert!(result.2, "an error result: {result:?}");
    assert!(result.1.contains("not available"), "{result:?}");
    assert!(!marker.exists(), "the command must not have run");

    let reqs = server.requests();
    let first = reqs[0].json();
    assert_eq!(first["model"], "agent-model");
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(first["messages"][0]["content"], "You only read.");
    assert!((first["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    let mut offered = tool_names(&first);
    offered.sort();
    assert_eq!(offered, ["list_dir", "read_file"]);
    // The model is told the call failed.
    let second = reqs[1].json();
    let msgs = second["messages"].as_array().unwrap();
    let tool_msg = msgs.iter().find(|m| m["role"] == "tool").unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("not available")
    );
    handle.send(Command::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_agent_changes_the_next_request_and_the_name_is_stored() {
    let ws = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(data.path()).unwrap();
    let server = ScriptedServer::start(vec![
        openai_answer(&["one"], false),
        openai_answer(&["two"], false),
        openai_answer(&["three"], false),
    ]);
    let handle = start(&server, ws.path(), Some(store.clone()));
    let sub = handle.subscribe();
    let id = ConversationId::new();
    let registry = AgentRegistry::builtin();
    let writer = registry.get("writer").unwrap().profile();
    handle.send(Command::SetAgent {
        conversation: id.clone(),
        agent: Some(writer.clone()),
    });
    handle.send(Command::NewConversation {
        conversation: id.clone(),
    });
    for (text, agent) in [
        ("first", None),
        ("second", Some(Some(reader()))),
        ("third", Some(None)),
    ] {
        if let Some(agent) = agent {
            handle.send(Command::SetAgent {
                conversation: id.clone(),
                agent,
            });
        }
        handle.send(Command::SendMessage {
            conversation: id.clone(),
            text: text.into(),
            model: None,
            images: Vec::new(),
        });
        until_done(&sub).await;
    }
    let reqs: Vec<_> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        reqs[0]["messages"][0]["content"],
        writer.system_prompt.unwrap()
    );
    assert!(tool_names(&reqs[0]).is_empty(), "the writer has no tools");
    assert_eq!(reqs[0]["model"], "engine-model");
    assert_eq!(reqs[1]["messages"][0]["content"], "You only read.");
    assert_eq!(reqs[1]["model"], "agent-model");
    // No agent: the engine's own prompt, model and every tool.
    assert_eq!(reqs[2]["messages"][0]["content"], "engine prompt");
    assert_eq!(reqs[2]["model"], "engine-model");
    assert!(tool_names(&reqs[2]).contains(&"run_shell".to_string()));
    handle.send(Command::Shutdown);
    let key = id.0.clone();
    let conv = store
        .call(move |s| s.conversation(&key))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Each switch is stored; the last one chose no agent.
    assert_eq!(conv.agent, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_profile_sends_the_next_request_elsewhere() {
    let ws = tempfile::tempdir().unwrap();
    let engine_server = ScriptedServer::start(vec![
        openai_answer(&["a"], false),
        openai_answer(&["c"], false),
    ]);
    let profile_server = ScriptedServer::start(vec![openai_answer(&["b"], false)]);
    let handle = start(&engine_server, ws.path(), None);
    let sub = handle.subscribe();
    let id = ConversationId::new();
    let config = rustbot::config::Config::parse(
        &format!(
            "[profiles.local]\nprovider = \"custom\"\nbase_url = \"{}\"\nmodel = \"local-model\"\n",
            profile_server.base_url()
        ),
        std::path::Path::new("config.toml"),
    )
    .unwrap();
    let paths = rustbot::config::Paths::resolve(
        Some(ws.path().join("config.toml")),
        Some(ws.path().join("data")),
    )
    .unwrap();
    let overrides = rustbot::config::Overrides::default();
    let settings = rustbot::config::ResolvedSettings::resolve(config, &overrides, paths).unwrap();
    let local = rustbot::bootstrap::provider_profile(&settings, &overrides, "local").unwrap();
    assert!(rustbot::bootstrap::provider_profile(&settings, &overrides, "nope").is_err());
    for (text, profile) in [
        ("one", None),
        ("two", Some(Some(local.clone()))),
        ("three", Some(None)),
    ] {
        if let Some(profile) = profile {
            handle.send(Command::SetProfile {
                conversation: id.clone(),
                profile,
            });
        }
        handle.send(Command::SendMessage {
            conversation: id.clone(),
            text: text.into(),
            model: None,
            images: Vec::new(),
        });
        until_done(&sub).await;
    }
    let to_engine = engine_server.requests();
    let to_profile = profile_server.requests();
    assert_eq!((to_engine.len(), to_profile.len()), (2, 1));
    assert_eq!(to_engine[0].json()["model"], "engine-model");
    let b = to_profile[0].json();
    assert_eq!(b["model"], "local-model");
    // The history goes along: the profile's request holds the first exchange.
    assert_eq!(b["messages"].as_array().unwrap().len(), 4, "{b}");
    assert_eq!(to_engine[1].json()["model"], "engine-model");
    handle.send(Command::Shutdown);
}
