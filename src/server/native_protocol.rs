//! The native host's wire protocol as types: the request `{"id","route","payload"}` read from
//! each frame, and every frame the host writes, tagged by `event` (`result`, `delta`, `done`,
//! `error`). Route results stay JSON values: each route documents its own (docs/native-messaging.md).

use serde::Serialize;
use serde_json::Value;

/// A request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Echoed in every reply (`null` when absent).
    pub id: Value,
    /// What to do (empty when absent or not a string).
    pub route: String,
    /// The route's arguments (`{}` when absent).
    pub payload: Value,
}

/// Parses one frame's bytes; Err(error code, message) when it is not a JSON object. Lenient
/// inside the object, as browsers' callers are: a missing id is `null`, a route that is not a
/// string is unknown (answered as such), a missing payload is `{}`.
pub fn parse_request(frame: &[u8]) -> Result<Request, (&'static str, String)> {
    let mut request = match serde_json::from_slice(frame) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(("bad_request", "a request must be a JSON object".into())),
        Err(e) => {
            return Err((
                "invalid_json",
                format!("the frame is not valid UTF-8 JSON: {e}"),
            ));
        }
    };
    Ok(Request {
        id: request.get_mut("id").map_or(Value::Null, Value::take),
        route: request
            .get("route")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        payload: request
            .get_mut("payload")
            .map_or_else(|| Value::Object(Default::default()), Value::take),
    })
}

/// A frame the host writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Reply {
    /// A route's answer.
    Result {
        /// The request's id.
        id: Value,
        /// What the route returns.
        result: Value,
        /// Where `parameters.set` with `persist` wrote (absent otherwise).
        #[serde(skip_serializing_if = "Option::is_none")]
        persisted: Option<String>,
    },
    /// A piece of a streamed chat answer.
    Delta {
        /// The request's id.
        id: Value,
        /// The text.
        text: String,
    },
    /// The end of a streamed chat.
    Done(ChatEnd),
    /// A whole chat answer in one frame (`stream: false`).
    #[serde(rename = "result")]
    ChatResult(ChatEnd),
    /// Why the request failed.
    Error {
        /// The request's id (`null` when the frame could not be read).
        id: Value,
        /// What went wrong.
        error: ErrorBody,
    },
}

/// The code and sentence of an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// Machine-readable (`bad_request`, `rate_limited`, `budget_exceeded`, ...).
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

/// How a chat ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatEnd {
    /// The request's id.
    pub id: Value,
    /// `complete`, `stopped` or `failed`.
    pub status: String,
    /// Why the model stopped (`stop`, `length`, `error`, ...).
    pub finish_reason: String,
    /// The model that answered.
    pub model: String,
    /// Tokens and cost.
    pub usage: ChatUsage,
    /// The stored conversation (when the chat was kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The whole answer (one-frame replies only; empty when it went as deltas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The `usage` of a chat's end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// USD, when known.
    pub cost_usd: Option<f64>,
}

impl Reply {
    /// A route's answer.
    pub fn result(id: &Value, result: impl Serialize) -> Self {
        Reply::Result {
            id: id.clone(),
            result: serde_json::to_value(result).unwrap_or(Value::Null),
            persisted: None,
        }
    }

    /// An error frame.
    pub fn error(id: &Value, code: &str, message: &str) -> Self {
        Reply::Error {
            id: id.clone(),
            error: ErrorBody {
                code: code.to_string(),
                message: message.to_string(),
            },
        }
    }

    /// A delta frame.
    pub fn delta(id: &Value, text: String) -> Self {
        Reply::Delta {
            id: id.clone(),
            text,
        }
    }

    /// The request id it answers.
    pub fn id(&self) -> &Value {
        match self {
            Reply::Result { id, .. } | Reply::Delta { id, .. } | Reply::Error { id, .. } => id,
            Reply::Done(end) | Reply::ChatResult(end) => &end.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_keep_their_wire_shape() {
        let id = json!(7);
        assert_eq!(
            serde_json::to_value(Reply::error(&id, "bad_request", "no")).unwrap(),
            json!({"id": 7, "event": "error", "error": {"code": "bad_request", "message": "no"}})
        );
        assert_eq!(
            serde_json::to_value(Reply::delta(&id, "hi".into())).unwrap(),
            json!({"id": 7, "event": "delta", "text": "hi"})
        );
        assert_eq!(
            serde_json::to_value(Reply::result(&id, json!({"ok": true}))).unwrap(),
            json!({"id": 7, "event": "result", "result": {"ok": true}})
        );
        let end = ChatEnd {
            id: id.clone(),
            status: "complete".into(),
            finish_reason: "stop".into(),
            model: "m".into(),
            usage: ChatUsage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5,
                cost_usd: None,
            },
            conversation_id: None,
            error: None,
            text: Some("whole".into()),
        };
        assert_eq!(
            serde_json::to_value(Reply::ChatResult(end.clone())).unwrap(),
            json!({"id": 7, "event": "result", "status": "complete", "finish_reason": "stop",
                   "model": "m", "text": "whole",
                   "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "cost_usd": null}})
        );
        let done = serde_json::to_value(Reply::Done(ChatEnd { text: None, ..end })).unwrap();
        assert_eq!(done["event"], "done");
        assert!(done.get("text").is_none());
    }

    #[test]
    fn requests_are_read_leniently_inside_an_object() {
        let r = parse_request(br#"{"id":"a","route":"health"}"#).unwrap();
        assert_eq!(
            (r.id, r.route.as_str(), r.payload),
            (json!("a"), "health", json!({}))
        );
        let r = parse_request(br#"{"route":5}"#).unwrap();
        assert_eq!((r.id, r.route.as_str()), (Value::Null, ""));
        assert_eq!(parse_request(b"[1]").unwrap_err().0, "bad_request");
        assert_eq!(parse_request(b"{nope").unwrap_err().0, "invalid_json");
    }
}
