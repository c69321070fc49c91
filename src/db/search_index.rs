//! SQLite's full-text index, brought up to date once per write transaction.
//!
//! The triggers of migration `000013` note every change the index must take
//! in `message_search_pending`; [`apply_pending`] hands the notes to FTS5 in
//! one statement and clears them. The single writer calls it at the end of
//! every batch, inside the batch's transaction, so the index changes once
//! per commit (FTS5 would otherwise write a segment at every savepoint) and
//! is never behind what has been committed. Work on a connection of its own
//! ([`super::Database::get`]: tools, start-up) leaves its notes for the
//! writer's next commit; the writer also applies them when it starts.
//! PostgreSQL's search index is an ordinary index that needs none of this.

use diesel::RunQueryDsl;

use super::cached::Cached;
use super::DbConnection;

/// The notes, then gone. FTS5 takes a row whose first (hidden) column is
/// `'delete'` as the removal of a document and one where it is NULL as an
/// insert.
///
/// They go in document order, each document's in the order they were made
/// (its removal before its insert). Changes to different documents do not
/// depend on each other, and FTS5 writes out what it holds in memory as a
/// new segment whenever a change goes to a document older than the last it
/// took: in the order made, every reply completed in a later batch than the
/// one that stored it did that, and a commit wrote several segments (and
/// FTS5 then had more to merge): 6 % of the writer's time under sends.
///
/// Both statements stay prepared on the connection ([`Cached`]): through
/// `batch_execute` SQLite compiled them again at every commit, which at one
/// send at a time (a commit per write) was 7 % of the writer's time.
const APPLY: &str = "\
    INSERT INTO message_search (message_search, rowid, content, owner) \
    SELECT CASE WHEN removes THEN 'delete' END, doc, content, owner \
    FROM message_search_pending ORDER BY doc, seq";
const CLEAR: &str = "DELETE FROM message_search_pending";

/// Applies what the index still lacks; call it inside a write transaction.
/// A no-op on PostgreSQL, and on a database without the table (one not
/// migrated yet, or a test's own schema).
pub fn apply_pending(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    Index::default().apply_pending(conn)
}

/// What a long-lived connection knows of the index: once the table exists
/// it stays (migrations only move forward), so it is looked up until then.
#[derive(Debug, Default)]
pub struct Index {
    present: bool,
}

