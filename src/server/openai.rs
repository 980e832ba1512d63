//! OpenAI chat-completions wire types as `rustbot serve` reads and writes them.

use serde::{Deserialize, Serialize};

use crate::llm::{ChatMessage, ImagePart, Role};

/// `POST /v1/chat/completions` body (fields we do not use are accepted and ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model; absent means the server's configured model.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation so far; the last message must be the user's.
    pub messages: Vec<InMessage>,
    /// Stream the answer as SSE chunks.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Continue (or start) this stored conversation (Rustbot extension; also a header).
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// `temperature`, `top_p`, `max_tokens`, `seed`, `stop` for this turn.
    #[serde(flatten)]
    pub sampling: crate::server::chat::SamplingIn,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the usage.
    #[serde(default)]
    pub include_usage: bool,
}

/// One message of the request.
#[derive(Debug, Clone, Deserialize)]
pub struct InMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or a list of content parts (only `text` parts are used).
    #[serde(default)]
    pub content: Option<Content>,
    /// For `tool` messages: the call answered.
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

/// Message content: a string or parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts.
    Parts(Vec<ContentPart>),
}

/// A content part.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    /// `text`, `image_url`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
    /// The image of an `image_url` part.
    #[serde(default)]
    pub image_url: Option<ImageUrl>,
}

/// `{"url": "data:image/png;base64,..."}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageUrl {
    /// A `data:` URL (web addresses are not fetched).
    pub url: String,
}

impl Content {
    /// The image parts, as images to send on; Err(a sentence) for one that is not a base64
    /// `data:` URL of a PNG, JPEG, WebP or GIF.
    pub fn images(&self) -> Result<Vec<ImagePart>, String> {
        let Content::Parts(parts) = self else {
            return Ok(Vec::new());
        };
        parts
            .iter()
            .filter(|p| p.kind == "image_url")
            .enumerate()
            .map(|(i, p)| {
                let url = p.image_url.as_ref().map(|u| u.url.as_str()).unwrap_or("");
                let (media_type, data) = url
                    .strip_prefix("data:")
                    .and_then(|rest| rest.split_once(";base64,"))
                    .filter(|(t, _)| {
                        ["image/png", "image/jpeg", "image/webp", "image/gif"].contains(t)
                    })
                    .ok_or_else(|| {
                        "image_url must be a base64 data URL of a PNG, JPEG, WebP or GIF image (web addresses are not fetched)".to_string()
                    })?;
                Ok(ImagePart {
                    name: format!("image-{}", i + 1),
                    media_type: media_type.to_string(),
                    data: data.into(),
                })
            })
            .collect()
    }

    /// The text of the content (text parts joined).
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Why a request's messages cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagesError {
    /// No messages.
    #[error("`messages` must contain at least one message")]
    Empty,
    /// The last one is not the user's.
    #[error("the last message must have role `user`")]
    LastNotUser,
    /// An image part that cannot be sent.
    #[error("messages[{index}]: {detail}")]
    BadImage {
        /// Which message.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// An unknown role.
    #[error("messages[{index}]: unknown role `{role}`")]
    UnknownRole {
        /// Which message.
        index: usize,
        /// Its role.
        role: String,
    },
}

/// Splits the request's messages into the earlier history and the new user prompt.
pub fn split_messages(messages: &[InMessage]) -> Result<(Vec<ChatMessage>, String), MessagesError> {
    let Some((last, earlier)) = messages.split_last() else {
        return Err(MessagesError::Empty);
    };
    if last.role != "user" {
        return Err(MessagesError::LastNotUser);
    }
    let mut history = Vec::with_capacity(earlier.len());
    for (index, m) in earlier.iter().enumerate() {
        let role = match m.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            // Tool results of the client's own tools: the engine never ran those calls, so
            // they are kept as plain context rather than as unmatched tool messages.
            "tool" => Role::User,
            other => {
                return Err(MessagesError::UnknownRole {
                    index,
                    role: other.to_string(),
                });
            }
        };
        let text = m.content.as_ref().map(Content::text).unwrap_or_default();
        let mut message = ChatMessage::text(role, text);
        if role == Role::User {
            message.images = m
                .content
                .as_ref()
                .map(Content::images)
                .transpose()
                .map_err(|detail| MessagesError::BadImage { index, detail })?
                .unwrap_or_default();
        }
        history.push(message);
    }
    let prompt = last.content.as_ref().map(Content::text).unwrap_or_default();
    Ok((history, prompt))
}

