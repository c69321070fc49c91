//! Changing a conversation: regenerate its last reply, edit one of its
//! questions. Both produce a reply exactly as a send does — answered once
//! written (201) or streamed (`Accept: text/event-stream`, `?stream=true`,
//! or the `/stream` twin), resumable, stoppable, idempotent with a key.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::{message_ids, JsonBody, JsonBodyOrEmpty};
use super::idempotency::{keyed_request, mark_replayed, KEY_DESCRIPTION};
use super::message_shapes::AssistantMessage;
use super::messages::{
    answer_exchange, replay, reply_events, wants_stream, Message, MessageExchange,
    ReplyStreamEvent, SendMessageQuery, SSE_DESCRIPTION,
};
use super::responses::{
    BodyErrors, OwnedErrors, RateLimited, StateOrKeyConflict, ValidationFailed,
};
use super::sse;
use crate::auth::AuthUser;
use crate::domain::MessageContent;
use crate::error::AppError;
use crate::service::chat::Asker;
use crate::service::idempotency::{self, KeyedRequest, Outcome};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(regenerate_reply)
        .service(regenerate_reply_stream)
        .service(edit_message)
        .service(edit_message_stream);
}

/// A regenerate takes no parameters: an empty body or `{}`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct RegenerateRequest {}

/// The new version of a question.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EditMessageRequest {
    /// The rules of a send: 1–8,000 characters after trimming; no control
    /// characters except newlines and tabs.
    #[schema(
        examples("Where should I keep it if my income is irregular?"),
        min_length = 1,
        max_length = 8000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub content: String,
}

const REGENERATE_SSE_DESCRIPTION: &str = "Server-Sent Events, as a send's without \
`user_message`: `event: reply_started` (data: the new assistant `Message`, `status: generating`, \
content empty), then `event: delta` events (data: `{\"content\": \"<next piece>\"}`), then \
`event: assistant_message` (data: the stored new reply), or `event: error`. Every `delta` and \
`assistant_message` has an `id:` line (characters of the reply sent so far) for \
`GET /sessions/{id}/messages/{message_id}/events` (`Last-Event-ID`). A replay of an earlier \
request with the same `Idempotency-Key` follows that reply from its start (no `reply_started`).";

/// Regenerate the last reply: a new answer to the same question, written
/// as a send's is. The old reply stays stored with `superseded_by` = the
/// new reply's id and leaves the conversation.
///
/// Only the last assistant message of the conversation, and not while it
/// is `generating` (stop it first; a stopped reply may be regenerated). The
/// same request with `Accept: text/event-stream` or `?stream=true` streams,
/// as `POST …/regenerate/stream` does (documented there).
#[utoipa::path(
    tag = "messages",
    operation_id = "regenerate_reply",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "The conversation's last assistant message"),
        ("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION),
    ),
    request_body(content = RegenerateRequest, description = "Optional: an empty body or `{}`",
        examples(("empty" = (summary = "No parameters", value = json!(examples::regenerate_request()))))),
    responses(
        (status = 201, description = "The new reply, stored (finished, or stopped while this request waited)", body = AssistantMessage,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers again an earlier request with the same `Idempotency-Key`")),
            examples(("regenerated" = (summary = "A new answer to the second question, whose first reply was stopped", value = json!(examples::regenerated_reply()))))),
        BodyErrors,
        OwnedErrors,
        StateOrKeyConflict,
        RateLimited,
    )
)]
#[post("/sessions/{id}/messages/{message_id}/regenerate")]
pub async fn regenerate_reply(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<(String, String)>,
    query: web::Query<SendMessageQuery>,
    JsonBodyOrEmpty(body): JsonBodyOrEmpty<RegenerateRequest>,
) -> Result<HttpResponse, AppError> {
    let stream = wants_stream(&req, query.stream);
    regenerate(&state, &req, user, &path, &body, stream).await
}

