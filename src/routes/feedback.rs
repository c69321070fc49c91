//! Feedback on replies: a user rates an assistant message of theirs
//! (`PUT`/`DELETE …/feedback`); administrators list the ratings.

use actix_web::{delete, get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::{message_ids, JsonBody};
use super::message_shapes::AssistantMessage;
use super::messages::Message;
use super::responses::{
    AdminErrors, BadRequest, BodyErrors, Conflict, OwnedErrors, ValidationFailed,
};
use super::PageQuery;
use crate::auth::{AdminUser, AuthUser};
use crate::domain::{FeedbackComment, Rating, Violations};
use crate::error::AppError;
use crate::service::feedback;
use crate::service::pagination::Page;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(put_feedback)
        .service(delete_feedback)
        .service(admin_list_feedback);
}

/// A rating of a reply, with an optional comment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// `up` or `down` (anything else is 422).
    #[schema(value_type = Rating)]
    pub rating: String,
    /// At most 2,000 characters; blank or absent means none.
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub comment: Option<String>,
}

/// A rated reply, as administrators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RatedMessage {
    /// The assistant message, with its `feedback`.
    #[schema(value_type = AssistantMessage)]
    pub message: Message,
    #[schema(format = Uuid)]
    pub session_id: String,
    /// The session's owner, who gave the feedback.
    #[schema(format = Uuid)]
    pub user_id: String,
    pub user_email: String,
}

/// Filters of the feedback list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedbackFilter {
    /// Only this rating (`down` for the replies people disliked).
    #[param(inline)]
    pub rating: Option<Rating>,
}

/// Rate a reply: `up` or `down`, with an optional comment. A second rating
/// replaces the first (and renews its `created_at`).
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "Message id (an assistant message)"),
    ),
    request_body(content = FeedbackRequest,
        examples(("up" = (summary = "Helpful, with a comment", value = json!(examples::feedback_up_request()))), ("down" = (summary = "Not helpful, no comment", value = json!(examples::feedback_down_request()))))),
    responses(
        (status = 200, description = "The reply with its `feedback`", body = AssistantMessage,
            examples(("rated" = (summary = "The first reply, rated up", value = json!(examples::rated_message()))))),
        BodyErrors,
        OwnedErrors,
        Conflict,
        ValidationFailed,
    )
)]
#[put("/sessions/{id}/messages/{message_id}/feedback")]
pub async fn put_feedback(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<FeedbackRequest>,
) -> Result<HttpResponse, AppError> {
    let (session_id, message_id) = message_ids(&path)?;
    let mut violations = Violations::default();
    let rating = violations.check(Rating::parse(&body.rating));
    let comment = violations.check(FeedbackComment::parse(body.comment.as_deref()));
    violations.finish()?;
    let (Some(rating), Some(comment)) = (rating, comment) else {
        return Err(AppError::internal("validated feedback without its values"));
    };
    let comment = comment.map(FeedbackComment::into_inner);
    let rated = state
        .db
        .write(move |conn| feedback::put(conn, &user.id, &session_id, &message_id, rating, comment))
        .await?;
    state.metrics.feedback(rating.as_str());
    Ok(HttpResponse::Ok().json(Message::from(&rated)))
}

/// Remove the caller's feedback on a reply (204 also when there is none).
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "Message id"),
    ),
    responses(
        (status = 204, description = "No feedback on the message any more"),
        OwnedErrors,
    )
)]
#[delete("/sessions/{id}/messages/{message_id}/feedback")]
pub async fn delete_feedback(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (session_id, message_id) = message_ids(&path)?;
    state
        .db
        .write(move |conn| feedback::delete(conn, &user.id, &session_id, &message_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every rated reply, newest feedback first; `rating` filters.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(FeedbackFilter, PageQuery),
    responses(
        (status = 200, description = "A page of rated replies", body = Page<RatedMessage>,
            examples(("rated" = (summary = "Ann's rating of her first reply", value = json!(examples::rated_page()))))),
        BadRequest,
        AdminErrors,
    )
)]
#[get("/admin/feedback")]
pub async fn admin_list_feedback(
    state: web::Data<AppState>,
    _admin: AdminUser,
    filter: web::Query<FeedbackFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page.page()?;
    let rating = filter.rating;
    let found = state
        .db
        .run(move |conn| feedback::list(conn, rating, &page))
        .await?;
    Ok(HttpResponse::Ok().json(found.map(|r| RatedMessage {
        session_id: r.message.message.session_id.clone(),
        message: Message::from(&r.message),
        user_id: r.user_id,
        user_email: r.user_email,
    })))
}
