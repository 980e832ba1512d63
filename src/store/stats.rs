//! Read-only queries for the Events and Stats panels: event pages, usage per day, model and
//! conversation, answer timings and tool-call counts. Days are UTC calendar days.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::{Store, StoredEvent};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Tokens and cost of one model on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyModelUsage {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Model id.
    pub model: String,
    /// Prompt plus answer tokens.
    pub tokens: i64,
    /// Cost in US dollars (unknown costs count as 0).
    pub cost_usd: f64,
}

/// Tokens and cost of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationUsage {
    /// Conversation id (`None` for usage of deleted conversations).
    pub conversation_id: Option<String>,
    /// Its title, when it has one and still exists.
    pub title: Option<String>,
    /// Prompt plus answer tokens.
    pub tokens: i64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// Speed figures of one stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerTiming {
    /// When the answer was written, unix ms.
    pub at: i64,
    /// Model that answered.
    pub model: Option<String>,
    /// Time to first token, ms.
    pub ttft_ms: Option<i64>,
    /// Whole request duration, ms.
    pub duration_ms: Option<i64>,
    /// Answer tokens.
    pub completion_tokens: Option<i64>,
}

/// How many calls of one tool ended one way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallCount {
    /// Tool name.
    pub name: String,
    /// Outcome (`succeeded`, `failed`, `denied`...).
    pub status: String,
    /// Number of calls.
    pub count: i64,
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        kind: r.get(2)?,
        json: r.get(3)?,
        at: r.get(4)?,
    })
}

