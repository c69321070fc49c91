//! Messages: storing both sides of an exchange and reading history.

use std::collections::HashMap;

use diesel::prelude::*;

use super::chat::ContextLimits;
use super::pagination::{keyset_page, Cursor, Direction, Page, PageRequest};
use super::sessions::{self, Access};
use crate::clock::{new_id, now_ms};
use crate::db::cached::{padded, Cached};
use crate::db::models::{Feedback, Message, Session, Source};
use crate::db::schema::{chat_messages, chat_sessions, message_feedback, message_sources};
use crate::db::{native, write_transaction, DbConnection};
use crate::domain::{MessageStatus, Role};
use crate::error::AppError;
use crate::llm;

/// A message with the sources it drew on and the user's feedback on it.
#[derive(Debug, Clone)]
pub struct MessageWithSources {
    pub message: Message,
    pub sources: Vec<Source>,
    pub feedback: Option<Feedback>,
}

fn cursor_of(m: &MessageWithSources) -> Cursor {
    Cursor {
        key: m.message.created_at,
        id: m.message.id.clone(),
    }
}

/// A page of a session's conversation (with `include_superseded`, of every
/// message it stored) in time order (`Ascending`: oldest first); 404 when the session is absent or not visible with `access`.
pub fn list(
    conn: &mut DbConnection,
    access: &Access,
    session_id: &str,
    direction: Direction,
    page: &PageRequest,
    include_superseded: bool,
) -> Result<Page<MessageWithSources>, AppError> {
    sessions::get(conn, access, session_id)?;
    let rows = native!(conn, |c| {
        let mut query = chat_messages::table
            .filter(chat_messages::session_id.eq(session_id.to_owned()))
            .select(Message::as_select())
            .into_boxed();
        if !include_superseded {
            // The conversation: the range of the partial index
            // `chat_messages_conversation`, however many messages were replaced.
            query = query.filter(chat_messages::superseded_by.is_null());
        }
        let query = keyset_page!(
            query,
            page,
            direction,
            chat_messages::created_at,
            chat_messages::id
        );
        query.load(c)
    })?;
    let stored = with_sources(conn, rows)?;
    Ok(Page::from_rows(stored, page, cursor_of))
}

/// Loads the sources and the feedback of `messages` (one query each).
pub(super) fn with_sources(
    conn: &mut DbConnection,
    messages: Vec<Message>,
) -> Result<Vec<MessageWithSources>, AppError> {
    let assistant_ids: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .map(|m| m.id.as_str())
        .collect();
    let mut by_message: HashMap<String, Vec<Source>> = HashMap::new();
    let mut feedback: HashMap<String, Feedback> = HashMap::new();
    let (sources, rated): (Vec<Source>, Vec<Feedback>) = if assistant_ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let ids = padded(&assistant_ids);
        native!(conn, |c| {
            let sources = Cached(
                message_sources::table
                    .filter(message_sources::message_id.eq_any(&ids))
                    .order((message_sources::message_id, message_sources::position))
                    .select(Source::as_select()),
            )
            .load(c)?;
            let rated = Cached(
                message_feedback::table
                    .filter(message_feedback::message_id.eq_any(&ids))
                    .select(Feedback::as_select()),
            )
            .load(c)?;
            (sources, rated)
        })
    };
    for s in sources {
        by_message.entry(s.message_id.clone()).or_default().push(s);
    }
    feedback.extend(rated.into_iter().map(|f| (f.message_id.clone(), f)));
    Ok(messages
        .into_iter()
        .map(|message| {
            let sources = by_message.remove(&message.id).unwrap_or_default();
            let feedback = feedback.remove(&message.id);
            MessageWithSources {
                message,
                sources,
                feedback,
            }
        })
        .collect())
}

/// Marks activity on a session: `added` more messages, `updated_at` bumped.
pub(super) fn bump(
    conn: &mut DbConnection,
    session_id: &str,
    added: i64,
    at: i64,
) -> Result<(), AppError> {
    native!(conn, |c| Cached(
        diesel::update(chat_sessions::table.find(session_id)).set((
            chat_sessions::message_count.eq(chat_sessions::message_count + added),
            chat_sessions::updated_at.eq(at),
            chat_sessions::last_message_at.eq(at),
        ))
    )
    .execute(c))?;
    Ok(())
}

