//! SQLite's single writer: one connection, on a thread of its own, takes
//! write work from a queue and commits everything that queued up while it
//! was busy in one transaction (group commit).
//!
//! SQLite lets one connection write at a time. With writers spread over a
//! pool they take turns on the file lock, and a loser sleeps in SQLite's
//! busy handler (1, 2, 5 … 100 ms) however soon the lock is free again:
//! that sleep was the long tail of every send. Here nothing waits on the
//! lock: work waits in the queue and starts the moment the writer is free,
//! and N exchanges cost one commit instead of N. The writer's page cache
//! also stays valid between transactions, since no other connection writes.
//!
//! A job means what the same work means on its own connection: each
//! statement stands, and a transaction the work opens itself
//! ([`super::write_transaction`], here a savepoint) is undone alone when it
//! fails. So work that stores something and then answers with an error (a
//! refresh token replayed: its family revoked, 401) keeps what it stored, on
//! both backends. A savepoint around each job tells whether the batch's
//! transaction survived it (one that SQLite rolled back on an I/O error has
//! no savepoint left to release). A job's result is delivered only after the
//! commit: an answer never tells of a write that is not durable. When the
//! commit itself fails, every job of the batch is told so (503) and nothing
//! of it is kept.
//!
//! Checkpoints (copying the WAL back into the database file, with its
//! `fsync`) run on a thread and connection of their own, [`checkpoint`],
//! woken after commits: SQLite would otherwise run them inside the commit
//! that crosses 1,000 WAL pages, a tenth of the writer's time under load.
//! That thread alone cannot keep the WAL small, though: SQLite starts the
//! WAL over from its beginning only when a write transaction begins with
//! every frame checkpointed, and under steady load the writer begins the
//! next batch long before a checkpoint on another thread catches up. So the
//! writer still checkpoints past [`WRITER_CHECKPOINT_PAGES`]; the thread,
//! running often, has copied and synced nearly everything by then, the
//! writer's checkpoint is short, and its next transaction restarts the WAL.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{Connection, SqliteConnection};
use tokio::sync::oneshot;

use super::{search_index, DbConnection};
use crate::error::AppError;

/// At most this many jobs share one transaction, so that a long queue still
/// commits (and answers) in steps.
const MAX_BATCH: usize = 256;

/// The writer's own automatic checkpoint: past this many WAL pages (8 MiB)
/// it checkpoints inside its commit, after which its next transaction
/// starts the WAL over. With the threshold at 10,000 pages the WAL grew to
/// 40 MiB between restarts and the commit that checkpointed it took 30–40 ms
/// (copying what the thread had not, and syncing it): the p99 of sends
/// under load was 37 ms; with 2,000 and the thread every 20 ms, 17–20 ms.
/// (Without it the WAL grew by 90 MB a second under sends.)
const WRITER_CHECKPOINT_PAGES: u32 = 2_000;

/// The checkpoint thread runs at most this often, after commits.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

type Manager = <DbConnection as Connection>::TransactionManager;

/// A piece of write work with the caller waiting for its result.
trait Job: Send {
    /// Runs the work; what it returns delivers the result once the
    /// transaction's fate is known: given `None` after the commit, the
    /// reason when the batch was rolled back.
    fn run(self: Box<Self>, conn: &mut DbConnection) -> Deliver;
    /// Tells the caller the work could not run.
    fn fail(self: Box<Self>, reason: &str);
}

type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

struct Work<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, AppError>>,
    span: tracing::Span,
    queued_at: Instant,
}

impl<F, T> Job for Work<F, T>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConnection) -> Deliver {
        let Work {
            work,
            reply,
            span,
            queued_at,
        } = *self;
        crate::metrics::db_write_wait(queued_at.elapsed().as_secs_f64());
        let result = span.in_scope(|| work(conn));
        Box::new(move |rolled_back| {
            let result = match rolled_back {
                None => result,
                Some(reason) => Err(AppError::unavailable(reason.to_owned())),
            };
            // The caller may have gone (its request was cancelled).
            let _ = reply.send(result);
        })
    }

    fn fail(self: Box<Self>, reason: &str) {
        let _ = self
            .reply
            .send(Err(AppError::unavailable(reason.to_owned())));
    }
}