impl Store {
    /// One page of the event log, newest first: events with `at` in `[since_ms, until_ms)` and
    /// an id below `before_id` (pass the last page's smallest id to read further back).
    pub fn events_page(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, conversation_id, kind, json, at FROM events
             WHERE at >= ?1 AND at < ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                since_ms.unwrap_or(i64::MIN),
                until_ms.unwrap_or(i64::MAX),
                before_id.unwrap_or(i64::MAX),
                limit
            ],
            event_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The newest `limit` events of one kind in one conversation, oldest first.
    pub fn conversation_events(
        &self,
        conversation_id: &str,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, conversation_id, kind, json, at FROM (
                 SELECT id, conversation_id, kind, json, at FROM events
                 WHERE conversation_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT ?3
             ) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![conversation_id, kind, limit], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Tokens and cost per UTC day and model since a time, oldest day first.
    pub fn usage_by_day(&self, since_ms: Option<i64>) -> Result<Vec<DailyModelUsage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at / ?2 AS day, model, SUM(prompt_tokens + completion_tokens),
                    TOTAL(cost_usd)
             FROM usage WHERE at >= ?1 GROUP BY day, model ORDER BY day, model",
        )?;
        let rows = stmt.query_map(params![since_ms.unwrap_or(i64::MIN), DAY_MS], |r| {
            Ok(DailyModelUsage {
                day: r.get(0)?,
                model: r.get(1)?,
                tokens: r.get(2)?,
                cost_usd: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Tokens and cost per conversation since a time, most expensive first, at most `limit`.
    pub fn usage_by_conversation(
        &self,
        since_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConversationUsage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.conversation_id, c.title, SUM(u.prompt_tokens + u.completion_tokens),
                    TOTAL(u.cost_usd) AS cost
             FROM usage u LEFT JOIN conversations c ON c.id = u.conversation_id
             WHERE u.at >= ?1 GROUP BY u.conversation_id
             ORDER BY cost DESC, 3 DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since_ms.unwrap_or(i64::MIN), limit], |r| {
            Ok(ConversationUsage {
                conversation_id: r.get(0)?,
                title: r.get(1)?,
                tokens: r.get(2)?,
                cost_usd: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Timings of finished answers since a time (the newest `limit`), oldest first.
    pub fn answer_timings(&self, since_ms: Option<i64>, limit: u32) -> Result<Vec<AnswerTiming>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT created_at, model, ttft_ms, duration_ms, completion_tokens FROM (
                 SELECT id, created_at, model, ttft_ms, duration_ms, completion_tokens
                 FROM messages
                 WHERE role = 'assistant' AND created_at >= ?1 AND status <> 'streaming'
                   AND (ttft_ms IS NOT NULL OR duration_ms IS NOT NULL)
                 ORDER BY id DESC LIMIT ?2
             ) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![since_ms.unwrap_or(i64::MIN), limit], |r| {
            Ok(AnswerTiming {
                at: r.get(0)?,
                model: r.get(1)?,
                ttft_ms: r.get(2)?,
                duration_ms: r.get(3)?,
                completion_tokens: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Tool calls started since a time, counted by tool and outcome.
    pub fn tool_call_counts(&self, since_ms: Option<i64>) -> Result<Vec<ToolCallCount>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, status, COUNT(*) FROM tool_calls WHERE started_at >= ?1
             GROUP BY name, status ORDER BY name, status",
        )?;
        let rows = stmt.query_map([since_ms.unwrap_or(i64::MIN)], |r| {
            Ok(ToolCallCount {
                name: r.get(0)?,
                status: r.get(1)?,
                count: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        MessageFinish, MessageStatus, NewConversation, NewMessage, Role, ToolApproval,
        ToolCallRecord, ToolCallStatus, UsageRecord,
    };

    fn store_with_conversation() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_conversation(
                "c1",
                &NewConversation {
                    title: Some("First".into()),
                    provider: "p".into(),
                    model: "m".into(),
                    ..NewConversation::default()
                },
            )
            .unwrap();
        (dir, store)
    }

    fn usage(
        conversation: Option<&str>,
        model: &str,
        tokens: i64,
        cost: f64,
        at: i64,
    ) -> UsageRecord {
        UsageRecord {
            conversation_id: conversation.map(String::from),
            message_id: None,
            provider: "p".into(),
            model: model.into(),
            prompt_tokens: tokens,
            completion_tokens: tokens,
            cost_usd: Some(cost),
            at,
            reasoning_tokens: 0,
        }
    }

    #[test]
    fn events_come_in_pages_newest_first_within_the_time_range() {
        let (_dir, store) = store_with_conversation();
        for i in 0..5 {
            store
                .append_event(Some("c1"), "state", &format!("{{\"i\":{i}}}"))
                .unwrap();
        }
        let first = store.events_page(None, None, None, 2).unwrap();
        assert_eq!(first.len(), 2);
        assert!(first[0].id > first[1].id);
        let next = store
            .events_page(None, None, Some(first[1].id), 10)
            .unwrap();
        assert_eq!(next.len(), 3);
        assert!(next.iter().all(|e| e.id < first[1].id));
        assert!(
            store
                .events_page(Some(i64::MAX - 1), None, None, 10)
                .unwrap()
                .is_empty()
        );
        let states = store.conversation_events("c1", "state", 3).unwrap();
        assert_eq!(states.len(), 3);
        assert!(states[0].id < states[2].id, "oldest first");
    }

    #[test]
    fn usage_is_grouped_by_utc_day_model_and_conversation() {
        let (_dir, store) = store_with_conversation();
        let day = 20_000 * DAY_MS;
        store
            .record_usage(&usage(Some("c1"), "a", 10, 0.5, day + 1))
            .unwrap();
        store
            .record_usage(&usage(Some("c1"), "a", 5, 0.25, day + DAY_MS - 1))
            .unwrap();
        store
            .record_usage(&usage(None, "b", 1, 1.0, day + DAY_MS))
            .unwrap();

        let days = store.usage_by_day(None).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(
            (days[0].day, days[0].model.as_str(), days[0].tokens),
            (20_000, "a", 30)
        );
        assert!((days[0].cost_usd - 0.75).abs() < 1e-9);
        assert_eq!((days[1].day, days[1].model.as_str()), (20_001, "b"));
        assert_eq!(store.usage_by_day(Some(day + DAY_MS)).unwrap().len(), 1);

        let convs = store.usage_by_conversation(None, 10).unwrap();
        assert_eq!(convs.len(), 2);
        assert_eq!(convs[0].conversation_id, None, "most expensive first");
        assert_eq!(convs[1].title.as_deref(), Some("First"));
        assert_eq!(convs[1].tokens, 30);
    }

    #[test]
    fn answer_timings_and_tool_call_counts() {
        let (_dir, store) = store_with_conversation();
        let q = store
            .append_message(&NewMessage::new("c1", Role::User, "q"))
            .unwrap();
        let a = store
            .append_message(&NewMessage {
                parent_id: Some(q),
                status: MessageStatus::Streaming,
                model: Some("m".into()),
                ..NewMessage::new("c1", Role::Assistant, "")
            })
            .unwrap();
        store
            .finish_message(
                a,
                &MessageFinish {
                    content: "answer".into(),
                    status: Some(MessageStatus::Complete),
                    completion_tokens: Some(40),
                    ttft_ms: Some(120),
                    duration_ms: Some(2120),
                    ..MessageFinish::default()
                },
            )
            .unwrap();
        let timings = store.answer_timings(None, 100).unwrap();
        assert_eq!(timings.len(), 1);
        assert_eq!(timings[0].ttft_ms, Some(120));
        assert_eq!(timings[0].completion_tokens, Some(40));

        for (name, status) in [
            ("read_file", ToolCallStatus::Succeeded),
            ("read_file", ToolCallStatus::Succeeded),
            ("shell", ToolCallStatus::Denied),
        ] {
            store
                .record_tool_call(&ToolCallRecord {
                    conversation_id: "c1".into(),
                    message_id: None,
                    call_id: None,
                    name: name.into(),
                    arguments: "{}".into(),
                    result: None,
                    approval: ToolApproval::Auto,
                    status,
                    started_at: 10,
                    finished_at: None,
                })
                .unwrap();
        }
        let counts = store.tool_call_counts(None).unwrap();
        assert_eq!(
            counts,
            vec![
                ToolCallCount {
                    name: "read_file".into(),
                    status: "succeeded".into(),
                    count: 2
                },
                ToolCallCount {
                    name: "shell".into(),
                    status: "denied".into(),
                    count: 1
                },
            ]
        );
        assert!(store.tool_call_counts(Some(11)).unwrap().is_empty());
    }
}
