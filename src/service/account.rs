//! Deleting an account with everything stored about it.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::rate_limit;
use crate::db::schema::users;
use crate::db::{write_transaction, DbConnection};
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
    write_transaction(conn, |conn| {
        super::users::lock_admins_and(conn, user_id)?;
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
