//! Chat sessions, always scoped to their owner: another user's session is
//! indistinguishable from an absent one.

use diesel::prelude::*;

use super::idempotency::{self, KeyedRequest, Outcome};
use super::pagination::{keyset_page, Cursor, Direction, Page, PageRequest};
use crate::clock::{new_id, now_ms};
use crate::db::models::Session;
use crate::db::schema::{chat_sessions, users};
use crate::db::{native, write_transaction, DbConnection};
use crate::error::AppError;

fn cursor_of(s: &Session) -> Cursor {
    Cursor {
        key: s.updated_at,
        id: s.id.clone(),
    }
}

pub fn create(
    conn: &mut DbConnection,
    user_id: &str,
    title: Option<&str>,
) -> Result<Session, AppError> {
    let now = now_ms();
    let session = Session {
        id: new_id(),
        user_id: user_id.to_owned(),
        title: title.map(str::to_owned),
        message_count: 0,
        last_message_at: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(chat_sessions::table)
        .values(&session)
        .execute(conn)?;
    Ok(session)
}

/// Creates a session and, with an idempotency key, records the answer
/// (`answer` renders it) in the same transaction.
pub fn create_keyed(
    conn: &mut DbConnection,
    user_id: &str,
    title: Option<&str>,
    key: Option<&KeyedRequest>,
    answer: impl FnOnce(&Session) -> Result<String, AppError>,
) -> Result<Session, AppError> {
    write_transaction(conn, |conn| {
        let session = create(conn, user_id, title)?;
        if let Some(key) = key {
            let outcome = Outcome {
                status_code: 201,
                response_body: Some(answer(&session)?),
                ..Outcome::default()
            };
            idempotency::record(conn, key, outcome)?;
        }
        Ok(session)
    })
}

/// Whose sessions a read may see.
#[derive(Debug, Clone)]
pub enum Access {
    /// Only this user's: another user's session is indistinguishable from an
    /// absent one.
    Owner(String),
    /// Any session (administrators).
    Any,
}

/// The session, or 404 when it is absent or not visible with `access`.
pub fn get(conn: &mut DbConnection, access: &Access, id: &str) -> Result<Session, AppError> {
    let found = native!(conn, |c| {
        let mut query = chat_sessions::table
            .find(id)
            .select(Session::as_select())
            .into_boxed();
        if let Access::Owner(user_id) = access {
            query = query.filter(chat_sessions::user_id.eq(user_id.clone()));
        }
        query.first(c).optional()
    })?;
    found.ok_or_else(|| AppError::not_found("chat session"))
}

/// The caller's session, or 404 when it is absent or someone else's.
pub fn get_owned(conn: &mut DbConnection, user_id: &str, id: &str) -> Result<Session, AppError> {
    get(conn, &Access::Owner(user_id.to_owned()), id)
}

/// Keeps other writers off the caller's session until the transaction ends,
/// so what is read of it next (its last message's time) stays true while
/// messages are added. SQLite's `BEGIN IMMEDIATE` already does; PostgreSQL
/// locks the row (`FOR UPDATE`). An absent session is left to the read that
/// follows (404).
pub fn lock_for_write(conn: &mut DbConnection, user_id: &str, id: &str) -> Result<(), AppError> {
    if let DbConnection::Pg(pg) = conn {
        chat_sessions::table
            .find(id)
            .filter(chat_sessions::user_id.eq(user_id))
            .select(chat_sessions::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// The caller's session, locked until the end of the transaction
/// ([`lock_for_write`]), so changes to one conversation happen one after the
/// other; 404 when it is absent or someone else's.
pub fn lock_owned(conn: &mut DbConnection, user_id: &str, id: &str) -> Result<Session, AppError> {
    lock_for_write(conn, user_id, id)?;
    get_owned(conn, user_id, id)
}

/// Sessions visible with `access`, most recently updated first, each with
/// its owner's email.
pub fn list(
    conn: &mut DbConnection,
    access: &Access,
    page: &PageRequest,
) -> Result<Page<(Session, String)>, AppError> {
    let rows = native!(conn, |c| {
        let mut query = chat_sessions::table
            .inner_join(users::table)
            .select((Session::as_select(), users::email))
            .into_boxed();
        if let Access::Owner(user_id) = access {
            query = query.filter(chat_sessions::user_id.eq(user_id.clone()));
        }
        let query = keyset_page!(
            query,
            page,
            Direction::Descending,
            chat_sessions::updated_at,
            chat_sessions::id
        );
        query.load(c)
    })?;
    Ok(Page::from_rows(rows, page, |(s, _)| cursor_of(s)))
}

pub fn rename(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    title: &str,
) -> Result<Session, AppError> {
    // (No `RETURNING` into a struct: diesel's multi-backend connection
    // cannot build it, so the row is read back.)
    let renamed = diesel::update(
        chat_sessions::table
            .find(id)
            .filter(chat_sessions::user_id.eq(user_id)),
    )
    .set((
        chat_sessions::title.eq(title),
        chat_sessions::updated_at.eq(now_ms()),
    ))
    .execute(conn)?;
    if renamed == 0 {
        return Err(AppError::not_found("chat session"));
    }
    get_owned(conn, user_id, id)
}

/// Deletes the session; its messages and their sources go with it (cascade).
pub fn delete(conn: &mut DbConnection, user_id: &str, id: &str) -> Result<(), AppError> {
    let deleted = diesel::delete(
        chat_sessions::table
            .find(id)
            .filter(chat_sessions::user_id.eq(user_id)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(AppError::not_found("chat session"));
    }
    Ok(())
}

/// Sets an automatic title unless the session already has one (a user-set
/// title is never overwritten). Does not count as activity.
pub fn set_title_if_unset(conn: &mut DbConnection, id: &str, title: &str) -> Result<(), AppError> {
    diesel::update(
        chat_sessions::table
            .find(id)
            .filter(chat_sessions::title.is_null()),
    )
    .set(chat_sessions::title.eq(title))
    .execute(conn)?;
    Ok(())
}
