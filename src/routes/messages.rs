//! `/sessions/{id}/messages`: history, and asking the assistant (as one JSON
//! answer or as Server-Sent Events).

use actix_web::http::header::ACCEPT;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::{resource_id, JsonBody};
use super::idempotency::{keyed_request, mark_replayed, KEY_DESCRIPTION};
use super::message_shapes::{AssistantMessage, UserMessage};
use super::responses::{
    BadRequest, BodyErrors, IdempotencyConflict, OwnedErrors, RateLimited, ValidationFailed,
};
use super::{sse, PageQuery};
use crate::auth::AuthUser;
use crate::clock::rfc3339;
pub use crate::domain::Rating;
use crate::domain::{MessageContent, MessageStatus, Role};
use crate::error::AppError;
use crate::service::chat::{Asker, ReplyEvent};
use crate::service::idempotency::{self, Outcome};
use crate::service::messages::{self, Exchange, MessageWithSources};
use crate::service::pagination::{Direction, Page};
use crate::service::replies;
use crate::service::sessions::Access;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_messages)
        .service(send_message)
        .service(send_message_stream);
}

/// A document an assistant message drew on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(examples("Emergency funds"))]
    pub title: String,
    #[schema(
        format = "uri",
        examples(
            "https://www.consumerfinance.gov/an-essential-guide-to-building-an-emergency-fund/"
        )
    )]
    pub url: String,
    /// The passage the reply used.
    pub snippet: String,
}

/// Tokens the provider reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// A message of either role. User messages have `model`, `confidence`,
/// `usage` and `latency_ms` null, `fallback: false` and no sources. Its
/// schema, typed by role and status, is in [`super::message_shapes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub session_id: String,
    pub role: Role,
    pub content: String,
    pub created_at: String,
    /// The model that wrote an assistant message (`"fallback"` for the offline responder).
    pub model: Option<String>,
    /// 0–1 for assistant messages.
    pub confidence: Option<f64>,
    /// When the provider reported it.
    pub usage: Option<Usage>,
    /// How long the reply took to produce.
    pub latency_ms: Option<i64>,
    /// True when the offline responder answered.
    pub fallback: bool,
    pub sources: Vec<Source>,
    /// `generating` while a reply is being written (`content` is the text so
    /// far), `stopped` when the user stopped it, else `complete`.
    pub status: MessageStatus,
    /// The id of the message that replaced this one (a regenerate or an
    /// edit); superseded messages are not part of the conversation.
    pub superseded_by: Option<String>,
    /// The user's rating of an assistant message.
    pub feedback: Option<Feedback>,
}

/// A user's feedback on an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Feedback {
    pub rating: Rating,
    /// At most 2,000 characters.
    #[schema(required = true)]
    pub comment: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<MessageWithSources> for Message {
    /// Moves the stored text into the answer (a page of history holds
    /// 50 of them).
    fn from(s: MessageWithSources) -> Self {
        let MessageWithSources {
            message: m,
            sources,
            feedback,
        } = s;
        let usage = match (m.prompt_tokens, m.completion_tokens) {
            (Some(prompt_tokens), Some(completion_tokens)) => Some(Usage {
                prompt_tokens,
                completion_tokens,
            }),
            _ => None,
        };
        Self {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            created_at: rfc3339(m.created_at),
            model: m.model,
            confidence: m.confidence,
            usage,
            latency_ms: m.latency_ms,
            fallback: m.fallback,
            status: m.status,
            superseded_by: m.superseded_by,
            feedback: feedback.map(|f| Feedback {
                rating: f.rating,
                comment: f.comment,
                created_at: rfc3339(f.created_at),
            }),
            sources: sources
                .into_iter()
                .map(|src| Source {
                    id: src.id,
                    title: src.title,
                    url: src.url,
                    snippet: src.snippet,
                })
                .collect(),
        }
    }
}

impl From<&MessageWithSources> for Message {
    fn from(s: &MessageWithSources) -> Self {
        Self::from(s.clone())
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// The order of a message list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(inline)]
    pub order: Option<SortOrder>,
}

impl OrderQuery {
    pub fn direction(&self) -> Direction {
        match self.order.unwrap_or_default() {
            SortOrder::Asc => Direction::Ascending,
            SortOrder::Desc => Direction::Descending,
        }
    }
}

/// Which messages a message list holds.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// `true` lists every stored message of the session, those replaced by a
    /// regenerate or an edit included (same order); by default only the
    /// conversation (`superseded_by: null`).
    pub include_superseded: Option<bool>,
}

