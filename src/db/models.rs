//! Rows as diesel reads and writes them: one struct per table.
//!
//! Ids are UUID strings and times are Unix milliseconds: both are portable
//! across SQLite and PostgreSQL, sort correctly, and make keyset pagination
//! cheap.

use diesel::prelude::*;

use crate::domain::{MessageStatus, Rating, Role};

use super::schema::{
    chat_messages, chat_sessions, idempotency_keys, message_feedback, message_sources,
    refresh_tokens, users,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = chat_sessions)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub message_count: i64,
    pub last_message_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Inserted with every column, `None` as NULL: one SQL text for every row,
/// so the statement is kept ([`super::cached::Cached`]).
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = chat_messages, treat_none_as_default_value = false)]
pub struct Message {
    pub id: String,
    pub session_id: String,
    pub role: Role,
    pub content: String,
    pub model: Option<String>,
    pub confidence: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub fallback: bool,
    pub created_at: i64,
    pub status: MessageStatus,
    pub superseded_by: Option<String>,
    /// The process writing a `generating` reply, and until when (Unix ms)
    /// it holds it; another process may take it over after that.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = message_sources)]
pub struct Source {
    pub id: String,
    pub message_id: String,
    pub position: i32,
    pub title: String,
    pub url: String,
    pub snippet: String,
}

/// A user's rating of an assistant message (one per message).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = message_feedback)]
pub struct Feedback {
    pub message_id: String,
    pub rating: Rating,
    pub comment: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyKey {
    pub user_id: String,
    pub key: String,
    pub method: String,
    pub path: String,
    pub request_hash: String,
    pub status_code: i32,
    pub response_body: Option<String>,
    pub user_message_id: Option<String>,
    pub reply_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}
