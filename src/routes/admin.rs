//! `/admin`: statistics, every user and conversation (administrators only).

use std::collections::BTreeMap;

use actix_web::{get, patch, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::User;
use super::examples;
use super::extract::{resource_id, JsonBody};
use super::messages::{message_page, ConversationQuery, Message, OrderQuery};
use super::responses::{AdminErrors, BadRequest, NotFound};
use super::sessions::Session;
use super::PageQuery;
use crate::auth::AdminUser;
use crate::clock::{now_ms, rfc3339};
use crate::db::models;
use crate::error::{AppError, ErrorResponse};
use crate::service::pagination::Page;
use crate::service::sessions::{self, Access};
use crate::service::stats;
use crate::service::users::{self, UserChanges};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(admin_get_stats)
        .service(admin_list_users)
        .service(admin_update_user)
        .service(admin_list_sessions)
        .service(admin_list_session_messages);
}

/// Token totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenTotals {
    pub prompt: i64,
    pub completion: i64,
}

/// Messages on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayCount {
    #[schema(examples("2026-11-24"), format = Date)]
    pub date: String,
    pub count: i64,
}

/// Service-wide statistics, computed by the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    pub users: i64,
    pub sessions: i64,
    /// Every stored message of both roles, those a regenerate or an edit
    /// replaced included.
    pub messages: i64,
    pub messages_last_24h: i64,
    /// Share of assistant replies written by the offline responder (0–1).
    pub fallback_ratio: f64,
    /// Share of the model's replies (those not written by the offline
    /// responder) that were grounded: given passages of the knowledge base,
    /// which are stored as their sources (0–1; 0 before the first).
    pub grounded_ratio: f64,
    /// Mean reply latency; `null` before the first reply.
    #[schema(required = true)]
    pub avg_latency_ms: Option<f64>,
    pub tokens: TokenTotals,
    /// Assistant replies by model.
    pub by_model: BTreeMap<String, i64>,
    /// Messages per UTC day over the last 30 days, oldest first.
    pub messages_per_day: Vec<DayCount>,
    /// Replies being written now (`status: generating`).
    pub generating: i64,
    /// Replies rated up and down.
    pub feedback: FeedbackCounts,
}

/// How many replies are rated each way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackCounts {
    pub up: i64,
    pub down: i64,
}

/// A user as administrators see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserActivity {
    #[serde(flatten)]
    pub user: User,
    pub is_active: bool,
    pub session_count: i64,
    /// Messages of both roles in their sessions' conversations (not those a
    /// regenerate or an edit replaced).
    pub message_count: i64,
    /// Time of their latest message.
    #[schema(required = true, format = DateTime)]
    pub last_active_at: Option<String>,
    /// Provider tokens (prompt + completion) they spent today (UTC), the
    /// count their daily quota applies to.
    pub tokens_today: i64,
}

impl From<&users::UserActivity> for UserActivity {
    fn from(a: &users::UserActivity) -> Self {
        Self {
            user: User::from(&a.user),
            is_active: a.user.is_active,
            session_count: a.session_count,
            message_count: a.message_count,
            last_active_at: a.last_active_at.map(rfc3339),
            tokens_today: a.tokens_today,
        }
    }
}

/// A session with its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdminSession {
    #[serde(flatten)]
    pub session: Session,
    #[schema(format = Uuid)]
    pub user_id: String,
    pub user_email: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    /// Promote or demote.
    pub is_admin: Option<bool>,
    /// Deactivate (refuses their sign-in and every token they hold) or reactivate.
    pub is_active: Option<bool>,
}

/// Filters of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Part of an email address (case-insensitive).
    pub q: Option<String>,
}

/// Filters of the session list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionFilter {
    /// Only this user's sessions.
    #[param(format = Uuid)]
    pub user_id: Option<String>,
}

