//! The connection pool, its per-connection settings, embedded migrations, and
//! the bridge that runs blocking diesel work off the async executor.

pub mod models;
pub mod schema;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, HandleError, LoggingErrorHandler, Pool,
    PooledConnection,
};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;
use crate::telemetry::spawn_blocking_with_tracing;

/// The connection type every service function works over. A second backend
/// becomes a variation of this alias (diesel's `MultiConnection`), not a rewrite.
pub type DbConnection = diesel::SqliteConnection;
pub type DbPool = Pool<ConnectionManager<DbConnection>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How long a writer waits for SQLite's lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

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

/// Per-connection pragmas. `busy_timeout` makes concurrent writers queue
/// instead of failing with "database is locked"; `synchronous = NORMAL` in WAL
/// mode is durable against a killed process (a committed transaction is in the
/// WAL file). WAL itself is a property of the file, set once by
/// [`Database::connect`] before the pool opens: switching it from every new
/// connection at once made them race for the lock on a fresh file.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
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
    let mut conn = DbConnection::establish(path).map_err(|e| open_error(e.to_string()))?;
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

/// A cheap-to-clone handle on the pool.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
}

impl Database {
    /// Opens (creating if needed, privately) the database and its directory.
    pub fn connect(database_url: &str, max_connections: u32) -> Result<Self, DbSetupError> {
        Self::connect_reporting(database_url, max_connections, Box::new(LoggingErrorHandler))
    }

    /// [`Database::connect`], with the pool's connection errors sent to `errors`.
    fn connect_reporting(
        database_url: &str,
        max_connections: u32,
        errors: Box<dyn HandleError<diesel::r2d2::Error>>,
    ) -> Result<Self, DbSetupError> {
        let path = sqlite_path(database_url);
        if path != ":memory:" {
            create_private(Path::new(path)).map_err(|source| DbSetupError::CreateDir {
                path: path.to_owned(),
                source,
            })?;
            enable_wal(path)?;
        }
        let manager = ConnectionManager::<DbConnection>::new(path);
        let pool = Pool::builder()
            .max_size(max_connections)
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(SqlitePragmas))
            .error_handler(errors)
            .build(manager)?;
        Ok(Self { pool })
    }

    /// Applies every pending embedded migration; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbSetupError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbSetupError::Migrations(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbSetupError::Migrations(e.to_string()))?;
        Ok(applied.len())
    }

    /// Checks out a connection on the current thread (for CLI commands and
    /// code already running on a blocking thread).
    pub fn get(&self) -> Result<PooledConn, AppError> {
        self.pool.get().map_err(AppError::internal)
    }

    /// Runs blocking database work on the blocking thread pool, never on an
    /// async worker.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        spawn_blocking_with_tracing(move || {
            let asked = std::time::Instant::now();
            let conn = pool.get();
            crate::metrics::db_pool_wait(asked.elapsed().as_secs_f64());
            let mut conn = conn.map_err(AppError::internal)?;
            work(&mut conn)
        })
        .await
        .map_err(AppError::internal)?
    }

    /// `SELECT 1`, for readiness probes.
    pub async fn ping(&self) -> Result<(), AppError> {
        self.run(|conn| conn.batch_execute("SELECT 1").map_err(AppError::from))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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
            let db = Database::connect_reporting(&url, 8, Box::new(errors.clone())).unwrap();
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
