//! Retention: sessions with no activity for `RETENTION_DAYS` are deleted,
//! with everything in them (messages, sources, feedback: the foreign keys
//! cascade), by a sweep that one replica at a time runs.
//!
//! Which replica sweeps is decided by a lease row in the database, taken or
//! renewed with one conditional upsert, so it holds on any backend without
//! relying on a single writer. Deletion goes in small batches, each its own
//! short statement, so the sweep never holds the write lock for long.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::clock::{new_id, now_ms};
use crate::db::{Database, DbConnection};
use crate::domain::MessageStatus;
use crate::error::AppError;
use crate::metrics::Metrics;

/// The lease that names the sweeping replica.
pub const LEASE: &str = "retention";
/// Sessions deleted per statement.
pub const BATCH: i64 = 100;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Takes the lease `name` for `owner` until `until`, or renews it; `false`
/// when another owner holds it and it has not expired at `now`. One
/// statement: concurrent takers cannot both win.
pub fn take_lease(
    conn: &mut DbConnection,
    name: &str,
    owner: &str,
    now: i64,
    until: i64,
) -> Result<bool, AppError> {
    let taken = diesel::sql_query(
        "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
         WHERE leases.owner = excluded.owner OR leases.expires_at <= $4",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(owner)
    .bind::<BigInt, _>(until)
    .bind::<BigInt, _>(now)
    .execute(conn)?;
    Ok(taken == 1)
}

/// Deletes up to [`BATCH`] sessions last active before `cutoff` (none with a
/// reply being written), with everything in them; returns how many.
pub fn delete_batch(conn: &mut DbConnection, cutoff: i64) -> Result<usize, AppError> {
    // The condition is repeated outside the subquery so that a session that
    // became active meanwhile is kept.
    let deleted = diesel::sql_query(
        "DELETE FROM chat_sessions WHERE updated_at < $1 AND id IN ( \
           SELECT s.id FROM chat_sessions s WHERE s.updated_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM chat_messages m \
                             WHERE m.session_id = s.id AND m.status = $2) \
           ORDER BY s.updated_at LIMIT $3)",
    )
    .bind::<BigInt, _>(cutoff)
    .bind::<Text, _>(MessageStatus::Generating.as_str())
    .bind::<BigInt, _>(BATCH)
    .execute(conn)?;
    Ok(deleted)
}

/// How the sweep runs.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Sessions idle this many days are deleted; 0 keeps everything.
    pub days: u64,
    /// Time between sweeps.
    pub every: Duration,
}

impl Retention {
    /// Sweeps every `every` while this process holds the lease, until the
    /// task is dropped. Returns at once when retention is off.
    pub async fn run(self, db: Database, metrics: Arc<Metrics>) {
        if self.days == 0 {
            return;
        }
        let owner = new_id();
        // The holder renews the lease at every sweep; if it dies, another
        // replica takes over one interval (plus a minute) later.
        let lease_ms = i64::try_from(self.every.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_add(60_000);
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.sweep(&db, &owner, lease_ms).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics.retention_deleted(n);
                    tracing::info!(sessions = n, days = self.days, "deleted idle sessions");
                }
                Err(e) => tracing::warn!(error = ?e, "cannot sweep idle sessions"),
            }
        }
    }

    /// One sweep, if this process holds (or takes) the lease; returns the
    /// number of sessions deleted.
    async fn sweep(&self, db: &Database, owner: &str, lease_ms: i64) -> Result<u64, AppError> {
        let owner = owner.to_owned();
        let held = db
            .write(move |conn| {
                let now = now_ms();
                take_lease(conn, LEASE, &owner, now, now.saturating_add(lease_ms))
            })
            .await?;
        if !held {
            return Ok(0);
        }
        let days = i64::try_from(self.days).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(days.saturating_mul(DAY_MS));
        let mut total = 0u64;
        loop {
            let deleted = db.write(move |conn| delete_batch(conn, cutoff)).await?;
            total += deleted as u64;
            if i64::try_from(deleted).unwrap_or(i64::MAX) < BATCH {
                return Ok(total);
            }
            // Let other writers in between batches.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
