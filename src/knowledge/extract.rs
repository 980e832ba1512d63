//! A file's text for indexing: text, Markdown, code, CSV, JSON as they are; HTML as its text;
//! PDF as its text by page. Anything else is skipped with the reason.

use std::path::Path;

/// File name extensions read as plain text.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "md",
    "markdown",
    "rst",
    "org",
    "adoc",
    "log",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "toml",
    "yaml",
    "yml",
    "ini",
    "cfg",
    "conf",
    "xml",
    "tex",
    "rs",
    "py",
    "js",
    "mjs",
    "ts",
    "tsx",
    "jsx",
    "go",
    "java",
    "kt",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "cs",
    "rb",
    "php",
    "swift",
    "scala",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "sql",
    "lua",
    "r",
    "jl",
    "hs",
    "ml",
    "ex",
    "exs",
    "erl",
    "clj",
    "dart",
    "vue",
    "svelte",
    "css",
    "scss",
    "proto",
    "graphql",
    "dockerfile",
    "makefile",
];

/// The text of `bytes` read from `path`, or why it is skipped.
pub fn extract(path: &Path, bytes: &[u8]) -> Result<String, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| name.clone());
    match ext.as_str() {
        "pdf" => crate::attachments::pdf_text(bytes),
        "html" | "htm" | "xhtml" => Ok(crate::tools::builtin::html_to_text(bytes, 100)),
        e if TEXT_EXTENSIONS.contains(&e) || name == "readme" || name == "license" => {
            if bytes.contains(&0) {
                return Err("binary content (NUL bytes) in a text-named file".into());
            }
            String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_string())
        }
        "" => Err("no file name extension to tell its kind".into()),
        other => Err(format!("unsupported kind (.{other})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension_and_refusals_with_reasons() {
        assert_eq!(extract(Path::new("a.md"), b"# Hi").unwrap(), "# Hi");
        assert_eq!(
            extract(
                Path::new("x.html"),
                b"<html><body><p>Hello <b>there</b></p></body></html>"
            )
            .unwrap()
            .trim(),
            "Hello **there**"
        );
        assert!(
            extract(Path::new("a.png"), b"\x89PNG")
                .unwrap_err()
                .contains(".png")
        );
        assert!(
            extract(Path::new("a.txt"), b"a\0b")
                .unwrap_err()
                .contains("binary")
        );
        assert!(
            extract(Path::new("a.txt"), &[0xff, 0xfe])
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(extract(Path::new("a.pdf"), b"not a pdf").is_err());
    }
}
