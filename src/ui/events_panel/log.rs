//! The Events page's model: rows (live and stored), derived priorities, one-line summaries
//! and the filter, with bounded memory.
//!
//! Priorities are derived from the event kind the way the engine queues the work behind it:
//! a state change into `stopping` and a run that ended `stopped` are **Critical** (Stop);
//! the user's input and approvals (`conversation_created`, `user_message`, `tool_decision`)
//! are **High**; stream events, tool calls and results, usage, state changes, retries,
//! budget warnings, errors and `done` are **Normal**; titles and `lagged` are **Low**.
//!
//! At most [`EVENT_CAPACITY`] rows are kept, the oldest dropped first. Consecutive text
//! deltas of one conversation share a row.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::engine::queue::Priority;
use crate::engine::{EngineEvent, RunStatus};
use crate::store::StoredEvent;
use crate::ui::view_model::UnixMs;

/// Rows kept in memory at most; the oldest go first.
pub const EVENT_CAPACITY: usize = 100_000;

/// Stored events read per page.
pub const EVENT_PAGE: u32 = 500;

/// An event as received (live) or as stored (JSON that may not parse as today's events).
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// A parsed engine event.
    Event(EngineEvent),
    /// Stored JSON this build cannot parse.
    Raw(String),
}

impl EventPayload {
    /// The event as one line of JSON.
    pub fn json(&self) -> String {
        match self {
            EventPayload::Event(e) => serde_json::to_string(e).unwrap_or_default(),
            EventPayload::Raw(json) => json.clone(),
        }
    }
}

/// One row of the Events page.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// When it happened (received, for live events), unix ms.
    pub at_ms: UnixMs,
    /// Derived priority (see the module docs).
    pub priority: Priority,
    /// The event's `type`.
    pub kind: String,
    /// The conversation, if any.
    pub conversation: Option<String>,
    /// One-line summary.
    pub summary: String,
    /// The event itself.
    pub payload: Arc<EventPayload>,
}

/// The priority the engine gives the work behind an event.
pub fn event_priority(event: &EngineEvent) -> Priority {
    match event {
        EngineEvent::State { to, .. } if to.eq_ignore_ascii_case("stopping") => Priority::Critical,
        EngineEvent::Done {
            status: RunStatus::Stopped,
            ..
        } => Priority::Critical,
        EngineEvent::ConversationCreated { .. }
        | EngineEvent::UserMessage { .. }
        | EngineEvent::ToolDecision { .. } => Priority::High,
        EngineEvent::TitleChanged { .. } | EngineEvent::Lagged { .. } => Priority::Low,
        _ => Priority::Normal,
    }
}

