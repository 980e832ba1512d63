//! `rustbot native-host`: CLI glue around `server::native` (origin check, stdin/stdout) and
//! `server::install`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::bootstrap::{self, DoorOptions};
use crate::cli::{GlobalOpts, runtime};
use crate::engine::Command;
use crate::server::install::{self, Browser};
use crate::server::native::{self, Host, NativeError, caller_origin};
use crate::tools::ToolFilter;

/// `rustbot native-host install`.
#[derive(Debug, Subcommand)]
pub enum NativeHostCommand {
    /// Write the host manifest for a browser, and the launcher it starts.
    Install {
        /// The browser.
        #[arg(long, value_enum)]
        browser: Browser,
        /// The extension's id (Chrome: 32 letters; Firefox: e.g. rustbot@example.org).
        #[arg(long)]
        extension_id: String,
        /// Folder for the manifest (default: where the browser looks for user manifests).
        #[arg(long)]
        manifest_dir: Option<PathBuf>,
    },
}

pub(super) fn run(
    global: &GlobalOpts,
    command: Option<NativeHostCommand>,
    args: Vec<String>,
) -> anyhow::Result<ExitCode> {
    if let Some(NativeHostCommand::Install {
        browser,
        extension_id,
        manifest_dir,
    }) = command
    {
        return install(global, browser, &extension_id, manifest_dir);
    }
    let settings = global.resolve()?;
    let host_settings = settings.config.native_host.clone();
    let origin = caller_origin(&args).unwrap_or_default();
    if !host_settings.allows(&origin) {
        // Stdout carries frames only: the refusal is one error frame, the reason on stderr.
        let error = NativeError::OriginRefused(origin);
        let frame = serde_json::json!({"id": null, "event": "error",
            "error": {"code": "origin_refused", "message": error.to_string()}});
        runtime()?.block_on(crate::server::framing::write_frame(
            &mut tokio::io::stdout(),
            frame.to_string().as_bytes(),
        ))?;
        return Err(error.into());
    }
    let tools: ToolFilter = host_settings
        .tools
        .parse()
        .map_err(|e| anyhow::anyhow!("[native_host] tools: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
                approve: host_settings.approve.into(),
                workspace: None,
                store: true,
            },
        )
        .await?;
        for failure in &started.mcp_failures {
            eprintln!("warning: MCP server {}: {}", failure.server, failure.error);
        }
        let host = Arc::new(Host {
            engine: started.engine.clone(),
            store: started.store.clone(),
            provider: started.provider.clone(),
            default_model: settings.model.clone(),
            knowledge: Some(started.knowledge.clone()),
            data_dir: Some(settings.paths.data_dir.clone()),
            started: std::time::Instant::now(),
            limiter: crate::server::limits::RateLimiter::new(host_settings.requests_per_minute),
            parameters: std::sync::Mutex::new((&host_settings.parameters).into()),
            config_file: Some(settings.paths.config_file.clone()),
            local: (settings.provider.kind == crate::llm::ProviderKind::Local)
                .then(|| settings.provider.local.clone()),
            rerank_model: settings.config.knowledge.rerank_model.clone(),
            chats: Arc::new(tokio::sync::Semaphore::new(
                host_settings.max_concurrent.clamp(1, 64),
            )),
        });
        let result = native::run(host, tokio::io::stdin(), tokio::io::stdout()).await;
        started.engine.send(Command::Shutdown);
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

fn install(
    global: &GlobalOpts,
    browser: Browser,
    extension_id: &str,
    manifest_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let settings = global.resolve()?;
    let manifest_dir = match manifest_dir {
        Some(d) => d,
        None => install::manifest_dir(browser)?,
    };
    let exe = std::env::current_exe().context("could not find the rustbot executable")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let installed = install::install(
        browser,
        extension_id,
        &manifest_dir,
        &absolute(&settings.paths.data_dir.join("native-host")),
        &exe,
        &absolute(&settings.paths.config_file),
        &absolute(&settings.paths.data_dir),
    )?;
    println!("manifest: {}", installed.manifest.display());
    println!("launcher: {}", installed.launcher.display());
    if !settings.config.native_host.allows(&installed.origin) {
        println!(
            "next: add \"{}\" to allowed_origins in the [native_host] table of {}",
            installed.origin,
            settings.paths.config_file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
