//! A PDF's text, page by page with page markers, through lopdf (pure Rust).

/// The text of every page, each after a `[page N]` line; Err(a sentence) when the file cannot
/// be parsed or has no text (a scan, say).
pub fn pdf_text(bytes: &[u8]) -> Result<String, String> {
    let doc =
        lopdf::Document::load_mem(bytes).map_err(|e| format!("the PDF cannot be read ({e})"))?;
    let mut out = String::new();
    for number in doc.get_pages().keys() {
        let text = doc.extract_text(&[*number]).unwrap_or_default();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[page {number}]\n{}", text.trim_end()));
    }
    if out
        .lines()
        .all(|l| l.starts_with("[page ") || l.trim().is_empty())
    {
        return Err("the PDF has no text to extract (a scanned document needs OCR first)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pdf_is_a_sentence() {
        assert!(pdf_text(b"%PDF-1.4\ngarbage").is_err());
    }
}
