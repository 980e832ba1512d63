//! What a model's context window is: from the bundled table of well-known models, and from the
//! words of a server that refused a prompt as too long.

/// Context windows in tokens of well-known models whose servers' model lists do not say
/// (Anthropic's and OpenAI's own APIs). Matched by the longest name that starts the bare id
/// (vendor prefix dropped), as the price table is.
const KNOWN_WINDOWS: &[(&str, u64)] = &[
    ("claude-", 200_000),
    ("gpt-3.5-turbo", 16_385),
    ("gpt-4", 8_192),
    ("gpt-4-turbo", 128_000),
    ("gpt-4o", 128_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-5", 400_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
];

/// The bundled window of `model`, when it is a well-known one.
pub fn known_window(model: &str) -> Option<u64> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    KNOWN_WINDOWS
        .iter()
        .filter(|(name, _)| bare.starts_with(name))
        .max_by_key(|(name, _)| name.len())
        .map(|&(_, tokens)| tokens)
}

/// What a context-exceeded refusal says, when it says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overflow {
    /// The model's window in tokens.
    pub window: Option<u64>,
    /// The size of the refused prompt in tokens.
    pub prompt_tokens: Option<u64>,
}

/// Reads an error body (already known to be a 400/413) as a context-exceeded refusal: `None`
/// when it is some other error.
///
/// Shapes seen: llama.cpp `{"error":{"type":"exceed_context_size_error","n_ctx":1024,
/// "n_prompt_tokens":1531,…}}`; OpenAI `code: "context_length_exceeded"` with "maximum context
/// length is N tokens. However, your messages resulted in M tokens"; OpenRouter "This
/// endpoint's maximum context length is N tokens. However, you requested about M tokens";
/// Anthropic "prompt is too long: M tokens > N maximum".
pub fn parse_overflow(body: &str, message: &str) -> Option<Overflow> {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let error = json.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| error.and_then(|e| e.get(name));
    let typed = ["type", "code"].iter().any(|k| {
        field(k)
            .and_then(|v| v.as_str())
            .is_some_and(|s| matches!(s, "exceed_context_size_error" | "context_length_exceeded"))
    });
    let lower = message.to_lowercase();
    let worded = lower.contains("context")
        || lower.contains("too long")
        || lower.contains("too many tokens");
    if !typed && !worded {
        return None;
    }
    let number = |name: &str| field(name).and_then(|v| v.as_u64());
    let window = number("n_ctx")
        .or_else(|| number_after(&lower, "maximum context length is "))
        .or_else(|| number_after(&lower, "available context size ("))
        .or_else(|| number_before(&lower, " maximum"));
    let prompt_tokens = number("n_prompt_tokens")
        .or_else(|| number_after(&lower, "resulted in "))
        .or_else(|| number_after(&lower, "requested about "))
        .or_else(|| number_after(&lower, "request ("))
        .or_else(|| number_after(&lower, "prompt is too long: "));
    Some(Overflow {
        window,
        prompt_tokens,
    })
}

/// The number that follows `marker` in `text` (digits and thousands commas).
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The number just before `marker` in `text` ("… > 200000 maximum").
fn number_before(text: &str, marker: &str) -> Option<u64> {
    let end = text.find(marker)?;
    let head = &text[..end];
    let digits: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Option<Overflow> {
        parse_overflow(body, &crate::llm::http::error_message(body))
    }

    #[test]
    fn llama_cpp_says_window_and_prompt_as_fields() {
        let body = r#"{"error":{"code":400,"message":"request (1531 tokens) exceeds the available context size (1024 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":1531,"n_ctx":1024}}"#;
        assert_eq!(
            parse(body),
            Some(Overflow {
                window: Some(1024),
                prompt_tokens: Some(1531)
            })
        );
        // The words alone are enough too (older llama.cpp sends no fields).
        let words = r#"{"error":{"message":"request (1531 tokens) exceeds the available context size (1024 tokens), try increasing it"}}"#;
        assert_eq!(
            parse(words),
            Some(Overflow {
                window: Some(1024),
                prompt_tokens: Some(1531)
            })
        );
    }

    #[test]
    fn openai_openrouter_and_anthropic_wordings() {
        let openai = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130,512 tokens. Please reduce the length of the messages.","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(
            parse(openai),
            Some(Overflow {
                window: Some(128_000),
                prompt_tokens: Some(130_512)
            })
        );
        let openrouter = r#"{"error":{"message":"This endpoint's maximum context length is 8192 tokens. However, you requested about 9001 tokens (9001 of text input). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.","code":400}}"#;
        assert_eq!(
            parse(openrouter),
            Some(Overflow {
                window: Some(8192),
                prompt_tokens: Some(9001)
            })
        );
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#;
        assert_eq!(
            parse(anthropic),
            Some(Overflow {
                window: Some(200_000),
                prompt_tokens: Some(208_310)
            })
        );
    }

    #[test]
    fn other_bad_requests_are_not_overflows_and_odd_numbers_are_dropped() {
        assert_eq!(
            parse(r#"{"error":{"message":"temperature must be at most 2"}}"#),
            None
        );
        let vague = parse(r#"{"error":{"message":"context window exceeded"}}"#);
        assert_eq!(vague, Some(Overflow::default()));
        let huge = parse(
            r#"{"error":{"message":"maximum context length is 99999999999999999999999 tokens"}}"#,
        );
        assert_eq!(huge.and_then(|o| o.window), None);
    }

    #[test]
    fn well_known_models_have_windows() {
        assert_eq!(known_window("claude-sonnet-4-5"), Some(200_000));
        assert_eq!(known_window("openai/gpt-4o-mini"), Some(128_000));
        assert_eq!(known_window("gpt-4.1-nano"), Some(1_047_576));
        assert_eq!(known_window("SmolLM2-135M-Instruct"), None);
    }
}
