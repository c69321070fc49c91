//! Deleting an account with everything stored about it.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::rate_limit;
use crate::db::schema::users;
use crate::db::DbConnection;
use crate::error::AppError;

/// Deletes the user and, in the same transaction, everything keyed to them:
/// their sessions, messages, sources, feedback, search-index rows,
/// idempotency keys and refresh tokens go by the foreign keys' cascades (and
/// the search index's triggers), their rate-limit rows explicitly.
///
/// The last active administrator is refused (409): the check and the delete
/// are one conditional statement, after the transaction has locked every
/// active administrator's row, so two administrators deleting themselves at
/// once cannot both see the other one still there (on PostgreSQL, the second
/// waits for the first and then counts what it committed; on SQLite the
/// immediate transaction already serialises writers).
pub fn delete(conn: &mut DbConnection, user_id: &str, email: &str) -> Result<(), AppError> {
    conn.immediate_transaction(|conn| {
        lock_active_admins(conn)?;
        let deleted = diesel::sql_query(
            "DELETE FROM users WHERE id = $1 AND ( \
                NOT (is_admin AND is_active) \
                OR (SELECT COUNT(*) FROM users WHERE is_admin AND is_active) > 1)",
        )
        .bind::<Text, _>(user_id)
        .execute(conn)?;
        if deleted == 0 {
            let exists = diesel::select(diesel::dsl::exists(users::table.find(user_id)))
                .get_result::<bool>(conn)?;
            return Err(if exists {
                AppError::Conflict("cannot delete the last active administrator".into())
            } else {
                AppError::not_found("user")
            });
        }
        rate_limit::forget_user(conn, user_id, email)?;
        Ok(())
    })
}

/// Takes the row locks of every active administrator (a no-op update), so
/// that whatever this transaction decides about "the last administrator" is
/// decided alone.
pub(super) fn lock_active_admins(conn: &mut DbConnection) -> Result<(), AppError> {
    diesel::update(users::table.filter(users::is_admin.eq(true).and(users::is_active.eq(true))))
        .set(users::is_admin.eq(users::is_admin))
        .execute(conn)?;
    Ok(())
}