/// A one-line summary of an event.
pub fn event_summary(event: &EngineEvent) -> String {
    let one_line = |s: &str| -> String {
        let line = s.lines().next().unwrap_or_default();
        let mut out: String = line.chars().take(120).collect();
        if out.len() < s.len() {
            out.push('…');
        }
        out
    };
    match event {
        EngineEvent::ConversationCreated { .. } => "new conversation".into(),
        EngineEvent::UserMessage { text, .. } => one_line(text),
        EngineEvent::State { from, to, .. } => format!("{from} → {to}"),
        EngineEvent::RunStarted { model, .. } => model.clone(),
        EngineEvent::ContextTrimmed { dropped_turns, .. } => {
            format!("{dropped_turns} turns left out")
        }
        EngineEvent::Citations { citations, .. } => format!("{} sources", citations.len()),
        EngineEvent::Retrieval {
            query,
            bases,
            passages,
            ms,
            ..
        } => format!(
            "{} passages from {} in {ms} ms for \"{}\"{}",
            passages.len(),
            bases.join(", "),
            one_line(query),
            passages
                .first()
                .map(|p| format!(" (best {:.2}: {})", p.score, p.path))
                .unwrap_or_default()
        ),
        EngineEvent::Compacted {
            replaced_messages,
            summary_tokens,
            window_tokens,
            ..
        } => format!(
            "{replaced_messages} messages summarised in ~{summary_tokens} tokens (window {window_tokens})"
        ),
        EngineEvent::ContextUsage {
            used_tokens,
            window_tokens,
            ..
        } => format!("{used_tokens} of {window_tokens} context tokens"),
        EngineEvent::Text { delta, .. } | EngineEvent::Reasoning { delta, .. } => {
            chars_summary(delta.chars().count())
        }
        EngineEvent::Usage {
            prompt_tokens,
            completion_tokens,
            cost_usd,
            reasoning_tokens,
            ..
        } => format!(
            "{prompt_tokens} + {completion_tokens} tokens{}{}",
            if *reasoning_tokens > 0 {
                format!(" ({reasoning_tokens} reasoning)")
            } else {
                String::new()
            },
            cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default()
        ),
        EngineEvent::Retrying {
            attempt, reason, ..
        } => format!("attempt {attempt}: {}", one_line(reason)),
        EngineEvent::ToolCall {
            name, arguments, ..
        } => format!("{name} {}", one_line(arguments)),
        EngineEvent::ToolDecision {
            call_id, decision, ..
        } => format!("{call_id}: {decision:?}"),
        EngineEvent::ToolResult {
            name,
            is_error,
            content,
            ..
        } => format!(
            "{name} {}: {}",
            if *is_error { "failed" } else { "ok" },
            one_line(content)
        ),
        EngineEvent::BudgetWarning {
            scope,
            spent_usd,
            limit_usd,
            ..
        } => format!(
            "{} budget: ${spent_usd:.2} of ${limit_usd:.2}",
            scope.as_str()
        ),
        EngineEvent::TitleChanged { title, .. } => one_line(title),
        EngineEvent::BranchSelected { leaf, .. } => format!("branch through message {leaf}"),
        EngineEvent::MessageDeleted { message_ids, .. } => format!(
            "deleted message{} {}",
            if message_ids.len() == 1 { "" } else { "s" },
            message_ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EngineEvent::Done {
            status,
            error,
            metrics,
            ..
        } => match error {
            Some(e) => format!("{}: {}", status.as_str(), one_line(e)),
            None => format!(
                "{} in {} ms, {} tokens",
                status.as_str(),
                metrics.duration_ms,
                metrics.prompt_tokens + metrics.completion_tokens
            ),
        },
        EngineEvent::Error { message, .. } => one_line(message),
        EngineEvent::Lagged { dropped } => format!("{dropped} events dropped"),
        EngineEvent::RunStored {
            question, answer, ..
        } => match answer {
            Some(a) => format!("stored as messages {} and {}", question.id, a.id),
            None => format!("stored as message {}", question.id),
        },
        EngineEvent::ProviderChanged { error: None } => "provider changed".into(),
        EngineEvent::ProviderChanged { error: Some(e) } => format!("provider not changed: {e}"),
        EngineEvent::ProviderProbed { models, error } => match error {
            Some(e) => format!("provider probe failed: {}", one_line(e)),
            None => format!("provider lists {} models", models.len()),
        },
    }
}

impl EventRow {
    /// A row for a live event received at `now`.
    pub fn live(event: EngineEvent, now: UnixMs) -> Self {
        Self {
            at_ms: now,
            priority: event_priority(&event),
            kind: event.kind().to_string(),
            conversation: event.conversation().map(|c| c.0.clone()),
            summary: event_summary(&event),
            payload: Arc::new(EventPayload::Event(event)),
        }
    }

    /// A row for an event read from the store.
    pub fn stored(stored: StoredEvent) -> Self {
        match serde_json::from_str::<EngineEvent>(&stored.json) {
            Ok(event) => Self {
                at_ms: stored.at,
                ..Self::live(event, stored.at)
            },
            Err(_) => Self {
                at_ms: stored.at,
                priority: Priority::Normal,
                kind: stored.kind,
                conversation: stored.conversation_id,
                summary: String::new(),
                payload: Arc::new(EventPayload::Raw(stored.json)),
            },
        }
    }

    /// The row as shown (and as read by screen readers).
    pub fn line(&self) -> String {
        let conversation = self
            .conversation
            .as_deref()
            // The last 8 characters (not bytes: ids from `serve` or an import may be any text).
            .map(|c| c.char_indices().rev().nth(7).map_or(c, |(i, _)| &c[i..]))
            .unwrap_or("-");
        format!(
            "{}  {:<8}  {:<20}  {:<8}  {}",
            clock_time(self.at_ms),
            format!("{:?}", self.priority),
            self.kind,
            conversation,
            self.summary
        )
    }
}

/// What the rows are narrowed to.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFilter {
    /// Shown priorities: Low, Normal, High, Critical.
    pub priorities: [bool; 4],
    /// Only this kind (`None`: all).
    pub kind: Option<String>,
    /// Text searched (case-insensitive) in kind, conversation and summary.
    pub search: String,
}

