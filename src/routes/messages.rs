//! `/sessions/{id}/messages`: history, and asking the assistant (as one JSON
//! answer or as Server-Sent Events).

use std::sync::Arc;

use actix_web::http::header::ACCEPT;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{resource_id, JsonBody};
use super::{sse, PageQuery};
use crate::auth::AuthUser;
use crate::clock::rfc3339;
use crate::domain::MessageContent;
use crate::error::{AppError, ErrorResponse};
use crate::service::chat::{self, Asker, ContextLimits, StreamEvent};
use crate::service::messages::{self, Order, StoredMessage};
use crate::service::sessions;
use crate::startup::AppState;

/// A document an assistant message drew on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Source {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "Emergency funds")]
    pub title: String,
    #[schema(
        example = "https://www.consumerfinance.gov/an-essential-guide-to-building-an-emergency-fund/"
    )]
    pub url: String,
    /// The passage the reply used.
    pub snippet: String,
}

/// Tokens the provider reported.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// Who wrote a message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
}

/// A message of either role. User messages have `model`, `confidence`,
/// `usage` and `latency_ms` null, `fallback: false` and no sources.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Message {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub session_id: String,
    pub role: MessageRole,
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

impl From<&StoredMessage> for Message {
    fn from(s: &StoredMessage) -> Self {
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
            role: if m.role == messages::ROLE_ASSISTANT {
                MessageRole::Assistant
            } else {
                MessageRole::User
            },
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

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<Message>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl MessagePage {
    pub fn from_page(page: crate::service::pagination::Page<StoredMessage>) -> Self {
        Self {
            items: page.items.iter().map(Message::from).collect(),
            next_cursor: page.next_cursor,
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    /// Items per page, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 200)]
    pub cursor: Option<String>,
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(inline)]
    pub order: Option<SortOrder>,
}

impl MessageListQuery {
    pub fn parts(&self) -> Result<(Order, crate::service::pagination::PageRequest), AppError> {
        let page = PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .page()?;
        let order = match self.order.unwrap_or_default() {
            SortOrder::Asc => Order::OldestFirst,
            SortOrder::Desc => Order::NewestFirst,
        };
        Ok((order, page))
    }
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
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct Delta {
    /// The next piece of the reply's text.
    pub content: String,
}

/// A session's messages, oldest first (`order=desc` for newest first).
#[utoipa::path(
    get, path = "/sessions/{id}/messages", tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), MessageListQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, description = "Bad `limit`, `cursor` or `order`", body = ErrorResponse),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 404, description = "Absent, or another user's", body = ErrorResponse),
    )
)]
pub async fn list_messages(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    query: web::Query<MessageListQuery>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "chat session")?;
    let (order, page) = query.parts()?;
    let found = state
        .db
        .run(move |conn| {
            sessions::get_owned(conn, &user.id, &id)?;
            messages::list(conn, &id, order, &page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(MessagePage::from_page(found)))
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
    post, path = "/sessions/{id}/messages", tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), SendMessageQuery),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "Both messages, stored", body = MessageExchange),
        (status = 200, description = SSE_DESCRIPTION, content_type = "text/event-stream", body = SseEvent,
            example = json!("event: user_message\ndata: {\"id\":\"…\",\"role\":\"user\",…}\n\nevent: delta\ndata: {\"content\":\"An emergency fund \"}\n\nevent: assistant_message\ndata: {\"id\":\"…\",\"role\":\"assistant\",…}\n\n")),
        (status = 400, description = "Malformed body", body = ErrorResponse),
        (status = 401, description = "Not signed in", body = ErrorResponse),
        (status = 404, description = "Absent, or another user's", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "Blank or longer than 8,000 characters", body = ErrorResponse),
        (status = 429, description = "Too many messages", body = ErrorResponse),
    )
)]
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
    let limits = ContextLimits {
        max_messages: state.settings.llm.context_max_messages,
        max_chars: state.settings.llm.context_max_chars,
    };
    let wants_stream = query.stream.unwrap_or(false)
        || req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
    let (db, assistant) = (state.db.clone(), Arc::clone(&state.assistant));
    if !wants_stream {
        let (question, answer) = chat::send(db, assistant, asker, id, content, limits).await?;
        return Ok(HttpResponse::Created().json(MessageExchange {
            user_message: Message::from(&question),
            assistant_message: Message::from(&answer),
        }));
    }
    let (question, events) =
        chat::send_streaming(db, assistant, asker, id, content, limits).await?;
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
