//! Administration: service-wide statistics computed by the database.

use diesel::dsl::{count_star, exists, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

use crate::db::schema::{chat_messages, chat_sessions, message_sources, users};
use crate::db::DbConnection;
use crate::domain::{MessageStatus, Role};
use crate::error::AppError;

const DAY_MS: i64 = 24 * 3600 * 1000;
pub const DAYS_OF_HISTORY: i64 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub users: i64,
    pub sessions: i64,
    pub messages: i64,
    pub messages_last_24h: i64,
    pub assistant_messages: i64,
    pub fallback_messages: i64,
    /// Replies written by the model (not the offline responder).
    pub provider_messages: i64,
    /// Of those, the ones stored with sources: knowledge-base passages the
    /// model was given (and cited, when it cited any).
    pub grounded_messages: i64,
    pub avg_latency_ms: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub by_model: Vec<(String, i64)>,
    /// `(day start in ms, messages that day)`, oldest first, 30 entries.
    pub per_day: Vec<(i64, i64)>,
    /// Replies being written now.
    pub generating: i64,
    pub feedback_up: i64,
    pub feedback_down: i64,
}

/// Every figure from one read transaction, so they agree with each other
/// while messages are being written.
pub fn compute(conn: &mut DbConnection, now: i64) -> Result<Totals, AppError> {
    conn.transaction(|conn| compute_in(conn, now))
}

fn compute_in(conn: &mut DbConnection, now: i64) -> Result<Totals, AppError> {
    let users: i64 = users::table.count().get_result(conn)?;
    let sessions: i64 = chat_sessions::table.count().get_result(conn)?;
    let messages: i64 = chat_messages::table.count().get_result(conn)?;
    let messages_last_24h: i64 = chat_messages::table
        .filter(chat_messages::created_at.gt(now - DAY_MS))
        .count()
        .get_result(conn)?;
    let assistant = chat_messages::table.filter(chat_messages::role.eq(Role::Assistant));
    let (assistant_messages, avg_latency, prompt, completion): (
        i64,
        Option<f64>,
        Option<i64>,
        Option<i64>,
    ) = assistant
        .select((
            count_star(),
            sql::<Nullable<diesel::sql_types::Double>>("CAST(AVG(latency_ms) AS DOUBLE PRECISION)"),
            sql::<Nullable<BigInt>>("CAST(SUM(prompt_tokens) AS BIGINT)"),
            sql::<Nullable<BigInt>>("CAST(SUM(completion_tokens) AS BIGINT)"),
        ))
        .get_result(conn)?;
    let fallback_messages: i64 = assistant
        .filter(chat_messages::fallback.eq(true))
        .count()
        .get_result(conn)?;
    let provider = assistant.filter(chat_messages::fallback.eq(false));
    let provider_messages: i64 = provider.count().get_result(conn)?;
    let grounded_messages: i64 = provider
        .filter(exists(
            message_sources::table.filter(message_sources::message_id.eq(chat_messages::id)),
        ))
        .count()
        .get_result(conn)?;
    let by_model: Vec<(Option<String>, i64)> = assistant
        .group_by(chat_messages::model)
        .select((chat_messages::model, count_star()))
        .order(chat_messages::model)
        .load(conn)?;
    let today_start = now - now.rem_euclid(DAY_MS);
    let first_day = today_start - (DAYS_OF_HISTORY - 1) * DAY_MS;
    let day_expr = format!("(created_at - {first_day}) / {DAY_MS}");
    let counted: Vec<(i64, i64)> = chat_messages::table
        .filter(chat_messages::created_at.ge(first_day))
        .group_by(sql::<BigInt>(&day_expr))
        .select((sql::<BigInt>(&day_expr), count_star()))
        .load(conn)?;
    let generating: i64 = chat_messages::table
        .filter(chat_messages::status.eq(MessageStatus::Generating))
        .count()
        .get_result(conn)?;
    let (feedback_up, feedback_down) = super::feedback::counts(conn)?;
    let per_day = (0..DAYS_OF_HISTORY)
        .map(|d| {
            let n = counted
                .iter()
                .find(|(day, _)| *day == d)
                .map_or(0, |(_, n)| *n);
            (first_day + d * DAY_MS, n)
        })
        .collect();
    Ok(Totals {
        users,
        sessions,
        messages,
        messages_last_24h,
        assistant_messages,
        fallback_messages,
        provider_messages,
        grounded_messages,
        avg_latency_ms: avg_latency,
        prompt_tokens: prompt.unwrap_or(0),
        completion_tokens: completion.unwrap_or(0),
        by_model: by_model
            .into_iter()
            .map(|(m, n)| (m.unwrap_or_default(), n))
            .collect(),
        per_day,
        generating,
        feedback_up,
        feedback_down,
    })
}