/// Regenerate the last reply, streamed: the same operation as
/// `POST /sessions/{id}/messages/{message_id}/regenerate`, always answering
/// with Server-Sent Events.
#[utoipa::path(
    tag = "messages",
    operation_id = "regenerate_reply_stream",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "The conversation's last assistant message"),
        ("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION),
    ),
    request_body(content = RegenerateRequest, description = "Optional: an empty body or `{}`",
        examples(("empty" = (summary = "No parameters", value = json!(examples::regenerate_request()))))),
    responses(
        (status = 200, description = REGENERATE_SSE_DESCRIPTION, content_type = "text/event-stream", body = ReplyStreamEvent,
            headers(("Idempotent-Replayed" = String, description = "`true` when this follows the reply of an earlier request with the same `Idempotency-Key`")),
            examples(("reply_started" = (summary = "1. The new reply, started: generating, empty", value = json!(examples::regenerate_started_event()))), ("delta" = (summary = "2. A piece of the reply; id: characters sent so far", value = json!(examples::regenerate_delta_event()))), ("assistant_message" = (summary = "3. The stored new reply: the last event", value = json!(examples::regenerated_event()))), ("error" = (summary = "Instead of the reply: the session was deleted meanwhile", value = json!(examples::error_event()))))),
        BodyErrors,
        OwnedErrors,
        StateOrKeyConflict,
        RateLimited,
    )
)]
#[post("/sessions/{id}/messages/{message_id}/regenerate/stream")]
pub async fn regenerate_reply_stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<(String, String)>,
    JsonBodyOrEmpty(body): JsonBodyOrEmpty<RegenerateRequest>,
) -> Result<HttpResponse, AppError> {
    regenerate(&state, &req, user, &path, &body, true).await
}

/// Edit a question: ask it again with new content. The edited message and
/// everything after it stay stored with `superseded_by` = the new
/// question's id and leave the conversation; the new question is answered
/// with the conversation before the edited message as its context.
///
/// Only a user message of the conversation, and not while a reply after it
/// is `generating` (stop it first). The same request with
/// `Accept: text/event-stream` or `?stream=true` streams, as
/// `POST …/edit/stream` does (documented there).
#[utoipa::path(
    tag = "messages",
    operation_id = "edit_message",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "A user message of the conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION),
    ),
    request_body(content = EditMessageRequest,
        examples(("edit" = (summary = "The second question, made more precise", value = json!(examples::edit_request()))))),
    responses(
        (status = 201, description = "The new question and its reply, stored", body = MessageExchange,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers again an earlier request with the same `Idempotency-Key`")),
            examples(("edited" = (summary = "The edited question and its reply", value = json!(examples::edit_exchange()))))),
        BodyErrors,
        OwnedErrors,
        StateOrKeyConflict,
        ValidationFailed,
        RateLimited,
    )
)]
#[post("/sessions/{id}/messages/{message_id}/edit")]
pub async fn edit_message(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<(String, String)>,
    query: web::Query<SendMessageQuery>,
    JsonBody(body): JsonBody<EditMessageRequest>,
) -> Result<HttpResponse, AppError> {
    let stream = wants_stream(&req, query.stream);
    edit(&state, &req, user, &path, body, stream).await
}

/// Edit a question, streamed: the same operation as
/// `POST /sessions/{id}/messages/{message_id}/edit`, always answering with
/// Server-Sent Events.
#[utoipa::path(
    tag = "messages",
    operation_id = "edit_message_stream",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("message_id" = String, Path, format = Uuid, description = "A user message of the conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION),
    ),
    request_body(content = EditMessageRequest,
        examples(("edit" = (summary = "The second question, made more precise", value = json!(examples::edit_request()))))),
    responses(
        (status = 200, description = SSE_DESCRIPTION, content_type = "text/event-stream", body = ReplyStreamEvent,
            headers(("Idempotent-Replayed" = String, description = "`true` when this follows the reply of an earlier request with the same `Idempotency-Key`")),
            examples(("user_message" = (summary = "1. The edited question, stored", value = json!(examples::edited_question_event()))), ("reply_started" = (summary = "2. Its reply, started: generating, empty", value = json!(examples::edit_started_event()))), ("delta" = (summary = "3. A piece of the reply; id: characters sent so far", value = json!(examples::edit_delta_event()))), ("assistant_message" = (summary = "4. The stored reply: the last event", value = json!(examples::edit_reply_event()))), ("error" = (summary = "Instead of the reply: the session was deleted meanwhile", value = json!(examples::error_event()))))),
        BodyErrors,
        OwnedErrors,
        StateOrKeyConflict,
        ValidationFailed,
        RateLimited,
    )
)]
#[post("/sessions/{id}/messages/{message_id}/edit/stream")]
pub async fn edit_message_stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<EditMessageRequest>,
) -> Result<HttpResponse, AppError> {
    edit(&state, &req, user, &path, body, true).await
}

/// The earlier outcome for `key`, if this request repeats one.
async fn earlier(state: &AppState, key: Option<KeyedRequest>) -> Result<Option<Outcome>, AppError> {
    let Some(key) = key else { return Ok(None) };
    state
        .db
        .write(move |conn| idempotency::find(conn, &key))
        .await
}

