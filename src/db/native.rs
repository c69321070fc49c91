//! Statements run on the backend's own connection.
//!
//! diesel's multi-backend connection ([`super::DbConnection`]) serialises
//! every statement through its own query builder at every execution — even
//! one it keeps prepared, whose SQL it then renders twice more (for the
//! cache's key and for the binds) — and reads rows through a layer of its
//! own. On the hot paths (signing in a request, a page of history, the
//! session list, a send) that was a tenth to a fifth of the work.
//! [`native!`] runs the same query code on the `SqliteConnection` or
//! `PgConnection` inside: one code path, compiled once per backend, with
//! diesel's own statement cache (keyed by type for a fixed query, so its
//! SQL is not even rendered).

/// `native!(conn, |c| body)`: `body` with `c` bound to the backend's own
/// connection of `conn` (a `&mut DbConnection`), once per backend.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use native;