/// Who writes a reply and for how long its claim holds without renewal.
#[derive(Debug, Clone)]
pub struct Lease {
    pub owner: String,
    pub ttl_ms: i64,
}

/// Both rows of a new exchange: the question and its reply, `generating`,
/// leased to `lease.owner`.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub user_message: MessageWithSources,
    pub reply: MessageWithSources,
}

/// A new row of the session: complete (no lease), or a reply to write
/// (`generating`, leased); without any of a reply's metadata.
pub(super) fn new_row(
    session_id: &str,
    role: Role,
    content: &str,
    at: i64,
    lease: Option<&Lease>,
) -> Message {
    Message {
        id: new_id(),
        session_id: session_id.to_owned(),
        role,
        content: content.to_owned(),
        model: None,
        confidence: None,
        prompt_tokens: None,
        completion_tokens: None,
        latency_ms: None,
        fallback: false,
        created_at: at,
        status: if lease.is_some() {
            MessageStatus::Generating
        } else {
            MessageStatus::Complete
        },
        superseded_by: None,
        lease_owner: lease.map(|l| l.owner.clone()),
        lease_expires_at: lease.map(|l| now_ms() + l.ttl_ms),
    }
}

/// Strictly after everything already in the session (superseded messages
/// included), so the conversation's order stays the order of `created_at`.
pub(super) fn next_time(session: &Session) -> i64 {
    now_ms().max(session.last_message_at.map_or(0, |t| t + 1))
}

/// A row just stored: no sources, no feedback yet.
pub(super) fn stored(message: Message) -> MessageWithSources {
    MessageWithSources {
        message,
        sources: Vec::new(),
        feedback: None,
    }
}

/// Locks the asker's session and stores the question after everything in
/// it. Returns the question and the session as it was before.
fn store_question(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    content: &str,
) -> Result<(Message, Session), AppError> {
    // Locked first, as regenerate and edit lock it (`service::editing`):
    // on a backend with concurrent writers, changes to one conversation
    // then happen one after the other and `last_message_at` is current.
    let session = sessions::lock_owned(conn, user_id, session_id)?;
    let question = new_row(session_id, Role::User, content, next_time(&session), None);
    insert(conn, &question)?;
    Ok((question, session))
}

/// One row at a time: one statement, kept prepared (a multi-row insert's
/// SQL depends on the number of rows).
pub(super) fn insert(conn: &mut DbConnection, row: &Message) -> Result<(), AppError> {
    native!(conn, |c| Cached(
        diesel::insert_into(chat_messages::table).values(row)
    )
    .execute(c))?;
    Ok(())
}

/// Stores the user's message and the row of its reply (`generating`, empty,
/// leased to the writer) in one transaction, so no question is ever stored
/// without the reply that answers it. Returns them with the session as it
/// was before. `also` runs inside the same transaction (idempotency keys).
pub fn start_exchange(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    content: &str,
    lease: &Lease,
    also: impl FnOnce(&mut DbConnection, &Exchange) -> Result<(), AppError>,
) -> Result<(Exchange, Session), AppError> {
    write_transaction(conn, |conn| {
        let (question, session) = store_question(conn, user_id, session_id, content)?;
        let at = question.created_at + 1;
        let reply = new_row(session_id, Role::Assistant, "", at, Some(lease));
        insert(conn, &reply)?;
        bump(conn, session_id, 2, at)?;
        let exchange = Exchange {
            user_message: stored(question),
            reply: stored(reply),
        };
        also(conn, &exchange)?;
        Ok((exchange, session))
    })
}

