//! Messages: storing both sides of an exchange and reading history.

use std::collections::HashMap;

use diesel::prelude::*;

use super::pagination::{keyset_page, Cursor, Direction, Page, PageRequest};
use super::sessions::{self, Access};
use crate::clock::{new_id, now_ms};
use crate::db::models::{Message, Session, Source};
use crate::db::schema::{chat_messages, chat_sessions, message_sources};
use crate::db::DbConnection;
use crate::domain::Role;
use crate::error::AppError;
use crate::llm::{self, Reply};

/// A message with the sources it drew on.
#[derive(Debug, Clone)]
pub struct MessageWithSources {
    pub message: Message,
    pub sources: Vec<Source>,
}

fn cursor_of(m: &MessageWithSources) -> Cursor {
    Cursor {
        key: m.message.created_at,
        id: m.message.id.clone(),
    }
}

/// A page of a session's messages in time order (`Ascending`: oldest
/// first); 404 when the session is absent or not visible with `access`.
pub fn list(
    conn: &mut DbConnection,
    access: &Access,
    session_id: &str,
    direction: Direction,
    page: &PageRequest,
) -> Result<Page<MessageWithSources>, AppError> {
    sessions::get(conn, access, session_id)?;
    let query = chat_messages::table
        .filter(chat_messages::session_id.eq(session_id.to_owned()))
        .select(Message::as_select())
        .into_boxed();
    let query = keyset_page!(
        query,
        page,
        direction,
        chat_messages::created_at,
        chat_messages::id
    );
    let rows = query.load(conn)?;
    let stored = with_sources(conn, rows)?;
    Ok(Page::from_rows(stored, page, cursor_of))
}

/// Loads the sources of `messages` in one query.
fn with_sources(
    conn: &mut DbConnection,
    messages: Vec<Message>,
) -> Result<Vec<MessageWithSources>, AppError> {
    let assistant_ids: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .map(|m| m.id.as_str())
        .collect();
    let mut by_message: HashMap<String, Vec<Source>> = HashMap::new();
    if !assistant_ids.is_empty() {
        let sources: Vec<Source> = message_sources::table
            .filter(message_sources::message_id.eq_any(&assistant_ids))
            .order((message_sources::message_id, message_sources::position))
            .select(Source::as_select())
            .load(conn)?;
        for s in sources {
            by_message.entry(s.message_id.clone()).or_default().push(s);
        }
    }
    Ok(messages
        .into_iter()
        .map(|message| {
            let sources = by_message.remove(&message.id).unwrap_or_default();
            MessageWithSources { message, sources }
        })
        .collect())
}

/// Marks activity on a session: one more message, `updated_at` bumped.
fn bump(conn: &mut DbConnection, session_id: &str, at: i64) -> Result<(), AppError> {
    diesel::update(chat_sessions::table.find(session_id))
        .set((
            chat_sessions::message_count.eq(chat_sessions::message_count + 1),
            chat_sessions::updated_at.eq(at),
            chat_sessions::last_message_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores the user's message (before the model is asked) in the caller's
/// session; returns it with the session as it was before.
pub fn append_user_message(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    content: &str,
) -> Result<(MessageWithSources, Session), AppError> {
    conn.immediate_transaction(|conn| {
        let session = sessions::get_owned(conn, user_id, session_id)?;
        let now = now_ms().max(session.last_message_at.unwrap_or(0));
        let message = Message {
            id: new_id(),
            session_id: session_id.to_owned(),
            role: Role::User,
            content: content.to_owned(),
            model: None,
            confidence: None,
            prompt_tokens: None,
            completion_tokens: None,
            latency_ms: None,
            fallback: false,
            created_at: now,
        };
        diesel::insert_into(chat_messages::table)
            .values(&message)
            .execute(conn)?;
        bump(conn, session_id, now)?;
        Ok((
            MessageWithSources {
                message,
                sources: Vec::new(),
            },
            session,
        ))
    })
}

/// The most recent turns that fit both limits, oldest first. Reads at most
/// `max_messages` rows, whatever the length of the session.
pub fn recent_history(
    conn: &mut DbConnection,
    session_id: &str,
    max_messages: usize,
    max_chars: usize,
) -> Result<Vec<llm::Message>, AppError> {
    let limit = i64::try_from(max_messages).unwrap_or(i64::MAX);
    let rows: Vec<(Role, String)> = chat_messages::table
        .filter(chat_messages::session_id.eq(session_id))
        .order((chat_messages::created_at.desc(), chat_messages::id.desc()))
        .select((chat_messages::role, chat_messages::content))
        .limit(limit)
        .load(conn)?;
    let mut turns = Vec::with_capacity(rows.len());
    let mut chars = 0usize;
    for (role, content) in rows {
        let len = content.chars().count();
        // The newest message (the question) always goes in.
        if !turns.is_empty() && chars + len > max_chars {
            break;
        }
        chars += len;
        turns.push(llm::Message { role, content });
    }
    turns.reverse();
    Ok(turns)
}

/// Stores a finished reply and its sources, after `after` (the question's time).
pub fn append_assistant_message(
    conn: &mut DbConnection,
    session_id: &str,
    reply: &Reply,
    after: i64,
) -> Result<MessageWithSources, AppError> {
    conn.immediate_transaction(|conn| {
        let exists: i64 = chat_sessions::table
            .find(session_id)
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(AppError::not_found("chat session"));
        }
        let now = now_ms().max(after);
        let message = Message {
            id: new_id(),
            session_id: session_id.to_owned(),
            role: Role::Assistant,
            content: reply.content.clone(),
            model: Some(reply.model.clone()),
            confidence: Some(reply.confidence.clamp(0.0, 1.0)),
            prompt_tokens: reply.usage.map(|u| i64::from(u.prompt_tokens)),
            completion_tokens: reply.usage.map(|u| i64::from(u.completion_tokens)),
            latency_ms: Some(i64::try_from(reply.latency_ms).unwrap_or(i64::MAX)),
            fallback: reply.fallback,
            created_at: now,
        };
        diesel::insert_into(chat_messages::table)
            .values(&message)
            .execute(conn)?;
        let sources: Vec<Source> = reply
            .sources
            .iter()
            .zip(0..)
            .map(|(s, position)| Source {
                id: new_id(),
                message_id: message.id.clone(),
                position,
                title: s.title.clone(),
                url: s.url.clone(),
                snippet: s.snippet.clone(),
            })
            .collect();
        if !sources.is_empty() {
            diesel::insert_into(message_sources::table)
                .values(&sources)
                .execute(conn)?;
        }
        bump(conn, session_id, now)?;
        Ok(MessageWithSources { message, sources })
    })
}
