//! Sources an answer cites: OpenRouter's `url_citation` annotations (its web plugin and
//! `:online` models), read leniently — an annotation of another shape is skipped, never an
//! error.

pub use crate::core::Citation;

/// The URL citations in a delta's (or message's) `annotations` value.
pub fn from_annotations(annotations: &serde_json::Value) -> Vec<Citation> {
    let Some(items) = annotations.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|a| a["type"] == "url_citation")
        .filter_map(|a| {
            // OpenRouter nests the fields under `url_citation`; some relays flatten them.
            let fields = a.get("url_citation").unwrap_or(a);
            let url = fields["url"].as_str()?.trim();
            (url.starts_with("https://") || url.starts_with("http://")).then(|| Citation {
                url: url.to_string(),
                title: fields["title"]
                    .as_str()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openrouter_url_citations_are_read_and_other_shapes_skipped() {
        let annotations = json!([
            {"type": "url_citation", "url_citation": {"url": "https://a.example/x", "title": "A", "content": "…", "start_index": 1, "end_index": 5}},
            {"type": "url_citation", "url": "https://b.example/", "title": ""},
            {"type": "file_citation", "file_id": "f"},
            {"type": "url_citation", "url_citation": {"url": "javascript:alert(1)"}},
            "junk"
        ]);
        assert_eq!(
            from_annotations(&annotations),
            vec![
                Citation {
                    url: "https://a.example/x".into(),
                    title: Some("A".into())
                },
                Citation {
                    url: "https://b.example/".into(),
                    title: None
                },
            ]
        );
        assert!(from_annotations(&json!({"not": "a list"})).is_empty());
    }
}
