//! `/auth/me/usage`: the provider tokens the caller spent today and what is
//! left of their daily quota.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::responses::Unauthorized;
use crate::auth::AuthUser;
use crate::clock::{now_ms, rfc3339};
use crate::error::AppError;
use crate::service::usage::{self, Quota};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_usage);
}

/// Provider tokens spent today (UTC) and the daily quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenUsage {
    /// Today, UTC.
    #[schema(examples("2026-11-24"), format = Date)]
    pub day: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Tokens (prompt + completion) allowed per day; `null` when there is no quota.
    #[schema(required = true)]
    pub quota: Option<i64>,
    /// What is left today (never below 0); `null` when there is no quota.
    /// At 0 the offline responder answers (`fallback: true`).
    #[schema(required = true)]
    pub remaining: Option<i64>,
    /// The next UTC midnight, when the count starts again.
    #[schema(format = DateTime)]
    pub resets_at: String,
}

/// The caller's token usage today and their quota.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Today's usage", body = TokenUsage,
            examples(("usage" = (summary = "Three replies today, a quota of 50,000 tokens", value = json!(examples::usage()))))),
        Unauthorized,
    )
)]
#[get("/auth/me/usage")]
pub async fn get_usage(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let now = now_ms();
    let day = usage::day_of(now);
    let spent = {
        let day = day.clone();
        state
            .db
            .read(move |conn| usage::spent_on(conn, &user.id, &day))
            .await?
    };
    let quota = Quota(state.settings.token_quota_per_day);
    Ok(HttpResponse::Ok().json(TokenUsage {
        day,
        prompt_tokens: spent.prompt_tokens,
        completion_tokens: spent.completion_tokens,
        quota: quota.limit(),
        remaining: quota.remaining(spent),
        resets_at: rfc3339(usage::next_midnight(now)),
    }))
}