/// Service statistics.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Statistics", body = Stats, examples(("stats" = (summary = "One user, one exchange, its reply rated up", value = json!(examples::stats()))))),
        AdminErrors,
    )
)]
#[get("/admin/stats")]
pub async fn admin_get_stats(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let s = state.db.run(|conn| stats::compute(conn, now_ms())).await?;
    let fallback_ratio = if s.assistant_messages > 0 {
        s.fallback_messages as f64 / s.assistant_messages as f64
    } else {
        0.0
    };
    let grounded_ratio = if s.provider_messages > 0 {
        s.grounded_messages as f64 / s.provider_messages as f64
    } else {
        0.0
    };
    Ok(HttpResponse::Ok().json(Stats {
        users: s.users,
        sessions: s.sessions,
        messages: s.messages,
        messages_last_24h: s.messages_last_24h,
        fallback_ratio,
        grounded_ratio,
        avg_latency_ms: s.avg_latency_ms,
        tokens: TokenTotals {
            prompt: s.prompt_tokens,
            completion: s.completion_tokens,
        },
        by_model: s.by_model.into_iter().collect(),
        messages_per_day: s
            .per_day
            .into_iter()
            .map(|(day, count)| DayCount {
                date: rfc3339(day).chars().take(10).collect(),
                count,
            })
            .collect(),
        generating: s.generating,
        feedback: FeedbackCounts {
            up: s.feedback_up,
            down: s.feedback_down,
        },
    }))
}

/// Every user with their activity, newest first; `q` filters by email.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(UserFilter, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<UserActivity>, examples(("users" = (summary = "Ann and her activity", value = json!(examples::user_page()))))),
        BadRequest,
        AdminErrors,
    )
)]
#[get("/admin/users")]
pub async fn admin_list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
    filter: web::Query<UserFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page.page()?;
    let q = filter.into_inner().q;
    let found = state
        .db
        .run(move |conn| users::list_with_activity(conn, q.as_deref(), &page))
        .await?;
    Ok(HttpResponse::Ok().json(found.map(|u| UserActivity::from(&u))))
}

/// Promote, demote, deactivate or reactivate a user. The last active
/// administrator cannot be demoted or deactivated (409).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "User id")),
    request_body(content = UpdateUserRequest, examples(("deactivate" = (summary = "Deactivate: refuses sign-in and every token", value = json!(examples::deactivate_request()))), ("promote" = (summary = "Make an administrator", value = json!(examples::promote_request()))))),
    responses(
        (status = 200, description = "The user", body = UserActivity, examples(("deactivated" = (summary = "Ann, deactivated", value = json!(examples::deactivated_user()))))),
        BadRequest,
        AdminErrors,
        NotFound,
        (status = 409, description = "It would leave no active administrator", body = ErrorResponse),
    )
)]
#[patch("/admin/users/{id}")]
pub async fn admin_update_user(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<String>,
    JsonBody(body): JsonBody<UpdateUserRequest>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "user")?;
    let changes = UserChanges {
        is_admin: body.is_admin,
        is_active: body.is_active,
    };
    let updated = state
        .db
        .write(move |conn| {
            let user = users::update_flags(conn, &id, changes)?;
            users::with_activity(conn, user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserActivity::from(&updated)))
}

/// Every session, most recently updated first; `user_id` filters.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(SessionFilter, PageQuery),
    responses(
        (status = 200, description = "A page of sessions", body = Page<AdminSession>, examples(("sessions" = (summary = "Sessions with their owners", value = json!(examples::admin_session_page()))))),
        BadRequest,
        AdminErrors,
    )
)]
#[get("/admin/sessions")]
pub async fn admin_list_sessions(
    state: web::Data<AppState>,
    _admin: AdminUser,
    filter: web::Query<SessionFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page.page()?;
    let user_id = filter
        .user_id
        .as_deref()
        .map(|u| {
            uuid::Uuid::parse_str(u.trim())
                .map(|id| id.to_string())
                .map_err(|_| AppError::BadRequest("user_id must be a UUID".into()))
        })
        .transpose()?;
    let found = state
        .db
        .run(move |conn| {
            let access = user_id.map_or(Access::Any, Access::Owner);
            sessions::list(conn, &access, &page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(
        found.map(|(s, email): (models::Session, String)| AdminSession {
            session: Session::from(&s),
            user_id: s.user_id,
            user_email: email,
        }),
    ))
}

/// Any session's messages, for debugging a conversation.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), PageQuery, OrderQuery, ConversationQuery),
    responses(
        (status = 200, description = "A page of messages", body = Page<Message>, examples(("conversation" = (summary = "A question and its finished reply", value = json!(examples::message_page()))))),
        BadRequest,
        AdminErrors,
        NotFound,
    )
)]
#[get("/admin/sessions/{id}/messages")]
pub async fn admin_list_session_messages(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
    order: web::Query<OrderQuery>,
    which: web::Query<ConversationQuery>,
) -> Result<HttpResponse, AppError> {
    message_page(&state, Access::Any, &id, &page, &order, &which).await
}
