//! Code-fence languages as the highlighter knows them. Models write ```` ```rust ````,
//! ```` ```python ```` or ```` ```bash ````; egui_extras' syntect highlighter (which caches its
//! work between frames, unlike egui_commonmark's own, which re-highlighted every code block of
//! a streaming answer on every frame) looks a fence up by syntax name or file extension only,
//! so the common spellings are mapped to the extension before the text is shown.

use std::borrow::Cow;

/// The file extension syntect's default syntaxes know for a fence's language word, when the
/// word itself is not one.
fn extension_for(language: &str) -> Option<&'static str> {
    let lower = language.to_ascii_lowercase();
    Some(match lower.as_str() {
        "rust" => "rs",
        "python" | "python3" | "py3" => "py",
        "javascript" | "node" | "jsx" | "typescript" | "ts" | "tsx" | "mjs" | "cjs" => "js",
        "c++" | "cxx" | "hpp" => "cpp",
        "csharp" | "c#" => "cs",
        "golang" => "go",
        "shell" | "bash" | "zsh" | "console" | "shellscript" | "sh-session" => "sh",
        "ruby" => "rb",
        "markdown" => "md",
        "yml" => "yaml",
        "objective-c" | "objc" => "m",
        "perl" => "pl",
        "haskell" => "hs",
        "makefile" | "make" => "mk",
        "latex" => "tex",
        "dockerfile" | "docker" => "sh",
        "kotlin" => "scala",
        "ocaml" => "ml",
        "erlang" => "erl",
        "clojure" => "clj",
        "rst" | "restructuredtext" => "rst",
        _ => return None,
    })
}

/// `text` with each opening fence's language replaced by the extension the highlighter knows;
/// borrowed unchanged when there is nothing to replace.
pub fn normalize_fences(text: &str) -> Cow<'_, str> {
    if !text.contains("```") && !text.contains("~~~") {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    let mut copied_to = 0;
    let mut in_fence: Option<(char, usize)> = None;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let marker = rest.chars().next().filter(|c| *c == '`' || *c == '~');
        if indent <= 3
            && let Some(mark) = marker
        {
            let run = rest.len() - rest.trim_start_matches(mark).len();
            if run >= 3 {
                match in_fence {
                    // A closing fence: the same mark, at least as long, nothing after it.
                    Some((open_mark, open_run))
                        if mark == open_mark
                            && run >= open_run
                            && rest[run..].trim().is_empty() =>
                    {
                        in_fence = None;
                    }
                    Some(_) => {}
                    None => {
                        in_fence = Some((mark, run));
                        let info = &rest[run..];
                        let word_start = info.len() - info.trim_start().len();
                        let word = info.split_whitespace().next().unwrap_or("");
                        if let Some(ext) = extension_for(word) {
                            let at = line_start + indent + run + word_start;
                            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                            buf.push_str(&text[copied_to..at]);
                            buf.push_str(ext);
                            copied_to = at + word.len();
                        }
                    }
                }
            }
        }
        line_start += line.len();
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&text[copied_to..]);
            Cow::Owned(buf)
        }
        None => Cow::Borrowed(text),
    }
}

/// Loads syntect's syntaxes and themes on a thread of its own once the window is up, so the
/// first code block of the first answer does not stall a frame with it (tens of ms). Patterns
/// are compiled on first use; with Oniguruma that is 2–4 ms for a language's first block
/// (`examples/highlight_rss.rs`), so they are not warmed here: each language warmed would
/// keep ~1 MB resident in a window that may never show it.
pub fn warm_highlighter(ctx: &egui::Context) {
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("rustbot-highlighter".into())
        .spawn(move || {
            // The load holds egui's context lock: wait until the first frames are painted.
            std::thread::sleep(std::time::Duration::from_millis(500));
            let style = ctx.global_style();
            let theme = egui_extras::syntax_highlighting::CodeTheme::from_style(&style);
            let _ = egui_extras::syntax_highlighting::highlight(&ctx, &style, &theme, "", "rs");
        });
    if let Err(e) = spawned {
        tracing::debug!("the highlighter is loaded on first use instead: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::{extension_for, normalize_fences};

    #[test]
    fn common_language_names_become_extensions() {
        let text = "Try:\n\n```rust\nfn main() {}\n```\n\n```Python title=x\nprint(1)\n```\n";
        assert_eq!(
            normalize_fences(text),
            "Try:\n\n```rs\nfn main() {}\n```\n\n```py title=x\nprint(1)\n```\n"
        );
    }

    #[test]
    fn known_extensions_plain_text_and_code_inside_fences_stay() {
        for text in [
            "no code at all",
            "```rs\nlet a = 1;\n```\n",
            "```\nplain\n```\n",
            "````md\n```rust\ninside a fence\n```\n````\n",
            "    ```rust\nan indented code block, not a fence\n",
        ] {
            assert!(
                matches!(normalize_fences(text), std::borrow::Cow::Borrowed(_)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_fence_still_streaming_in_is_mapped_too() {
        assert_eq!(normalize_fences("~~~bash\nls -"), "~~~sh\nls -");
        assert_eq!(normalize_fences("```ty"), "```ty", "a partial word is left");
    }

    #[test]
    fn mapped_extensions_are_ones_syntect_knows() {
        let syntaxes = egui_extras::syntax_highlighting::SyntectSettings::default().ps;
        for word in [
            "rust", "python", "bash", "golang", "c++", "yml", "ruby", "haskell",
        ] {
            let ext = extension_for(word).unwrap_or_default();
            assert!(
                syntaxes.find_syntax_by_extension(ext).is_some(),
                "{word} -> {ext}"
            );
        }
    }
}
