//! Example requests and answers of the OpenAPI document: one small story —
//! Ann signs up, opens a session and asks about her emergency fund — so
//! that the ids, times and counts of every example agree with each other.
//! Answers are built from the API types themselves, so an example cannot
//! drift from the shape it illustrates. Operations use them as named
//! examples of their media types:
//!
//! ```ignore
//! (status = 200, body = Session, examples(("session" = (summary = "…", value = json!(examples::session())))))
//! ```
//!
//! Ids are UUID v7 whose time prefix is the `created_at` they go with.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::admin::{AdminSession, DayCount, FeedbackCounts, Stats, TokenTotals, UserActivity};
use super::auth::{TokenPair, TokenType, User};
use super::messages::{Delta, Message, MessageExchange, Source, Usage};
use super::ops::{Health, HealthStatus};
use super::sessions::Session;
use crate::domain::{MessageStatus, Role};
use crate::error::{ErrorBody, ErrorCode, ErrorResponse};
use crate::service::pagination::Page;

pub const USER_ID: &str = "01a20cd6-532e-7b41-9c2a-4f6e1d8b3a75";
pub const SESSION_ID: &str = "01a20cd7-d126-7e09-a3f4-6b2c9d0e1f38";
pub const QUESTION_ID: &str = "01a20cd8-3421-7a6c-8d15-2e9f4b7c6a01";
pub const REPLY_ID: &str = "01a20cd8-3422-7f3b-b2d8-5c1a0e9d4f62";
const SOURCE_ID: &str = "01a20cd8-3c7e-7d52-9e61-0f4a3b2c1d09";
const SECOND_QUESTION_ID: &str = "01a20cdb-08fe-7c19-8b47-3d6e5f2a1b90";
const SECOND_REPLY_ID: &str = "01a20cdb-08ff-75e2-a0c3-9b8d7e6f5a14";

const EMAIL: &str = "ann@example.com";
const PASSWORD: &str = "correct horse battery staple";
const REGISTERED_AT: &str = "2026-11-24T09:15:02.318Z";
const SESSION_CREATED_AT: &str = "2026-11-24T09:16:40.102Z";
const ASKED_AT: &str = "2026-11-24T09:17:05.441Z";
const ANSWERED_AT: &str = "2026-11-24T09:17:05.442Z";
const SECOND_ASKED_AT: &str = "2026-11-24T09:20:11.006Z";
const SECOND_ANSWERED_AT: &str = "2026-11-24T09:20:11.007Z";
const TITLE: &str = "Emergency fund";
pub const QUESTION: &str = "How big should my emergency fund be?";
const SECOND_QUESTION: &str = "Where should I keep it?";
/// The reply, in the pieces it streams in.
const REPLY_PIECES: [&str; 3] = [
    "Most guides suggest three to six months of essential expenses [1]. ",
    "If your income is irregular, aim for the upper end. ",
    "Start with one month and build from there; keep it in an easy-access savings account.",
];
/// base64url of `<created_at ms>|<id>` of the reply: the cursor after it.
const CURSOR: &str = "MTc5NTUxMTgyNTQ0MnwwMWEyMGNkOC0zNDIyLTdmM2ItYjJkOC01YzFhMGU5ZDRmNjI";
const ACCESS_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMWEyMGNkNi01MzJlLTdiNDEtOWMyYS00ZjZlMWQ4YjNhNzUiLCJpYXQiOjE3OTU1MTE3MDMsImV4cCI6MTc5NTUxMjYwM30.Qm9fZXhhbXBsZV9zaWduYXR1cmVfbm90X3JlYWw";
const REFRESH_TOKEN: &str = "r7Jx2VbQm9Lk4TnW0pYc8sHd3GfZ1aEu6oKi5RtNvMw";
const NEXT_REFRESH_TOKEN: &str = "Xy3Pq8ZtLm2Wc7Vb9Nk4Hs1Jd6Fg0Ra5Ue2Io8TnQw";

fn value(example: impl Serialize) -> Value {
    serde_json::to_value(example).unwrap_or(Value::Null)
}

// ---- requests ---------------------------------------------------------------

pub fn register_request() -> Value {
    json!({"email": EMAIL, "password": PASSWORD, "name": "Ann"})
}

pub fn sign_in_request() -> Value {
    json!({"email": EMAIL, "password": PASSWORD})
}

