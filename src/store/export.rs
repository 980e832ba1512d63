//! Export to Markdown and lossless JSON; import of our JSON and of OpenAI-style message arrays.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use base64::Engine as _;

use super::attachments::insert_attachment;
use super::conversations::{fallback_title, not_found};
use super::error::{Result, StoreError};
use super::messages::insert_message;
use super::usage::{INSERT_TOOL_CALL, INSERT_USAGE};
use super::{
    Conversation, MessageId, MessageStatus, NewMessage, Role, Store, StoredAttachment,
    StoredMessage, StoredToolCall, UsageRecord, now_ms,
};

/// The `format` field of a JSON export.
pub const EXPORT_FORMAT: &str = "rustbot.conversation";
/// The `version` field of a JSON export this build writes (and the newest it reads).
pub const EXPORT_VERSION: u32 = 1;

/// A JSON export: everything about one conversation and nothing else (no keys, no settings).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportFile {
    format: String,
    version: u32,
    exported_at: i64,
    conversation: Conversation,
    messages: Vec<StoredMessage>,
    #[serde(default)]
    usage: Vec<UsageRecord>,
    #[serde(default)]
    tool_calls: Vec<StoredToolCall>,
    /// Absent when there are none, so exports without attachments read as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<ExportedAttachment>,
}

/// A file attached to a message, in a JSON export: base64 with its media type.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportedAttachment {
    /// The message it belongs to (an id inside the export).
    message_id: MessageId,
    name: String,
    media_type: String,
    /// The bytes, standard base64.
    data: String,
}

impl Store {
    /// The whole conversation (every branch, usage, tool calls) as JSON; lossless.
    pub fn export_json(&self, conversation_id: &str) -> Result<String> {
        let conversation = self
            .conversation(conversation_id)?
            .ok_or_else(|| not_found(conversation_id))?;
        let file = ExportFile {
            format: EXPORT_FORMAT.to_string(),
            version: EXPORT_VERSION,
            exported_at: now_ms(),
            conversation,
            messages: self.messages(conversation_id)?,
            usage: self.conversation_usage(conversation_id)?,
            tool_calls: self.tool_calls(conversation_id)?,
            attachments: self.exported_attachments(conversation_id)?,
        };
        serde_json::to_string_pretty(&file)
            .map_err(|e| StoreError::Invalid(format!("Could not write the export: {e}.")))
    }

