//! The connection pool, its per-connection settings, embedded migrations, and
//! the bridge that runs blocking diesel work off the async executor.

pub mod cached;
pub mod models;
mod native;
pub mod schema;
pub mod search_index;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{
    CustomizeConnection, HandleError, LoggingErrorHandler, ManageConnection, Pool,
    PooledConnection, R2D2Connection,
};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;
use crate::telemetry::spawn_blocking_with_tracing;
pub(crate) use native::native;
use writer::Writer;

/// The connection every service function works over: one code path for both
/// backends. Queries use only what both understand; the few that cannot
/// (see [`write_transaction`]) match on the variant in one small function.
/// PostgreSQL is listed first, as diesel's `MultiConnection` expects.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a writer waits for SQLite's lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// How long a request waits for a connection while the database is known
/// to be unreachable (see [`Reachability`]).
const FAIL_FAST: Duration = Duration::from_millis(200);

/// The key of the PostgreSQL advisory lock held while migrating, so that
/// replicas starting together migrate one after the other.
const MIGRATION_LOCK_KEY: i64 = 0x5252_4348_4154; // "RRCHAT"

/// Which database a `DATABASE_URL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://` or `postgresql://` is PostgreSQL; anything else is a
    /// SQLite file (the default, `data/chat.db`).
    pub fn of(database_url: &str) -> Self {
        let lower = database_url.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// How the pool opens and uses connections.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    /// How long a request waits for a connection (and PostgreSQL for a new
    /// one to open) before it is answered 503.
    pub connect_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection (0 = none).
    pub statement_timeout: Duration,
}

impl DbOptions {
    /// The same with one connection (command-line tools).
    pub fn single(&self) -> Self {
        Self {
            max_connections: 1,
            ..self.clone()
        }
    }

    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the database or its directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot open the database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("cannot run migrations: {0}")]
    Migrations(String),
}

/// Opens connections of the backend the URL names. (diesel's own manager
/// would try every variant in turn, and a PostgreSQL URL that does not
/// answer would then be opened as a SQLite file of that name.)
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    url: String,
    reachability: Arc<Reachability>,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let connected = match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url).map(DbConnection::Pg),
            Backend::Sqlite => SqliteConnection::establish(&self.url).map(DbConnection::Sqlite),
        };
        self.reachability.set(connected.is_ok());
        connected.map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Whether the database answered the last attempt to reach it: a new
/// connection opened, or a pooled one checked out (the pool checks it with
/// `SELECT 1`). While it does not, a request waits [`FAIL_FAST`] for a
/// connection instead of the whole connect timeout, so one that needs
/// several statements answers 503 in about one connect timeout, not one per
/// statement; the pool keeps trying to connect meanwhile, and the first
/// connection that opens ends it. (A pool merely busy is not unreachable:
/// only a failed connection attempt sets it.)
#[derive(Debug, Default)]
struct Reachability {
    unreachable: AtomicBool,
}

impl Reachability {
    fn set(&self, reachable: bool) {
        self.unreachable.store(!reachable, Ordering::Relaxed);
    }

    fn unreachable(&self) -> bool {
        self.unreachable.load(Ordering::Relaxed)
    }
}

/// Per-connection settings.
///
/// SQLite: `busy_timeout` makes concurrent writers queue instead of failing
/// with "database is locked"; `synchronous = NORMAL` in WAL mode is durable
/// against a killed process (a committed transaction is in the WAL file).
/// WAL itself is a property of the file, set once by [`Database::connect`]
/// before the pool opens: switching it from every new connection at once
/// made them race for the lock on a fresh file.
///
/// SQLite with its single writer: the pool's connections only read
/// (`query_only`), so a write sent to [`Database::run`] by mistake fails at
/// once instead of waiting for the writer's lock.
///
/// PostgreSQL: a `statement_timeout`, so a stuck query frees its connection.
#[derive(Debug)]
struct ConnectionSettings {
    statement_timeout_ms: u128,
    read_only: bool,
}

/// The settings of every SQLite connection, the writer's and the readers'.
/// `temp_store = MEMORY` keeps the sub-journal in memory: the writer's
/// savepoints (one per job inside each batch) copy every page they change
/// there first, and once it outgrew 64 KiB SQLite spilled it to a temporary
/// file, a `pwrite` per page (a fifth of the writer's time under load).
fn sqlite_settings(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;"
    ))
}