/// The handle on the writer thread; cheap to clone. The thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// Jobs sent and transactions committed so far, for the tests.
    #[cfg(test)]
    sent: Arc<AtomicU64>,
    #[cfg(test)]
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Starts the writer thread over `conn`; `reopen` opens a new connection
    /// should this one break.
    pub fn start(
        conn: SqliteConnection,
        reopen: impl Fn() -> Result<SqliteConnection, String> + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&commits);
        let (committed, wake) = mpsc::sync_channel::<()>(1);
        let reopen = Arc::new(reopen);
        let open = Arc::clone(&reopen);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint(&wake, &*open))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let reopen = || reopen().and_then(writer_settings);
                match writer_settings(conn) {
                    Ok(conn) => serve(
                        DbConnection::Sqlite(conn),
                        &queue,
                        &reopen,
                        &counted,
                        &committed,
                    ),
                    Err(e) => tracing::error!(error = %e, "cannot set up the writer connection"),
                }
            })?;
        #[cfg(not(test))]
        drop(commits);
        Ok(Self {
            jobs,
            #[cfg(test)]
            sent: Arc::new(AtomicU64::new(0)),
            #[cfg(test)]
            commits,
        })
    }

    #[cfg(test)]
    fn jobs_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// Runs `work` on the writer connection, in the batch's transaction, and
    /// returns its result once that is committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job = Box::new(Work {
            work,
            reply,
            span: tracing::Span::current(),
            queued_at: Instant::now(),
        });
        crate::metrics::db_write_queued(1);
        if self.jobs.send(job).is_err() {
            crate::metrics::db_write_queued(-1);
            return Err(AppError::internal("the database writer has stopped"));
        }
        #[cfg(test)]
        self.sent.fetch_add(1, Ordering::SeqCst);
        result
            .await
            .map_err(|_| AppError::internal("a database write failed unexpectedly"))?
    }
}

/// The writer thread: takes whatever is queued (at least one job, at most
/// [`MAX_BATCH`]) and commits it as one transaction, until every handle is gone.
fn serve(
    mut conn: DbConnection,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    reopen: &dyn Fn() -> Result<SqliteConnection, String>,
    commits: &AtomicU64,
    committed: &mpsc::SyncSender<()>,
) {
    let mut index = search_index::Index::default();
    // What tools and start-up left for the search index (see `search_index`).
    if let Err(e) = conn.transaction(|conn| index.apply_pending(conn)) {
        tracing::error!(error = %e, "cannot bring the search index up to date");
    }
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        crate::metrics::db_write_queued(-i64::try_from(batch.len()).unwrap_or(i64::MAX));
        crate::metrics::db_write_batch(batch.len());
        if commit_batch(&mut conn, batch, &mut index) {
            commits.fetch_add(1, Ordering::SeqCst);
            // Wakes the checkpoint thread unless it is awake already.
            let _ = committed.try_send(());
        } else {
            reset(&mut conn, reopen);
        }
    }
}

/// The writer connection's own settings (see [`WRITER_CHECKPOINT_PAGES`]).
fn writer_settings(mut conn: SqliteConnection) -> Result<SqliteConnection, String> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&format!(
        "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
    ))
    .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// The checkpoint thread: after commits (at most every [`CHECKPOINT_EVERY`])
