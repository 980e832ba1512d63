//! `system_info`: OS, architecture, CPU count and memory, read from std and /proc (no
//! extra crate: this is all the model needs to pick the right shell commands).

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Describes the machine Rustbot runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemInfo;

#[async_trait]
impl Tool for SystemInfo {
    fn name(&self) -> &str {
        "system_info"
    }

    fn description(&self) -> &str {
        "Describe this machine: operating system, CPU architecture, CPU count and memory."
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}})
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }

    async fn call(&self, _args: Value, _ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let os_release = tokio::fs::read_to_string("/etc/os-release")
            .await
            .unwrap_or_default();
        let pretty = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string());
        let kernel = tokio::fs::read_to_string("/proc/sys/kernel/osrelease")
            .await
            .ok()
            .map(|s| s.trim().to_string());
        let meminfo = tokio::fs::read_to_string("/proc/meminfo")
            .await
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let info = json!({
            "os": std::env::consts::OS,
            "os_name": pretty,
            "kernel": kernel,
            "arch": std::env::consts::ARCH,
            "cpu_count": cpus,
            "memory_total_mib": meminfo_mib(&meminfo, "MemTotal:"),
            "memory_available_mib": meminfo_mib(&meminfo, "MemAvailable:"),
        });
        let text =
            serde_json::to_string_pretty(&info).map_err(|e| ToolError::Failed(e.to_string()))?;
        Ok(ToolOutput::text(text))
    }
}

/// A /proc/meminfo field (given in kB) in MiB.
fn meminfo_mib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb / 1024)
}