/// Opens the SQLite writer's connection.
fn open_writer(path: &str) -> Result<SqliteConnection, String> {
    let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    sqlite_settings(&mut conn).map_err(|e| e.to_string())?;
    Ok(conn)
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        match conn {
            DbConnection::Sqlite(conn) if self.read_only => {
                sqlite_settings(conn).and_then(|()| conn.batch_execute("PRAGMA query_only = ON;"))
            }
            DbConnection::Sqlite(conn) => sqlite_settings(conn),
            DbConnection::Pg(conn) => conn.batch_execute(&format!(
                "SET statement_timeout = {}",
                self.statement_timeout_ms
            )),
        }
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Runs `work` in a transaction meant for check-then-act work, committing
/// when it returns `Ok`.
///
/// SQLite: `BEGIN IMMEDIATE` takes the write lock at once, so two of these
/// never interleave (a plain `BEGIN` would fail with "database is locked"
/// when two readers both try to write). Inside a transaction already (work
/// given to [`Database::write`] runs inside the writer's batch) it is a
/// savepoint, undone alone when `work` fails; the writer is then the only
/// writer, so nothing interleaves either. PostgreSQL: an ordinary transaction
/// (READ COMMITTED), which does NOT serialise anything by itself: the work
/// must decide with conditional statements (`UPDATE … WHERE <condition>` and
/// its row count) or lock the rows it reads (`SELECT … FOR UPDATE`, in a
/// function that matches on the variant).
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    let outermost = match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::transaction_manager_status_mut(sqlite)
                .transaction_depth()?
                .is_none()
        }
        DbConnection::Pg(_) => false,
    };
    match conn {
        DbConnection::Sqlite(sqlite) if outermost => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
        }
        _ => Manager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Pg(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Creates the database's directory (mode 0700) and file (mode 0600) when
/// they do not exist yet: they hold password hashes and every conversation,
/// so only the service's user may read them. (SQLite gives its `-wal` and
/// `-shm` files the database file's mode.) Existing ones are left as they are.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Switches the file to WAL once, alone, before any pool connection exists.
fn enable_wal(path: &str) -> Result<(), DbSetupError> {
    let open_error = |reason: String| DbSetupError::Open {
        path: path.to_owned(),
        reason,
    };
    let mut conn = SqliteConnection::establish(path).map_err(|e| open_error(e.to_string()))?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL;"
    ))
    .map_err(|e| open_error(e.to_string()))
}

/// Turns a `DATABASE_URL` into the path SQLite opens (`sqlite://` prefix allowed).
pub fn sqlite_path(database_url: &str) -> &str {
    database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url)
}

/// The URL with its password (if any) hidden, for messages and logs.
pub fn redacted_url(database_url: &str) -> String {
    let Some((scheme, rest)) = database_url.split_once("://") else {
        return database_url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => database_url.to_owned(),
        },
        None => database_url.to_owned(),
    }
}

/// A PostgreSQL URL with libpq's `connect_timeout` (whole seconds, at least
/// 2, libpq's minimum), unless the URL sets one itself.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}connect_timeout={}",
        timeout.as_secs().max(2)
    )
}

/// A cheap-to-clone handle on the database: a pool of connections, and on
/// SQLite the single writer (see [`writer`]).
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    backend: Backend,
    reachability: Arc<Reachability>,
    /// SQLite's writer; `None` on PostgreSQL (whose connections write side
    /// by side) and for an in-memory SQLite database (one connection's own).
    writer: Option<Writer>,
    /// The SQLite file beside a writer, for [`Database::get`].
    sqlite_file: Option<String>,
}

/// A connection for blocking work: from the pool, or (SQLite, whose pool
/// only reads) one of its own.
pub enum Conn {
    Pooled(PooledConn),
    Own(Box<DbConnection>),
}

impl std::ops::Deref for Conn {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Own(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Own(conn) => conn,
        }
    }
}

impl Database {
    /// Opens the database with default timeouts (SQLite: creating the file
    /// and its directory, privately, if needed).
    pub fn connect(database_url: &str, max_connections: u32) -> Result<Self, DbSetupError> {
        Self::connect_with(database_url, &DbOptions::new(max_connections))
    }

    /// Opens the database with `options`.
    pub fn connect_with(database_url: &str, options: &DbOptions) -> Result<Self, DbSetupError> {
        Self::connect_reporting(database_url, options, Box::new(LoggingErrorHandler))
    }