/// When starting failed with a 409 and the request has a key, a concurrent
/// request with the same key may have won (it replaced the message this one
/// meant to replace): its outcome answers. Otherwise the error stands.
async fn winner_or(
    state: &AppState,
    key: Option<KeyedRequest>,
    error: AppError,
) -> Result<Outcome, AppError> {
    if !matches!(
        error,
        AppError::Conflict(_) | AppError::IdempotencyConflict(_)
    ) {
        return Err(error);
    }
    match earlier(state, key).await? {
        Some(outcome) => Ok(outcome),
        None => Err(error),
    }
}

/// Both forms of a regenerate.
async fn regenerate(
    state: &AppState,
    req: &HttpRequest,
    user: AuthUser,
    path: &(String, String),
    body: &RegenerateRequest,
    stream: bool,
) -> Result<HttpResponse, AppError> {
    let (session_id, message_id) = message_ids(path)?;
    let key = keyed_request(
        req,
        &user.id,
        &format!("/sessions/{session_id}/messages/{message_id}/regenerate"),
        body,
    )?;
    if let Some(outcome) = earlier(state, key.clone()).await? {
        return replay_reply(state, outcome, stream).await;
    }
    state.limiter.check_messages(&user.id).await?;
    let asker = Asker {
        user_id: user.id,
        name: user.name,
    };
    let record = key.clone();
    let started = state
        .chat
        .regenerate(asker, session_id, message_id, stream, move |conn, reply| {
            let Some(key) = record else { return Ok(()) };
            let outcome = Outcome {
                status_code: 201,
                response_body: None,
                user_message_id: None,
                reply_id: Some(reply.message.id.clone()),
            };
            idempotency::record(conn, &key, outcome)
        })
        .await;
    let reply = match started {
        Ok(reply) => reply,
        Err(e) => {
            let outcome = winner_or(state, key, e).await?;
            return replay_reply(state, outcome, stream).await;
        }
    };
    let reply_id = reply.message.id.clone();
    if !stream {
        let answer = state.chat.wait(reply_id).await?;
        return Ok(HttpResponse::Created().json(Message::from(&answer)));
    }
    let first = vec![sse::event("reply_started", &Message::from(&reply))];
    Ok(reply_events(state, first, reply_id, 0))
}

/// Answers again the reply an earlier regenerate with the same key started:
/// 201 once it is finished, or its events from the start.
async fn replay_reply(
    state: &AppState,
    earlier: Outcome,
    stream: bool,
) -> Result<HttpResponse, AppError> {
    let reply_id = earlier
        .reply_id
        .ok_or_else(|| AppError::internal("an idempotency key without its reply"))?;
    let response = if stream {
        reply_events(state, Vec::new(), reply_id, 0)
    } else {
        let answer = state.chat.wait(reply_id).await?;
        HttpResponse::Created().json(Message::from(&answer))
    };
    Ok(mark_replayed(response))
}

/// Both forms of an edit.
async fn edit(
    state: &AppState,
    req: &HttpRequest,
    user: AuthUser,
    path: &(String, String),
    body: EditMessageRequest,
    stream: bool,
) -> Result<HttpResponse, AppError> {
    let (session_id, message_id) = message_ids(path)?;
    let content = MessageContent::parse(&body.content)
        .map_err(|e| AppError::Validation(vec![e]))?
        .into_inner();
    let key = keyed_request(
        req,
        &user.id,
        &format!("/sessions/{session_id}/messages/{message_id}/edit"),
        &body,
    )?;
    if let Some(outcome) = earlier(state, key.clone()).await? {
        return replay(state, user.id, session_id, outcome, stream).await;
    }
    state.limiter.check_messages(&user.id).await?;
    let asker = Asker {
        user_id: user.id.clone(),
        name: user.name,
    };
    let record = key.clone();
    let started = state
        .chat
        .edit(
            asker,
            session_id.clone(),
            message_id,
            content,
            stream,
            move |conn, exchange| {
                let Some(key) = record else { return Ok(()) };
                let outcome = Outcome {
                    status_code: 201,
                    response_body: None,
                    user_message_id: Some(exchange.user_message.message.id.clone()),
                    reply_id: Some(exchange.reply.message.id.clone()),
                };
                idempotency::record(conn, &key, outcome)
            },
        )
        .await;
    let exchange = match started {
        Ok(exchange) => exchange,
        Err(e) => {
            let outcome = winner_or(state, key, e).await?;
            return replay(state, user.id, session_id, outcome, stream).await;
        }
    };
    answer_exchange(state, exchange, stream).await
}
