//! Export of a conversation's selected branch as readable Markdown, with its attached images
//! written beside it as files when it goes to a file.

use std::fmt::Write as _;

use super::conversations::not_found;
use super::error::Result;
use super::{MessageStatus, Role, Store};
use crate::core::markdown::fence_for;

/// A Markdown export and the files it links to.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkdownExport {
    /// The Markdown.
    pub text: String,
    /// Files to write into the folder the links name, in order.
    pub files: Vec<ExportedFile>,
}

/// One attached file of a Markdown export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedFile {
    /// Its name inside the folder (unique in the export; no path separators).
    pub name: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl Store {
    /// The selected branch as readable Markdown: title as H1, one heading per message.
    /// Attached images are named in a line each (there is no file beside stdout to link).
    pub fn export_markdown(&self, conversation_id: &str) -> Result<String> {
        Ok(self.markdown(conversation_id, None)?.text)
    }

    /// The Markdown export to be written as a file: attached images go into `files_dir`
    /// (a folder name beside the `.md`) and are linked from their message.
    pub fn export_markdown_with_files(
        &self,
        conversation_id: &str,
        files_dir: &str,
    ) -> Result<MarkdownExport> {
        self.markdown(conversation_id, Some(files_dir))
    }

    fn markdown(&self, conversation_id: &str, files_dir: Option<&str>) -> Result<MarkdownExport> {
        let conv = self
            .conversation(conversation_id)?
            .ok_or_else(|| not_found(conversation_id))?;
        let mut out = String::new();
        let title = conv.title.as_deref().unwrap_or("Untitled conversation");
        let _ = writeln!(out, "# {}\n", title.trim());
        let mut meta = vec![conv.provider.clone(), conv.model.clone()];
        meta.retain(|s| !s.is_empty());
        meta.push(format_utc(conv.created_at));
        let _ = writeln!(out, "_{}_\n", meta.join(" · "));
        if !conv.system_prompt.trim().is_empty() {
            let _ = writeln!(out, "## System\n\n{}\n", balanced(&conv.system_prompt));
        }
        let mut attached = self.conversation_attachments(conversation_id)?;
        let mut files = Vec::new();
        for m in self.active_path(conversation_id)? {
            let heading = match m.role {
                Role::System if m.is_summary() => "Summary of the earlier messages".to_string(),
                Role::System => "System".to_string(),
                Role::User => "User".to_string(),
                Role::Assistant => match &m.model {
                    Some(model) if !model.is_empty() => format!("Assistant ({model})"),
                    _ => "Assistant".to_string(),
                },
                Role::Tool => match &m.tool_call_id {
                    Some(id) => format!("Tool result ({id})"),
                    None => "Tool result".to_string(),
                },
            };
            let _ = writeln!(out, "## {heading}\n");
            if let Some(reasoning) = m.reasoning.as_deref().filter(|r| !r.trim().is_empty()) {
                let fence = fence_for(reasoning);
                let _ = writeln!(
                    out,
                    "<details><summary>Thinking</summary>\n\n{fence}\n{}\n{fence}\n\n</details>\n",
                    reasoning.trim_end()
                );
            }
            if m.role == Role::Tool {
                // Tool output is raw text; a fence keeps stray Markdown in it from rendering.
                let fence = fence_for(&m.content);
                let _ = writeln!(out, "{fence}\n{}\n{fence}\n", m.content.trim_end());
            } else if !m.content.trim().is_empty() {
                let _ = writeln!(out, "{}\n", balanced(&m.content));
            }
            for a in attached.remove(&m.id).unwrap_or_default() {
                let size = a.data.len();
                match files_dir {
                    Some(dir) => {
                        let name = unique_file_name(&a.name, &files);
                        let link = format!("{}/{}", link_path(dir), link_path(&name));
                        let _ = writeln!(out, "![{}]({link})\n", alt_text(&a.name));
                        files.push(ExportedFile { name, data: a.data });
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "_(attached: {} · {} · {size} bytes; `--output FILE` writes it beside the Markdown)_\n",
                            a.name, a.media_type
                        );
                    }
                }
            }
            if let Some(calls) = &m.tool_calls {
                let pretty = serde_json::from_str::<serde_json::Value>(calls)
                    .and_then(|v| serde_json::to_string_pretty(&v))
                    .unwrap_or_else(|_| calls.clone());
                let fence = fence_for(&pretty);
                let _ = writeln!(out, "**Tool calls**\n\n{fence}json\n{pretty}\n{fence}\n");
            }
            match m.status {
                MessageStatus::Stopped => out.push_str("_(stopped)_\n\n"),
                MessageStatus::Streaming => out.push_str("_(still being written)_\n\n"),
                MessageStatus::Failed => {
                    let error = m.error.as_deref().unwrap_or("unknown error");
                    let _ = writeln!(out, "_(failed: {})_\n", error.trim());
                }
                MessageStatus::Complete => {}
            }
        }
        Ok(MarkdownExport {
            text: format!("{}\n", out.trim_end()),
            files,
        })
    }
}

