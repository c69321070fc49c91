//! Provider tokens spent per user per UTC day, and the daily quota they
//! count against. The counts live in the database (`token_usage`), so every
//! replica adds to and reads the same numbers.

use chrono::{DateTime, Days, NaiveTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::cached::{padded, Cached};
use crate::db::schema::{chat_sessions, token_usage};
use crate::db::{native, DbConnection};
use crate::error::AppError;

/// A UTC day as stored and shown: `YYYY-MM-DD`.
pub fn day_of(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The first millisecond of the UTC day after the one holding `ms`.
pub fn next_midnight(ms: i64) -> i64 {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive()
        .checked_add_days(Days::new(1))
        .map_or(i64::MAX, |d| {
            d.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
        })
}

/// Tokens spent on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Spent {
    pub fn total(self) -> i64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Adds tokens to the user's count for `day`: one atomic upsert, so
/// concurrent replies (on any replica) never lose an addition.
pub fn record(
    conn: &mut DbConnection,
    user_id: &str,
    day: &str,
    spent: Spent,
) -> Result<(), AppError> {
    if spent.total() == 0 {
        return Ok(());
    }
    // Kept prepared (a reply's last write; diesel prepares raw SQL anew).
    native!(conn, |c| Cached(
        diesel::sql_query(
            "INSERT INTO token_usage (user_id, day, prompt_tokens, completion_tokens) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, day) DO UPDATE SET \
               prompt_tokens = token_usage.prompt_tokens + excluded.prompt_tokens, \
               completion_tokens = token_usage.completion_tokens + excluded.completion_tokens",
        )
        .bind::<Text, _>(user_id)
        .bind::<Text, _>(day)
        .bind::<BigInt, _>(spent.prompt_tokens)
        .bind::<BigInt, _>(spent.completion_tokens)
    )
    .execute(c))?;
    Ok(())
}

/// What the user spent on `day`.
pub fn spent_on(conn: &mut DbConnection, user_id: &str, day: &str) -> Result<Spent, AppError> {
    let row: Option<(i64, i64)> = token_usage::table
        .find((user_id, day))
        .select((token_usage::prompt_tokens, token_usage::completion_tokens))
        .first(conn)
        .optional()?;
    Ok(
        row.map_or_else(Spent::default, |(prompt_tokens, completion_tokens)| Spent {
            prompt_tokens,
            completion_tokens,
        }),
    )
}

/// The total each of `user_ids` spent on `day` (absent: nothing).
pub fn totals_on(
    conn: &mut DbConnection,
    user_ids: &[&str],
    day: &str,
) -> Result<Vec<(String, i64)>, AppError> {
    let user_ids = padded(user_ids);
    let rows: Vec<(String, i64, i64)> = Cached(
        token_usage::table
            .filter(token_usage::day.eq(day))
            .filter(token_usage::user_id.eq_any(&user_ids))
            .select((
                token_usage::user_id,
                token_usage::prompt_tokens,
                token_usage::completion_tokens,
            )),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, p, c)| (id, p.saturating_add(c)))
        .collect())
}

/// A daily token allowance per user; `0` means none (no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota(pub u64);

impl Quota {
    /// The allowance, when there is one.
    pub fn limit(self) -> Option<i64> {
        (self.0 > 0).then(|| i64::try_from(self.0).unwrap_or(i64::MAX))
    }

    /// What is left of the allowance after `spent` (never below 0).
    pub fn remaining(self, spent: Spent) -> Option<i64> {
        self.limit().map(|l| (l - spent.total()).max(0))
    }

    pub fn is_used_up(self, spent: Spent) -> bool {
        self.remaining(spent) == Some(0)
    }
}

/// Who owns a session, and whether their quota for `day` is used up;
/// `None` when the session is gone.
pub fn owner_and_quota(
    conn: &mut DbConnection,
    session_id: &str,
    day: &str,
    quota: Quota,
) -> Result<Option<(String, bool)>, AppError> {
    let owner: Option<String> = chat_sessions::table
        .find(session_id)
        .select(chat_sessions::user_id)
        .first(conn)
        .optional()?;
    let Some(owner) = owner else {
        return Ok(None);
    };
    let used_up = quota.limit().is_some() && quota.is_used_up(spent_on(conn, &owner, day)?);
    Ok(Some((owner, used_up)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_add_up_through_one_statement_kept_prepared() {
        use diesel::connection::Connection;
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Database::connect(&dir.path().join("u.db").display().to_string(), 1)
            .unwrap();
        db.migrate().unwrap();
        let mut conn = db.get().unwrap();
        diesel::sql_query(
            "INSERT INTO users (id, email, name, password_hash, created_at) \
             VALUES ('u', 'u@example.com', 'U', 'x', 0)",
        )
        .execute(&mut *conn)
        .unwrap();
        let prepared = crate::db::cached::Prepared::default();
        conn.set_instrumentation(prepared.clone());
        for (prompt_tokens, completion_tokens) in [(10, 1), (20, 2), (0, 0), (30, 3)] {
            let spent = Spent {
                prompt_tokens,
                completion_tokens,
            };
            record(&mut conn, "u", "2026-12-07", spent).unwrap();
        }
        record(
            &mut conn,
            "u",
            "2026-12-08",
            Spent {
                prompt_tokens: 5,
                completion_tokens: 5,
            },
        )
        .unwrap();
        let on = |conn: &mut DbConnection, day| spent_on(conn, "u", day).unwrap();
        assert_eq!(
            on(&mut conn, "2026-12-07"),
            Spent {
                prompt_tokens: 60,
                completion_tokens: 6
            }
        );
        assert_eq!(on(&mut conn, "2026-12-08").total(), 10);
        let prepared = prepared.0.lock().unwrap();
        let upserts = prepared
            .iter()
            .filter(|sql| sql.starts_with("INSERT INTO token_usage"));
        assert_eq!(upserts.count(), 1, "{prepared:?}");
    }

    #[test]
    fn days_and_midnights_are_utc() {
        // 2026-11-29T23:59:59.999Z
        let late = 1_795_996_799_999;
        assert_eq!(day_of(late), "2026-11-29");
        assert_eq!(next_midnight(late), late + 1);
        assert_eq!(day_of(late + 1), "2026-11-30");
        assert_eq!(next_midnight(late + 1), late + 1 + 24 * 3600 * 1000);
    }

    #[test]
    fn a_quota_of_zero_is_no_quota() {
        let spent = Spent {
            prompt_tokens: 70,
            completion_tokens: 40,
        };
        assert_eq!(Quota(0).remaining(spent), None);
        assert!(!Quota(0).is_used_up(spent));
        assert_eq!(Quota(200).remaining(spent), Some(90));
        assert_eq!(Quota(100).remaining(spent), Some(0));
        assert!(Quota(110).is_used_up(spent));
        assert!(!Quota(111).is_used_up(spent));
    }
}
