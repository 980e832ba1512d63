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
pub(crate) mod tests {
    use super::*;

    /// A minimal one-page PDF whose page shows `text` (offsets computed, so it is valid).
    pub fn tiny_pdf(text: &str) -> Vec<u8> {
        let stream = format!("BT /F1 12 Tf 72 712 Td ({text}) Tj ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
            format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn a_pdfs_text_comes_with_page_markers() {
        let text = pdf_text(&tiny_pdf("Hello from a PDF")).unwrap();
        assert!(text.starts_with("[page 1]\n"), "{text}");
        assert!(text.contains("Hello from a PDF"), "{text}");
    }

    #[test]
    fn a_broken_pdf_is_a_sentence() {
        assert!(pdf_text(b"%PDF-1.4\ngarbage").is_err());
    }
}