impl Index {
    /// [`apply_pending`], remembering that the table exists.
    pub fn apply_pending(&mut self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        let DbConnection::Sqlite(sqlite) = conn else {
            return Ok(());
        };
        if !self.present {
            self.present = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = 'message_search_pending')",
            ))
            .get_result(sqlite)?;
            if !self.present {
                return Ok(());
            }
        }
        Cached(diesel::sql_query(APPLY)).execute(sqlite)?;
        Cached(diesel::sql_query(CLEAR)).execute(sqlite)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{BigInt, Text};
    use diesel::RunQueryDsl;

    use super::apply_pending;
    use crate::db::{Database, DbConnection};

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn count(conn: &mut DbConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    }

    fn matches(conn: &mut DbConnection, word: &str) -> i64 {
        diesel::sql_query("SELECT COUNT(*) AS n FROM message_search WHERE message_search MATCH $1")
            .bind::<Text, _>(format!("\"{word}\""))
            .get_result::<Count>(conn)
            .unwrap()
            .n
    }

    /// FTS5 checks its index against the content table: every document
    /// there, with its text, and nothing else.
    fn assert_index_matches_documents(conn: &mut DbConnection) {
        conn.batch_execute(
            "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)",
        )
        .unwrap();
    }

    fn message(conn: &mut DbConnection, id: &str, content: &str) {
        diesel::sql_query(
            "INSERT INTO chat_messages (id, session_id, role, content, fallback, created_at) \
             VALUES ($1, 's', 'user', $2, FALSE, 0)",
        )
        .bind::<Text, _>(id)
        .bind::<Text, _>(content)
        .execute(conn)
        .unwrap();
    }

    fn rewrite(conn: &mut DbConnection, id: &str, content: &str) {
        diesel::sql_query("UPDATE chat_messages SET content = $1 WHERE id = $2")
            .bind::<Text, _>(content)
            .bind::<Text, _>(id)
            .execute(conn)
            .unwrap();
    }

    fn delete(conn: &mut DbConnection, id: &str) {
        diesel::sql_query("DELETE FROM chat_messages WHERE id = $1")
            .bind::<Text, _>(id)
            .execute(conn)
            .unwrap();
    }

    /// Changes in one transaction, in savepoints as the writer makes them,
    /// then the notes applied and committed.
    fn commit(conn: &mut DbConnection, changes: impl FnOnce(&mut DbConnection)) {
        conn.batch_execute("BEGIN IMMEDIATE; SAVEPOINT job")
            .unwrap();
        changes(conn);
        conn.batch_execute("RELEASE job").unwrap();
        apply_pending(conn).unwrap();
        conn.batch_execute("COMMIT").unwrap();
        assert_eq!(
            count(conn, "SELECT COUNT(*) AS n FROM message_search_pending"),
            0
        );
        assert_index_matches_documents(conn);
    }

    /// Migrates `db` and stores user `u` with session `s`; a tool connection.
    fn migrated_with_a_session(db: &Database) -> crate::db::Conn {
        db.migrate().unwrap();
        let mut conn = db.get().unwrap();
        conn.batch_execute(
            "INSERT INTO users (id, email, name, password_hash, created_at) \
             VALUES ('u', 'u@example.com', 'U', 'x', 0); \
             INSERT INTO chat_sessions (id, user_id, message_count, created_at, updated_at) \
             VALUES ('s', 'u', 0, 0, 0);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn the_notes_are_applied_by_statements_prepared_once_per_connection() {
        use diesel::connection::Connection;
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&dir.path().join("p.db").display().to_string(), 1).unwrap();
        let mut conn = migrated_with_a_session(&db);
        let prepared = crate::db::cached::Prepared::default();
        conn.set_instrumentation(prepared.clone());
        for n in 0..3 {
            commit(&mut conn, |c| message(c, &format!("m{n}"), "zorblax"));
        }
        assert_eq!(matches(&mut conn, "zorblax"), 3);
        let prepared = prepared.0.lock().unwrap();
        for statement in [super::APPLY, super::CLEAR] {
            let times = prepared.iter().filter(|sql| *sql == statement).count();
            assert_eq!(times, 1, "{statement}: {prepared:?}");
        }
    }

    #[test]
    fn the_index_takes_every_change_once_per_commit_and_only_the_last_text() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&dir.path().join("i.db").display().to_string(), 1).unwrap();
        let mut conn = migrated_with_a_session(&db);

        // Stored and rewritten before any commit (a reply stored empty, then
        // written): one note, with the last text.
        commit(&mut conn, |c| {
            message(c, "a", "");
            rewrite(c, "a", "first zorblax");
            rewrite(c, "a", "second quuxwidget");
            message(c, "b", "plain zorblax");
            assert_eq!(
                count(c, "SELECT COUNT(*) AS n FROM message_search_pending"),
                2
            );
        });
        assert_eq!(matches(&mut conn, "quuxwidget"), 1);
        assert_eq!(matches(&mut conn, "zorblax"), 1);

        // Indexed, then rewritten twice and another deleted: out with the
        // indexed text, in with the last.
        commit(&mut conn, |c| {
            rewrite(c, "a", "third flumph");
            rewrite(c, "a", "fourth flumph zorblax");
            delete(c, "b");
        });
        assert_eq!(matches(&mut conn, "quuxwidget"), 0);
        assert_eq!(matches(&mut conn, "flumph"), 1);
        assert_eq!(matches(&mut conn, "zorblax"), 1);

        // Stored and deleted before any commit: nothing reaches the index;
        // an indexed one rewritten and then deleted leaves it.
        commit(&mut conn, |c| {
            message(c, "c", "fleeting zorblax");
            delete(c, "c");
            rewrite(c, "a", "fifth");
            delete(c, "a");
        });
        assert_eq!(matches(&mut conn, "zorblax"), 0);
        assert_eq!(matches(&mut conn, "flumph"), 0);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) AS n FROM message_search_docs"),
            0
        );
    }

    #[tokio::test]
    async fn what_a_tool_connection_wrote_is_indexed_at_the_writers_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").display().to_string();
        let db = Database::connect(&path, 1).unwrap();
        let mut conn = migrated_with_a_session(&db);
        message(&mut conn, "a", "tooled zorblax");
        assert_eq!(matches(&mut conn, "zorblax"), 0);
        db.write(|_| Ok(())).await.unwrap();
        assert_eq!(matches(&mut conn, "zorblax"), 1);

        // And when the writer starts (the server after a tool ran).
        message(&mut conn, "b", "offline quuxwidget");
        drop(db);
        let db = Database::connect(&path, 1).unwrap();
        db.write(|_| Ok(())).await.unwrap();
        let mut conn = db.get().unwrap();
        assert_eq!(matches(&mut conn, "quuxwidget"), 1);
        assert_index_matches_documents(&mut conn);
    }

    /// The segments of the index: FTS5 writes one per flush of what it
    /// holds in memory.
    fn segments(conn: &mut DbConnection) -> i64 {
        count(
            conn,
            "SELECT COUNT(DISTINCT segid) AS n FROM message_search_idx",
        )
    }

    #[test]
    fn a_commit_writes_one_segment_however_its_changes_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&dir.path().join("s.db").display().to_string(), 1).unwrap();
        let mut conn = migrated_with_a_session(&db);
        commit(&mut conn, |c| message(c, "a", "older zorblax"));
        let before = segments(&mut conn);

        // A newer document, then an older one rewritten (a reply completed
        // in the batch after the one that stored it), then a newer one:
        // FTS5 writes out what it holds whenever a change goes to a
        // document older than the last it took.
        commit(&mut conn, |c| {
            message(c, "b", "newer quuxwidget");
            rewrite(c, "a", "rewritten flumph");
            message(c, "c", "newest blorft");
        });
        assert_eq!(segments(&mut conn), before + 1);
        assert_eq!(matches(&mut conn, "flumph"), 1);
        assert_eq!(matches(&mut conn, "zorblax"), 0);
        assert_eq!(matches(&mut conn, "blorft"), 1);
    }
}
