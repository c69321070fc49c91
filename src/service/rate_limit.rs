//! Rate limits as fixed one-minute windows counted in the database, so every
//! replica enforces the same budget. A limit of 0 switches it off.

use std::net::IpAddr;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::clock::now_ms;
use crate::db::Database;
use crate::error::AppError;

const WINDOW_MS: i64 = 60_000;

#[derive(Clone)]
pub struct RateLimiter {
    db: Database,
    auth_per_min: u32,
    messages_per_min: u32,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

impl RateLimiter {
    pub fn new(db: Database, auth_per_min: u32, messages_per_min: u32) -> Self {
        Self {
            db,
            auth_per_min,
            messages_per_min,
        }
    }

    /// Sign-in attempts, per client address and per email.
    pub async fn check_auth(&self, ip: Option<IpAddr>, email: &str) -> Result<(), AppError> {
        let mut keys = vec![format!("auth:email:{email}")];
        if let Some(ip) = ip {
            keys.push(format!("auth:ip:{ip}"));
        }
        self.hit(keys, self.auth_per_min).await
    }

    /// Messages sent, per user.
    pub async fn check_messages(&self, user_id: &str) -> Result<(), AppError> {
        self.hit(
            vec![format!("messages:user:{user_id}")],
            self.messages_per_min,
        )
        .await
    }

    /// Counts one request against every key; 429 when any is over `limit`.
    async fn hit(&self, keys: Vec<String>, limit: u32) -> Result<(), AppError> {
        if limit == 0 {
            return Ok(());
        }
        let now = now_ms();
        let window = now - now.rem_euclid(WINDOW_MS);
        let over = self
            .db
            .run(move |conn| {
                conn.immediate_transaction(|conn| {
                    let mut over = false;
                    for key in &keys {
                        let counted: Counted = diesel::sql_query(
                            "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
                             ON CONFLICT (key) DO UPDATE SET \
                               count = CASE WHEN rate_limits.window_start = excluded.window_start \
                                            THEN rate_limits.count + 1 ELSE 1 END, \
                               window_start = excluded.window_start \
                             RETURNING count",
                        )
                        .bind::<Text, _>(key)
                        .bind::<BigInt, _>(window)
                        .get_result(conn)?;
                        over |= counted.count > i64::from(limit);
                    }
                    // Old windows are garbage; sweep them now and then.
                    if window % (10 * WINDOW_MS) == 0 || rand::random::<u8>() == 0 {
                        diesel::sql_query("DELETE FROM rate_limits WHERE window_start < $1")
                            .bind::<BigInt, _>(window)
                            .execute(conn)?;
                    }
                    Ok::<_, AppError>(over)
                })
            })
            .await?;
        if over {
            let retry_after_secs =
                u64::try_from((window + WINDOW_MS - now + 999) / 1000).unwrap_or(60);
            return Err(AppError::RateLimited {
                retry_after_secs: retry_after_secs.max(1),
            });
        }
        Ok(())
    }
}
