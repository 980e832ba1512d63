//! Compaction: when the next request would fill too much of the model's context window, the
//! older turns are summarised by the model in one Low-priority request and the summary is
//! sent in their place. The originals stay in the store; the summary is a node of the
//! message tree (kind `summary`), so a branch from before it sends the originals.

use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::engine::context::{estimate_tokens, message_tokens, turn_starts};
use crate::engine::event_loop::{Engine, Input};
use crate::engine::events::{ConversationId, EngineEvent};
use crate::engine::queue::{EventQueue, Priority};
use crate::llm::{ChatMessage, ChatRequest, LlmError, Provider, Role, StreamEvent};

/// What the summariser is asked to keep.
const SUMMARY_INSTRUCTIONS: &str = "You compress conversations. Summarise the conversation \
below so that it can continue without it. Keep every name, number, date, decision, open \
question, file and URL, and what the user said they prefer or want. Write plain sentences in \
the third person (\"The user asked…\", \"The assistant answered…\"); no preamble.";

/// Most tokens a summary may take.
const SUMMARY_MAX_TOKENS: u64 = 512;

/// A summary standing in for the first `replaces` messages of the history.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    pub text: String,
    pub replaces: usize,
}

/// The prompt size of the last request as the provider counted it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LastPrompt {
    /// `Summary::replaces` when it was sent (0: no summary).
    pub replaces: usize,
    /// History messages it held.
    pub sent: usize,
    /// Prompt tokens the provider reported.
    pub tokens: u64,
}

/// A summary request in flight.
pub(crate) struct Compacting {
    pub token: u64,
    pub cancel: CancellationToken,
    /// The history messages the summary will stand for.
    pub replaces: usize,
    /// Whether the run's request goes out once the summary is in.
    pub then_send: bool,
}

/// What the summary task reports.
pub(crate) struct CompactionDone {
    pub token: u64,
    pub result: Result<String, LlmError>,
}

/// How many leading messages of `messages` to summarise so that the newest turns kept fit in
/// `keep_tokens`: turns start at user messages, so a tool call stays with its result; the
/// newest turn is always kept. Zero when there is nothing older to summarise.
pub(crate) fn split_for_summary(messages: &[ChatMessage], keep_tokens: u64) -> usize {
    let starts = turn_starts(messages);
    let mut keep_from = messages.len();
    let mut used = 0;
    for (t, &start) in starts.iter().enumerate().rev() {
        let end = starts.get(t + 1).copied().unwrap_or(messages.len());
        let cost: u64 = messages[start..end].iter().map(message_tokens).sum();
        if keep_from < messages.len() && used + cost > keep_tokens {
            break;
        }
        used += cost;
        keep_from = start;
    }
    keep_from
}

/// The text the summariser reads: the previous summary, then each replaced message, cut from
/// the oldest end to `budget_tokens` (the newest words matter most to what follows).
pub(crate) fn transcript(
    previous: Option<&str>,
    messages: &[ChatMessage],
    budget_tokens: u64,
) -> String {
    let mut lines: Vec<String> = messages
        .iter()
        .map(|m| {
            let who = match m.role {
                Role::User => "User",
                Role::Assistant => "Assistant",
                Role::Tool => "Tool result",
                Role::System => "System",
            };
            let mut line = format!("{who}: {}", m.content.trim());
            for call in &m.tool_calls {
                line.push_str(&format!("\n(called {} with {})", call.name, call.arguments));
            }
            line
        })
        .collect();
    let head = previous
        .map(|p| format!("Summary of what came before: {}\n\n", p.trim()))
        .unwrap_or_default();
    let mut used = estimate_tokens(&head);
    let mut kept = Vec::new();
    while let Some(line) = lines.pop() {
        let cost = estimate_tokens(&line) + 1;
        if used + cost > budget_tokens {
            // The oldest line that does not fit whole keeps its newest part.
            let room = budget_tokens.saturating_sub(used) as usize * 4;
            if room > 64 {
                let start = line.len().saturating_sub(room);
                let start = (start..line.len())
                    .find(|&i| line.is_char_boundary(i))
                    .unwrap_or(line.len());
                kept.push(format!("…{}", &line[start..]));
            }
            kept.push("[older messages left out]".to_string());
            break;
        }
        used += cost;
        kept.push(line);
    }
    kept.reverse();
    format!("{head}{}", kept.join("\n\n"))
}

