//! Rate limits as fixed one-minute windows counted in the database, so every
//! replica enforces the same budget. A limit of 0 switches it off.
//!
//! Sign-in is limited so that guessing is slow but nobody can lock an account
//! out from another address:
//! - every attempt counts against the client address, and an address over its
//!   budget is refused before anything about the email is read or written;
//! - only *failed* attempts count against an email, per (email, address) and
//!   for the email as a whole;
//! - an email with a full budget of failures is "under attack": an address
//!   that has not failed on it in this window still gets its attempt (so its
//!   owner, with the right password, gets in), one that has failed does not.
//!   A guesser thus gets one guess per address per minute on that account.
//!
//! Keys that hold client input are SHA-256 hashes, so a key is never larger
//! than a few dozen bytes whatever the request carried.

use std::net::IpAddr;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::db::{write_transaction, Database, DbConnection};
use crate::error::AppError;

const WINDOW_MS: i64 = 60_000;

#[derive(Clone)]
pub struct RateLimiter {
    db: Database,
    auth_per_min: u32,
    messages_per_min: u32,
    register_per_min: u32,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The current window: its start, and the seconds until the next one.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    retry_after_secs: u64,
}

impl Window {
    fn now() -> Self {
        let now = now_ms();
        let start = now - now.rem_euclid(WINDOW_MS);
        let retry_after_secs = u64::try_from((start + WINDOW_MS - now + 999) / 1000).unwrap_or(60);
        Self {
            start,
            retry_after_secs: retry_after_secs.max(1),
        }
    }

    fn limited(self) -> AppError {
        AppError::RateLimited {
            retry_after_secs: self.retry_after_secs,
        }
    }
}

fn address(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// A fixed-size key for values a client chose.
fn hashed(kind: &str, parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{kind}:{hex}")
}

fn email_key(email: &str) -> String {
    hashed("auth:email", &[email])
}

fn messages_key(user_id: &str) -> String {
    format!("messages:user:{user_id}")
}

fn email_address_key(email: &str, ip: Option<IpAddr>) -> String {
    hashed("auth:email-ip", &[email, &address(ip)])
}

impl RateLimiter {
    pub fn new(
        db: Database,
        auth_per_min: u32,
        messages_per_min: u32,
        register_per_min: u32,
    ) -> Self {
        Self {
            db,
            auth_per_min,
            messages_per_min,
            register_per_min,
        }
    }

    /// Before a sign-in: counts the attempt against the address, and refuses
    /// it when the address, or this email from this address, is over budget.
    pub async fn check_sign_in(&self, ip: Option<IpAddr>, email: &str) -> Result<(), AppError> {
        let limit = i64::from(self.auth_per_min);
        if limit == 0 {
            return Ok(());
        }
        let ip_key = format!("auth:ip:{}", address(ip));
        let (email_key, pair_key) = (email_key(email), email_address_key(email, ip));
        let window = Window::now();
        let allowed = self
            .db
            .write(move |conn| {
                write_transaction(conn, |conn| {
                    if bump(conn, &ip_key, window)? > limit {
                        return Ok::<_, AppError>(false);
                    }
                    let pair_failures = count(conn, &pair_key, window)?;
                    if pair_failures >= limit {
                        return Ok(false);
                    }
                    let under_attack = count(conn, &email_key, window)? >= limit;
                    Ok(!(under_attack && pair_failures > 0))
                })
            })
            .await?;
        if allowed {
            Ok(())
        } else {
            Err(window.limited())
        }
    }

    /// After a sign-in with a wrong password (or an unknown email).
    pub async fn record_sign_in_failure(
        &self,
        ip: Option<IpAddr>,
        email: &str,
    ) -> Result<(), AppError> {
        if self.auth_per_min == 0 {
            return Ok(());
        }
        let keys = [email_key(email), email_address_key(email, ip)];
        let window = Window::now();
        self.db
            .write(move |conn| {
                write_transaction(conn, |conn| {
                    for key in &keys {
                        bump(conn, key, window)?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Registrations, per client address.
    pub async fn check_register(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.hit(
            format!("register:ip:{}", address(ip)),
            self.register_per_min,
        )
        .await
    }

    /// Messages sent, per user.
    pub async fn check_messages(&self, user_id: &str) -> Result<(), AppError> {
        self.hit(messages_key(user_id), self.messages_per_min).await
    }

    /// Counts one request against `key`; 429 when it is over `limit`.
    async fn hit(&self, key: String, limit: u32) -> Result<(), AppError> {
        if limit == 0 {
            return Ok(());
        }
        let window = Window::now();
        let counted = self
            .db
            .write(move |conn| write_transaction(conn, |conn| bump(conn, &key, window)))
            .await?;
        if counted > i64::from(limit) {
            return Err(window.limited());
        }
        Ok(())
    }
}

/// Deletes the rows keyed to a user: their message budget and the failed
/// sign-ins counted against their email. (Failures per email and address
/// are keyed by a hash of both, so cannot be found from the email alone;
/// they lapse with their one-minute window.)
pub fn forget_user(conn: &mut DbConnection, user_id: &str, email: &str) -> Result<(), AppError> {
    diesel::sql_query("DELETE FROM rate_limits WHERE key = $1 OR key = $2")
        .bind::<Text, _>(messages_key(user_id))
        .bind::<Text, _>(email_key(email))
        .execute(conn)?;
    Ok(())
}

/// Adds one to `key` in this window; returns the new count.
fn bump(conn: &mut DbConnection, key: &str, window: Window) -> Result<i64, AppError> {
    let counted: Counted = diesel::sql_query(
        "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN rate_limits.window_start = excluded.window_start \
                        THEN rate_limits.count + 1 ELSE 1 END, \
           window_start = excluded.window_start \
         RETURNING count",
    )
    .bind::<Text, _>(key)
    .bind::<BigInt, _>(window.start)
    .get_result(conn)?;
    // Old windows are garbage: sweep them whenever a key starts a new window
    // (at most once per key and minute).
    if counted.count == 1 {
        sweep(conn, window.start)?;
    }
    Ok(counted.count)
}

/// Deletes the counters of windows before `start`. On PostgreSQL the rows
/// other transactions hold (being counted right now) are skipped, not
/// waited for: two requests each starting a new window and sweeping the
/// other's old row would otherwise wait for each other (a deadlock).
fn sweep(conn: &mut DbConnection, start: i64) -> Result<(), AppError> {
    let statement = match conn {
        DbConnection::Pg(_) => {
            "DELETE FROM rate_limits WHERE key IN \
             (SELECT key FROM rate_limits WHERE window_start < $1 FOR UPDATE SKIP LOCKED)"
        }
        DbConnection::Sqlite(_) => "DELETE FROM rate_limits WHERE window_start < $1",
    };
    diesel::sql_query(statement)
        .bind::<BigInt, _>(start)
        .execute(conn)?;
    Ok(())
}

/// The count of `key` in this window, without adding to it.
fn count(conn: &mut DbConnection, key: &str, window: Window) -> Result<i64, AppError> {
    let counted: Option<Counted> =
        diesel::sql_query("SELECT count FROM rate_limits WHERE key = $1 AND window_start = $2")
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(window.start)
            .get_result(conn)
            .optional()?;
    Ok(counted.map_or(0, |c| c.count))
}
