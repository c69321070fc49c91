//! A reply's life in the database: read it, save its text while it is
//! written, complete it, stop it, and take over the ones whose writer died.
//!
//! Every check-then-act is one conditional `UPDATE` (or a transaction), so
//! any number of processes on one database agree on who writes a reply:
//! the lease columns decide, never memory.

use diesel::prelude::*;

use super::messages::{insert_sources, with_sources, Answered, MessageWithSources};
use super::sessions::{self, Access};
use crate::clock::now_ms;
use crate::db::cached::Cached;
use crate::db::models::{Feedback, Message};
use crate::db::schema::chat_messages;
use crate::db::schema::message_feedback;
use crate::db::{native, write_transaction, DbConnection};
use crate::domain::{MessageStatus, Role};
use crate::error::AppError;
use crate::llm::Reply;

/// One message of a session visible with `access`; 404 when either is absent
/// or not visible.
pub fn find(
    conn: &mut DbConnection,
    access: &Access,
    session_id: &str,
    message_id: &str,
) -> Result<MessageWithSources, AppError> {
    sessions::get(conn, access, session_id)?;
    let message = native!(conn, |c| chat_messages::table
        .find(message_id)
        .filter(chat_messages::session_id.eq(session_id))
        .select(Message::as_select())
        .first(c)
        .optional())?
    .ok_or_else(|| AppError::not_found("message"))?;
    let mut found = with_sources(conn, vec![message])?;
    found.pop().ok_or_else(|| AppError::not_found("message"))
}

/// A message by id alone (the writer and its followers, which already know
/// it is theirs); `None` once it is gone (its session was deleted).
pub fn load(
    conn: &mut DbConnection,
    message_id: &str,
) -> Result<Option<MessageWithSources>, AppError> {
    let message = native!(conn, |c| chat_messages::table
        .find(message_id)
        .select(Message::as_select())
        .first(c)
        .optional())?;
    Ok(match message {
        Some(m) => with_sources(conn, vec![m])?.pop(),
        None => None,
    })
}

/// How far a reply has got, as stored.
#[derive(Debug, Clone)]
pub struct Progress {
    pub content: String,
    pub status: MessageStatus,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
}

impl Progress {
    /// Nobody will change it any more: it is finished (or stopped) and its
    /// writer has let go of it (or died).
    pub fn is_settled(&self, now: i64) -> bool {
        self.status != MessageStatus::Generating
            && (self.lease_owner.is_none() || self.lease_expires_at.is_none_or(|t| t <= now))
    }
}

pub fn progress(conn: &mut DbConnection, message_id: &str) -> Result<Option<Progress>, AppError> {
    let row: Option<(String, MessageStatus, Option<String>, Option<i64>)> =
        native!(conn, |c| chat_messages::table
            .find(message_id)
            .select((
                chat_messages::content,
                chat_messages::status,
                chat_messages::lease_owner,
                chat_messages::lease_expires_at,
            ))
            .first(c)
            .optional())?;
    Ok(row.map(
        |(content, status, lease_owner, lease_expires_at)| Progress {
            content,
            status,
            lease_owner,
            lease_expires_at,
        },
    ))
}

/// Saves the text written so far and renews the lease. `false` means the
/// writer no longer owns a `generating` reply (stopped, taken over, or
/// deleted): it must stop writing.
pub fn save(
    conn: &mut DbConnection,
    message_id: &str,
    owner: &str,
    content: &str,
    lease_until: i64,
) -> Result<bool, AppError> {
    let updated = native!(conn, |c| Cached(
        diesel::update(
            chat_messages::table
                .find(message_id)
                .filter(chat_messages::lease_owner.eq(owner))
                .filter(chat_messages::status.eq(MessageStatus::Generating)),
        )
        .set((
            chat_messages::content.eq(content),
            chat_messages::lease_expires_at.eq(lease_until),
        )),
    )
    .execute(c))?;
    Ok(updated == 1)
}

/// Completes the reply with its text, metadata and sources in one
/// transaction, if `owner` still writes it, and returns it as stored (the
/// row from the `UPDATE` itself, no read-back). `None` when `owner` does
/// not write it any more.
pub fn complete(
    conn: &mut DbConnection,
    message_id: &str,
    owner: &str,
    content: &str,
    reply: &Reply,
    latency_ms: i64,
) -> Result<Option<MessageWithSources>, AppError> {
    let answered = Answered::of(reply, latency_ms);
    write_transaction(conn, |conn| {
        let completed = native!(conn, |c| Cached(
            diesel::update(
                chat_messages::table
                    .find(message_id)
                    .filter(chat_messages::lease_owner.eq(owner))
                    .filter(chat_messages::status.eq(MessageStatus::Generating)),
            )
            .set((
                chat_messages::content.eq(content),
                chat_messages::model.eq(&answered.model),
                chat_messages::confidence.eq(answered.confidence),
                chat_messages::prompt_tokens.eq(answered.prompt_tokens),
                chat_messages::completion_tokens.eq(answered.completion_tokens),
                chat_messages::latency_ms.eq(answered.latency_ms),
                chat_messages::fallback.eq(answered.fallback),
                chat_messages::status.eq(MessageStatus::Complete),
                chat_messages::lease_owner.eq(None::<String>),
                chat_messages::lease_expires_at.eq(None::<i64>),
            ))
            // Every column, in the order of `Message`'s fields.
            .returning(chat_messages::all_columns),
        )
        .get_result::<Message>(c)
        .optional())?;
        let Some(message) = completed else {
            return Ok(None);
        };
        let sources = insert_sources(conn, message_id, &reply.sources)?;
        // Rated while it was being written, perhaps.
        let feedback = native!(conn, |c| message_feedback::table
            .find(message_id)
            .select(Feedback::as_select())
            .first(c)
            .optional())?;
        Ok(Some(MessageWithSources {
            message,
            sources,
            feedback,
        }))
    })
}

