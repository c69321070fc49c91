//! `/sessions`: the caller's chat sessions.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::{resource_id, JsonBody, JsonBodyOrEmpty};
use super::idempotency::{keyed_request, mark_replayed, KEY_DESCRIPTION};
use super::responses::{
    BadRequest, BodyErrors, IdempotencyConflict, OwnedErrors, Unauthorized, ValidationFailed,
};
use super::PageQuery;
use crate::auth::AuthUser;
use crate::clock::rfc3339;
use crate::db::models;
use crate::domain::SessionTitle;
use crate::error::AppError;
use crate::service::idempotency::{self, KeyedRequest};
use crate::service::pagination::Page;
use crate::service::sessions::{self, Access};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_session)
        .service(list_sessions)
        .service(get_session)
        .service(rename_session)
        .service(delete_session);
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    #[schema(format = Uuid)]
    pub id: String,
    /// `null` until it is set, or named automatically after the first exchange.
    #[schema(required = true, examples("Saving for retirement"))]
    pub title: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Bumped by every message sent (and by renaming).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Messages of both roles in the conversation (not those a regenerate or
    /// an edit replaced).
    pub message_count: i64,
}

impl From<&models::Session> for Session {
    fn from(s: &models::Session) -> Self {
        Self {
            id: s.id.clone(),
            title: s.title.clone(),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
            message_count: s.message_count,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateSessionRequest {
    /// Optional; 1–200 characters after trimming. Without it the session is named after its first exchange.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameSessionRequest {
    /// 1–200 characters after trimming, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        examples("Retirement questions")
    )]
    pub title: String,
}

/// Open a chat session.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION)),
    request_body(content = CreateSessionRequest, description = "Optional: an empty body creates an untitled session",
        examples(("untitled" = (summary = "Untitled: named after its first exchange", value = json!(examples::untitled_session_request()))), ("titled" = (summary = "With a title", value = json!(examples::titled_session_request()))))),
    responses(
        (status = 201, description = "Created", body = Session,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers again an earlier request with the same `Idempotency-Key`")),
            examples(("untitled" = (summary = "An untitled session", value = json!(examples::created_session()))), ("titled" = (summary = "A titled session", value = json!(examples::created_titled_session()))))),
        BodyErrors,
        Unauthorized,
        IdempotencyConflict,
        ValidationFailed,
    )
)]
#[post("/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    JsonBodyOrEmpty(body): JsonBodyOrEmpty<CreateSessionRequest>,
) -> Result<HttpResponse, AppError> {
    let key = keyed_request(&req, &user.id, "/sessions", &body)?;
    let title = body
        .title
        .map(|t| SessionTitle::parse(&t).map_err(|e| AppError::Validation(vec![e])))
        .transpose()?
        .map(SessionTitle::into_inner);
    if let Some(earlier) = earlier_answer(&state, key.clone()).await? {
        return Ok(earlier);
    }
    let record = key.clone();
    let created = state
        .db
        .write(move |conn| {
            sessions::create_keyed(conn, &user.id, title.as_deref(), record.as_ref(), |s| {
                serde_json::to_string(&Session::from(s)).map_err(AppError::internal)
            })
        })
        .await;
    match created {
        Ok(session) => Ok(HttpResponse::Created().json(Session::from(&session))),
        // A concurrent request with the same key created its session first.
        Err(AppError::IdempotencyConflict(_)) if key.is_some() => earlier_answer(&state, key)
            .await?
            .ok_or_else(|| AppError::internal("an idempotency key vanished")),
        Err(e) => Err(e),
    }
}

/// The stored answer of an earlier request with the same key, replayed.
async fn earlier_answer(
    state: &AppState,
    key: Option<KeyedRequest>,
) -> Result<Option<HttpResponse>, AppError> {
    let Some(key) = key else { return Ok(None) };
    let earlier = state
        .db
        .write(move |conn| idempotency::find(conn, &key))
        .await?;
    Ok(earlier.map(|earlier| {
        let status = StatusCode::from_u16(u16::try_from(earlier.status_code).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        mark_replayed(
            HttpResponse::build(status)
                .content_type("application/json")
                .body(earlier.response_body.unwrap_or_default()),
        )
    }))
}

/// The caller's sessions, most recently updated first.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of sessions", body = Page<Session>, examples(("sessions" = (summary = "The last page: next_cursor is null", value = json!(examples::session_page()))))),
        BadRequest,
        Unauthorized,
    )
)]
#[get("/sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = query.page()?;
    let found = state
        .db
        .read(move |conn| sessions::list(conn, &Access::Owner(user.id), &page))
        .await?;
    Ok(HttpResponse::Ok().json(found.map(|(s, _)| Session::from(&s))))
}

/// One of the caller's sessions.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = Session, examples(("session" = (summary = "Named after its first exchange", value = json!(examples::session()))))),
        OwnedErrors,
    )
)]
#[get("/sessions/{id}")]
pub async fn get_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "chat session")?;
    let session = state
        .db
        .read(move |conn| sessions::get_owned(conn, &user.id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(Session::from(&session)))
}

/// Rename a session.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id")),
    request_body(content = RenameSessionRequest, examples(("rename" = (summary = "A new title", value = json!(examples::rename_request()))))),
    responses(
        (status = 200, description = "Renamed", body = Session, examples(("renamed" = (summary = "The renamed session", value = json!(examples::session()))))),
        BodyErrors,
        OwnedErrors,
        ValidationFailed,
    )
)]
#[patch("/sessions/{id}")]
pub async fn rename_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    JsonBody(body): JsonBody<RenameSessionRequest>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "chat session")?;
    let title = SessionTitle::parse(&body.title)
        .map_err(|e| AppError::Validation(vec![e]))?
        .into_inner();
    let session = state
        .db
        .write(move |conn| sessions::rename(conn, &user.id, &id, &title))
        .await?;
    Ok(HttpResponse::Ok().json(Session::from(&session)))
}

/// Delete a session with its messages and their sources.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id")),
    responses(
        (status = 204, description = "Deleted"),
        OwnedErrors,
    )
)]
#[delete("/sessions/{id}")]
pub async fn delete_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "chat session")?;
    state
        .db
        .write(move |conn| sessions::delete(conn, &user.id, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