pub fn refresh_request() -> Value {
    json!({"refresh_token": REFRESH_TOKEN})
}

pub fn titled_session_request() -> Value {
    json!({"title": TITLE})
}

pub fn untitled_session_request() -> Value {
    json!({})
}

pub fn rename_request() -> Value {
    json!({"title": TITLE})
}

pub fn send_request() -> Value {
    json!({"content": QUESTION})
}

pub fn deactivate_request() -> Value {
    json!({"is_active": false})
}

pub fn promote_request() -> Value {
    json!({"is_admin": true})
}

// ---- answers ----------------------------------------------------------------

fn ann() -> User {
    User {
        id: USER_ID.into(),
        email: EMAIL.into(),
        name: "Ann".into(),
        is_admin: false,
        created_at: REGISTERED_AT.into(),
    }
}

pub fn user() -> Value {
    value(ann())
}

pub fn token_pair() -> Value {
    value(TokenPair {
        access_token: ACCESS_TOKEN.into(),
        refresh_token: NEXT_REFRESH_TOKEN.into(),
        token_type: TokenType::Bearer,
        expires_in: 900,
    })
}

fn new_session() -> Session {
    Session {
        id: SESSION_ID.into(),
        title: None,
        created_at: SESSION_CREATED_AT.into(),
        updated_at: SESSION_CREATED_AT.into(),
        message_count: 0,
    }
}

/// After the first exchange, which named it.
fn asked_session() -> Session {
    Session {
        title: Some(TITLE.into()),
        updated_at: ANSWERED_AT.into(),
        message_count: 2,
        ..new_session()
    }
}

pub fn created_session() -> Value {
    value(new_session())
}

pub fn created_titled_session() -> Value {
    value(Session {
        title: Some(TITLE.into()),
        ..new_session()
    })
}

pub fn session() -> Value {
    value(asked_session())
}

pub fn session_page() -> Value {
    value(Page {
        items: vec![asked_session()],
        next_cursor: None,
    })
}

fn user_message(id: &str, content: &str, at: &str) -> Message {
    Message {
        id: id.into(),
        session_id: SESSION_ID.into(),
        role: Role::User,
        content: content.into(),
        created_at: at.into(),
        model: None,
        confidence: None,
        usage: None,
        latency_ms: None,
        fallback: false,
        sources: Vec::new(),
        status: MessageStatus::Complete,
        superseded_by: None,
        feedback: None,
    }
}

fn question() -> Message {
    user_message(QUESTION_ID, QUESTION, ASKED_AT)
}

/// The reply as its row starts: `generating`, empty.
fn started_reply() -> Message {
    Message {
        id: REPLY_ID.into(),
        role: Role::Assistant,
        content: String::new(),
        created_at: ANSWERED_AT.into(),
        status: MessageStatus::Generating,
        ..question()
    }
}

fn reply() -> Message {
    Message {
        content: REPLY_PIECES.concat(),
        model: Some("gpt-4o-mini".into()),
        confidence: Some(0.86),
        usage: Some(Usage {
            prompt_tokens: 412,
            completion_tokens: 61,
        }),
        latency_ms: Some(2140),
        sources: vec![Source {
            id: SOURCE_ID.into(),
            title: "An essential guide to building an emergency fund".into(),
            url:
                "https://www.consumerfinance.gov/an-essential-guide-to-building-an-emergency-fund/"
                    .into(),
            snippet: "Many experts recommend saving three to six months of living expenses.".into(),
        }],
        status: MessageStatus::Complete,
        ..started_reply()
    }
}

/// A second reply, stopped by Ann after 1.2 s.
fn stopped_reply() -> Message {
    Message {
        id: SECOND_REPLY_ID.into(),
        content: "A high-yield savings account at an insured bank is the usual choice: ".into(),
        created_at: SECOND_ANSWERED_AT.into(),
        latency_ms: Some(1204),
        status: MessageStatus::Stopped,
        ..started_reply()
    }
}

pub fn exchange() -> Value {
    value(MessageExchange {
        user_message: question(),
        assistant_message: reply(),
    })
}

pub fn reply_message() -> Value {
    value(reply())
}

pub fn question_message() -> Value {
    value(question())
}

