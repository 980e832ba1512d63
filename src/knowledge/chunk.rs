//! Splitting a document into chunks on its structure: Markdown headings start sections, blank
//! lines end paragraphs, fenced code stays whole; blocks are packed up to the chunk size, and
//! each chunk starts with the last block of the one before when that block is small (overlap).

/// One piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, inclusive.
    pub end_line: usize,
    /// The headings above it, outermost first ("Setup > Install").
    pub heading: String,
    /// Its text.
    pub text: String,
}

/// A run of lines that belongs together.
#[derive(Debug, Clone)]
struct Block {
    start: usize,
    end: usize,
    heading: String,
    text: String,
}

/// Splits `text` into chunks of about `chunk_tokens` tokens (4 bytes a token).
pub fn chunk(text: &str, chunk_tokens: usize) -> Vec<Chunk> {
    let max_bytes = chunk_tokens.max(16) * 4;
    let blocks = blocks(text, max_bytes);
    let mut out: Vec<Chunk> = Vec::new();
    let mut current: Vec<Block> = Vec::new();
    let mut size = 0;
    for block in blocks {
        let new_section = current
            .last()
            .is_some_and(|last| last.heading != block.heading);
        if !current.is_empty() && (size + block.text.len() > max_bytes || new_section) {
            out.push(join(&current));
            // Overlap: a small last block opens the next chunk too (not across sections).
            let carry = current
                .pop()
                .filter(|last| !new_section && last.text.len() * 4 <= max_bytes);
            current.clear();
            size = 0;
            if let Some(last) = carry {
                size = last.text.len();
                current.push(last);
            }
        }
        size += block.text.len();
        current.push(block);
    }
    if !current.is_empty() {
        out.push(join(&current));
    }
    out
}

fn join(blocks: &[Block]) -> Chunk {
    Chunk {
        start_line: blocks.first().map_or(1, |b| b.start),
        end_line: blocks.last().map_or(1, |b| b.end),
        heading: blocks.last().map(|b| b.heading.clone()).unwrap_or_default(),
        text: blocks
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

/// Paragraphs, headings and fenced code as blocks; a block over `max_bytes` is cut by lines.
fn blocks(text: &str, max_bytes: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut start = 1;
    let mut in_fence = false;
    let path = |headings: &[(usize, String)]| {
        headings
            .iter()
            .map(|(_, h)| h.as_str())
            .collect::<Vec<_>>()
            .join(" > ")
    };
    let flush = |lines: &mut Vec<&str>, start: usize, heading: String, out: &mut Vec<Block>| {
        if lines.iter().all(|l| l.trim().is_empty()) {
            lines.clear();
            return;
        }
        let mut first = start;
        let mut piece: Vec<&str> = Vec::new();
        let mut bytes = 0;
        for (i, line) in lines.iter().enumerate() {
            if bytes + line.len() > max_bytes && !piece.is_empty() {
                out.push(Block {
                    start: first,
                    end: start + i - 1,
                    heading: heading.clone(),
                    text: piece.join("\n"),
                });
                piece.clear();
                bytes = 0;
                first = start + i;
            }
            bytes += line.len() + 1;
            piece.push(line);
        }
        out.push(Block {
            start: first,
            end: start + lines.len() - 1,
            heading,
            text: piece.join("\n"),
        });
        lines.clear();
    };
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            if !in_fence && !lines.is_empty() {
                flush(&mut lines, start, path(&headings), &mut out);
            }
            if lines.is_empty() {
                start = number;
            }
            lines.push(line);
            in_fence = !in_fence;
            if !in_fence {
                flush(&mut lines, start, path(&headings), &mut out);
            }
            continue;
        }
        if in_fence {
            lines.push(line);
            continue;
        }
        if let Some(level) = heading_level(trimmed) {
            flush(&mut lines, start, path(&headings), &mut out);
            headings.retain(|(l, _)| *l < level);
            headings.push((level, trimmed[level..].trim().to_string()));
            start = number;
            lines.push(line);
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut lines, start, path(&headings), &mut out);
            continue;
        }
        if lines.is_empty() {
            start = number;
        }
        lines.push(line);
    }
    flush(&mut lines, start, path(&headings), &mut out);
    out
}

/// The level of a Markdown ATX heading (`## x` → 2).
fn heading_level(line: &str) -> Option<usize> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    ((1..=6).contains(&level) && line[level..].starts_with(' ')).then_some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_paragraphs_and_code_keep_their_lines_and_headings() {
        let doc = "# Guide\n\nIntro text.\n\n## Install\n\nRun this:\n\n```sh\ncargo install x\n\nmore\n```\n\n## Use\n\nCall it.\n";
        let chunks = chunk(doc, 300);
        let summary: Vec<_> = chunks
            .iter()
            .map(|c| (c.start_line, c.end_line, c.heading.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, 3, "Guide"),
                (5, 13, "Guide > Install"),
                (15, 17, "Guide > Use")
            ]
        );
        assert!(
            chunks[1].text.contains("cargo install x\n\nmore"),
            "fence whole"
        );
    }

    #[test]
    fn long_text_is_packed_to_size_with_overlap() {
        let doc: String = (0..40)
            .map(|i| format!("Paragraph {i} {}\n\n", "word ".repeat(30)))
            .collect();
        let chunks = chunk(&doc, 200);
        assert!(chunks.len() > 5);
        assert!(chunks.iter().all(|c| c.text.len() <= 200 * 4 + 200));
        // Each chunk after the first starts with the paragraph the previous one ended with.
        let last_of_first = chunks[0].text.split("\n\n").last().unwrap();
        assert!(chunks[1].text.starts_with(last_of_first));
        // One long line-less block is cut by lines, never lost.
        let long: String = (0..200).map(|i| format!("line {i}\n")).collect();
        let cut = chunk(&long, 50);
        assert!(cut.len() > 3);
        assert_eq!(cut.last().unwrap().end_line, 200);
        assert!(cut.iter().any(|c| c.text.contains("line 199")));
    }
}
