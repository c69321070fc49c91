//! Statements prepared once per connection, not on every call.
//!
//! diesel keeps a prepared statement only when it can prove that the SQL of
//! a query is one of a bounded set: never for an `UPDATE` (its `SET` list
//! could be anything) nor for `IN` with a list of values. On SQLite,
//! preparing an `UPDATE` of `chat_messages` also compiles every trigger it
//! may fire (the search index's), and doing that on every save of a reply
//! was a tenth of the writer's time. [`Cached`] marks a statement whose SQL
//! is the same on every call from its call site; the connection then keeps
//! it, keyed by its SQL text, and reuses it.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
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
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Cached<Q> {}
