//! `[n]` in an answer as a link to its source: the n-th of OpenRouter's URL citations, else
//! the n-th result of the turn's last `web_search` call (whose numbered list the model cites).

use std::borrow::Cow;

use crate::ui::view_model::MessageVm;

/// The answer's sources in citation order: `[1]` is the first.
pub fn sources(msg: &MessageVm) -> Vec<String> {
    if !msg.citations.is_empty() {
        return msg.citations.iter().map(|c| c.url.clone()).collect();
    }
    msg.tools
        .iter()
        .rev()
        .filter(|call| call.name == "web_search")
        .find_map(|call| call.result.as_deref())
        .map(numbered_results)
        .unwrap_or_default()
}

/// The URLs of a `web_search` result, by number: each `[n] title` line is followed by its
/// URL on the next line.
fn numbered_results(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(n) = marker_number(line) else {
            continue;
        };
        let Some(url) = lines
            .next()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        else {
            continue;
        };
        if n == out.len() + 1 {
            out.push(url.to_string());
        }
    }
    out
}

/// `n` when `line` starts with `[n] `.
fn marker_number(line: &str) -> Option<usize> {
    let rest = line.strip_prefix('[')?;
    let (digits, after) = rest.split_once(']')?;
    if !after.starts_with(' ') || digits.is_empty() || digits.len() > 3 {
        return None;
    }
    digits.parse().ok()
}

/// `text` with each `[n]` that has a source turned into a Markdown link `[[n]](<url>)`; code
/// (fenced blocks and inline spans) and existing links are left alone.
pub fn link_citations<'a>(text: &'a str, sources: &[String]) -> Cow<'a, str> {
    if sources.is_empty() || !text.contains('[') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_fence = false;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_fence = !in_fence;
            out.push_str(line);
            continue;
        }
        if in_fence {
            out.push_str(line);
            continue;
        }
        link_line(line, sources, &mut out);
    }
    Cow::Owned(out)
}

fn link_line(line: &str, sources: &[String], out: &mut String) {
    let mut in_code = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            in_code = !in_code;
        }
        if c == '['
            && !in_code
            && let Some((n, len)) = citation_at(rest)
            && let Some(url) = sources.get(n - 1)
            // An angle-bracket destination takes `)` and the like; these it cannot.
            && !url.contains(|c: char| c == '<' || c == '>' || c.is_whitespace())
        {
            out.push_str(&format!("[\\[{n}\\]](<{url}>)"));
            rest = &rest[len..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
}

/// `(n, length)` when `s` starts with `[n]` not followed by `(` or `:` (already a link or a
/// link definition).
fn citation_at(s: &str) -> Option<(usize, usize)> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find(']')?;
    let digits = &inner[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = &inner[end + 1..];
    if after.starts_with('(') || after.starts_with(':') {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    (n >= 1).then_some((n, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_with_a_source_become_links_and_the_rest_stay() {
        let sources = urls(&["https://a.example/", "https://b.example/"]);
        assert_eq!(
            link_citations("Rust is fast [1] and safe [2][3].", &sources),
            "Rust is fast [\\[1\\]](<https://a.example/>) and safe [\\[2\\]](<https://b.example/>)[3]."
        );
        assert_eq!(
            link_citations("see [1](https://x/) and [1]: https://y/", &sources),
            "see [1](https://x/) and [1]: https://y/"
        );
        assert_eq!(
            link_citations("`a[1]` then\n```\nv[1]\n```\n[1]", &sources),
            "`a[1]` then\n```\nv[1]\n```\n[\\[1\\]](<https://a.example/>)"
        );
        assert_eq!(link_citations("[0] [x] [1234]", &sources), "[0] [x] [1234]");
        assert!(matches!(link_citations("[1]", &[]), Cow::Borrowed(_)));
    }

    #[test]
    fn web_search_results_are_numbered_as_the_model_saw_them() {
        let text = crate::tools::builtin::format_hits(
            "rust",
            &[
                crate::tools::builtin::SearchHit {
                    title: "One".into(),
                    url: "https://one.example/".into(),
                    snippet: "first".into(),
                    engine: "searxng".into(),
                    date: None,
                },
                crate::tools::builtin::SearchHit {
                    title: "Two".into(),
                    url: "https://two.example/".into(),
                    snippet: String::new(),
                    engine: "searxng".into(),
                    date: Some("2026-01-01".into()),
                },
            ],
            5,
        );
        assert_eq!(
            numbered_results(&text),
            urls(&["https://one.example/", "https://two.example/"])
        );
    }
}