impl Engine {
    /// The context window of `model` in this conversation: learned from a server's refusal,
    /// else the model list's, else the bundled table's, else `[context] default_tokens`.
    pub(crate) fn window_for(&self, id: &ConversationId, model: &str) -> u64 {
        let key = (self.provider_id(id), model.to_string());
        self.learned_windows
            .get(&key)
            .copied()
            .or_else(|| self.models.get(model).and_then(|m| m.context_length))
            .or_else(|| crate::llm::window::known_window(model))
            .unwrap_or(self.config.context.default_tokens)
            .max(64)
    }

    /// Reads a remembered window from the store the first time a model is used here.
    pub(crate) async fn load_learned_window(&mut self, id: &ConversationId, model: &str) {
        let key = (self.provider_id(id), model.to_string());
        if self.learned_windows.contains_key(&key) {
            return;
        }
        let Some(store) = self.config.store.clone() else {
            return;
        };
        let (provider, name) = key.clone();
        let learned = store
            .call(move |s| s.learned_window(&provider, &name))
            .await
            .and_then(|r| r);
        if let Ok(Some(tokens)) = learned {
            self.learned_windows.insert(key, tokens);
        }
    }

    /// Remembers the window a server told us (memory and store).
    pub(crate) async fn learn_window(&mut self, id: &ConversationId, model: &str, tokens: u64) {
        let key = (self.provider_id(id), model.to_string());
        self.learned_windows.insert(key.clone(), tokens);
        let Some(store) = self.config.store.clone() else {
            return;
        };
        let (provider, name) = key;
        let saved = store
            .call(move |s| s.learn_window(&provider, &name, tokens))
            .await
            .and_then(|r| r);
        if let Err(e) = saved {
            tracing::warn!(error = %e, "the learned context window was not saved");
        }
    }

    /// Tokens the conversation's next request takes, in the model's counting: the provider's
    /// count of what was sent last time plus an estimate of what is new, else an estimate of
    /// it all (estimates scaled by what the provider's counts taught us).
    pub(crate) fn request_tokens(&mut self, id: &ConversationId, system: Option<&str>) -> u64 {
        let conv = self.conversation(id);
        let replaces = conv.summary.as_ref().map_or(0, |s| s.replaces);
        let from = replaces.min(conv.history.len());
        let estimate_from = |start: usize| -> u64 {
            conv.history[start..]
                .iter()
                .map(message_tokens)
                .sum::<u64>()
        };
        let scaled = |estimate: u64| (estimate as f64 * conv.token_ratio) as u64;
        match conv.last_prompt {
            Some(last)
                if last.replaces == replaces
                    && last.sent <= conv.history.len()
                    && last.sent >= from =>
            {
                last.tokens + scaled(estimate_from(last.sent))
            }
            _ => scaled(system.map_or(0, estimate_tokens) + estimate_from(from)),
        }
    }

    /// Starts summarising the older turns when the request would pass `[context]
    /// compact_at_percent` of the window (or at once with `force`). True when a summary is
    /// on its way (the request waits for it).
    pub(crate) fn maybe_compact(
        &mut self,
        id: &ConversationId,
        model: &str,
        used_tokens: u64,
        window: u64,
        force: bool,
    ) -> bool {
        if !force && used_tokens < self.config.context.compact_at(window) {
            return false;
        }
        let conv = self.conversation(id);
        if conv.compacting.is_some() {
            return true;
        }
        let replaced_before = conv.summary.as_ref().map_or(0, |s| s.replaces);
        let from = replaced_before.min(conv.history.len());
        let older = &conv.history[from..];
        let mut split = split_for_summary(older, conv.in_estimate(window / 2));
        if split == 0 && force {
            // Asked for (or refused by the server): everything but the newest turn.
            split = split_for_summary(older, 0);
        }
        if split == 0 {
            return false;
        }
        let replaces = from + split;
        let summary_max = SUMMARY_MAX_TOKENS.min(window / 4).max(16);
        // Two thirds of what is left beside the summary's room: estimates are rough, and a
        // summary request that overflows helps nobody.
        let room = window
            .saturating_sub(summary_max)
            .saturating_sub(estimate_tokens(SUMMARY_INSTRUCTIONS) + 64);
        let budget = conv.in_estimate(room * 2 / 3).max(64);
        let text = transcript(
            conv.summary.as_ref().map(|s| s.text.as_str()),
            &conv.history[from..replaces],
            budget,
        );
        let cancel = conv
            .run
            .as_ref()
            .map(|r| r.cancel.child_token())
            .unwrap_or_default();
        self.next_run += 1;
        let token = self.next_run;
        let then_send = self.conversation(id).run.is_some();
        self.conversation(id).compacting = Some(Compacting {
            token,
            cancel: cancel.clone(),
            replaces,
            then_send,
        });
        let request = ChatRequest {
            model: self
                .config
                .context
                .summary_model
                .clone()
                .unwrap_or_else(|| model.to_string()),
            system: Some(SUMMARY_INSTRUCTIONS.to_string()),
            messages: vec![ChatMessage::user(text)],
            temperature: Some(0.2),
            max_tokens: u32::try_from(summary_max).ok(),
            tools: Vec::new(),
            reasoning_effort: None,
            web_search: false,
            top_p: None,
            seed: None,
            stop: Vec::new(),
        };
        tokio::spawn(summary_task(
            self.provider_for(id),
            request,
            cancel,
            Arc::clone(&self.queue),
            id.clone(),
            token,
        ));
        true
    }