/// Marks a `generating` reply of the caller's `stopped`. Its writer (on any
/// process) sees that at its next save, stores the text it had written and
/// lets go ([`flush_stopped`]). 404 for a message that is absent or another
/// user's, 409 for a user message or a reply that is not `generating`.
pub fn stop(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    message_id: &str,
) -> Result<(), AppError> {
    write_transaction(conn, |conn| {
        let found = find(
            conn,
            &Access::Owner(user_id.to_owned()),
            session_id,
            message_id,
        )?;
        if found.message.role == Role::User {
            return Err(AppError::Conflict("only a reply can be stopped".into()));
        }
        let now = now_ms();
        let updated = diesel::update(
            chat_messages::table
                .find(message_id)
                .filter(chat_messages::status.eq(MessageStatus::Generating)),
        )
        .set((
            chat_messages::status.eq(MessageStatus::Stopped),
            chat_messages::latency_ms.eq(now - found.message.created_at),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(AppError::Conflict(format!(
                "the reply is already {}",
                found.message.status.as_str()
            )));
        }
        Ok(())
    })
}

/// The writer of a stopped reply stores the text it had written and lets go.
pub fn flush_stopped(
    conn: &mut DbConnection,
    message_id: &str,
    owner: &str,
    content: &str,
) -> Result<bool, AppError> {
    let_go(
        conn,
        message_id,
        owner,
        content,
        MessageStatus::Stopped,
        None,
    )
}

/// Stores `content` and clears the lease of a reply `owner` holds in
/// `status`; `expires_at` is what the lease expiry becomes (`Some(0)`: at
/// once, for another process to claim). False when `owner` no longer holds it.
fn let_go(
    conn: &mut DbConnection,
    message_id: &str,
    owner: &str,
    content: &str,
    status: MessageStatus,
    expires_at: Option<i64>,
) -> Result<bool, AppError> {
    let updated = Cached(
        diesel::update(
            chat_messages::table
                .find(message_id)
                .filter(chat_messages::lease_owner.eq(owner))
                .filter(chat_messages::status.eq(status)),
        )
        .set((
            chat_messages::content.eq(content),
            chat_messages::lease_owner.eq(None::<String>),
            chat_messages::lease_expires_at.eq(expires_at),
        )),
    )
    .execute(conn)?;
    Ok(updated == 1)
}

/// A stopped reply whose writer died before letting go: nobody will write
/// it again, so its lease is cleared.
pub fn clear_dead_lease(
    conn: &mut DbConnection,
    message_id: &str,
    now: i64,
) -> Result<(), AppError> {
    diesel::update(
        chat_messages::table
            .find(message_id)
            .filter(chat_messages::status.ne(MessageStatus::Generating))
            .filter(chat_messages::lease_expires_at.le(now)),
    )
    .set((
        chat_messages::lease_owner.eq(None::<String>),
        chat_messages::lease_expires_at.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Claims up to `limit` `generating` replies whose lease expired (their
/// writer died or handed them over) for `owner`. Each claim is a
/// conditional update on the expired lease, so of several processes
/// sweeping at once exactly one wins each reply.
pub fn claim_expired(
    conn: &mut DbConnection,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Message>, AppError> {
    let expired = || {
        chat_messages::lease_expires_at
            .is_null()
            .or(chat_messages::lease_expires_at.le(now))
    };
    let candidates: Vec<String> = chat_messages::table
        .filter(chat_messages::status.eq(MessageStatus::Generating))
        .filter(expired())
        .order(chat_messages::created_at)
        .select(chat_messages::id)
        .limit(limit)
        .load(conn)?;
    let mut claimed = Vec::new();
    for id in candidates {
        let won = diesel::update(
            chat_messages::table
                .find(&id)
                .filter(chat_messages::status.eq(MessageStatus::Generating))
                .filter(expired()),
        )
        .set((
            chat_messages::lease_owner.eq(owner),
            chat_messages::lease_expires_at.eq(lease_until),
        ))
        .execute(conn)?;
        if won == 1 {
            // Ours now (the lease), so the row read back is the one claimed.
            claimed.extend(
                chat_messages::table
                    .find(&id)
                    .select(Message::as_select())
                    .first(conn)
                    .optional()?,
            );
        }
    }
    Ok(claimed)
}

/// Hands over what `owner` still writes: its leases expire now, so another
/// process (or this one after a restart) takes those replies over.
pub fn release_all(conn: &mut DbConnection, owner: &str) -> Result<usize, AppError> {
    Ok(diesel::update(
        chat_messages::table
            .filter(chat_messages::lease_owner.eq(owner))
            .filter(chat_messages::status.eq(MessageStatus::Generating)),
    )
    .set((
        chat_messages::lease_owner.eq(None::<String>),
        chat_messages::lease_expires_at.eq(0),
    ))
    .execute(conn)?)
}

/// Hands over one reply, with the text written so far.
pub fn release(
    conn: &mut DbConnection,
    message_id: &str,
    owner: &str,
    content: &str,
) -> Result<bool, AppError> {
    let_go(
        conn,
        message_id,
        owner,
        content,
        MessageStatus::Generating,
        Some(0),
    )
}

/// The name of a session's owner and the session's title, for a process
/// that takes over one of its replies.
pub fn session_owner(
    conn: &mut DbConnection,
    session_id: &str,
) -> Result<(String, Option<String>), AppError> {
    use crate::db::schema::{chat_sessions, users};
    chat_sessions::table
        .inner_join(users::table)
        .filter(chat_sessions::id.eq(session_id))
        .select((users::name, chat_sessions::title))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("chat session"))
}