/// The images of the last (the user's) message.
pub fn prompt_images(messages: &[InMessage]) -> Result<Vec<ImagePart>, MessagesError> {
    let Some(last) = messages.last() else {
        return Ok(Vec::new());
    };
    last.content
        .as_ref()
        .map(Content::images)
        .transpose()
        .map_err(|detail| MessagesError::BadImage {
            index: messages.len() - 1,
            detail,
        })
        .map(Option::unwrap_or_default)
}

/// Token usage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UsageOut {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Answer tokens.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

impl UsageOut {
    /// Usage from the two counts.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

/// A non-streamed answer (`chat.completion`).
#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletion {
    /// `chatcmpl-...`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// One choice.
    pub choices: Vec<Choice>,
    /// Token usage.
    pub usage: UsageOut,
}

/// A choice of a `chat.completion`.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Always 0.
    pub index: u32,
    /// The answer.
    pub message: OutMessage,
    /// Always null.
    pub logprobs: Option<()>,
    /// `stop`, `length`, ...
    pub finish_reason: String,
}

/// The answer message.
#[derive(Debug, Clone, Serialize)]
pub struct OutMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
    /// Always null (the engine's tools run inside Rustbot, never in the client).
    pub refusal: Option<()>,
}

/// A streamed chunk (`chat.completion.chunk`).
#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletionChunk {
    /// Same id in every chunk of a stream.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model.
    pub model: String,
    /// One choice, or none in the usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Present (null until the last chunk) only with `stream_options.include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<UsageOut>>,
}

/// A choice of a chunk.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkChoice {
    /// Always 0.
    pub index: u32,
    /// What is new.
    pub delta: Delta,
    /// Always null.
    pub logprobs: Option<()>,
    /// Null until the last content chunk.
    pub finish_reason: Option<String>,
}

/// What a chunk adds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delta {
    /// `assistant` in the first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// A piece of the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    /// The models.
    pub data: Vec<ModelEntry>,
}

/// One model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    /// Its id.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds (0: unknown).
    pub created: u64,
    /// The provider id.
    pub owned_by: String,
}

/// `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A sentence saying what is wrong and what to do.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, `server_error`...
    #[serde(rename = "type")]
    pub kind: String,
    /// The field at fault, if any.
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, `invalid_api_key`, ...).
    pub code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> ChatCompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn history_and_prompt_are_split_and_parts_are_joined() {
        let r = req(r#"{"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":"hi"},
            {"role":"assistant","content":"hello"},
            {"role":"user","content":[{"type":"text","text":"and"},{"type":"text","text":"now"}]}
        ],"temperature":0.2}"#);
        let (history, prompt) = split_messages(&r.messages).unwrap();
        assert_eq!(prompt, "and\nnow");
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].role, Role::System);
        assert_eq!(history[2].content, "hello");
    }

    #[test]
    fn the_last_message_must_be_the_users() {
        let r = req(r#"{"messages":[{"role":"assistant","content":"x"}]}"#);
        assert_eq!(split_messages(&r.messages), Err(MessagesError::LastNotUser));
        assert_eq!(split_messages(&[]), Err(MessagesError::Empty));
    }

    #[test]
    fn a_content_chunk_has_exactly_openais_fields() {
        let chunk = ChatCompletionChunk {
            id: "chatcmpl-1".into(),
            object: "chat.completion.chunk",
            created: 1,
            model: "m".into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    role: None,
                    content: Some("x".into()),
                },
                logprobs: None,
                finish_reason: None,
            }],
            usage: Some(None),
        };
        assert_eq!(
            serde_json::to_string(&chunk).unwrap(),
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}],"usage":null}"#
        );
    }
}