/// copies what the WAL holds into the database file, without waiting for
/// readers (`PASSIVE`: what they still read stays for the next one), until
/// the writer is gone. A connection that fails is opened again next time.
fn checkpoint(wake: &mpsc::Receiver<()>, open: &dyn Fn() -> Result<SqliteConnection, String>) {
    use diesel::connection::SimpleConnection;
    let mut conn: Option<SqliteConnection> = None;
    while wake.recv().is_ok() {
        let ready = match conn.as_mut() {
            Some(c) => Ok(c),
            None => open().map(|c| conn.insert(c)),
        };
        let done = ready.and_then(|c| {
            c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")
                .map_err(|e| e.to_string())
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "cannot checkpoint the WAL; the writer will");
            conn = None;
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// Runs and commits one batch; `false` when the connection was left in a
/// state to reset (the batch is then rolled back and its callers told).
fn commit_batch(
    conn: &mut DbConnection,
    batch: Vec<Box<dyn Job>>,
    index: &mut search_index::Index,
) -> bool {
    if let Err(e) = begin_immediate(conn) {
        let reason = format!("the database cannot take writes now: {e}");
        tracing::error!(error = %e, "cannot begin a write transaction");
        for job in batch {
            job.fail(&reason);
        }
        return false;
    }
    let mut ran = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for job in batch {
        if let Some(reason) = &broken {
            job.fail(reason);
            continue;
        }
        if let Err(e) = Manager::begin_transaction(conn) {
            broken = Some(format!("cannot open a savepoint: {e}"));
            job.fail(broken.as_deref().unwrap_or_default());
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok(deliver) => {
                if let Err(e) = Manager::commit_transaction(conn) {
                    broken = Some(format!("the transaction did not survive a write: {e}"));
                }
                ran.push(deliver);
            }
            // The job's caller is told by its dropped reply; the nesting a
            // panic left behind is unknown, so the whole batch goes.
            Err(_) => broken = Some("a database write panicked".to_owned()),
        }
    }
    let outcome = match broken {
        None => index
            .apply_pending(conn)
            .map_err(|e| format!("cannot update the search index: {e}"))
            .and_then(|()| {
                Manager::commit_transaction(conn).map_err(|e| format!("cannot commit: {e}"))
            }),
        Some(reason) => Err(reason),
    };
    match outcome {
        Ok(()) => {
            for deliver in ran {
                deliver(None);
            }
            true
        }
        Err(reason) => {
            tracing::error!(%reason, jobs = ran.len(), "a write batch was rolled back");
            let reason = format!("the write was not stored ({reason})");
            for deliver in ran {
                deliver(Some(&reason));
            }
            false
        }
    }
}

fn begin_immediate(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        }
        DbConnection::Pg(_) => Manager::begin_transaction(conn),
    }
}

/// Rolls back whatever is open; a connection that cannot is replaced.
fn reset(conn: &mut DbConnection, reopen: &dyn Fn() -> Result<SqliteConnection, String>) {
    for _ in 0..64 {
        let depth = match conn {
            DbConnection::Sqlite(sqlite) => {
                AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth()
            }
            DbConnection::Pg(_) => Ok(None),
        };
        match depth {
            Ok(None) => return,
            Ok(Some(_)) if Manager::rollback_transaction(conn).is_ok() => {}
            _ => break,
        }
    }
    match reopen() {
        Ok(fresh) => *conn = DbConnection::Sqlite(fresh),
        Err(e) => tracing::error!(error = %e, "cannot reopen the writer connection"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;

    use crate::db::{write_transaction, Database};
    use crate::error::AppError;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn database() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&dir.path().join("w.db").display().to_string(), 2).unwrap();
        db.get()
            .unwrap()
            .batch_execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        (dir, db)
    }

    fn insert(conn: &mut super::DbConnection, n: i64) -> Result<(), AppError> {
        diesel::sql_query(format!("INSERT INTO t (n) VALUES ({n})")).execute(conn)?;
        Ok(())
    }

    /// The rows a pool connection (not the writer) sees.
    fn committed(db: &Database) -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT n FROM t ORDER BY n")
            .load::<Row>(&mut *db.get().unwrap())
            .unwrap()
            .into_iter()
            .map(|r| r.n)
            .collect()
    }

    /// Occupies the writer until the returned sender is dropped or sent to,
    /// once it has started (so that what is sent meanwhile queues up).
    async fn occupy(db: &Database) -> (tokio::task::JoinHandle<()>, std_mpsc::Sender<()>) {
        let (started_tx, started) = std_mpsc::channel();
        let (release, released) = std_mpsc::channel::<()>();
        let blocker = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |conn| {
                    started_tx.send(()).unwrap();
                    let _ = released.recv_timeout(Duration::from_secs(10));
                    insert(conn, 0)
                })
                .await
                .unwrap();
            })
        };
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        (blocker, release)
    }

    fn commits(db: &Database) -> u64 {
        db.writer.as_ref().unwrap().commits()
    }

    /// Sends `work` to the writer from a task of its own.
    fn spawn_write<T: Send + 'static>(
        db: &Database,
        work: impl FnOnce(&mut super::DbConnection) -> Result<T, AppError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<T, AppError>> {
        let db = db.clone();
        tokio::spawn(async move { db.write(work).await })
    }

    /// Waits until `n` jobs were sent to the writer.
    async fn sent(db: &Database, n: u64) {
        while db.writer.as_ref().unwrap().jobs_sent() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What the writer commits reaches the database file soon after, by the
    /// checkpoint thread: far less than the writer's own threshold (or
    /// SQLite's default of 1,000 pages) is written here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_are_checkpointed_into_the_database_file_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let db = Database::connect(&path.display().to_string(), 2).unwrap();
        db.write(|conn| {
            conn.batch_execute("CREATE TABLE b (n INTEGER PRIMARY KEY, data BLOB)")?;
            Ok(())
        })
        .await
        .unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = size();
        for n in 0..100 {
            db.write(move |conn| {
                diesel::sql_query(format!("INSERT INTO b VALUES ({n}, zeroblob(4000))"))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
        }
        let started = std::time::Instant::now();
        while size() < before + 100 * 4000 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the database file stayed at {} bytes",
                size()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_commit_together_and_answer_after_the_commit() {
        let (_dir, db) = database();
        let before = commits(&db);
        let (blocker, release) = occupy(&db).await;
        let writers: Vec<_> = (1..=50)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| insert(conn, n)).await.unwrap();
                    // Answered only once committed: another connection sees it.
                    let seen = db
                        .run(move |conn| {
                            let query = format!("SELECT COUNT(*) AS n FROM t WHERE n = {n}");
                            Ok(diesel::sql_query(query).get_result::<Count>(conn)?.n)
                        })
                        .await
                        .unwrap();
                    assert_eq!(seen, 1, "row {n} answered before it was committed");
                })
            })
            .collect();
        // Every write is queued behind the blocker before it lets go.
        sent(&db, 51).await;
        release.send(()).unwrap();
        blocker.await.unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(committed(&db), (0..=50).collect::<Vec<_>>());
        assert_eq!(
            commits(&db) - before,
            2,
            "the blocker's transaction, then one for the 50"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_a_batch_a_failed_transaction_is_undone_alone_and_plain_writes_stand() {
        let (_dir, db) = database();
        let (blocker, release) = occupy(&db).await;
        let rolled_back = spawn_write(&db, |conn| {
            write_transaction(conn, |conn| {
                insert(conn, 1)?;
                Err::<(), _>(AppError::Conflict("undo".into()))
            })
        });
        let stored_then_refused = spawn_write(&db, |conn| {
            insert(conn, 2)?;
            Err::<(), _>(AppError::Unauthorized("refused".into()))
        });
        let fine = spawn_write(&db, |conn| insert(conn, 3));
        sent(&db, 4).await;
        release.send(()).unwrap();
        blocker.await.unwrap();
        assert!(matches!(
            rolled_back.await.unwrap(),
            Err(AppError::Conflict(_))
        ));
        assert!(matches!(
            stored_then_refused.await.unwrap(),
            Err(AppError::Unauthorized(_))
        ));
        fine.await.unwrap().unwrap();
        // As on a connection of its own (and on PostgreSQL): the failed
        // transaction is gone, the write before the refusal stands.
        assert_eq!(committed(&db), vec![0, 2, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_panics_fails_its_batch_and_the_writer_goes_on() {
        let (_dir, db) = database();
        let (blocker, release) = occupy(&db).await;
        let neighbour = spawn_write(&db, |conn| insert(conn, 1));
        let panicking = spawn_write(&db, |conn| -> Result<(), AppError> {
            insert(conn, 2)?;
            panic!("a bug in a write")
        });
        sent(&db, 3).await;
        release.send(()).unwrap();
        blocker.await.unwrap();
        assert!(matches!(
            neighbour.await.unwrap(),
            Err(AppError::Unavailable(_))
        ));
        assert!(matches!(
            panicking.await.unwrap(),
            Err(AppError::Internal(_))
        ));
        assert_eq!(
            committed(&db),
            vec![0],
            "nothing of the failed batch is kept"
        );
        db.write(|conn| insert(conn, 4)).await.unwrap();
        assert_eq!(committed(&db), vec![0, 4]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite_only_the_writer_and_blocking_tools_write() {
        let (_dir, db) = database();
        let misrouted = db.run(|conn| insert(conn, 1)).await;
        let error = format!("{:?}", misrouted.unwrap_err());
        assert!(error.contains("readonly"), "{error}");
        db.write(|conn| insert(conn, 2)).await.unwrap();
        insert(&mut db.get().unwrap(), 3).unwrap();
        assert_eq!(committed(&db), vec![2, 3]);
    }
}
