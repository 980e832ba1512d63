//! `rustbot tools`: every tool the model may call, with its source, approval mode and schema.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, runtime};
use crate::tools::{ApprovalPolicy, CliApproval, McpManager, McpOptions, ToolRegistry};

pub(super) fn run(global: &GlobalOpts, json: bool) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let (mut registry, web_search_note) = ToolRegistry::configured(&settings.config.tools);
    let rt = runtime()?;
    let (manager, failures) = rt.block_on(McpManager::start(
        &settings.config.mcp_servers,
        McpOptions::default(),
    ));
    manager.register_into(&mut registry);
    let policy = ApprovalPolicy::new(settings.config.tools.approval.clone(), CliApproval::Ask);
    let list = registry.list(&policy);
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for t in &list {
            println!(
                "{}\t{}\t{:?}\n  {}\n  schema: {}",
                t.name, t.source, t.approval, t.description, t.parameters
            );
        }
    }
    if let Some(note) = web_search_note {
        eprintln!("{note}");
    }
    for f in &failures {
        eprintln!(
            "warning: MCP server {} is not available: {}",
            f.server, f.error
        );
    }
    rt.block_on(manager.shutdown());
    Ok(ExitCode::SUCCESS)
}
