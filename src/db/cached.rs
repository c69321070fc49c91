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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;

    use super::Cached;
    use crate::db::schema::chat_sessions;
    use crate::db::DbConnection;

    /// The SQL of every statement the connection prepared to keep.
    #[derive(Clone, Default)]
    struct Prepared(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Prepared {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().unwrap().push(sql.to_owned());
            }
        }
    }

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
}
