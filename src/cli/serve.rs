//! `rustbot serve`: CLI glue around `server::http` (listen address, token, signals).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use crate::bootstrap::{self, DoorOptions};
use crate::cli::GlobalOpts;
use crate::config::secrets::{self, Secret};
use crate::engine::Command;
use crate::server::http::{AppState, serve};
use crate::server::limits::generate_token;
use crate::tools::ToolFilter;

/// The variable (and `secrets.env` entry) holding the bearer token.
pub const TOKEN_VAR: &str = "RUSTBOT_SERVE_TOKEN";

pub(super) fn run(global: &GlobalOpts, listen: Option<String>) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let serve_settings = settings.config.serve.clone();
    let listen = listen.unwrap_or_else(|| serve_settings.listen.clone());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: expected an address like 127.0.0.1:8080"))?;
    let tools: ToolFilter = serve_settings
        .tools
        .parse()
        .map_err(|e| anyhow::anyhow!("[serve] tools: {e}"))?;
    let token = if serve_settings.require_token || !addr.ip().is_loopback() {
        Some(token(&settings.paths.secrets_file())?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    rt.block_on(async move {
        let started = bootstrap::start(
            &settings,
            DoorOptions {
                // API clients name their own conversations.
                titles: false,
                refresh_models: false,
                remote: true,
                tools,
                approve: serve_settings.approve.into(),
                workspace: None,
                store: true,
            },
        )
        .await?;
        for failure in &started.mcp_failures {
            eprintln!("warning: MCP server {}: {}", failure.server, failure.error);
        }
        let provider = started.provider.clone();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("could not listen on {addr}"))?;
        let bound = listener.local_addr()?;
        let engine = started.engine.clone();
        let state = Arc::new(
            AppState::new(
                started.engine,
                provider,
                settings.model.clone(),
                token,
                serve_settings,
            )
            .with_embeddings(started.knowledge)
            .with_rerank_model(settings.config.knowledge.rerank_model.clone()),
        );
        eprintln!("rustbot serve: listening on http://{bound} (OpenAI-compatible API at /v1)");
        serve(listener, state, shutdown_signal()).await?;
        engine.send(Command::Shutdown);
        eprintln!("rustbot serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The stored token, or a new one saved to `secrets.env` and printed this once.
fn token(secrets_file: &std::path::Path) -> anyhow::Result<Secret> {
    if let Some(existing) = secrets::key_from_env(TOKEN_VAR) {
        return Ok(existing);
    }
    let fresh = Secret::new(generate_token());
    secrets::save_secret(secrets_file, TOKEN_VAR, &fresh)?;
    eprintln!(
        "rustbot serve: generated a bearer token (shown only now; kept as {TOKEN_VAR} in {}):\n{}",
        secrets_file.display(),
        fresh.expose()
    );
    Ok(fresh)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
