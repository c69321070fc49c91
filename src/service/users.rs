//! Users: registration, lookup, the administrator's changes, and listings
//! with each user's activity.

use diesel::dsl::{count_star, max, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

use super::pagination::{keyset_page, Cursor, Direction, Page, PageRequest};
use super::usage;
use crate::clock::{new_id, now_ms};
use crate::db::cached::{padded, Cached};
use crate::db::models::User;
use crate::db::schema::{chat_sessions, users};
use crate::db::{native, write_transaction, DbConnection};
use crate::domain::{Email, UserName};
use crate::error::{is_unique_violation, AppError};

pub fn create(
    conn: &mut DbConnection,
    email: &Email,
    name: &UserName,
    password_hash: &str,
    is_admin: bool,
) -> Result<User, AppError> {
    let user = User {
        id: new_id(),
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        password_hash: password_hash.to_owned(),
        is_admin,
        is_active: true,
        created_at: now_ms(),
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::Conflict("email already registered".into())
            } else {
                AppError::from(e)
            }
        })?;
    Ok(user)
}

/// Read by every authenticated request: on the backend's own connection.
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<User>, AppError> {
    Ok(native!(conn, |c| users::table
        .find(id)
        .select(User::as_select())
        .first(c)
        .optional())?)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<User>, AppError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces the stored password hash (after a sign-in, at the configured cost).
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: &str,
    password_hash: &str,
) -> Result<(), AppError> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(password_hash))
        .execute(conn)?;
    Ok(())
}

/// What an administrator may change about a user.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserChanges {
    pub is_admin: Option<bool>,
    pub is_active: Option<bool>,
}

/// Applies `changes`, refusing to leave the service without an active admin.
/// Deactivation also revokes the user's refresh tokens.
pub fn update_flags(
    conn: &mut DbConnection,
    id: &str,
    changes: UserChanges,
) -> Result<User, AppError> {
    write_transaction(conn, |conn| {
        lock_admins_and(conn, id)?;
        let user = find_by_id(conn, id)?.ok_or_else(|| AppError::not_found("user"))?;
        let is_admin = changes.is_admin.unwrap_or(user.is_admin);
        let is_active = changes.is_active.unwrap_or(user.is_active);
        let loses_admin = user.is_admin && user.is_active && !(is_admin && is_active);
        if loses_admin {
            let active_admins: i64 = users::table
                .filter(users::is_admin.eq(true).and(users::is_active.eq(true)))
                .count()
                .get_result(conn)?;
            if active_admins <= 1 {
                return Err(AppError::Conflict(
                    "cannot demote or deactivate the last active administrator".into(),
                ));
            }
        }
        diesel::update(users::table.find(id))
            .set((users::is_admin.eq(is_admin), users::is_active.eq(is_active)))
            .execute(conn)?;
        if !is_active {
            super::tokens::revoke_all_for_user(conn, id)?;
        }
        Ok(User {
            is_admin,
            is_active,
            ..user
        })
    })
}

/// Makes the last-admin check of [`update_flags`] hold until its transaction
/// ends. SQLite: its `BEGIN IMMEDIATE` already keeps every other writer out.
/// PostgreSQL (READ COMMITTED) would let two administrators demoting each
/// other both count two admins and both succeed: the user changed and every
/// active administrator are locked first (`FOR UPDATE`, in id order so two
/// such transactions queue instead of deadlocking), and what is read after
/// that is current and stays so.
pub(super) fn lock_admins_and(conn: &mut DbConnection, id: &str) -> Result<(), AppError> {
    if let DbConnection::Pg(pg) = conn {
        users::table
            .filter(
                users::is_admin
                    .eq(true)
                    .and(users::is_active.eq(true))
                    .or(users::id.eq(id)),
            )
            .order(users::id)
            .select(users::id)
            .for_update()
            .load::<String>(pg)?;
    }
    Ok(())
}

/// A user with their activity.
#[derive(Debug, Clone)]
pub struct UserActivity {
    pub user: User,
    pub session_count: i64,
    pub message_count: i64,
    pub last_active_at: Option<i64>,
    /// Provider tokens (prompt + completion) spent today (UTC).
    pub tokens_today: i64,
}

/// Users, newest first, optionally filtered by an email substring, with
/// their session and message counts (aggregated per page, by index).
pub fn list_with_activity(
    conn: &mut DbConnection,
    email_filter: Option<&str>,
    page: &PageRequest,
) -> Result<Page<UserActivity>, AppError> {
    let mut query = users::table.select(User::as_select()).into_boxed();
    if let Some(q) = email_filter.map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query = query.filter(users::email.like(format!("%{escaped}%")).escape('\\'));
    }
    let query = keyset_page!(
        query,
        page,
        Direction::Descending,
        users::created_at,
        users::id
    );
    let rows = query.load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|u| u.id.as_str()).collect();
    let listed = padded(&ids);
    let activity: Vec<(String, i64, Option<i64>, Option<i64>)> = Cached(
        chat_sessions::table
            .filter(chat_sessions::user_id.eq_any(&listed))
            .group_by(chat_sessions::user_id)
            .select((
                chat_sessions::user_id,
                count_star(),
                sql::<Nullable<BigInt>>("CAST(SUM(chat_sessions.message_count) AS BIGINT)"),
                max(chat_sessions::last_message_at),
            )),
    )
    .load::<(String, i64, Option<i64>, Option<i64>)>(conn)?;
    let tokens = usage::totals_on(conn, &ids, &usage::day_of(now_ms()))?;
    let items = rows
        .into_iter()
        .map(|user| {
            let found = activity.iter().find(|(id, ..)| *id == user.id);
            UserActivity {
                session_count: found.map_or(0, |a| a.1),
                message_count: found.and_then(|a| a.2).unwrap_or(0),
                last_active_at: found.and_then(|a| a.3),
                tokens_today: tokens
                    .iter()
                    .find(|(id, _)| *id == user.id)
                    .map_or(0, |(_, n)| *n),
                user,
            }
        })
        .collect();
    Ok(Page::from_rows(items, page, |u: &UserActivity| Cursor {
        key: u.user.created_at,
        id: u.user.id.clone(),
    }))
}

/// One user with activity.
pub fn with_activity(conn: &mut DbConnection, user: User) -> Result<UserActivity, AppError> {
    let (session_count, message_count, last_active_at): (i64, Option<i64>, Option<i64>) =
        chat_sessions::table
            .filter(chat_sessions::user_id.eq(&user.id))
            .select((
                count_star(),
                sql::<Nullable<BigInt>>("CAST(SUM(chat_sessions.message_count) AS BIGINT)"),
                max(chat_sessions::last_message_at),
            ))
            .get_result(conn)?;
    let tokens_today = usage::spent_on(conn, &user.id, &usage::day_of(now_ms()))?.total();
    Ok(UserActivity {
        user,
        session_count,
        message_count: message_count.unwrap_or(0),
        last_active_at,
        tokens_today,
    })
}
