//! Conversation titles: after the first exchange a short title is asked of the model at Low
//! priority; the plain title from the first words (set when the message was saved) stays if
//! that fails.

use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::engine::event_loop::{Engine, Input};
use crate::engine::events::{ConversationId, EngineEvent};
use crate::engine::queue::{EventQueue, Priority};
use crate::llm::{ChatMessage, ChatRequest, Provider, Role, StreamEvent};
use crate::store;

const TITLE_PROMPT: &str = "Write a title of 3 to 6 words for the conversation below. Reply with the title only: no quotes, no punctuation at the end.";
/// How much of the exchange the title request sees.
const TITLE_CONTEXT_CHARS: usize = 2000;

impl Engine {
    /// Asks for a title when the conversation has just had its first exchange.
    pub(crate) fn maybe_request_title(&mut self, id: &ConversationId) {
        if !self.config.generate_titles || self.store_for(id).is_none() {
            return;
        }
        let history = &self.conversation(id).history;
        let first_exchange = history.len() == 2
            && history[0].role == Role::User
            && history[1].role == Role::Assistant;
        if !first_exchange {
            return;
        }
        let clip = |m: &ChatMessage| {
            m.content
                .chars()
                .take(TITLE_CONTEXT_CHARS)
                .collect::<String>()
        };
        let exchange = format!(
            "User: {}\n\nAssistant: {}",
            clip(&history[0]),
            clip(&history[1])
        );
        let request = ChatRequest {
            model: self.base_model(id),
            system: Some(TITLE_PROMPT.into()),
            messages: vec![ChatMessage::user(exchange)],
            temperature: Some(0.2),
            max_tokens: Some(24),
            tools: Vec::new(),
            reasoning_effort: None,
            web_search: false,
            top_p: None,
            seed: None,
            stop: Vec::new(),
        };
        tokio::spawn(title_task(
            self.provider_for(id),
            request,
            Arc::clone(&self.queue),
            id.clone(),
        ));
    }

    /// Stores a generated title unless the user renamed the conversation meanwhile.
    pub(crate) async fn apply_title(&mut self, id: &ConversationId, title: String) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let key = id.0.clone();
        let new_title = title.clone();
        let applied = store
            .call(move |s| {
                let Some(conv) = s.conversation(&key)? else {
                    return Ok(false);
                };
                let first_user = s
                    .active_path(&key)?
                    .into_iter()
                    .find(|m| m.role == store::Role::User)
                    .map(|m| store::fallback_title(&m.content));
                if conv.title.is_some() && conv.title != first_user {
                    return Ok(false);
                }
                s.rename(&key, &new_title)?;
                Ok::<_, store::StoreError>(true)
            })
            .await
            .and_then(|r| r);
        match applied {
            Ok(true) => self.bus.publish(EngineEvent::TitleChanged {
                conversation: id.clone(),
                title,
            }),
            Ok(false) => {}
            Err(e) => tracing::warn!("could not save the title of {id}: {e}"),
        }
    }
}

/// Most words a title may have; a longer answer means the model ignored the instruction.
const MAX_TITLE_WORDS: usize = 10;

/// Cleans a model's title: first line, no quotes or trailing punctuation, at most 80 chars;
/// None when it is empty or too long to be a title (the plain title then stays).
pub(crate) fn clean_title(raw: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.trim_start_matches("Title:").trim();
    let t: String = line
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '*' || c == '#')
        .trim_end_matches(['.', '!', ':'])
        .trim()
        .chars()
        .take(80)
        .collect();
    let words = t.split_whitespace().count();
    (words > 0 && words <= MAX_TITLE_WORDS).then_some(t)
}

async fn title_task(
    provider: Arc<dyn Provider>,
    request: ChatRequest,
    queue: Arc<EventQueue<Input>>,
    conversation: ConversationId,
) {
    let Ok(mut stream) = provider.stream(request, CancellationToken::new()).await else {
        return;
    };
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta(t)) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("title request failed, keeping the plain title: {e}");
                return;
            }
        }
    }
    if let Some(title) = clean_title(&text) {
        queue.push(
            Priority::Low,
            Input::Title {
                conversation,
                title,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::clean_title;

    #[test]
    fn titles_are_cleaned() {
        assert_eq!(
            clean_title("\"Rust Lifetimes Explained.\"\nmore"),
            Some("Rust Lifetimes Explained".into())
        );
        assert_eq!(
            clean_title("Title: **Paris facts**"),
            Some("Paris facts".into())
        );
        assert_eq!(clean_title("  \n "), None);
        assert_eq!(
            clean_title(
                "Rust is a language that has been praised for its unique approach to memory"
            ),
            None
        );
    }
}
