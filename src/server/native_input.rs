//! Reading the native host's chat-like payloads: the OpenAI chat body (or the older form with
//! `message` and `history`), `completions` and `responses` payloads as chat payloads, and
//! `parameters.set`. Every field is checked; an error names it.

use serde_json::{Value, json};

use crate::llm::{ChatMessage, Role};
use crate::server::native::HostParameters;

/// The defaults `parameters.set` asks for (`model` and the sampling fields).
pub(crate) fn parameters_from(payload: &Value) -> Result<HostParameters, String> {
    if !matches!(payload.get("persist"), None | Some(Value::Bool(_))) {
        return Err("payload.persist must be true or false".into());
    }
    let sampling = serde_json::from_value::<crate::server::chat::SamplingIn>(payload.clone())
        .map_err(|e| format!("payload: {e}"))?
        .checked()
        .map_err(|m| format!("payload.{m}"))?
        .unwrap_or_default();
    let model = match &payload["model"] {
        Value::Null => None,
        Value::String(m) if !m.trim().is_empty() => Some(m.clone()),
        _ => return Err("payload.model must be non-empty text".into()),
    };
    Ok(HostParameters { model, sampling })
}

/// A `completions` payload (`prompt` and sampling) as a chat payload.
pub(crate) fn completions_payload(payload: &Value) -> Result<Value, String> {
    let prompt = payload["prompt"]
        .as_str()
        .filter(|p| !p.trim().is_empty())
        .ok_or("payload.prompt must be non-empty text")?;
    let mut chat = payload.clone();
    chat["messages"] = json!([{"role": "user", "content": prompt}]);
    Ok(chat)
}

/// A `responses` payload (`input` text or message items, `instructions`) as a chat payload.
pub(crate) fn responses_payload(payload: &Value) -> Result<Value, String> {
    let mut messages = Vec::new();
    if let Some(instructions) = payload["instructions"]
        .as_str()
        .filter(|i| !i.trim().is_empty())
    {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match &payload["input"] {
        Value::String(s) if !s.trim().is_empty() => {
            messages.push(json!({"role": "user", "content": s}));
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                let text = match &item["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => return Err(format!("payload.input[{i}].content must be text or parts")),
                };
                messages.push(json!({"role": item["role"], "content": text}));
            }
        }
        _ => return Err("payload.input must be non-empty text or an array of messages".into()),
    }
    let mut chat = payload.clone();
    chat["messages"] = Value::Array(messages);
    Ok(chat)
}

/// The turn a `chat` payload asks for: the OpenAI chat completions body (`messages`, with
/// text or content parts) or the older `message` + `history` form; every field checked.
pub(crate) fn chat_input(
    payload: &Value,
) -> Result<(Vec<ChatMessage>, String, Vec<crate::llm::ImagePart>), String> {
    let number = |field: &str, low: f64, high: f64| -> Result<(), String> {
        match &payload[field] {
            Value::Null => Ok(()),
            v => match v.as_f64() {
                Some(x) if (low..=high).contains(&x) => Ok(()),
                _ => Err(format!(
                    "payload.{field} must be a number from {low} to {high}"
                )),
            },
        }
    };
    number("temperature", 0.0, 2.0)?;
    number("top_p", 0.0, 1.0)?;
    number("max_tokens", 1.0, 1e9)?;
    number("seed", 0.0, 1.8e19)?;
    if !matches!(&payload["stream"], Value::Null | Value::Bool(_)) {
        return Err("payload.stream must be true or false".into());
    }
    if !matches!(
        &payload["stop"],
        Value::Null | Value::String(_) | Value::Array(_)
    ) {
        return Err("payload.stop must be text or an array of texts".into());
    }
    if let Some(messages) = payload.get("messages") {
        let messages: Vec<crate::server::openai::InMessage> =
            serde_json::from_value(messages.clone())
                .map_err(|e| format!("payload.messages is not an OpenAI messages array: {e}"))?;
        let (history, prompt) = crate::server::openai::split_messages(&messages)
            .map_err(|e| format!("payload.messages: {e}"))?;
        let images = crate::server::openai::prompt_images(&messages)
            .map_err(|e| format!("payload.messages: {e}"))?;
        if prompt.trim().is_empty() && images.is_empty() {
            return Err("payload.messages: the last (user) message has no text".into());
        }
        return Ok((history, prompt, images));
    }
    let prompt = payload
        .get("message")
        .or_else(|| payload.get("prompt"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if prompt.trim().is_empty() {
        return Err("payload.message (or payload.messages) must be non-empty text".into());
    }
    let history = payload
        .get("history")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(history_message).collect())
        .unwrap_or_default();
    Ok((history, prompt, Vec::new()))
}

fn history_message(item: &Value) -> Option<ChatMessage> {
    let role = match item.get("role")?.as_str()? {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => return None,
    };
    Some(ChatMessage::text(role, item.get("content")?.as_str()?))
}