    /// Imports a JSON export; returns the conversation's id (a new one if the id is taken).
    pub fn import_json(&self, json: &str) -> Result<String> {
        let file: ExportFile = serde_json::from_str(json)?;
        if file.format != EXPORT_FORMAT {
            return Err(StoreError::Import(format!(
                "its format is `{}`, expected `{EXPORT_FORMAT}`",
                file.format
            )));
        }
        if file.version > EXPORT_VERSION {
            return Err(StoreError::Import(format!(
                "it was written by a newer Rustbot (export version {}, this one reads up to {EXPORT_VERSION})",
                file.version
            )));
        }
        let tx = self.write_tx()?;
        let taken: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM conversations WHERE id = ?1",
                [&file.conversation.id],
                |r| r.get(0),
            )
            .optional()?;
        let conv = &file.conversation;
        let id = match taken {
            Some(_) => uuid::Uuid::now_v7().to_string(),
            None if conv.id.trim().is_empty() => uuid::Uuid::now_v7().to_string(),
            None => conv.id.clone(),
        };
        tx.execute(
            "INSERT INTO conversations (id, title, provider, model, system_prompt, agent,
                 created_at, updated_at, pinned, archived, profile)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                id,
                conv.title,
                conv.provider,
                conv.model,
                conv.system_prompt,
                conv.agent,
                conv.created_at,
                conv.updated_at,
                conv.pinned,
                conv.archived,
                conv.profile
            ],
        )?;
        let mut new_ids: HashMap<MessageId, MessageId> = HashMap::new();
        for m in parents_first(&file.messages)? {
            // Nobody is streaming an imported answer; keep the text, mark it cut short.
            let status = match m.status {
                MessageStatus::Streaming => MessageStatus::Stopped,
                s => s,
            };
            tx.prepare_cached(
                "INSERT INTO messages (conversation_id, parent_id, role, content, status, error,
                     model, tool_call_id, tool_calls, prompt_tokens, completion_tokens, cost_usd,
                     ttft_ms, duration_ms, created_at, updated_at, reasoning, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18)",
            )?
            .execute(params![
                id,
                m.parent_id.and_then(|p| new_ids.get(&p).copied()),
                m.role,
                m.content,
                status,
                m.error,
                m.model,
                m.tool_call_id,
                m.tool_calls,
                m.prompt_tokens,
                m.completion_tokens,
                m.cost_usd,
                m.ttft_ms,
                m.duration_ms,
                m.created_at,
                m.updated_at,
                m.reasoning,
                m.kind,
            ])?;
            new_ids.insert(m.id, MessageId(tx.last_insert_rowid()));
        }
        let leaf = conv.selected_leaf_id.and_then(|l| new_ids.get(&l).copied());
        tx.execute(
            "UPDATE conversations SET selected_leaf_id = ?2 WHERE id = ?1",
            params![id, leaf],
        )?;
        let map = |m: Option<MessageId>| m.and_then(|m| new_ids.get(&m).copied());
        for u in &file.usage {
            tx.prepare_cached(INSERT_USAGE)?.execute(params![
                id,
                map(u.message_id),
                u.provider,
                u.model,
                u.prompt_tokens,
                u.completion_tokens,
                u.cost_usd,
                u.at,
                u.reasoning_tokens
            ])?;
        }
        let mut position: HashMap<MessageId, usize> = HashMap::new();
        for a in &file.attachments {
            let message = new_ids.get(&a.message_id).copied().ok_or_else(|| {
                StoreError::Import(format!(
                    "attachment {} belongs to message {}, which is not in the file",
                    a.name, a.message_id
                ))
            })?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(a.data.as_bytes())
                .map_err(|e| {
                    StoreError::Import(format!("attachment {} is not valid base64 ({e})", a.name))
                })?;
            let at = position.entry(message).or_default();
            insert_attachment(
                &tx,
                message,
                *at,
                &StoredAttachment {
                    name: a.name.clone(),
                    media_type: a.media_type.clone(),
                    data,
                },
            )?;
            *at += 1;
        }
        for t in &file.tool_calls {
            let c = &t.record;
            tx.prepare_cached(INSERT_TOOL_CALL)?.execute(params![
                id,
                map(c.message_id),
                c.call_id,
                c.name,
                c.arguments,
                c.result,
                c.approval,
                c.status,
                c.started_at,
                c.finished_at
            ])?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Every attachment of the conversation, message by message, in order.
    fn exported_attachments(&self, conversation_id: &str) -> Result<Vec<ExportedAttachment>> {
        let mut by_message: Vec<_> = self
            .conversation_attachments(conversation_id)?
            .into_iter()
            .collect();
        by_message.sort_by_key(|(id, _)| *id);
        Ok(by_message
            .into_iter()
            .flat_map(|(message_id, files)| {
                files.into_iter().map(move |a| ExportedAttachment {
                    message_id,
                    name: a.name,
                    media_type: a.media_type,
                    data: base64::engine::general_purpose::STANDARD.encode(&a.data),
                })
            })
            .collect())
    }

    /// Imports an OpenAI-style `[{"role","content"}]` array or `{"messages": [...]}` object as a
    /// new conversation (one chain); leading system messages become its system prompt.
    pub fn import_openai_messages(&self, json: &str) -> Result<String> {
        let input: OpenAiInput = serde_json::from_str(json)?;
        let (messages, model, title) = match input {
            OpenAiInput::List(messages) => (messages, None, None),
            OpenAiInput::Object {
                messages,
                model,
                title,
            } => (messages, model, title),
        };
        let mut system = Vec::new();
        let mut rest = Vec::new();
        for (i, m) in messages.into_iter().enumerate() {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" | "function" => Role::Tool,
                other => {
                    return Err(StoreError::Import(format!(
                        "message {} has the unknown role `{other}`",
                        i + 1
                    )));
                }
            };
            let content = m.content.map(OpenAiContent::into_text).unwrap_or_default();
            if role == Role::System && rest.is_empty() {
                system.push(content);
            } else {
                rest.push((role, content, m.tool_calls, m.tool_call_id));
            }
        }
        let title = title.or_else(|| {
            rest.iter()
                .find(|(role, ..)| *role == Role::User)
                .map(|(_, content, ..)| fallback_title(content))
        });
        let id = uuid::Uuid::now_v7().to_string();
        let tx = self.write_tx()?;
        // Statements on `self.conn` run inside `tx`: it is the same connection.
        self.create_conversation(
            &id,
            &super::NewConversation {
                title,
                // Empty provider and model mean "the configured default" when continued.
                provider: String::new(),
                model: model.clone().unwrap_or_default(),
                system_prompt: system.join("\n\n"),
                agent: None,
                profile: None,
            },
        )?;
        let mut parent = None;
        for (role, content, tool_calls, tool_call_id) in rest {
            let mut new = NewMessage::new(&id, role, &content);
            new.parent_id = parent;
            new.tool_call_id = tool_call_id;
            new.tool_calls = tool_calls.map(|v| v.to_string());
            if role == Role::Assistant {
                new.model.clone_from(&model);
            }
            parent = Some(insert_message(&tx, &self.session.id, &new)?);
        }
        tx.commit()?;
        Ok(id)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OpenAiInput {
    List(Vec<OpenAiMessage>),
    Object {
        messages: Vec<OpenAiMessage>,
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        title: Option<String>,
    },
}

#[derive(Deserialize)]
struct OpenAiMessage {
    role: String,
    #[serde(default)]
    content: Option<OpenAiContent>,
    #[serde(default)]
    tool_calls: Option<serde_json::Value>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OpenAiContent {
    Text(String),
    Parts(Vec<OpenAiPart>),
}

#[derive(Deserialize)]
struct OpenAiPart {
    #[serde(default)]
    text: Option<String>,
}

impl OpenAiContent {
    fn into_text(self) -> String {
        match self {
            OpenAiContent::Text(t) => t,
            // Images and audio have no place in a text history; their text parts are kept.
            OpenAiContent::Parts(parts) => parts
                .into_iter()
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Orders messages so every parent comes before its children; rejects dangling parents and cycles.
fn parents_first(messages: &[StoredMessage]) -> Result<Vec<&StoredMessage>> {
    let by_id: HashMap<MessageId, &StoredMessage> = messages.iter().map(|m| (m.id, m)).collect();
    if by_id.len() != messages.len() {
        return Err(StoreError::Import("two messages share an id".to_string()));
    }
    let mut placed: HashMap<MessageId, ()> = HashMap::new();
    let mut order = Vec::with_capacity(messages.len());
    let mut pending: Vec<&StoredMessage> = messages.iter().collect();
    pending.sort_by_key(|m| m.id);
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|m| {
            let ready = match m.parent_id {
                None => true,
                Some(p) => placed.contains_key(&p),
            };
            if ready {
                placed.insert(m.id, ());
                order.push(*m);
            }
            !ready
        });
        if pending.len() == before {
            let m = pending[0];
            return Err(StoreError::Import(format!(
                "message {} has a parent ({}) that is missing or part of a cycle",
                m.id,
                m.parent_id.map_or_else(String::new, |p| p.to_string())
            )));
        }
    }
    Ok(order)
}