    /// The summary is in (or failed): keep it, tell the doors, send the waiting request.
    pub(crate) async fn compaction_done(&mut self, id: &ConversationId, done: CompactionDone) {
        let Some(conv) = self.conversations.get_mut(id) else {
            return;
        };
        if conv.compacting.as_ref().map(|c| c.token) != Some(done.token) {
            return;
        }
        let Some(compacting) = conv.compacting.take() else {
            return;
        };
        let model = conv.run.as_ref().map(|r| r.model.clone());
        if let Some(run) = conv.run.as_mut() {
            // One summary per round: if the request still does not fit, the oldest turns are
            // left out (and that is said) rather than summarising again.
            run.compacted = true;
        }
        match done.result.map(|t| t.trim().to_string()) {
            Ok(text) if !text.is_empty() => {
                let model = model.unwrap_or_else(|| self.base_model(id));
                let window = self.window_for(id, &model);
                self.persist_summary(id, compacting.replaces, &text, &model)
                    .await;
                let conv = self.conversation(id);
                conv.summary = Some(Summary {
                    text: text.clone(),
                    replaces: compacting.replaces,
                });
                conv.last_prompt = None;
                self.bus.publish(EngineEvent::Compacted {
                    conversation: id.clone(),
                    replaced_messages: compacting.replaces,
                    summary_tokens: estimate_tokens(&text),
                    window_tokens: window,
                });
            }
            Ok(_) => self.compaction_failed(id, "the model wrote an empty summary"),
            Err(e) => self.compaction_failed(id, &e.to_string()),
        }
        if compacting.then_send && self.conversation(id).run.is_some() {
            self.send_round(id);
        }
    }

    fn compaction_failed(&mut self, id: &ConversationId, why: &str) {
        let ran = self.conversation(id).run.is_some();
        let tail = if ran {
            "the oldest turns are left out of this request instead"
        } else {
            "nothing was changed"
        };
        self.error(
            Some(id),
            format!("the older messages could not be summarised ({why}): {tail}"),
        );
    }

    /// Places the summary node in the stored tree between the last message it replaces and
    /// the first it keeps.
    async fn persist_summary(
        &mut self,
        id: &ConversationId,
        replaces: usize,
        text: &str,
        model: &str,
    ) {
        let Some(store) = self.store_for(id) else {
            return;
        };
        let key = id.0.clone();
        let path = store
            .call(move |s| s.active_path(&key))
            .await
            .and_then(|r| r);
        let path = match path {
            Ok(path) => path,
            Err(e) => {
                self.error(Some(id), format!("the summary could not be saved: {e}"));
                return;
            }
        };
        // The path's messages in history order, as `load_stored` reads them.
        let positions: Vec<usize> = path
            .iter()
            .enumerate()
            .filter(|(_, m)| super::persist::is_history(m))
            .map(|(i, _)| i)
            .collect();
        let (Some(&before), true) = (positions.get(replaces), replaces > 0) else {
            tracing::warn!(
                replaces,
                "the summary's place in the stored tree was not found"
            );
            return;
        };
        let Some(after) = before.checked_sub(1).map(|i| path[i].id) else {
            return;
        };
        let before = path[before].id;
        let (key, text, model) = (id.0.clone(), text.to_string(), model.to_string());
        let saved = store
            .call(move |s| s.insert_summary(&key, after, before, &text, &model))
            .await
            .and_then(|r| r);
        if let Err(e) = saved {
            self.error(Some(id), format!("the summary could not be saved: {e}"));
        }
    }

