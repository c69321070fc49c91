//! One message of a session, and a reply as a durable thing: read it,
//! follow (resume) its events, stop it.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::message_ids;
use super::message_shapes::AssistantMessage;
use super::messages::{reply_events, Message, ReplyStreamEvent};
use super::responses::{BadRequest, Conflict, OwnedErrors};
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::error::AppError;
use crate::service::replies;
use crate::service::sessions::Access;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_message)
        .service(reply_events_since)
        .service(stop_reply);
}

/// Where to resume a reply's events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeQuery {
    /// Characters of the reply already received (the `id:` of the last event
    /// seen); the `Last-Event-ID` header wins when both are given.
    #[param(minimum = 0)]
    pub after: Option<u64>,
}

/// The `Last-Event-ID` header, when present: a non-negative integer, else 400.
fn last_event_id(req: &HttpRequest) -> Result<Option<u64>, AppError> {
    let Some(raw) = req.headers().get("last-event-id") else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| AppError::BadRequest("Last-Event-ID must be a non-negative integer".into()))
}

/// One message of the caller's session.
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "Message id"),
    ),
    responses(
        (status = 200, description = "The message (a reply being written has `status: generating` and the text so far)", body = Message,
            examples(("reply" = (summary = "A finished reply", value = json!(examples::reply_message()))), ("generating" = (summary = "A reply being written: the text so far", value = json!(examples::generating_reply()))), ("question" = (summary = "A user message", value = json!(examples::question_message()))))),
        OwnedErrors,
    )
)]
#[get("/sessions/{id}/messages/{message_id}")]
pub async fn get_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (session_id, message_id) = message_ids(&path)?;
    let found = state
        .db
        .read(move |conn| replies::find(conn, &Access::Owner(user.id), &session_id, &message_id))
        .await?;
    Ok(HttpResponse::Ok().json(Message::from(&found)))
}

const RESUME_DESCRIPTION: &str = "Server-Sent Events: the reply's text after the given position \
as `event: delta` events (data: `{\"content\": \"...\"}`), following it live while it is \
`generating` (on any replica), then `event: assistant_message` (data: the stored `Message`). Each \
`delta` and the `assistant_message` carry an `id:` line (characters of the reply sent so far), so \
a resume can itself be resumed. A position at or past the end of a finished reply gives only \
`assistant_message`. `event: error` if the reply disappears (its session was deleted).";

/// Resume a reply's events: its text from a position on, live while it is
/// written, then the stored reply.
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "Assistant message id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The `id:` of the last event received; wins over `after`"),
        ResumeQuery,
    ),
    responses(
        (status = 200, description = RESUME_DESCRIPTION, content_type = "text/event-stream", body = ReplyStreamEvent,
            examples(("delta" = (summary = "1. After Last-Event-ID: 67 (the first delta): the next piece", value = json!(examples::second_delta_event()))), ("assistant_message" = (summary = "2. The stored reply: the last event", value = json!(examples::assistant_message_event()))))),
        BadRequest,
        OwnedErrors,
        Conflict,
    )
)]
#[get("/sessions/{id}/messages/{message_id}/events")]
pub async fn reply_events_since(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<(String, String)>,
    query: web::Query<ResumeQuery>,
) -> Result<HttpResponse, AppError> {
    let from = last_event_id(&req)?.or(query.after).unwrap_or(0);
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    let (session_id, message_id) = message_ids(&path)?;
    let found = {
        let message_id = message_id.clone();
        state
            .db
            .read(move |conn| {
                replies::find(conn, &Access::Owner(user.id), &session_id, &message_id)
            })
            .await?
    };
    if found.message.role == Role::User {
        return Err(AppError::Conflict(
            "a user message has no reply events".into(),
        ));
    }
    Ok(reply_events(&state, Vec::new(), message_id, from))
}

/// Stop a reply being written. Generation ends within a second, on
/// whichever replica writes it; its open streams end with the stopped reply.
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "Assistant message id"),
    ),
    responses(
        (status = 200, description = "The reply, `status: stopped`, with the text written so far (stored)", body = AssistantMessage,
            examples(("stopped" = (summary = "Stopped after 1.2 s", value = json!(examples::stopped()))))),
        OwnedErrors,
        Conflict,
    )
)]
#[post("/sessions/{id}/messages/{message_id}/stop")]
pub async fn stop_reply(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (session_id, message_id) = message_ids(&path)?;
    let stopped = state.chat.stop(user.id, session_id, message_id).await?;
    Ok(HttpResponse::Ok().json(Message::from(&stopped)))
}
