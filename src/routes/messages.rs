//! `/sessions/{id}/messages`: history, and asking the assistant (as one JSON
//! answer or as Server-Sent Events).

use actix_web::http::header::ACCEPT;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::extract::{resource_id, JsonBody};
use super::responses::{BadRequest, BodyErrors, OwnedErrors, RateLimited, ValidationFailed};
use super::{sse, PageQuery};
use crate::auth::AuthUser;
use crate::clock::rfc3339;
use crate::domain::{MessageContent, Role};
use crate::error::AppError;
use crate::service::chat::{Asker, StreamEvent};
use crate::service::messages::{self, MessageWithSources};
use crate::service::pagination::{Direction, Page};
use crate::service::sessions::Access;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_messages).service(send_message);
}

/// A document an assistant message drew on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "Emergency funds")]
    pub title: String,
    #[schema(
        format = "uri",
        example = "https://www.consumerfinance.gov/an-essential-guide-to-building-an-emergency-fund/"
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
/// `usage` and `latency_ms` null, `fallback: false` and no sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub session_id: String,
    pub role: Role,
    pub content: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The model that wrote an assistant message (`"fallback"` for the offline responder).
    #[schema(required = true, example = "gpt-4o-mini")]
    pub model: Option<String>,
    /// 0–1 for assistant messages.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub confidence: Option<f64>,
    /// When the provider reported it.
    #[schema(required = true)]
    pub usage: Option<Usage>,
    /// How long the reply took to produce.
    #[schema(required = true)]
    pub latency_ms: Option<i64>,
    /// True when the offline responder answered.
    pub fallback: bool,
    pub sources: Vec<Source>,
}

impl From<&MessageWithSources> for Message {
    fn from(s: &MessageWithSources) -> Self {
        let m = &s.message;
        let usage = match (m.prompt_tokens, m.completion_tokens) {
            (Some(prompt_tokens), Some(completion_tokens)) => Some(Usage {
                prompt_tokens,
                completion_tokens,
            }),
            _ => None,
        };
        Self {
            id: m.id.clone(),
            session_id: m.session_id.clone(),
            role: m.role,
            content: m.content.clone(),
            created_at: rfc3339(m.created_at),
            model: m.model.clone(),
            confidence: m.confidence,
            usage,
            latency_ms: m.latency_ms,
            fallback: m.fallback,
            sources: s
                .sources
                .iter()
                .map(|src| Source {
                    id: src.id.clone(),
                    title: src.title.clone(),
                    url: src.url.clone(),
                    snippet: src.snippet.clone(),
                })
                .collect(),
        }
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

/// A page of a session's messages, for its owner (`Access::Owner`) or an
/// administrator (`Access::Any`).
pub async fn message_page(
    state: &AppState,
    access: Access,
    session_id: &str,
    page: &PageQuery,
    order: &OrderQuery,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(session_id, "chat session")?;
    let (page, direction) = (page.page()?, order.direction());
    let found = state
        .db
        .run(move |conn| messages::list(conn, &access, &id, direction, &page))
        .await?;
    Ok(HttpResponse::Ok().json(found.map(|m| Message::from(&m))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessageRequest {
    /// 1–8,000 characters after trimming; no control characters except newlines and tabs.
    #[schema(
        example = "How big should my emergency fund be?",
        min_length = 1,
        max_length = 8000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub content: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendMessageQuery {
    /// `true` answers with Server-Sent Events (as does `Accept: text/event-stream`).
    pub stream: Option<bool>,
}

/// Both sides of an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageExchange {
    pub user_message: Message,
    pub assistant_message: Message,
}

/// The names of the events of a streamed reply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SseEventName {
    UserMessage,
    Delta,
    AssistantMessage,
    Error,
}

/// One Server-Sent Event of a streamed reply. `data` is JSON: a `Message`
/// for `user_message` and `assistant_message`, a `Delta` for `delta`, an
/// `ErrorResponse` for `error`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SseEvent {
    pub event: SseEventName,
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// The `data` of a `delta` event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Delta {
    /// The next piece of the reply's text.
    pub content: String,
}

/// A session's messages, oldest first (`order=desc` for newest first).
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), PageQuery, OrderQuery),
    responses(
        (status = 200, description = "A page of messages", body = Page<Message>),
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
) -> Result<HttpResponse, AppError> {
    message_page(&state, Access::Owner(user.id), &id, &page, &order).await
}

const SSE_DESCRIPTION: &str =
    "With `Accept: text/event-stream` or `?stream=true`: Server-Sent Events. \
`event: user_message` (data: the stored user `Message`), then one or more `event: delta` \
(data: `{\"content\": \"<next piece>\"}`), then `event: assistant_message` (data: the stored \
assistant `Message`; its content is authoritative — it equals the concatenated deltas, except when \
the provider failed mid-reply, in which case it is the offline answer with `fallback: true`), or \
`event: error` (data: the error object). While the reply is generated, a comment line \
`: keep-alive` is sent after each interval without an event; the interval is configurable \
(`SSE_KEEP_ALIVE_SECS`, default 15 s). A client that disconnects does not stop the reply from \
being stored.";

/// Ask the assistant: stores the question, answers, stores the answer.
#[utoipa::path(
    tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), SendMessageQuery),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "Both messages, stored", body = MessageExchange),
        (status = 200, description = SSE_DESCRIPTION, content_type = "text/event-stream", body = SseEvent,
            example = json!("event: user_message\ndata: {\"id\":\"…\",\"role\":\"user\",…}\n\nevent: delta\ndata: {\"content\":\"An emergency fund \"}\n\nevent: assistant_message\ndata: {\"id\":\"…\",\"role\":\"assistant\",…}\n\n")),
        BodyErrors,
        OwnedErrors,
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
    let id = resource_id(&id, "chat session")?;
    let content = MessageContent::parse(&body.content)
        .map_err(|e| AppError::Validation(vec![e]))?
        .into_inner();
    state.limiter.check_messages(&user.id).await?;
    let asker = Asker {
        user_id: user.id,
        name: user.name,
    };
    let wants_stream = query.stream.unwrap_or(false)
        || req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        let (question, answer) = state.chat.send(asker, id, content).await?;
        return Ok(HttpResponse::Created().json(MessageExchange {
            user_message: Message::from(&question),
            assistant_message: Message::from(&answer),
        }));
    }
    let (question, events) = state.chat.send_streaming(asker, id, content).await?;
    let first = sse::event("user_message", &Message::from(&question));
    let keep_alive = std::time::Duration::from_secs(state.settings.sse_keep_alive_secs);
    Ok(sse::response(first, events, frame, keep_alive))
}

/// One event of a streamed answer, as an SSE frame.
fn frame(event: StreamEvent) -> actix_web::web::Bytes {
    match event {
        StreamEvent::Delta(content) => sse::event("delta", &Delta { content }),
        StreamEvent::Finished(Ok(stored)) => {
            sse::event("assistant_message", &Message::from(&stored))
        }
        StreamEvent::Finished(Err(e)) => sse::event("error", &e.to_body()),
    }
}