    /// `Command::Compact`: summarise now, outside any run.
    pub(crate) async fn compact_now(&mut self, id: &ConversationId) {
        self.ensure_loaded(id).await;
        if self.refuse_if_active(id) {
            return;
        }
        let model = self.base_model(id);
        self.load_learned_window(id, &model).await;
        let window = self.window_for(id, &model);
        if !self.maybe_compact(id, &model, 0, window, true) {
            self.error(
                Some(id),
                "there is nothing to compact: the conversation's older turns already fit, or it has only one turn".into(),
            );
        }
    }
}

/// Asks for the summary and reports it to the engine at Low priority.
async fn summary_task(
    provider: Arc<dyn Provider>,
    request: ChatRequest,
    cancel: CancellationToken,
    queue: Arc<EventQueue<Input>>,
    conversation: ConversationId,
    token: u64,
) {
    let result = tokio::select! {
        biased;
        _ = cancel.cancelled() => return,
        r = collect_text(provider, request, cancel.clone()) => r,
    };
    queue.push(
        Priority::Low,
        Input::Compacted {
            conversation,
            done: CompactionDone { token, result },
        },
    );
}

async fn collect_text(
    provider: Arc<dyn Provider>,
    request: ChatRequest,
    cancel: CancellationToken,
) -> Result<String, LlmError> {
    let mut events = provider.stream(request, cancel).await?;
    let mut text = String::new();
    while let Some(event) = events.next().await {
        match event? {
            StreamEvent::TextDelta(delta) => text.push_str(&delta),
            StreamEvent::Finished(_) => break,
            _ => {}
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    fn turn(i: usize, size: usize) -> Vec<ChatMessage> {
        vec![
            ChatMessage::user(format!("q{i} {}", "x".repeat(size))),
            ChatMessage::assistant(format!("a{i} {}", "y".repeat(size))),
        ]
    }

    #[test]
    fn the_newest_turns_that_fit_are_kept_and_the_rest_summarised() {
        let msgs: Vec<_> = (0..6).flat_map(|i| turn(i, 400)).collect();
        // Each turn is ~210 tokens: two fit in 500.
        assert_eq!(split_for_summary(&msgs, 500), 8);
        // The newest turn stays even when it alone is over.
        assert_eq!(split_for_summary(&msgs, 10), 10);
        // One turn: nothing older to summarise.
        assert_eq!(split_for_summary(&turn(0, 4000), 10), 0);
    }

    #[test]
    fn a_tool_call_is_never_split_from_its_result() {
        let mut msgs = turn(0, 400);
        msgs.push(ChatMessage::user("read it"));
        let mut call = ChatMessage::assistant("");
        call.tool_calls = vec![ToolCall {
            id: "c".into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        }];
        msgs.push(call);
        msgs.push(ChatMessage::tool_result("c", "z".repeat(4000)));
        msgs.push(ChatMessage::assistant("done"));
        let split = split_for_summary(&msgs, 100);
        assert_eq!(split, 2, "the whole tool turn is kept together");
        assert_eq!(msgs[split].role, Role::User);
    }

    #[test]
    fn the_transcript_keeps_the_previous_summary_and_the_newest_words() {
        let msgs: Vec<_> = (0..20).flat_map(|i| turn(i, 400)).collect();
        let t = transcript(Some("Earlier: the user is Ada."), &msgs, 500);
        assert!(t.starts_with("Summary of what came before: Earlier: the user is Ada."));
        assert!(t.contains("[older messages left out]"));
        assert!(t.ends_with(&format!("Assistant: a19 {}", "y".repeat(400))));
        assert!(estimate_tokens(&t) <= 520, "{}", estimate_tokens(&t));
        let short = transcript(None, &turn(0, 5), 500);
        assert_eq!(short, "User: q0 xxxxx\n\nAssistant: a0 yyyyy");
    }
}