impl Default for EventFilter {
    fn default() -> Self {
        Self {
            priorities: [true; 4],
            kind: None,
            search: String::new(),
        }
    }
}

/// Index of a priority in [`EventFilter::priorities`].
pub fn priority_index(p: Priority) -> usize {
    match p {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Critical => 3,
    }
}

impl EventFilter {
    /// Whether a row passes.
    pub fn matches(&self, row: &EventRow) -> bool {
        if !self.priorities[priority_index(row.priority)] {
            return false;
        }
        if self.kind.as_ref().is_some_and(|k| *k != row.kind) {
            return false;
        }
        let needle = self.search.trim();
        needle.is_empty()
            || contains_ignore_case(&row.summary, needle)
            || contains_ignore_case(&row.kind, needle)
            || row
                .conversation
                .as_deref()
                .is_some_and(|c| contains_ignore_case(c, needle))
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        let n = needle.as_bytes();
        haystack
            .as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n))
    } else {
        haystack.to_lowercase().contains(&needle.to_lowercase())
    }
}

/// The rows and which of them pass the filter. Rows are numbered by a sequence number that
/// grows with time (older stored pages get numbers below the first).
#[derive(Debug, Default)]
pub struct EventLog {
    rows: VecDeque<EventRow>,
    /// Sequence number of `rows[0]`.
    first_seq: i64,
    /// Sequence numbers of the rows passing `filter`, ascending.
    filtered: VecDeque<i64>,
    filter: EventFilter,
    kinds: BTreeSet<String>,
}

impl EventLog {
    /// All rows kept.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows are kept.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows passing the filter.
    pub fn filtered_len(&self) -> usize {
        self.filtered.len()
    }

    /// The kinds seen so far.
    pub fn kinds(&self) -> &BTreeSet<String> {
        &self.kinds
    }

