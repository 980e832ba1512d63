//! Fitting the history into the model's context window.

use crate::llm::types::{ChatMessage, Role};

/// Tokens kept free for the answer when the request sets no `max_tokens`.
pub const ANSWER_RESERVE_TOKENS: u64 = 1024;

/// A cheap token estimate (≈4 bytes a token, plus a little per message for its framing).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// What an attached image is counted as. The most either wire format charges for an image we
/// send: Anthropic scales to at most 1,568 px on the long side (≈ w·h/750 ≤ 1,600 tokens);
/// OpenAI's high detail is at most 765 tokens for 768 px tiles. Counting the most keeps a
/// conversation with pictures from overflowing the window.
pub const IMAGE_TOKENS: u64 = 1_600;

/// The estimate for one message with its tool calls and images.
pub(crate) fn message_tokens(m: &ChatMessage) -> u64 {
    let calls: u64 = m
        .tool_calls
        .iter()
        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments))
        .sum();
    estimate_tokens(&m.content) + calls + m.images.len() as u64 * IMAGE_TOKENS + 4
}

/// Where each turn starts: at a user message, so an assistant's tool calls stay with their
/// results. Leading non-user messages (e.g. an imported assistant greeting) form a turn too.
pub(crate) fn turn_starts(messages: &[ChatMessage]) -> Vec<usize> {
    let mut starts: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i)
        .collect();
    if !messages.is_empty() && starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
}

/// Keeps the newest turns that fit in `budget_tokens` alongside the system prompt.
///
/// A turn starts at a user message and runs to the next one, so an assistant's tool calls stay
/// with their results. The oldest turns go first; the newest turn is always kept (the server
/// then says clearly if even that is too long). Returns the kept messages and how many turns
/// were left out.
pub fn fit_history(
    system: Option<&str>,
    messages: &[ChatMessage],
    budget_tokens: u64,
) -> (Vec<ChatMessage>, usize) {
    let turn_starts = turn_starts(messages);
    let mut used = system.map(estimate_tokens).unwrap_or(0);
    let mut keep_from = messages.len();
    let mut kept_turns = 0;
    for (t, &start) in turn_starts.iter().enumerate().rev() {
        let end = turn_starts.get(t + 1).copied().unwrap_or(messages.len());
        let cost: u64 = messages[start..end].iter().map(message_tokens).sum();
        if kept_turns > 0 && used + cost > budget_tokens {
            break;
        }
        used += cost;
        keep_from = start;
        kept_turns += 1;
    }
    if messages.is_empty() {
        return (Vec::new(), 0);
    }
    let dropped = turn_starts.len() - kept_turns;
    (messages[keep_from..].to_vec(), dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::types::ToolCall;

    fn turn(i: usize, size: usize) -> Vec<ChatMessage> {
        vec![
            ChatMessage::user(format!("q{i} {}", "x".repeat(size))),
            ChatMessage::assistant(format!("a{i} {}", "y".repeat(size))),
        ]
    }

    #[test]
    fn images_count_in_the_budget() {
        let mut with_image = ChatMessage::user("look");
        with_image.images = vec![crate::llm::ImagePart::new("a.png", "image/png", b"png")];
        assert_eq!(
            message_tokens(&with_image),
            message_tokens(&ChatMessage::user("look")) + IMAGE_TOKENS
        );
        // An older turn with a picture goes before a newer text-only one is cut.
        let msgs = vec![
            with_image,
            ChatMessage::assistant("a picture"),
            ChatMessage::user("and now?"),
            ChatMessage::assistant("text"),
        ];
        let (kept, dropped) = fit_history(None, &msgs, IMAGE_TOKENS);
        assert_eq!((kept.len(), dropped), (2, 1));
    }

    #[test]
    fn everything_fits_nothing_dropped() {
        let msgs: Vec<_> = (0..3).flat_map(|i| turn(i, 10)).collect();
        let (kept, dropped) = fit_history(Some("sys"), &msgs, 10_000);
        assert_eq!(kept, msgs);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn oldest_turns_go_first_and_the_newest_always_stays() {
        let msgs: Vec<_> = (0..10).flat_map(|i| turn(i, 400)).collect();
        let (kept, dropped) = fit_history(Some("sys"), &msgs, 700);
        assert!(dropped > 0);
        assert!(kept[0].content.starts_with('q'));
        assert_eq!(kept.last(), msgs.last());
        let (kept, dropped) = fit_history(None, &msgs, 1);
        assert_eq!((kept.len(), dropped), (2, 9));
    }

    #[test]
    fn a_tool_call_is_never_split_from_its_result() {
        let mut msgs = turn(0, 2000);
        msgs.push(ChatMessage::user("read it"));
        msgs.push(ChatMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: "read_file".into(),
                arguments: "{}".into(),
            }],
            tool_call_id: None,
            images: Vec::new(),
            thinking: Vec::new(),
        });
        msgs.push(ChatMessage::tool_result("c", "z".repeat(400)));
        msgs.push(ChatMessage::assistant("done"));
        let (kept, dropped) = fit_history(None, &msgs, 300);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 4);
        assert_eq!(kept[0].content, "read it");
        assert_eq!(kept[2].tool_call_id.as_deref(), Some("c"));
    }
}