/// Stores the user's message and its reply, complete, in one transaction,
/// for a reply that is ready at once (the offline responder's): `answer` is
/// given the conversation up to the question (see [`recent_history`]) and
/// returns the reply, which is stored with its sources as it is — it never
/// exists `generating`, so there is nothing to write, save or take over.
/// Returns both with the session as it was before; `also` runs inside the
/// same transaction (idempotency keys).
pub fn store_answered_exchange(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    content: &str,
    limits: ContextLimits,
    answer: impl FnOnce(Vec<llm::Message>) -> llm::Reply,
    also: impl FnOnce(&mut DbConnection, &Exchange) -> Result<(), AppError>,
) -> Result<(Exchange, Session), AppError> {
    write_transaction(conn, |conn| {
        let (question, session) = store_question(conn, user_id, session_id, content)?;
        let reply_at = question.created_at + 1;
        let history = recent_history(
            conn,
            session_id,
            reply_at,
            limits.max_messages,
            limits.max_chars,
        )?;
        let replied = answer(history);
        let latency_ms = i64::try_from(replied.latency_ms).unwrap_or(i64::MAX);
        let reply = finished(
            new_row(
                session_id,
                Role::Assistant,
                &replied.content,
                reply_at,
                None,
            ),
            Answered::of(&replied, latency_ms),
        );
        insert(conn, &reply)?;
        let sources = insert_sources(conn, &reply.id, &replied.sources)?;
        bump(conn, session_id, 2, reply_at)?;
        let exchange = Exchange {
            user_message: stored(question),
            reply: MessageWithSources {
                sources,
                ..stored(reply)
            },
        };
        also(conn, &exchange)?;
        Ok((exchange, session))
    })
}

/// What the assistant reported of a reply (everything but its text and
/// sources), as a finished reply stores it.
pub(super) struct Answered {
    pub model: Option<String>,
    pub confidence: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub fallback: bool,
}

impl Answered {
    pub fn of(reply: &llm::Reply, latency_ms: i64) -> Self {
        Self {
            model: Some(reply.model.clone()),
            confidence: Some(reply.confidence.clamp(0.0, 1.0)),
            prompt_tokens: reply.usage.map(|u| i64::from(u.prompt_tokens)),
            completion_tokens: reply.usage.map(|u| i64::from(u.completion_tokens)),
            latency_ms: Some(latency_ms),
            fallback: reply.fallback,
        }
    }
}

/// `message`, finished: `complete`, no lease, with what was `answered`.
fn finished(message: Message, answered: Answered) -> Message {
    Message {
        model: answered.model,
        confidence: answered.confidence,
        prompt_tokens: answered.prompt_tokens,
        completion_tokens: answered.completion_tokens,
        latency_ms: answered.latency_ms,
        fallback: answered.fallback,
        status: MessageStatus::Complete,
        lease_owner: None,
        lease_expires_at: None,
        ..message
    }
}

/// Stores the sources a reply drew on, in order, and returns them.
pub(super) fn insert_sources(
    conn: &mut DbConnection,
    message_id: &str,
    sources: &[llm::Source],
) -> Result<Vec<Source>, AppError> {
    let rows: Vec<Source> = sources
        .iter()
        .zip(0..)
        .map(|(s, position)| Source {
            id: new_id(),
            message_id: message_id.to_owned(),
            position,
            title: s.title.clone(),
            url: s.url.clone(),
            snippet: s.snippet.clone(),
        })
        .collect();
    // One row at a time, as [`insert`] does.
    for source in &rows {
        native!(conn, |c| Cached(
            diesel::insert_into(message_sources::table).values(source)
        )
        .execute(c))?;
    }
    Ok(rows)
}

/// The most recent turns that fit both limits, oldest first. Reads at most
/// `max_messages` rows, whatever the length of the session.
/// Only messages of the conversation created before `before` count (the
/// reply being written and anything after it are not its context; replaced
/// messages are not part of it), and replies still being written (other
/// exchanges in flight) are left out.
pub fn recent_history(
    conn: &mut DbConnection,
    session_id: &str,
    before: i64,
    max_messages: usize,
    max_chars: usize,
) -> Result<Vec<llm::Message>, AppError> {
    let limit = i64::try_from(max_messages).unwrap_or(i64::MAX);
    let rows: Vec<(Role, String)> = native!(conn, |c| chat_messages::table
        .filter(chat_messages::session_id.eq(session_id))
        .filter(chat_messages::superseded_by.is_null())
        .filter(chat_messages::created_at.lt(before))
        .filter(chat_messages::status.ne(MessageStatus::Generating))
        .order((chat_messages::created_at.desc(), chat_messages::id.desc()))
        .select((chat_messages::role, chat_messages::content))
        .limit(limit)
        .load(c))?;
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
