//! Markdown fences for text of any content: the store's exports and the attachments' blocks
//! both fence text that may itself hold fences.

/// A backtick fence longer than any backtick run inside `text` (at least three), so the text
/// cannot close it early.
pub fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::fence_for;

    #[test]
    fn the_fence_outlasts_every_run_inside() {
        assert_eq!(fence_for("a ```` b"), "`````");
        assert_eq!(fence_for("plain"), "```");
    }
}
