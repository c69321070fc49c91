//! The connection pool, its per-connection settings, embedded migrations, and
//! the bridge that runs blocking diesel work off the async executor.

pub mod models;
pub mod schema;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;
use crate::telemetry::spawn_blocking_with_tracing;

/// The connection type every service function works over. A second backend
/// becomes a variation of this alias (diesel's `MultiConnection`), not a rewrite.
pub type DbConnection = diesel::SqliteConnection;
pub type DbPool = Pool<ConnectionManager<DbConnection>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a writer waits for SQLite's lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot run migrations: {0}")]
    Migrations(String),
}

/// Per-connection pragmas. WAL lets readers proceed while one writer writes;
/// `busy_timeout` makes concurrent writers queue instead of failing with
/// "database is locked"; `synchronous = NORMAL` in WAL mode is durable against
/// a killed process (a committed transaction is in the WAL file).
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
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
    /// Opens (creating if needed) the database and its directory.
    pub fn connect(database_url: &str, max_connections: u32) -> Result<Self, DbSetupError> {
        let path = sqlite_path(database_url);
        if path != ":memory:" {
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| DbSetupError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
        }
        let manager = ConnectionManager::<DbConnection>::new(path);
        let pool = Pool::builder()
            .max_size(max_connections)
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(SqlitePragmas))
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
            let mut conn = pool.get().map_err(AppError::internal)?;
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
