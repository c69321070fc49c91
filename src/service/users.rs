//! Users: registration, lookup, and the administrator's changes.

use diesel::prelude::*;

use crate::clock::{new_id, now_ms};
use crate::db::models::{NewUser, User};
use crate::db::schema::users;
use crate::db::DbConnection;
use crate::domain::{Email, UserName};
use crate::error::{is_unique_violation, AppError};

pub fn create(
    conn: &mut DbConnection,
    email: &Email,
    name: &UserName,
    password_hash: &str,
    is_admin: bool,
) -> Result<User, AppError> {
    let id = new_id();
    let new_user = NewUser {
        id: &id,
        email: email.as_str(),
        name: name.as_str(),
        password_hash,
        is_admin,
        is_active: true,
        created_at: now_ms(),
    };
    diesel::insert_into(users::table)
        .values(&new_user)
        .returning(User::as_returning())
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::Conflict("email already registered".into())
            } else {
                e.into()
            }
        })
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<User>, AppError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
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
    conn.immediate_transaction(|conn| {
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
        let updated = diesel::update(users::table.find(id))
            .set((users::is_admin.eq(is_admin), users::is_active.eq(is_active)))
            .returning(User::as_returning())
            .get_result(conn)?;
        if !is_active {
            super::tokens::revoke_all_for_user(conn, id)?;
        }
        Ok(updated)
    })
}