    /// [`Database::connect_with`], with the pool's connection errors sent to `errors`.
    fn connect_reporting(
        database_url: &str,
        options: &DbOptions,
        errors: Box<dyn HandleError<diesel::r2d2::Error>>,
    ) -> Result<Self, DbSetupError> {
        let backend = Backend::of(database_url);
        let mut writer = None;
        let url = match backend {
            Backend::Postgres => with_connect_timeout(database_url, options.connect_timeout),
            Backend::Sqlite => {
                let path = sqlite_path(database_url);
                if path != ":memory:" {
                    create_private(Path::new(path)).map_err(|source| DbSetupError::CreateDir {
                        path: path.to_owned(),
                        source,
                    })?;
                    enable_wal(path)?;
                    let open_error = |reason: String| DbSetupError::Open {
                        path: path.to_owned(),
                        reason,
                    };
                    let conn = open_writer(path).map_err(open_error)?;
                    let reopen_path = path.to_owned();
                    writer = Some(
                        Writer::start(conn, move || open_writer(&reopen_path))
                            .map_err(|e| open_error(e.to_string()))?,
                    );
                }
                path.to_owned()
            }
        };
        let reachability = Arc::new(Reachability::default());
        let sqlite_file = writer.as_ref().map(|_| url.clone());
        let pool = Pool::builder()
            .max_size(options.max_connections)
            // A connection to a PostgreSQL server can break while it is
            // idle, so it is checked (`SELECT 1`) before each use; one to a
            // local SQLite file cannot, and the check would be a statement
            // parsed and run on every request.
            .test_on_check_out(backend == Backend::Postgres)
            .connection_timeout(options.connect_timeout)
            .connection_customizer(Box::new(ConnectionSettings {
                statement_timeout_ms: options.statement_timeout.as_millis(),
                read_only: writer.is_some(),
            }))
            .error_handler(errors)
            .build(Manager {
                backend,
                url,
                reachability: Arc::clone(&reachability),
            })?;
        Ok(Self {
            sqlite_file,
            pool,
            backend,
            reachability,
            writer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending embedded migration of the backend; returns how
    /// many ran. On PostgreSQL an advisory lock is held meanwhile, so that
    /// replicas starting together migrate one at a time (the later ones find
    /// nothing left to do).
    pub fn migrate(&self) -> Result<usize, DbSetupError> {
        let failed = |e: &dyn std::fmt::Display| DbSetupError::Migrations(e.to_string());
        let mut conn = self.get().map_err(|e| failed(&e))?;
        match &mut *conn {
            DbConnection::Sqlite(sqlite) => sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|applied| applied.len())
                .map_err(|e| failed(&e)),
            DbConnection::Pg(pg) => {
                pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                    .map_err(|e| failed(&e))?;
                let applied = pg
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|applied| applied.len())
                    .map_err(|e| failed(&e));
                let unlocked = pg
                    .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                    .map_err(|e| failed(&e));
                let applied = applied?;
                unlocked?;
                Ok(applied)
            }
        }
    }

    /// A connection that may write, on the current thread, for command-line
    /// tools, start-up and migrations: from the pool, or on SQLite (whose
    /// pool only reads) a connection of its own, which takes SQLite's lock
    /// like any other process would. The service's own writes go through
    /// [`Database::write`].
    pub fn get(&self) -> Result<Conn, AppError> {
        match &self.sqlite_file {
            Some(path) => open_writer(path)
                .map(|conn| Conn::Own(Box::new(DbConnection::Sqlite(conn))))
                .map_err(AppError::unavailable),
            None => checkout(&self.pool, &self.reachability).map(Conn::Pooled),
        }
    }

    /// Runs blocking database work on the blocking thread pool, never on an
    /// async worker.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, reachability) = (self.pool.clone(), Arc::clone(&self.reachability));
        spawn_blocking_with_tracing(move || {
            let asked = std::time::Instant::now();
            let conn = checkout(&pool, &reachability);
            crate::metrics::db_pool_wait(asked.elapsed().as_secs_f64());
            let mut conn = conn?;
            work(&mut conn)
        })
        .await
        .map_err(AppError::internal)?
    }

