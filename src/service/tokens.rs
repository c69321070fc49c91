//! Refresh tokens: issued per sign-in as a family, rotated on every use, and
//! revoked as a family when a rotated token is presented again.

use diesel::prelude::*;

use crate::auth::{hash_refresh_secret, new_refresh_secret};
use crate::clock::{new_id, now_ms};
use crate::db::models::{RefreshToken, User};
use crate::db::schema::{refresh_tokens, users};
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;

/// Issues a refresh token in `family_id` (a new family when `None`); returns the
/// secret, which is never stored.
pub fn issue(
    conn: &mut DbConnection,
    user_id: &str,
    family_id: Option<&str>,
    ttl_secs: u64,
) -> Result<String, AppError> {
    let secret = new_refresh_secret();
    let now = now_ms();
    let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let row = RefreshToken {
        id: new_id(),
        user_id: user_id.to_owned(),
        family_id: family_id.map_or_else(new_id, str::to_owned),
        token_hash: hash_refresh_secret(&secret),
        expires_at: now.saturating_add(ttl_ms),
        created_at: now,
        used_at: None,
        revoked_at: None,
    };
    diesel::insert_into(refresh_tokens::table)
        .values(&row)
        .execute(conn)?;
    Ok(secret)
}

enum Rotation {
    Rotated(Box<User>, String),
    Rejected(&'static str),
}

/// Exchanges a refresh token for a new one in the same family. A token that
/// was already used revokes its whole family (someone replayed it).
pub fn rotate(
    conn: &mut DbConnection,
    secret: &str,
    ttl_secs: u64,
) -> Result<(User, String), AppError> {
    let hash = hash_refresh_secret(secret);
    // The transaction commits even when the answer is a rejection, so a
    // family revoked for reuse stays revoked.
    let outcome = write_transaction(conn, |conn| -> Result<Rotation, AppError> {
        let now = now_ms();
        let Some(token) = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select(RefreshToken::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(Rotation::Rejected("invalid refresh token"));
        };
        if token.revoked_at.is_some() {
            return Ok(Rotation::Rejected("refresh token revoked"));
        }
        if token.used_at.is_some() {
            revoke_family(conn, &token.family_id, now)?;
            tracing::warn!(user_id = %token.user_id, family = %token.family_id,
                "refresh token reuse detected; family revoked");
            return Ok(Rotation::Rejected("refresh token already used"));
        }
        if token.expires_at <= now {
            return Ok(Rotation::Rejected("refresh token expired"));
        }
        let user = users::table
            .find(&token.user_id)
            .select(User::as_select())
            .first(conn)?;
        if !user.is_active {
            return Ok(Rotation::Rejected("account is deactivated"));
        }
        // The token is spent only if nobody spent it since it was read: of
        // concurrent refreshes with one token exactly one gets here with a
        // row (PostgreSQL re-checks the condition once the winner commits).
        // The others are replays like any other: the family is revoked, the
        // winner's new token with it.
        let spent = diesel::update(
            refresh_tokens::table
                .find(&token.id)
                .filter(refresh_tokens::used_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
        if spent == 0 {
            revoke_family(conn, &token.family_id, now)?;
            tracing::warn!(user_id = %token.user_id, family = %token.family_id,
                "refresh token used concurrently; family revoked");
            return Ok(Rotation::Rejected("refresh token already used"));
        }
        let next = issue(conn, &user.id, Some(&token.family_id), ttl_secs)?;
        Ok(Rotation::Rotated(Box::new(user), next))
    })?;
    match outcome {
        Rotation::Rotated(user, next) => Ok((*user, next)),
        Rotation::Rejected(why) => Err(AppError::Unauthorized(why.into())),
    }
}

fn revoke_family(conn: &mut DbConnection, family_id: &str, now: i64) -> Result<(), AppError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

pub fn revoke_all_for_user(conn: &mut DbConnection, user_id: &str) -> Result<(), AppError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}
