//! Usage records (tokens and cost per request) and tool calls.

use rusqlite::{Row, params};

use super::error::{Result, StoreError};
use super::{ModelUsage, Store, StoredToolCall, ToolCallRecord, UsageRecord, UsageTotals};

pub(crate) fn usage_from_row(r: &Row<'_>) -> rusqlite::Result<UsageRecord> {
    Ok(UsageRecord {
        conversation_id: r.get(0)?,
        message_id: r.get(1)?,
        provider: r.get(2)?,
        model: r.get(3)?,
        prompt_tokens: r.get(4)?,
        completion_tokens: r.get(5)?,
        cost_usd: r.get(6)?,
        at: r.get(7)?,
        reasoning_tokens: r.get(8)?,
    })
}

pub(crate) fn tool_call_from_row(r: &Row<'_>) -> rusqlite::Result<StoredToolCall> {
    Ok(StoredToolCall {
        id: r.get(0)?,
        record: ToolCallRecord {
            conversation_id: r.get(1)?,
            message_id: r.get(2)?,
            call_id: r.get(3)?,
            name: r.get(4)?,
            arguments: r.get(5)?,
            result: r.get(6)?,
            approval: r.get(7)?,
            status: r.get(8)?,
            started_at: r.get(9)?,
            finished_at: r.get(10)?,
        },
    })
}

pub(crate) const INSERT_USAGE: &str = "INSERT INTO usage (conversation_id, message_id, provider, \
     model, prompt_tokens, completion_tokens, cost_usd, at, reasoning_tokens) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

pub(crate) const INSERT_TOOL_CALL: &str = "INSERT INTO tool_calls (conversation_id, message_id, \
     call_id, name, arguments, result, approval, status, started_at, finished_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

impl Store {
    /// Records the tokens and cost of one request.
    pub fn record_usage(&self, usage: &UsageRecord) -> Result<i64> {
        self.conn.prepare_cached(INSERT_USAGE)?.execute(params![
            usage.conversation_id,
            usage.message_id,
            usage.provider,
            usage.model,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cost_usd,
            usage.at,
            usage.reasoning_tokens,
        ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Usage records of one conversation, oldest first.
    pub fn conversation_usage(&self, conversation_id: &str) -> Result<Vec<UsageRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT conversation_id, message_id, provider, model, prompt_tokens,
                    completion_tokens, cost_usd, at, reasoning_tokens
             FROM usage WHERE conversation_id = ?1 ORDER BY at, id",
        )?;
        let rows = stmt.query_map([conversation_id], usage_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Totals since a time (unix ms), or over all time, overall and per model.
    pub fn usage_totals(&self, since_ms: Option<i64>) -> Result<UsageTotals> {
        let since = since_ms.unwrap_or(i64::MIN);
        let mut stmt = self.conn.prepare_cached(
            "SELECT provider, model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),
                    TOTAL(cost_usd), SUM(reasoning_tokens)
             FROM usage WHERE at >= ?1
             GROUP BY provider, model ORDER BY TOTAL(cost_usd) DESC, provider, model",
        )?;
        let by_model = stmt
            .query_map([since], |r| {
                Ok(ModelUsage {
                    provider: r.get(0)?,
                    model: r.get(1)?,
                    requests: r.get(2)?,
                    prompt_tokens: r.get(3)?,
                    completion_tokens: r.get(4)?,
                    cost_usd: r.get(5)?,
                    reasoning_tokens: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut totals = UsageTotals::default();
        for m in &by_model {
            totals.requests += m.requests;
            totals.prompt_tokens += m.prompt_tokens;
            totals.completion_tokens += m.completion_tokens;
            totals.reasoning_tokens += m.reasoning_tokens;
            totals.cost_usd += m.cost_usd;
        }
        totals.by_model = by_model;
        Ok(totals)
    }

    /// Answers that failed (the provider refused, the connection broke…) since `since_ms`.
    pub fn failed_answers(&self, since_ms: Option<i64>) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM messages
                 WHERE role = 'assistant' AND status = 'failed' AND created_at >= ?1",
            )?
            .query_row([since_ms.unwrap_or(i64::MIN)], |r| r.get(0))?)
    }

    /// Records a tool call; returns its row id for `update_tool_call`.
    pub fn record_tool_call(&self, call: &ToolCallRecord) -> Result<i64> {
        self.conn
            .prepare_cached(INSERT_TOOL_CALL)?
            .execute(params![
                call.conversation_id,
                call.message_id,
                call.call_id,
                call.name,
                call.arguments,
                call.result,
                call.approval,
                call.status,
                call.started_at,
                call.finished_at,
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Replaces a recorded tool call's result, approval, status and end time.
    pub fn update_tool_call(&self, id: i64, call: &ToolCallRecord) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE tool_calls SET result = ?2, approval = ?3, status = ?4, finished_at = ?5
             WHERE id = ?1",
            params![
                id,
                call.result,
                call.approval,
                call.status,
                call.finished_at
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "tool call",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Tool calls of one conversation, oldest first.
    pub fn tool_calls(&self, conversation_id: &str) -> Result<Vec<StoredToolCall>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, conversation_id, message_id, call_id, name, arguments, result, approval,
                    status, started_at, finished_at
             FROM tool_calls WHERE conversation_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([conversation_id], tool_call_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