    /// Runs a short read — one bounded by an index and a page size, such as
    /// the caller's row or one page of a list — where it costs least. On
    /// SQLite, whose reads are local, never wait for the writer (WAL) and
    /// take tens of microseconds, it runs on the calling thread when a
    /// pooled connection is free at once: the hop to the blocking pool and
    /// back (two thread wake-ups, a context switch each) costs more than the
    /// read itself. Otherwise (every connection busy, or PostgreSQL, where a
    /// read is a network round trip) it runs as [`Database::run`] does.
    /// Unbounded work (search, exports, statistics) uses `run`, so that it
    /// never holds up an async worker.
    pub async fn read<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend == Backend::Sqlite {
            if let Some(mut conn) = self.pool.try_get() {
                crate::metrics::db_pool_wait(0.0);
                return work(&mut conn);
            }
        }
        self.run(work).await
    }

    /// Runs work that writes. On SQLite it goes to the single writer, which
    /// runs it in a transaction shared with the writes queued beside it and
    /// answers once that is committed; on PostgreSQL it runs on the pool as
    /// [`Database::run`] does. Either way the work means the same: each
    /// statement stands, and what must be atomic the work wraps in
    /// [`write_transaction`] itself.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(work).await,
            // An in-memory SQLite database: its one connection writes, and
            // the search index is brought up to date as the writer would.
            None if self.backend == Backend::Sqlite => {
                self.run(move |conn| {
                    let done = work(conn)?;
                    search_index::apply_pending(conn)?;
                    Ok(done)
                })
                .await
            }
            None => self.run(work).await,
        }
    }

    /// `SELECT 1`, for readiness probes.
    pub async fn ping(&self) -> Result<(), AppError> {
        self.run(|conn| conn.batch_execute("SELECT 1").map_err(AppError::from))
            .await
    }
}

/// A connection from the pool: waiting up to the connect timeout, or only
/// [`FAIL_FAST`] while the database is unreachable; 503 when none comes.
fn checkout(pool: &DbPool, reachability: &Reachability) -> Result<PooledConn, AppError> {
    let conn = if reachability.unreachable() {
        pool.get_timeout(FAIL_FAST)
    } else {
        pool.get()
    }
    .map_err(AppError::unavailable)?;
    reachability.set(true);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn passwords_are_hidden_from_printed_urls() {
        assert_eq!(
            redacted_url("postgres://chat:s3cret@db:5432/chat?sslmode=require"),
            "postgres://chat:***@db:5432/chat?sslmode=require"
        );
        assert_eq!(redacted_url("postgres://db/chat"), "postgres://db/chat");
        assert_eq!(redacted_url("data/chat.db"), "data/chat.db");
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout_unless_they_set_one() {
        let five = Duration::from_secs(5);
        assert_eq!(
            with_connect_timeout("postgres://db/chat", five),
            "postgres://db/chat?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://db/chat?sslmode=disable", Duration::from_secs(1)),
            "postgres://db/chat?sslmode=disable&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://db/chat?connect_timeout=9", five),
            "postgres://db/chat?connect_timeout=9"
        );
    }

    #[derive(Debug, Clone, Default)]
    struct CountErrors(Arc<AtomicUsize>);

    impl HandleError<diesel::r2d2::Error> for CountErrors {
        fn handle_error(&self, _error: diesel::r2d2::Error) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_fresh_database_opens_without_lock_errors() {
        // The race it guards against showed up about once in 200 openings.
        // (Each opening takes a few milliseconds.)
        for _ in 0..300 {
            let dir = tempfile::tempdir().unwrap();
            let url = dir.path().join("chat.db").display().to_string();
            let errors = CountErrors::default();
            let db =
                Database::connect_reporting(&url, &DbOptions::new(8), Box::new(errors.clone()))
                    .unwrap();
            assert_eq!(errors.0.load(Ordering::SeqCst), 0, "pool errors at start");
            let mode: String = {
                #[derive(diesel::QueryableByName)]
                struct Mode {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    journal_mode: String,
                }
                use diesel::RunQueryDsl;
                let mut conn = db.get().unwrap();
                diesel::sql_query("PRAGMA journal_mode")
                    .get_result::<Mode>(&mut *conn)
                    .unwrap()
                    .journal_mode
            };
            assert_eq!(mode, "wal");
        }
    }

    /// `.cargo/config.toml` builds the bundled SQLite with the query
    /// planner stability guarantee (without it every statement with a
    /// `LIMIT ?` is planned again at each execution), in multi-thread mode
    /// and without memory statistics (no mutex in every call and every
    /// allocation); see that file.
    #[test]
    fn sqlite_is_built_with_the_options_of_the_cargo_config() {
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        use diesel::RunQueryDsl;
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        for wanted in ["ENABLE_QPSG", "THREADSAFE=2", "DEFAULT_MEMSTATUS=0"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "SQLite was built without SQLITE_{wanted} (LIBSQLITE3_FLAGS): {options:?}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_new_database_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = data.join("chat.db");
        let db = Database::connect(&file.display().to_string(), 2).unwrap();
        db.migrate().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&file), 0o600);
        for sidecar in ["chat.db-wal", "chat.db-shm"] {
            let path = data.join(sidecar);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{sidecar}");
            }
        }
    }
}
