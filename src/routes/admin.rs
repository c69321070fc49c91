//! `/admin`: statistics, every user and conversation (administrators only).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{resource_id, JsonBody};
use super::messages::{MessageListQuery, MessagePage};
use super::sessions::Session;
use super::PageQuery;
use crate::auth::AdminUser;
use crate::clock::{now_ms, rfc3339};
use crate::db::models::{ChatSession, User};
use crate::error::{AppError, ErrorResponse};
use crate::service::stats::{self, UserActivity};
use crate::service::users::{self, UserChanges};
use crate::service::{messages, sessions};
use crate::startup::AppState;

/// Token totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenTotals {
    pub prompt: i64,
    pub completion: i64,
}

/// Messages on one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCount {
    #[schema(example = "2026-11-24")]
    pub date: String,
    pub count: i64,
}

/// Service-wide statistics, computed by the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub users: i64,
    pub sessions: i64,
    /// Messages of both roles.
    pub messages: i64,
    pub messages_last_24h: i64,
    /// Share of assistant replies written by the offline responder (0–1).
    pub fallback_ratio: f64,
    /// Mean reply latency; `null` before the first reply.
    #[schema(required = true)]
    pub avg_latency_ms: Option<f64>,
    pub tokens: TokenTotals,
    /// Assistant replies by model.
    pub by_model: BTreeMap<String, i64>,
    /// Messages per UTC day over the last 30 days, oldest first.
    pub messages_per_day: Vec<DayCount>,
}

/// A user as administrators see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[schema(format = Uuid)]
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub is_active: bool,
    pub session_count: i64,
    /// Messages of both roles in their sessions.
    pub message_count: i64,
    /// Time of their latest message.
    #[schema(required = true, format = DateTime)]
    pub last_active_at: Option<String>,
}

impl From<&UserActivity> for AdminUserView {
    fn from(a: &UserActivity) -> Self {
        let u: &User = &a.user;
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            is_admin: u.is_admin,
            created_at: rfc3339(u.created_at),
            is_active: u.is_active,
            session_count: a.session_count,
            message_count: a.message_count,
            last_active_at: a.last_active_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserPage {
    pub items: Vec<AdminUserView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A session with its owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSession {
    #[serde(flatten)]
    pub session: Session,
    #[schema(format = Uuid)]
    pub user_id: String,
    pub user_email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSessionPage {
    pub items: Vec<AdminSession>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    /// Promote or demote.
    pub is_admin: Option<bool>,
    /// Deactivate (refuses their sign-in and every token they hold) or reactivate.
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Part of an email address (case-insensitive).
    pub q: Option<String>,
    /// Items per page, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 200)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// Only this user's sessions.
    #[param(format = Uuid)]
    pub user_id: Option<String>,
    /// Items per page, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 200)]
    pub cursor: Option<String>,
}

/// Service statistics.
#[utoipa::path(
    get, path = "/admin/stats", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Statistics", body = Stats),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 403, description = "Not an administrator", body = ErrorResponse),
    )
)]
pub async fn get_stats(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let s = state.db.run(|conn| stats::compute(conn, now_ms())).await?;
    let fallback_ratio = if s.assistant_messages > 0 {
        s.fallback_messages as f64 / s.assistant_messages as f64
    } else {
        0.0
    };
    Ok(HttpResponse::Ok().json(Stats {
        users: s.users,
        sessions: s.sessions,
        messages: s.messages,
        messages_last_24h: s.messages_last_24h,
        fallback_ratio,
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
    }))
}

/// Every user with their activity, newest first; `q` filters by email.
#[utoipa::path(
    get, path = "/admin/users", tag = "admin",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "A page of users", body = AdminUserPage),
        (status = 400, description = "Bad `limit` or `cursor`", body = ErrorResponse),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 403, description = "Not an administrator", body = ErrorResponse),
    )
)]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, AppError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let q = query.into_inner().q;
    let found = state
        .db
        .run(move |conn| stats::list_users(conn, q.as_deref(), &page))
        .await?;
    Ok(HttpResponse::Ok().json(AdminUserPage {
        items: found.items.iter().map(AdminUserView::from).collect(),
        next_cursor: found.next_cursor,
    }))
}

/// Promote, demote, deactivate or reactivate a user. The last active
/// administrator cannot be demoted or deactivated (409).
#[utoipa::path(
    patch, path = "/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user", body = AdminUserView),
        (status = 400, description = "Malformed body", body = ErrorResponse),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 403, description = "Not an administrator", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
        (status = 409, description = "It would leave no active administrator", body = ErrorResponse),
    )
)]
pub async fn update_user(
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
        .run(move |conn| {
            let user = users::update_flags(conn, &id, changes)?;
            stats::user_activity(conn, user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&updated)))
}

/// Every session, most recently updated first; `user_id` filters.
#[utoipa::path(
    get, path = "/admin/sessions", tag = "admin",
    security(("bearer" = [])),
    params(SessionListQuery),
    responses(
        (status = 200, description = "A page of sessions", body = AdminSessionPage),
        (status = 400, description = "Bad `limit`, `cursor` or `user_id`", body = ErrorResponse),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 403, description = "Not an administrator", body = ErrorResponse),
    )
)]
pub async fn list_all_sessions(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<SessionListQuery>,
) -> Result<HttpResponse, AppError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let user_id = query
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
        .run(move |conn| sessions::list_all(conn, user_id.as_deref(), &page))
        .await?;
    Ok(HttpResponse::Ok().json(AdminSessionPage {
        items: found
            .items
            .iter()
            .map(|(s, email): &(ChatSession, String)| AdminSession {
                session: Session::from(s),
                user_id: s.user_id.clone(),
                user_email: email.clone(),
            })
            .collect(),
        next_cursor: found.next_cursor,
    }))
}

/// Any session's messages, for debugging a conversation.
#[utoipa::path(
    get, path = "/admin/sessions/{id}/messages", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), MessageListQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, description = "Bad `limit`, `cursor` or `order`", body = ErrorResponse),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 403, description = "Not an administrator", body = ErrorResponse),
        (status = 404, description = "No such session", body = ErrorResponse),
    )
)]
pub async fn list_session_messages(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<String>,
    query: web::Query<MessageListQuery>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "chat session")?;
    let (order, page) = query.parts()?;
    let found = state
        .db
        .run(move |conn| {
            sessions::get_any(conn, &id)?;
            messages::list(conn, &id, order, &page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(MessagePage::from_page(found)))
}
