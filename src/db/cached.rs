//! Statements prepared once per connection, not on every call.
//!
//! diesel keeps a prepared statement only when it can prove that the SQL of
//! a query is one of a bounded set: never for an `UPDATE` (its `SET` list
//! could be anything), an `INSERT` (the number of rows), nor `IN` with a
//! list of values. On SQLite, preparing a write to `chat_messages` also
//! compiles every trigger it may fire (the search index's), and doing that
//! at every send was a tenth of the writer's time. [`Cached`] marks a
//! statement whose SQL is the same on every call from its call site (one
//! row, the same columns); the connection then keeps it, keyed by its SQL
//! text, and reuses it.

use std::cell::Cell;

use diesel::backend::Backend;
use diesel::internal::derives::multiconnection::AstPassHelper;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// A statement whose SQL text does not depend on its values: the same
/// columns set, the same conditions, binds for every value. Do not wrap one
/// whose SQL varies with its input (a list of values, optional clauses):
/// every variant would be kept for the connection's lifetime.
#[derive(Debug, Clone, Copy)]
pub struct Cached<Q>(pub Q);

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    // Keyed by the SQL text: no type to tell the statements apart.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Cached<Q> {
    /// The inner statement's SQL and binds, except in the pass that asks
    /// whether the statement may be kept: there an `UPDATE` marks itself
    /// unsafe to keep, and the multi-backend connection asks that pass of
    /// this fragment through a reference, which does not forward
    /// [`Self::is_safe_to_cache_prepared`] (so overriding it alone kept
    /// nothing). Which pass this is shows only when it is converted, so it
    /// is converted to itself and the conversions say what they saw.
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let (sql, binds) = (Cell::new(false), Cell::new(false));
        let mut pass = pass.cast_database::<DB>(
            |collector| {
                binds.set(true);
                collector
            },
            |builder| {
                sql.set(true);
                builder
            },
            |backend| backend,
            |lookup| lookup,
        );
        if sql.get() || binds.get() || pass.debug_binds().is_some() {
            return self.0.walk_ast(pass);
        }
        // Whether it may be kept (yes), or whether it is empty (no: pushing
        // SQL says so, and does nothing in the other pass).
        pass.push_sql("");
        Ok(())
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Cached<Q> {}

/// `values` for `IN (…)`, as many as the next power of two: the last one
/// repeated. The rows matched are the same, and the SQL is one of a few
/// (`IN (?)`, `IN (?, ?)`, `IN (?, ?, ?, ?)`, …), so the statement can be
/// [`Cached`]: SQLite spells out one bind per value, and without padding
/// every length of list was a new statement, prepared on every call (the
/// sources of a history page were a tenth of its time). PostgreSQL binds the
/// list as one array either way.
pub fn padded<T: Clone>(values: &[T]) -> Vec<T> {
    let mut padded = Vec::with_capacity(values.len().next_power_of_two());
    padded.extend_from_slice(values);
    if let Some(last) = values.last() {
        padded.resize(values.len().next_power_of_two(), last.clone());
    }
    padded
}

/// For tests: the SQL of every statement a connection prepared to keep
/// (`conn.set_instrumentation(prepared.clone())`).
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Prepared(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<String>>>);

#[cfg(test)]
impl diesel::connection::Instrumentation for Prepared {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::CacheQuery { sql, .. } = event {
            self.0.lock().unwrap().push(sql.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::{padded, Cached, Prepared};
    use crate::db::schema::chat_sessions;
    use crate::db::DbConnection;

    #[test]
    fn a_cached_update_is_prepared_once_per_connection() {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE chat_sessions (id TEXT PRIMARY KEY, user_id TEXT, title TEXT, \
             message_count BIGINT, last_message_at BIGINT, created_at BIGINT, updated_at BIGINT); \
             INSERT INTO chat_sessions (id, message_count) VALUES ('s1', 10), ('s2', 10);",
        )
        .unwrap();
        let prepared = Prepared::default();
        conn.set_instrumentation(prepared.clone());
        for n in 0..3_i64 {
            let updated = Cached(
                diesel::update(chat_sessions::table.find(format!("s{n}")))
                    .set(chat_sessions::message_count.eq(chat_sessions::message_count + n)),
            )
            .execute(&mut conn)
            .unwrap();
            assert_eq!(updated, usize::from(n > 0), "s{n}");
        }
        // The values bound on each call, not those of the first.
        let counts: Vec<i64> = chat_sessions::table
            .order(chat_sessions::id)
            .select(chat_sessions::message_count)
            .load(&mut conn)
            .unwrap();
        assert_eq!(counts, [11, 12]);
        let prepared = prepared.0.lock().unwrap();
        let updates = prepared.iter().filter(|sql| sql.starts_with("UPDATE"));
        assert_eq!(updates.count(), 1, "{prepared:?}");
    }

    #[test]
    fn lists_are_padded_to_a_power_of_two_with_their_last_value() {
        let empty: [&str; 0] = [];
        assert!(padded(&empty).is_empty());
        assert_eq!(padded(&["a"]), ["a"]);
        assert_eq!(padded(&["a", "b"]), ["a", "b"]);
        assert_eq!(padded(&["a", "b", "c"]), ["a", "b", "c", "c"]);
        assert_eq!(padded(&[1, 2, 3, 4, 5]), [1, 2, 3, 4, 5, 5, 5, 5]);
    }

    #[test]
    fn padded_lists_of_similar_lengths_share_one_kept_statement() {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE chat_sessions (id TEXT PRIMARY KEY, user_id TEXT, title TEXT, \
             message_count BIGINT, last_message_at BIGINT, created_at BIGINT, updated_at BIGINT); \
             INSERT INTO chat_sessions (id, message_count) VALUES ('s1', 1), ('s2', 2), ('s3', 3);",
        )
        .unwrap();
        let prepared = Prepared::default();
        conn.set_instrumentation(prepared.clone());
        let lists: [(&[&str], [i64; 3]); 3] = [
            (&["s1", "s2", "s3"], [1, 2, 3]),
            (&["s3", "s1", "s2", "s4"], [1, 2, 3]),
            (&["s2", "s4", "s3"], [0, 2, 3]),
        ];
        for (ids, expected) in lists {
            let ids = padded(ids);
            let mut counts: Vec<i64> = Cached(
                chat_sessions::table
                    .filter(chat_sessions::id.eq_any(&ids))
                    .select(chat_sessions::message_count),
            )
            .load(&mut conn)
            .unwrap();
            counts.sort_unstable();
            let expected: Vec<i64> = expected.into_iter().filter(|n| *n > 0).collect();
            assert_eq!(counts, expected, "{ids:?}");
        }
        let prepared = prepared.0.lock().unwrap();
        assert_eq!(prepared.len(), 1, "{prepared:?}");
    }
}