/// A page of a session's messages, for its owner (`Access::Owner`) or an
/// administrator (`Access::Any`).
pub async fn message_page(
    state: &AppState,
    access: Access,
    session_id: &str,
    page: &PageQuery,
    order: &OrderQuery,
    which: &ConversationQuery,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(session_id, "chat session")?;
    let (page, direction) = (page.page()?, order.direction());
    let all = which.include_superseded.unwrap_or(false);
    let found = state
        .db
        .read(move |conn| messages::list(conn, &access, &id, direction, &page, all))
        .await?;
    Ok(HttpResponse::Ok().json(found.map(Message::from)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SendMessageRequest {
    /// 1–8,000 characters after trimming; no control characters except newlines and tabs.
    #[schema(
        examples("How big should my emergency fund be?"),
        min_length = 1,
        max_length = 8000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub content: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendMessageQuery {
    /// `true` answers with Server-Sent Events (as does `Accept: text/event-stream`);
    /// accepted, and documented through the `/stream` twin.
    pub stream: Option<bool>,
}

/// Both sides of an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageExchange {
    #[schema(value_type = UserMessage)]
    pub user_message: Message,
    /// The reply, finished (or stopped while this request waited).
    #[schema(value_type = AssistantMessage)]
    pub assistant_message: Message,
}

/// One Server-Sent Event of a reply, as the stream frames it: `event:` is
/// the name, `id:` (on `delta` and `assistant_message`) the number of
/// characters of the reply sent so far, `data:` the JSON payload, whose type
/// depends on the name (`contentSchema`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ReplyStreamEvent {
    /// The stored question (a send or an edit).
    UserMessage {
        #[schema(schema_with = user_message_json)]
        data: String,
    },
    /// The reply's row as stored at the start: `status: generating`, empty
    /// (a send, a regenerate or an edit; not a resume).
    ReplyStarted {
        #[schema(schema_with = reply_started_json)]
        data: String,
    },
    /// The next piece of the reply's text.
    Delta {
        #[schema(pattern = "^[0-9]+$")]
        id: String,
        #[schema(schema_with = delta_json)]
        data: String,
    },
    /// The stored reply, finished or stopped; the last event.
    AssistantMessage {
        #[schema(pattern = "^[0-9]+$")]
        id: String,
        #[schema(schema_with = assistant_message_json)]
        data: String,
    },
    /// Why the stream cannot finish (e.g. the session was deleted); the last event.
    Error {
        #[schema(schema_with = error_json)]
        data: String,
    },
}

/// A string holding JSON of the component `schema`.
fn json_text_of(schema: &str) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let content_schema = serde_json::json!({"$ref": format!("#/components/schemas/{schema}")});
    ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/json")
        .description(Some(format!("The JSON text of a `{schema}`")))
        // JSON Schema's `contentSchema` (OpenAPI 3.1) types the payload;
        // utoipa has no builder for it, hence the extension map.
        .extensions(Some(Extensions::from_iter([(
            "contentSchema",
            content_schema,
        )])))
        .build()
}

fn user_message_json() -> utoipa::openapi::schema::Object {
    json_text_of("UserMessage")
}

fn reply_started_json() -> utoipa::openapi::schema::Object {
    json_text_of("IncompleteReply")
}

fn assistant_message_json() -> utoipa::openapi::schema::Object {
    json_text_of("AssistantMessage")
}

fn delta_json() -> utoipa::openapi::schema::Object {
    json_text_of("Delta")
}

fn error_json() -> utoipa::openapi::schema::Object {
    json_text_of("ErrorResponse")
}

/// The `data` of a `delta` event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Delta {
    /// The next piece of the reply's text.
    pub content: String,
}

/// A session's conversation (the messages nothing replaced, a reply still
/// being written included), oldest first (`order=desc` for newest first).
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), PageQuery, OrderQuery, ConversationQuery),
    responses(
        (status = 200, description = "A page of messages", body = Page<Message>,
            examples(("conversation" = (summary = "A question and its finished reply", value = json!(examples::message_page()))), ("first_page" = (summary = "limit=1: the first page, with the cursor of the next", value = json!(examples::message_first_page()))), ("with_stopped_reply" = (summary = "A second reply, stopped by the user", value = json!(examples::message_page_with_stop()))))),
        BadRequest,
        OwnedErrors,
    )
)]
#[get("/sessions/{id}/messages")]
pub async fn list_messages(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
    order: web::Query<OrderQuery>,
    which: web::Query<ConversationQuery>,
) -> Result<HttpResponse, AppError> {
    message_page(&state, Access::Owner(user.id), &id, &page, &order, &which).await
}

