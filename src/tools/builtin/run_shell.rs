//! `run_shell`: runs `sh -c COMMAND` in the workspace, in its own process group so that a
//! timeout, a Stop or the end of the command kills everything it started.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::{str_arg, u64_arg, workspace};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Runs a shell command in the workspace; needs approval.
#[derive(Debug, Clone)]
pub struct RunShell {
    /// Most bytes kept of stdout and of stderr, each.
    pub max_output_bytes: usize,
}

impl Default for RunShell {
    fn default() -> Self {
        Self {
            max_output_bytes: 64 * 1024,
        }
    }
}

/// Kills a process group when dropped, so an abandoned call (the registry's timeout, a
/// dropped future) leaves no processes behind.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: killpg only sends a signal; a stale pgid yields ESRCH, which we ignore.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

enum End {
    Exited(std::process::ExitStatus),
    TimedOut,
    Cancelled,
}

#[async_trait]
impl Tool for RunShell {
    fn name(&self) -> &str {
        "run_shell"
    }

    fn description(&self) -> &str {
        "Run a command with `sh -c` in the workspace directory. Returns exit code, stdout and stderr (capped). Processes left in the background are killed when the command ends."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The shell command line"},
                "timeout_secs": {"type": "integer", "description": "Time limit in seconds (capped by the configured limit)"}
            },
            "required": ["command"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        true
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let command = str_arg(&args, "command")?;
        let timeout = u64_arg(&args, "timeout_secs").map_or(ctx.timeout, |s| {
            Duration::from_secs(s.max(1)).min(ctx.timeout)
        });
        let ws = workspace(ctx)?;
        let mut shell = Command::new("sh");
        // The model's commands never see the API keys or the serve token.
        for var in crate::config::secrets::SECRET_VARS {
            shell.env_remove(var);
        }
        let mut child = shell
            .arg("-c")
            .arg(command)
            .current_dir(ws.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ToolError::Failed(format!("cannot start sh: {e}")))?;
        // process_group(0) makes the child the leader: its pid is the group id.
        let mut guard = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
        let cap = self.max_output_bytes;
        let out = child
            .stdout
            .take()
            .map(|s| tokio::spawn(read_capped(s, cap)));
        let err = child
            .stderr
            .take()
            .map(|s| tokio::spawn(read_capped(s, cap)));

        let end = tokio::select! {
            status = child.wait() => match status {
                Ok(s) => End::Exited(s),
                Err(e) => return Err(ToolError::Failed(format!("waiting for sh: {e}"))),
            },
            _ = tokio::time::sleep(timeout) => End::TimedOut,
            _ = ctx.cancel.cancelled() => End::Cancelled,
        };
        // Whatever way it ended, nothing of the group may outlive the call; this also
        // closes pipes held by background children so the readers reach EOF. (Once sh is
        // reaped its pgid could in theory be recycled, but only after every member is gone
        // and the pid space wrapped, within these microseconds.)
        guard.kill();
        if !matches!(end, End::Exited(_)) {
            let _ = child.wait().await;
        }
        let stdout = collect(out).await;
        let stderr = collect(err).await;

        let head = match end {
            End::Exited(s) => match s.code() {
                Some(code) => format!("exit code: {code}"),
                None => "killed by a signal".to_string(),
            },
            End::TimedOut => format!(
                "timed out after {} s; the command was killed",
                timeout.as_secs()
            ),
            End::Cancelled => "stopped by the user; the command was killed".to_string(),
        };
        let text = format!("{head}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Ok(match end {
            End::Exited(_) => ToolOutput::text(text),
            _ => ToolOutput::error(text),
        })
    }
}

/// Reads a pipe to its end, keeping the first `cap` bytes: the rest is drained so the
/// writer never blocks on a full pipe.
async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> (Vec<u8>, usize) {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, total)
}

async fn collect(handle: Option<JoinHandle<(Vec<u8>, usize)>>) -> String {
    let Some(handle) = handle else {
        return String::new();
    };
    // A process that left the group (setsid) could hold the pipe open forever.
    match tokio::time::timeout(Duration::from_secs(2), handle).await {
        Ok(Ok((bytes, total))) => {
            let mut s = String::from_utf8_lossy(&bytes).into_owned();
            if total > bytes.len() {
                s.push_str(&format!(
                    "\n[truncated: {} of {total} bytes shown]",
                    bytes.len()
                ));
            }
            s
        }
        _ => "[output unavailable]".to_string(),
    }
}
