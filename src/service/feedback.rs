//! Feedback: a user's rating of an assistant message (one per message, a
//! second replaces the first), and the administrators' list of them.

use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Nullable, Text};

use super::messages::{with_sources, MessageWithSources};
use super::pagination::{keyset_page, Cursor, Direction, Page, PageRequest};
use super::replies;
use super::sessions::Access;
use crate::clock::now_ms;
use crate::db::models::{Feedback, Message};
use crate::db::schema::{chat_messages, chat_sessions, message_feedback, users};
use crate::db::{write_transaction, DbConnection};
use crate::domain::{Rating, Role};
use crate::error::AppError;

/// Rates an assistant message of the caller's (replacing an earlier rating,
/// whose time is renewed) and returns the message with it. 404 when the
/// message is absent or another user's, 409 on a user message.
pub fn put(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    message_id: &str,
    rating: Rating,
    comment: Option<String>,
) -> Result<MessageWithSources, AppError> {
    write_transaction(conn, |conn| {
        let access = Access::Owner(user_id.to_owned());
        let found = replies::find(conn, &access, session_id, message_id)?;
        if found.message.role == Role::User {
            return Err(AppError::Conflict(
                "only an assistant message can be rated".into(),
            ));
        }
        let row = Feedback {
            message_id: message_id.to_owned(),
            rating,
            comment,
            created_at: now_ms(),
        };
        // One upsert (diesel's multi-backend connection has no `on_conflict`).
        diesel::sql_query(
            "INSERT INTO message_feedback (message_id, rating, comment, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (message_id) DO UPDATE SET \
               rating = excluded.rating, comment = excluded.comment, \
               created_at = excluded.created_at",
        )
        .bind::<Text, _>(&row.message_id)
        .bind::<Text, _>(row.rating.as_str())
        .bind::<Nullable<Text>, _>(row.comment.as_deref())
        .bind::<BigInt, _>(row.created_at)
        .execute(conn)
        .map_err(|e| match e {
            // The message was deleted meanwhile (a backend whose
            // transactions do not serialise writers, such as PostgreSQL).
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                AppError::not_found("message")
            }
            other => AppError::from(other),
        })?;
        Ok(MessageWithSources {
            feedback: Some(row),
            ..found
        })
    })
}

/// Removes the caller's feedback on a message of theirs (nothing to remove
/// is fine). 404 when the message is absent or another user's.
pub fn delete(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    message_id: &str,
) -> Result<(), AppError> {
    let access = Access::Owner(user_id.to_owned());
    replies::find(conn, &access, session_id, message_id)?;
    diesel::delete(message_feedback::table.find(message_id)).execute(conn)?;
    Ok(())
}

/// A rated message as administrators list it.
#[derive(Debug, Clone)]
pub struct Rated {
    pub message: MessageWithSources,
    pub user_id: String,
    pub user_email: String,
}

/// Every rated message, newest feedback first; `rating` filters.
pub fn list(
    conn: &mut DbConnection,
    rating: Option<Rating>,
    page: &PageRequest,
) -> Result<Page<Rated>, AppError> {
    let mut query = message_feedback::table
        .inner_join(chat_messages::table.inner_join(chat_sessions::table.inner_join(users::table)))
        .select((
            Feedback::as_select(),
            Message::as_select(),
            chat_sessions::user_id,
            users::email,
        ))
        .into_boxed();
    if let Some(rating) = rating {
        query = query.filter(message_feedback::rating.eq(rating));
    }
    let query = keyset_page!(
        query,
        page,
        Direction::Descending,
        message_feedback::created_at,
        message_feedback::message_id
    );
    let rows: Vec<(Feedback, Message, String, String)> = query.load(conn)?;
    let mut rest = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for (feedback, message, user_id, user_email) in rows {
        messages.push(message);
        rest.push((feedback, user_id, user_email));
    }
    let items = with_sources(conn, messages)?
        .into_iter()
        .zip(rest)
        .map(|(message, (feedback, user_id, user_email))| Rated {
            // The feedback as the page was read, which its cursor names.
            message: MessageWithSources {
                feedback: Some(feedback),
                ..message
            },
            user_id,
            user_email,
        })
        .collect();
    Ok(Page::from_rows(items, page, |r: &Rated| Cursor {
        key: r.message.feedback.as_ref().map_or(0, |f| f.created_at),
        id: r.message.message.id.clone(),
    }))
}

/// How many replies are rated up and down.
pub fn counts(conn: &mut DbConnection) -> Result<(i64, i64), AppError> {
    let rows: Vec<(Rating, i64)> = message_feedback::table
        .group_by(message_feedback::rating)
        .select((message_feedback::rating, count_star()))
        .load(conn)?;
    let of = |r: Rating| rows.iter().find(|(x, _)| *x == r).map_or(0, |(_, n)| *n);
    Ok((of(Rating::Up), of(Rating::Down)))
}
