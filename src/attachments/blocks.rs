//! Text attachments inside a message: each goes in as a fenced block headed by the file
//! name, after the user's words; the chat view splits them out again to show them folded.

use super::Attachment;
use crate::core::markdown::fence_for;

/// `text` as a fenced block headed by the file name; the fence is longer than any run of
/// backticks inside, so the file cannot close it early.
pub fn fenced(name: &str, text: &str) -> String {
    let fence = fence_for(text);
    let body = text.strip_suffix('\n').unwrap_or(text);
    format!("{name}\n{fence}\n{body}\n{fence}")
}

/// The user's text with the text attachments appended, one block each.
pub fn message_text(text: &str, attachments: &[Attachment]) -> String {
    let mut out = text.to_string();
    for a in attachments {
        if let Attachment::Text { block, .. } = a {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(block);
        }
    }
    out
}

/// A text attachment found in a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBlock<'a> {
    /// The file's name (the line above the fence).
    pub name: &'a str,
    /// The file's text (inside the fence).
    pub body: &'a str,
}

/// Splits a message built by [`message_text`] into the user's words and the text attachments
/// after them, in order. A block counts only in exactly the shape `fenced` writes (name line,
/// fence line, body, the same fence last) under a name with an extension and no spaces, so
/// typed Markdown ("Look:" over a code block) stays words; a file whose name has spaces is
/// then shown as words too, which loses nothing.
pub fn split_text_blocks(text: &str) -> (&str, Vec<TextBlock<'_>>) {
    let mut rest = text;
    let mut blocks = Vec::new();
    while let Some((before, block)) = last_block(rest) {
        blocks.push(block);
        rest = before;
    }
    blocks.reverse();
    (rest, blocks)
}

/// The last block of `text` and what comes before it (without the blank line between).
fn last_block(text: &str) -> Option<(&str, TextBlock<'_>)> {
    let closing_start = text.rfind('\n')? + 1;
    let fence = &text[closing_start..];
    if fence.len() < 3 || !fence.bytes().all(|b| b == b'`') {
        return None;
    }
    // The body holds no run of backticks as long as the fence, so the opening fence is the
    // nearest line before that is exactly the fence.
    let inner = &text[..closing_start - 1];
    let opening = format!("\n{fence}\n");
    let open_at = inner.rfind(&opening).or_else(|| {
        // An empty body: the opening fence sits right before the closing one.
        inner
            .ends_with(&opening[..opening.len() - 1])
            .then(|| inner.len() + 1 - opening.len())
    })?;
    let body_start = (open_at + opening.len()).min(closing_start - 1);
    let body = &text[body_start..closing_start - 1];
    if body.contains(fence) {
        return None;
    }
    let head = &text[..open_at];
    let name_start = head.rfind('\n').map_or(0, |i| i + 1);
    let name = &head[name_start..];
    if !looks_like_file_name(name) {
        return None;
    }
    let before = &head[..name_start];
    let before = if before.is_empty() {
        before
    } else {
        before.strip_suffix("\n\n")?
    };
    Some((before, TextBlock { name, body }))
}

/// `name.ext`: no whitespace, an extension of 1 to 10 letters or digits.
fn looks_like_file_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && !name.chars().any(char::is_whitespace)
        && (1..=10).contains(&ext.len())
        && ext.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, block: &str) -> Attachment {
        Attachment::Text {
            name: name.into(),
            block: fenced(name, block),
        }
    }

    #[test]
    fn a_message_splits_back_into_the_words_and_its_files() {
        let files = [
            text("notes.md", "# Title\n\nA ``` fence inside\n"),
            text("data.csv", "a,b\n1,2"),
        ];
        let message = message_text("Compare these.\n\nPlease.", &files);
        let (words, blocks) = split_text_blocks(&message);
        assert_eq!(words, "Compare these.\n\nPlease.");
        assert_eq!(
            blocks,
            vec![
                TextBlock {
                    name: "notes.md",
                    body: "# Title\n\nA ``` fence inside"
                },
                TextBlock {
                    name: "data.csv",
                    body: "a,b\n1,2"
                },
            ]
        );
    }

    #[test]
    fn files_alone_and_empty_files_split_too() {
        let message = message_text("", &[text("empty.txt", ""), text("b.txt", "x")]);
        let (words, blocks) = split_text_blocks(&message);
        assert_eq!(words, "");
        assert_eq!(blocks.len(), 2, "{message:?}");
        assert_eq!(blocks[0].name, "empty.txt");
        assert_eq!(blocks[0].body, "");
        assert_eq!(blocks[1].body, "x");
    }

    #[test]
    fn ordinary_markdown_stays_words() {
        for message in [
            "```rust\nfn main() {}\n```",
            "plain words",
            "```",
            "a\n```\n```",
            "Look:\n```\ncode\n```",
            "Look at main.rs\n```\ncode\n```",
            "Error\n```\ntrace\n```",
        ] {
            let (words, blocks) = split_text_blocks(message);
            assert!(blocks.is_empty(), "{message:?} gave {blocks:?}");
            assert_eq!(words, message);
        }
    }
}