    /// The filter in effect.
    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }

    /// Sets the filter, recomputing which rows pass when it changed.
    pub fn set_filter(&mut self, filter: EventFilter) {
        if filter == self.filter {
            return;
        }
        self.filter = filter;
        let first = self.first_seq;
        self.filtered = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| self.filter.matches(r))
            .map(|(i, _)| first + i as i64)
            .collect();
    }

    /// The `n`-th row passing the filter, with its sequence number.
    pub fn filtered_row(&self, n: usize) -> Option<(i64, &EventRow)> {
        let seq = *self.filtered.get(n)?;
        Some((seq, self.row(seq)?))
    }

    /// A row by sequence number.
    pub fn row(&self, seq: i64) -> Option<&EventRow> {
        usize::try_from(seq - self.first_seq)
            .ok()
            .and_then(|i| self.rows.get(i))
    }

    /// How many filtered rows have a sequence number of at most `seq`.
    pub fn filtered_up_to(&self, seq: i64) -> usize {
        self.filtered.partition_point(|s| *s <= seq)
    }

    /// Sequence number of the newest row.
    pub fn last_seq(&self) -> i64 {
        self.first_seq + self.rows.len() as i64 - 1
    }

    /// The payloads of the rows passing the filter, oldest first (cheap: shared).
    pub fn filtered_payloads(&self) -> Vec<Arc<EventPayload>> {
        self.filtered
            .iter()
            .filter_map(|s| self.row(*s))
            .map(|r| Arc::clone(&r.payload))
            .collect()
    }

    /// Records a live event.
    pub fn push(&mut self, event: &EngineEvent, now: UnixMs) {
        if let EngineEvent::Text {
            conversation,
            delta,
        } = event
            && let Some(last) = self.rows.back_mut()
            && let EventPayload::Event(EngineEvent::Text {
                conversation: c,
                delta: d,
            }) = &*last.payload
            && c == conversation
        {
            // Appended in place: the row is the only holder of its text unless the page handed
            // it out (`filtered_payloads`) since the last delta, and then it is copied once.
            // The summary counts the new characters only, so a delta costs its own length,
            // not the answer's so far.
            let chars = text_chars(&last.summary, d) + delta.chars().count();
            if let EventPayload::Event(EngineEvent::Text { delta: d, .. }) =
                Arc::make_mut(&mut last.payload)
            {
                d.push_str(delta);
            }
            last.summary = chars_summary(chars);
            return;
        }
        self.push_row(EventRow::live(event.clone(), now));
    }

    /// Appends a row as the newest.
    pub fn push_row(&mut self, row: EventRow) {
        if self.rows.len() >= EVENT_CAPACITY {
            self.rows.pop_front();
            self.first_seq += 1;
            while self.filtered.front().is_some_and(|s| *s < self.first_seq) {
                self.filtered.pop_front();
            }
        }
        self.kinds.insert(row.kind.clone());
        let pass = self.filter.matches(&row);
        self.rows.push_back(row);
        if pass {
            self.filtered.push_back(self.last_seq());
        }
    }

    /// Adds stored rows older than every row kept (`page` newest first, as the store reads
    /// it). Returns false when memory is full and nothing was added.
    pub fn prepend_stored(&mut self, page: Vec<StoredEvent>) -> bool {
        if self.rows.len() >= EVENT_CAPACITY {
            return false;
        }
        for stored in page {
            if self.rows.len() >= EVENT_CAPACITY {
                break;
            }
            let row = EventRow::stored(stored);
            self.kinds.insert(row.kind.clone());
            self.first_seq -= 1;
            if self.filter.matches(&row) {
                self.filtered.push_front(self.first_seq);
            }
            self.rows.push_front(row);
        }
        true
    }
}

/// A text row's summary.
fn chars_summary(chars: usize) -> String {
    format!("{chars} chars")
}

/// The characters of a text row's `delta`, read back from its summary (counted when it is
/// unreadable).
fn text_chars(summary: &str, delta: &str) -> usize {
    summary
        .strip_suffix(" chars")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| delta.chars().count())
}

/// `HH:MM:SS.mmm` in local time.
fn clock_time(ms: UnixMs) -> String {
    use chrono::{Local, TimeZone};
    Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::ConversationId;

    fn text(delta: &str) -> EngineEvent {
        EngineEvent::Text {
            conversation: ConversationId("c".into()),
            delta: delta.into(),
        }
    }

    #[test]
    fn adjacent_text_deltas_merge_in_place_and_a_handed_out_payload_keeps_its_text() {
        let mut log = EventLog::default();
        log.push(&text("héllo"), 1);
        log.push(&text(" wörld"), 2);
        assert_eq!(log.len(), 1);
        let row = log.row(log.last_seq()).unwrap();
        assert_eq!(row.summary, "11 chars");
        let shared = log.filtered_payloads();
        log.push(&text("!"), 3);
        let row = log.row(log.last_seq()).unwrap();
        assert_eq!(row.summary, "12 chars");
        assert_eq!(*row.payload, EventPayload::Event(text("héllo wörld!")));
        // What the page was given before the last delta is unchanged (copied on write).
        assert_eq!(*shared[0], EventPayload::Event(text("héllo wörld")));
    }
}