/// `name` made safe as a file name in the folder (no separators, not hidden) and unique among
/// the files so far ("photo.png", then "photo-2.png").
fn unique_file_name(name: &str, taken: &[ExportedFile]) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    let base = if cleaned.trim().is_empty() {
        "attachment".to_string()
    } else {
        cleaned.to_string()
    };
    let (stem, ext) = match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (base.clone(), String::new()),
    };
    let mut candidate = base;
    let mut n = 1;
    while taken.iter().any(|f| f.name == candidate) {
        n += 1;
        candidate = format!("{stem}-{n}{ext}");
    }
    candidate
}

/// A file name as a Markdown link target: spaces and parentheses escaped.
fn link_path(name: &str) -> String {
    name.replace('%', "%25")
        .replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

/// A file name as image alt text: brackets that would end it taken out.
fn alt_text(name: &str) -> String {
    name.replace(['[', ']'], "")
}

/// The text, trimmed, with a closing fence added if it ends inside a code block (an answer
/// stopped mid-code), so the next heading is not swallowed by the open block.
fn balanced(text: &str) -> String {
    let text = text.trim_end();
    let mut open: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let ticks = t.chars().take_while(|c| *c == '`').count();
        if ticks >= 3 {
            match &open {
                None => open = Some("`".repeat(ticks)),
                Some(f) if ticks >= f.len() && t[ticks..].trim().is_empty() => open = None,
                Some(_) => {}
            }
        }
    }
    match open {
        Some(fence) => format!("{text}\n{fence}"),
        None => text.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM UTC` from unix ms.
fn format_utc(ms: i64) -> String {
    format!("{} UTC", crate::time::format_utc_minutes(ms))
}

#[cfg(test)]
mod tests {
    use super::{ExportedFile, balanced, format_utc, link_path, unique_file_name};

    #[test]
    fn attached_files_get_safe_unique_names_and_links() {
        let taken = vec![ExportedFile {
            name: "photo.png".into(),
            data: Vec::new(),
        }];
        assert_eq!(unique_file_name("photo.png", &taken), "photo-2.png");
        assert_eq!(unique_file_name("../../etc/passwd", &[]), "_.._etc_passwd");
        assert_eq!(unique_file_name(".hidden", &[]), "hidden");
        assert_eq!(unique_file_name("", &[]), "attachment");
        assert_eq!(link_path("my photo (1).png"), "my%20photo%20%281%29.png");
    }

    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_709_210_096_000), "2024-02-29 12:34 UTC");
    }

    #[test]
    fn open_code_block_is_closed() {
        assert_eq!(
            balanced("x\n```rust\nfn a() {}"),
            "x\n```rust\nfn a() {}\n```"
        );
        assert_eq!(balanced("```\na\n```\n"), "```\na\n```");
    }
}
