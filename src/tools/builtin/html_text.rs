//! HTML to plain text for `http_get`, safe on hostile pages.
//!
//! html2text renders well but walks the document tree it builds; a page nested thousands of
//! levels deep (unclosed table cells, say) could exhaust the stack, and a stack overflow
//! aborts the process. So the nesting is measured first, in one pass with no recursion:
//! ordinary pages go to html2text, on a thread with a stack of its own; a page nested deeper
//! than `MAX_DEPTH` is turned into text by a flat tag stripper instead.

/// Deepest nesting handed to html2text (browsers cap the DOM at 512).
const MAX_DEPTH: usize = 256;
/// Stack of the thread html2text runs on.
const RENDER_STACK: usize = 16 * 1024 * 1024;

/// The text of an HTML page, wrapped at `width` columns where html2text renders it.
pub fn html_to_text(html: &[u8], width: usize) -> String {
    if nesting_depth(html) > MAX_DEPTH {
        return strip_tags(&String::from_utf8_lossy(html));
    }
    let owned = html.to_vec();
    let rendered = std::thread::Builder::new()
        .name("html2text".into())
        .stack_size(RENDER_STACK)
        .spawn(move || html2text::from_read(owned.as_slice(), width).ok())
        .ok()
        .and_then(|h| h.join().ok())
        .flatten();
    rendered.unwrap_or_else(|| strip_tags(&String::from_utf8_lossy(html)))
}

/// Elements that never have content, so never nest.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// The deepest run of open tags not yet closed (an upper bound for the tree's depth, since a
/// parser may close tags early but never opens more than it is given).
fn nesting_depth(html: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(offset) = memchr::memchr(b'<', &html[i..]) {
        let start = i + offset + 1;
        let end = memchr::memchr(b'>', &html[start..]).map_or(html.len(), |e| start + e);
        let tag = &html[start..end];
        i = (end + 1).min(html.len());
        match tag.first() {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b'!' | b'?') | None => {}
            Some(c) if c.is_ascii_alphabetic() => {
                let name: String = tag
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .map(|c| c.to_ascii_lowercase() as char)
                    .collect();
                if !tag.ends_with(b"/") && !VOID.contains(&name.as_str()) {
                    depth += 1;
                    max = max.max(depth);
                }
            }
            Some(_) => {}
        }
        if i >= html.len() {
            break;
        }
    }
    max
}

/// Text without tags, scripts and styles, block ends as line breaks, common entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&decode_entities(&rest[..lt]));
        }
        let after = &rest[lt + 1..];
        let gt = after.find('>').unwrap_or(after.len());
        let tag = after[..gt].trim().to_ascii_lowercase();
        rest = after.get(gt + 1..).unwrap_or("");
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(end) = skip_until {
            if tag.starts_with('/') && name == end {
                skip_until = None;
            }
            continue;
        }
        match name.as_str() {
            "script" | "style" if !tag.starts_with('/') => {
                skip_until = Some(if name == "script" { "script" } else { "style" });
            }
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
            | "table" | "ul" | "ol" | "pre" | "blockquote" | "section" | "article"
                if !out.ends_with('\n') =>
            {
                out.push('\n');
            }
            "td" | "th" => out.push(' '),
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(&decode_entities(rest));
    }
    out
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_open_tags_not_void_ones() {
        assert_eq!(nesting_depth(b"<p>a<br>b<img src=x></p>"), 1);
        assert_eq!(nesting_depth(b"<div><div><span>x</span></div></div>"), 3);
        assert_eq!(nesting_depth(b"<!doctype html><p>x"), 1);
        assert_eq!(nesting_depth(b"<"), 0);
        assert_eq!(nesting_depth(b"a < b and c > d"), 0);
    }

    #[test]
    fn a_hostile_deeply_nested_page_gives_text_not_a_crash() {
        let mut html = String::from("<html><body>");
        for _ in 0..100_000 {
            html.push_str("<table><tr><td>");
        }
        html.push_str("deep words");
        let text = html_to_text(html.as_bytes(), 100);
        assert!(
            text.contains("deep words"),
            "{}",
            &text[..text.len().min(200)]
        );
    }

    #[test]
    fn ordinary_pages_go_through_html2text() {
        let text = html_to_text(
            b"<html><body><h1>Title</h1><script>x()</script><p>A &amp; B</p></body></html>",
            80,
        );
        assert!(text.contains("Title") && text.contains("A & B"), "{text}");
        assert!(!text.contains("x()"), "{text}");
    }

    #[test]
    fn the_stripper_drops_scripts_and_keeps_text() {
        let text = strip_tags("<p>one</p><script>evil()</script><td>two<td>three &lt;4&gt;");
        assert!(text.contains("one") && text.contains("two") && text.contains("<4>"));
        assert!(!text.contains("evil"));
    }
}