pub fn generating_reply() -> Value {
    value(Message {
        content: REPLY_PIECES[0].into(),
        ..started_reply()
    })
}

pub fn stopped() -> Value {
    value(stopped_reply())
}

pub fn message_page() -> Value {
    value(Page {
        items: vec![question(), reply()],
        next_cursor: None,
    })
}

/// The first page of two, one message a page.
pub fn message_first_page() -> Value {
    value(Page {
        items: vec![question()],
        next_cursor: Some(CURSOR.into()),
    })
}

/// The whole history with the stopped second exchange.
pub fn message_page_with_stop() -> Value {
    value(Page {
        items: vec![
            question(),
            reply(),
            user_message(SECOND_QUESTION_ID, SECOND_QUESTION, SECOND_ASKED_AT),
            stopped_reply(),
        ],
        next_cursor: None,
    })
}

/// One Server-Sent Event as the document's `ReplyStreamEvent` types it:
/// its name, its `id:` (characters of the reply sent so far), its `data:`.
fn event(name: &str, id: Option<usize>, data: impl Serialize) -> Value {
    let data = serde_json::to_string(&data).unwrap_or_default();
    match id {
        Some(id) => json!({"event": name, "id": id.to_string(), "data": data}),
        None => json!({"event": name, "data": data}),
    }
}

fn chars(pieces: &[&str]) -> usize {
    pieces.iter().map(|p| p.chars().count()).sum()
}

/// The first event of a send: the stored question.
pub fn user_message_event() -> Value {
    event("user_message", None, question())
}

/// The reply's row as stored at the start.
pub fn reply_started_event() -> Value {
    event("reply_started", None, started_reply())
}

/// The first piece of the reply.
pub fn first_delta_event() -> Value {
    let content = REPLY_PIECES[0].to_owned();
    event("delta", Some(chars(&REPLY_PIECES[..1])), Delta { content })
}

/// The second piece: what a resume after the first delta starts with.
pub fn second_delta_event() -> Value {
    let content = REPLY_PIECES[1].to_owned();
    event("delta", Some(chars(&REPLY_PIECES[..2])), Delta { content })
}

/// The last event: the stored reply, its `id:` the length of its text.
pub fn assistant_message_event() -> Value {
    event("assistant_message", Some(chars(&REPLY_PIECES)), reply())
}

/// The session was deleted while its reply was written.
pub fn error_event() -> Value {
    event(
        "error",
        None,
        ErrorResponse {
            error: ErrorBody {
                code: ErrorCode::NotFound,
                message: "chat session not found".into(),
                details: None,
            },
        },
    )
}

pub fn user_activity() -> Value {
    value(activity())
}

fn activity() -> UserActivity {
    UserActivity {
        user: ann(),
        is_active: true,
        session_count: 1,
        message_count: 2,
        last_active_at: Some(ANSWERED_AT.into()),
        tokens_today: 473,
    }
}

pub fn deactivated_user() -> Value {
    value(UserActivity {
        is_active: false,
        ..activity()
    })
}

pub fn user_page() -> Value {
    value(Page {
        items: vec![activity()],
        next_cursor: None,
    })
}

pub fn admin_session_page() -> Value {
    value(Page {
        items: vec![AdminSession {
            session: asked_session(),
            user_id: USER_ID.into(),
            user_email: EMAIL.into(),
        }],
        next_cursor: None,
    })
}

pub fn stats() -> Value {
    value(Stats {
        users: 1,
        sessions: 1,
        messages: 2,
        messages_last_24h: 2,
        fallback_ratio: 0.0,
        grounded_ratio: 1.0,
        avg_latency_ms: Some(2140.0),
        tokens: TokenTotals {
            prompt: 412,
            completion: 61,
        },
        by_model: BTreeMap::from([("gpt-4o-mini".to_owned(), 1)]),
        messages_per_day: vec![DayCount {
            date: "2026-11-24".into(),
            count: 2,
        }],
        generating: 0,
        feedback: FeedbackCounts { up: 1, down: 0 },
    })
}

pub fn health() -> Value {
    value(Health {
        status: HealthStatus::Ok,
    })
}

pub fn metrics() -> Value {
    Value::String(
        "# HELP http_requests_total HTTP requests by method, route and status.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"POST\",route=\"/sessions/{id}/messages\",status=\"201\"} 2\n"
            .into(),
    )
}