pub(super) const SSE_DESCRIPTION: &str =
    "With `Accept: text/event-stream` or `?stream=true`: Server-Sent Events. \
`event: user_message` (data: the stored user `Message`), `event: reply_started` (data: the \
assistant `Message`, `status: generating`, content empty), then `event: delta` events (data: \
`{\"content\": \"<next piece>\"}`), then `event: assistant_message` (data: the stored assistant \
`Message`; its content is authoritative — it equals the concatenated deltas, except when the \
provider failed mid-reply, in which case it is the offline answer with `fallback: true`), or \
`event: error` (data: the error object). Every `delta` and `assistant_message` has an `id:` line: \
the number of characters (Unicode scalar values) of the reply sent so far; \
`GET /sessions/{id}/messages/{message_id}/events` with that value as `Last-Event-ID` resumes \
exactly after it. While the reply is generated, a comment line `: keep-alive` is sent after each \
interval without an event; the interval is configurable (`SSE_KEEP_ALIVE_SECS`, default 15 s). A \
client that disconnects does not stop the reply from being written and stored.";

/// Ask the assistant: stores the question, answers, stores the answer.
///
/// The reply is stored (`generating`) with the question and written
/// durably; this answer waits until it is finished (or stopped). The same
/// request with `Accept: text/event-stream` or `?stream=true` streams
/// instead, exactly as `POST /sessions/{id}/messages/stream` (documented
/// there, so that generated clients type each form on its own).
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION),
    ),
    request_body(content = SendMessageRequest, examples(("question" = (summary = "A personal-finance question", value = json!(examples::send_request()))))),
    responses(
        (status = 201, description = "Both messages, stored", body = MessageExchange,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers again an earlier request with the same `Idempotency-Key`")),
            examples(("answered" = (summary = "The question and its grounded reply", value = json!(examples::exchange()))))),
        BodyErrors,
        OwnedErrors,
        IdempotencyConflict,
        ValidationFailed,
        RateLimited,
    )
)]
#[post("/sessions/{id}/messages")]
pub async fn send_message(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<String>,
    query: web::Query<SendMessageQuery>,
    JsonBody(body): JsonBody<SendMessageRequest>,
) -> Result<HttpResponse, AppError> {
    let stream = wants_stream(&req, query.stream);
    send(&state, &req, user, &id, body, stream).await
}

/// Ask the assistant, streamed: the same operation as
/// `POST /sessions/{id}/messages`, always answering with Server-Sent Events.
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "Session id"),
        ("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION),
    ),
    request_body(content = SendMessageRequest, examples(("question" = (summary = "A personal-finance question", value = json!(examples::send_request()))))),
    responses(
        (status = 200, description = SSE_DESCRIPTION, content_type = "text/event-stream", body = ReplyStreamEvent,
            headers(("Idempotent-Replayed" = String, description = "`true` when this follows the reply of an earlier request with the same `Idempotency-Key`")),
            examples(("user_message" = (summary = "1. The stored question", value = json!(examples::user_message_event()))), ("reply_started" = (summary = "2. The reply, started: generating, empty", value = json!(examples::reply_started_event()))), ("delta" = (summary = "3. A piece of the reply; id: characters sent so far", value = json!(examples::first_delta_event()))), ("assistant_message" = (summary = "4. The stored reply: the last event", value = json!(examples::assistant_message_event()))), ("error" = (summary = "Instead of the reply: the session was deleted meanwhile", value = json!(examples::error_event()))))),
        BodyErrors,
        OwnedErrors,
        IdempotencyConflict,
        ValidationFailed,
        RateLimited,
    )
)]
#[post("/sessions/{id}/messages/stream")]
pub async fn send_message_stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<String>,
    JsonBody(body): JsonBody<SendMessageRequest>,
) -> Result<HttpResponse, AppError> {
    send(&state, &req, user, &id, body, true).await
}

/// Whether a request that may answer either way asked for Server-Sent
/// Events (`?stream=true` or `Accept: text/event-stream`).
pub(super) fn wants_stream(req: &HttpRequest, stream: Option<bool>) -> bool {
    stream.unwrap_or(false)
        || req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"))
}

/// Both forms of a send: validate, store the question and its reply, then
/// answer with the finished exchange or follow the reply as events. With an
/// `Idempotency-Key` seen before, the earlier exchange answers instead.
async fn send(
    state: &AppState,
    req: &HttpRequest,
    user: AuthUser,
    session_id: &str,
    body: SendMessageRequest,
    stream: bool,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(session_id, "chat session")?;
    let content = MessageContent::parse(&body.content)
        .map_err(|e| AppError::Validation(vec![e]))?
        .into_inner();
    // The streaming twin is the same operation: one path for both.
    let key = keyed_request(req, &user.id, &format!("/sessions/{id}/messages"), &body)?;
    if let Some(key) = key.clone() {
        let earlier = state
            .db
            .write(move |conn| idempotency::find(conn, &key))
            .await?;
        if let Some(earlier) = earlier {
            return replay(state, user.id, id, earlier, stream).await;
        }
    }
    state.limiter.check_messages(&user.id).await?;
    let asker = Asker {
        user_id: user.id.clone(),
        name: user.name,
    };
    let record = key.clone();
    let started = state
        .chat
        .start(asker, id.clone(), content, stream, move |conn, exchange| {
            let Some(key) = record else { return Ok(()) };
            let outcome = Outcome {
                status_code: 201,
                response_body: None,
                user_message_id: Some(exchange.user_message.message.id.clone()),
                reply_id: Some(exchange.reply.message.id.clone()),
            };
            idempotency::record(conn, &key, outcome)
        })
        .await;
    let exchange = match (started, key) {
        (Ok(exchange), _) => exchange,
        // A concurrent request with the same key stored its exchange first.
        (Err(AppError::IdempotencyConflict(_)), Some(key)) => {
            let earlier = state
                .db
                .write(move |conn| idempotency::find(conn, &key))
                .await?
                .ok_or_else(|| AppError::internal("an idempotency key vanished"))?;
            return replay(state, user.id, id, earlier, stream).await;
        }
        (Err(e), _) => return Err(e),
    };
    answer_exchange(state, exchange, stream).await
}

/// Answers a started exchange (a send's or an edit's): 201 with the
/// question and the reply once it is finished, or their events as the reply
/// is written.
pub(super) async fn answer_exchange(
    state: &AppState,
    exchange: Exchange,
    stream: bool,
) -> Result<HttpResponse, AppError> {
    let reply_id = exchange.reply.message.id.clone();
    if !stream {
        let Exchange {
            user_message,
            reply,
        } = exchange;
        // Stored finished already when it was ready at once.
        let answer = match reply.message.status {
            MessageStatus::Generating => state.chat.wait(reply_id).await?,
            _ => reply,
        };
        return Ok(HttpResponse::Created().json(MessageExchange {
            user_message: Message::from(user_message),
            assistant_message: Message::from(answer),
        }));
    }
    let first = vec![
        sse::event("user_message", &Message::from(&exchange.user_message)),
        sse::event("reply_started", &Message::from(&exchange.reply)),
    ];
    Ok(reply_events(state, first, reply_id, 0))
}

/// Answers again the exchange an earlier request with the same key stored:
/// 201 once its reply is finished, or its events from the start.
pub(super) async fn replay(
    state: &AppState,
    user_id: String,
    session_id: String,
    earlier: Outcome,
    stream: bool,
) -> Result<HttpResponse, AppError> {
    let (Some(question_id), Some(reply_id)) = (earlier.user_message_id, earlier.reply_id) else {
        return Err(AppError::internal(
            "an idempotency key without its exchange",
        ));
    };
    let question = state
        .db
        .read(move |conn| replies::find(conn, &Access::Owner(user_id), &session_id, &question_id))
        .await?;
    let response = if stream {
        let first = vec![sse::event("user_message", &Message::from(&question))];
        reply_events(state, first, reply_id, 0)
    } else {
        let answer = state.chat.wait(reply_id).await?;
        HttpResponse::Created().json(MessageExchange {
            user_message: Message::from(&question),
            assistant_message: Message::from(&answer),
        })
    };
    Ok(mark_replayed(response))
}

/// A reply followed from character `from` as a `200 text/event-stream`
/// answer, after the events of `first`.
pub fn reply_events(
    state: &AppState,
    first: Vec<actix_web::web::Bytes>,
    reply_id: String,
    from: usize,
) -> HttpResponse {
    let events = state.chat.follow(reply_id, from);
    let keep_alive = std::time::Duration::from_secs(state.settings.sse_keep_alive_secs);
    sse::response(
        first,
        events,
        frame,
        keep_alive,
        state.metrics.stream_opened(),
    )
}

/// One event of a followed reply, as an SSE frame.
fn frame(event: ReplyEvent) -> actix_web::web::Bytes {
    match event {
        ReplyEvent::Delta { content, position } => {
            sse::event_with_id("delta", position, &Delta { content })
        }
        ReplyEvent::Finished(result) => match *result {
            Ok(stored) => sse::event_with_id(
                "assistant_message",
                stored.message.content.chars().count(),
                &Message::from(&stored),
            ),
            Err(e) => sse::event("error", &e.to_body()),
        },
    }
}
