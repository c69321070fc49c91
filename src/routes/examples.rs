//! Example requests and answers of the OpenAPI document: one small story —
//! Ann signs up, opens a session and asks about her emergency fund (09:17),
//! rates the reply (09:18), asks where to keep it and stops that reply
//! (09:20), regenerates it (09:21), searches and exports (09:23–09:24), then
//! edits her second question (09:26) — so that the ids, times and counts of
//! every example agree with each other.
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

use chrono::{DateTime, Utc};

use super::account::AccountExport;
use super::admin::{AdminSession, DayCount, FeedbackCounts, Stats, TokenTotals, UserActivity};
use super::auth::{TokenPair, TokenType, User};
use super::export::{markdown, SessionExport};
use super::feedback::RatedMessage;
use super::messages::{Delta, Feedback, Message, MessageExchange, Source, Usage};
use super::ops::{Health, HealthStatus};
use super::search::SearchHit;
use super::sessions::Session;
use super::usage::TokenUsage;
use crate::domain::{MessageStatus, Rating, Role};
use crate::error::{ErrorBody, ErrorCode, ErrorResponse};
use crate::service::pagination::Page;

pub const USER_ID: &str = "01a20cd6-532e-7b41-9c2a-4f6e1d8b3a75";
pub const SESSION_ID: &str = "01a20cd7-d126-7e09-a3f4-6b2c9d0e1f38";
pub const QUESTION_ID: &str = "01a20cd8-3421-7a6c-8d15-2e9f4b7c6a01";
pub const REPLY_ID: &str = "01a20cd8-3422-7f3b-b2d8-5c1a0e9d4f62";
const SOURCE_ID: &str = "01a20cd8-3c7e-7d52-9e61-0f4a3b2c1d09";
const SECOND_QUESTION_ID: &str = "01a20cdb-08fe-7c19-8b47-3d6e5f2a1b90";
const SECOND_REPLY_ID: &str = "01a20cdb-08ff-75e2-a0c3-9b8d7e6f5a14";
/// The regenerated second reply.
const REGENERATED_ID: &str = "01a20cdb-d242-7af1-b354-e3d6d96e182d";
/// The edited second question, and its reply.
const EDITED_QUESTION_ID: &str = "01a20ce1-1450-72f8-a9ba-aa8b3b05e392";
const EDITED_REPLY_ID: &str = "01a20ce1-1451-725a-b7a1-a41539a44721";

const EMAIL: &str = "ann@example.com";
const PASSWORD: &str = "correct horse battery staple";
const REGISTERED_AT: &str = "2026-11-24T09:15:02.318Z";
const SESSION_CREATED_AT: &str = "2026-11-24T09:16:40.102Z";
const ASKED_AT: &str = "2026-11-24T09:17:05.441Z";
const ANSWERED_AT: &str = "2026-11-24T09:17:05.442Z";
const SECOND_ASKED_AT: &str = "2026-11-24T09:20:11.006Z";
const SECOND_ANSWERED_AT: &str = "2026-11-24T09:20:11.007Z";
const RATED_AT: &str = "2026-11-24T09:18:30.215Z";
const REGENERATED_AT: &str = "2026-11-24T09:21:02.530Z";
const EXPORTED_AT: &str = "2026-11-24T09:24:12.000Z";
const EDITED_AT: &str = "2026-11-24T09:26:47.120Z";
const EDIT_ANSWERED_AT: &str = "2026-11-24T09:26:47.121Z";
/// The next UTC midnight: when the daily token count starts again.
const NEXT_MIDNIGHT: &str = "2026-11-25T00:00:00.000Z";
const TITLE: &str = "Emergency fund";
pub const QUESTION: &str = "How big should my emergency fund be?";
const SECOND_QUESTION: &str = "Where should I keep it?";
const EDITED_QUESTION: &str = "Where should I keep it if my income is irregular?";
const COMMENT: &str = "Clear and practical.";
const SEARCH_TERMS: &str = "savings account";
/// The regenerated second reply, in the pieces it streams in.
const REGENERATED_PIECES: [&str; 2] = [
    "A high-yield savings account at an insured bank is the usual choice: ",
    "your money stays safe, earns some interest and is there the day you need it.",
];
/// The reply to the edited question, in the pieces it streams in.
const EDITED_PIECES: [&str; 2] = [
    "Keep it apart from your spending money, in a high-yield savings account you can reach within a day. ",
    "With an irregular income, also keep one month of expenses in checking as a buffer.",
];
/// The daily token quota of the examples.
const QUOTA: i64 = 50_000;
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

pub fn regenerate_request() -> Value {
    json!({})
}

pub fn edit_request() -> Value {
    json!({"content": EDITED_QUESTION})
}

pub fn feedback_up_request() -> Value {
    json!({"rating": "up", "comment": COMMENT})
}

pub fn feedback_down_request() -> Value {
    json!({"rating": "down"})
}

pub fn delete_account_request() -> Value {
    json!({"password": PASSWORD})
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
            rated_reply(),
            second_question(),
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

// ---- rating, regenerating, editing ------------------------------------------

/// Ann's rating of the first reply (09:18).
fn rating() -> Feedback {
    Feedback {
        rating: Rating::Up,
        comment: Some(COMMENT.into()),
        created_at: RATED_AT.into(),
    }
}

/// The first reply once Ann rated it.
fn rated_reply() -> Message {
    Message {
        feedback: Some(rating()),
        ..reply()
    }
}

fn second_question() -> Message {
    user_message(SECOND_QUESTION_ID, SECOND_QUESTION, SECOND_ASKED_AT)
}

/// The regenerated second reply as its row starts: `generating`, empty.
fn regenerate_started() -> Message {
    Message {
        id: REGENERATED_ID.into(),
        created_at: REGENERATED_AT.into(),
        ..started_reply()
    }
}

/// The regenerated second reply, finished (not grounded: no sources).
fn regenerated() -> Message {
    Message {
        content: REGENERATED_PIECES.concat(),
        model: Some("gpt-4o-mini".into()),
        confidence: Some(0.78),
        usage: Some(Usage {
            prompt_tokens: 498,
            completion_tokens: 52,
        }),
        latency_ms: Some(1876),
        status: MessageStatus::Complete,
        ..regenerate_started()
    }
}

fn edited_question() -> Message {
    user_message(EDITED_QUESTION_ID, EDITED_QUESTION, EDITED_AT)
}

/// The reply to the edited question as its row starts.
fn edit_reply_started() -> Message {
    Message {
        id: EDITED_REPLY_ID.into(),
        created_at: EDIT_ANSWERED_AT.into(),
        ..started_reply()
    }
}

fn edit_reply() -> Message {
    Message {
        content: EDITED_PIECES.concat(),
        model: Some("gpt-4o-mini".into()),
        confidence: Some(0.83),
        usage: Some(Usage {
            prompt_tokens: 521,
            completion_tokens: 57,
        }),
        latency_ms: Some(2012),
        status: MessageStatus::Complete,
        ..edit_reply_started()
    }
}

/// `PUT …/feedback`: the reply with its rating.
pub fn rated_message() -> Value {
    value(rated_reply())
}

/// `GET /admin/feedback`: Ann's rating.
pub fn rated_page() -> Value {
    value(Page {
        items: vec![RatedMessage {
            message: rated_reply(),
            session_id: SESSION_ID.into(),
            user_id: USER_ID.into(),
            user_email: EMAIL.into(),
        }],
        next_cursor: None,
    })
}

/// `POST …/regenerate`: the new reply to the second question.
pub fn regenerated_reply() -> Value {
    value(regenerated())
}

/// The first event of a regenerate: the new reply's row.
pub fn regenerate_started_event() -> Value {
    event("reply_started", None, regenerate_started())
}

pub fn regenerate_delta_event() -> Value {
    let content = REGENERATED_PIECES[0].to_owned();
    event(
        "delta",
        Some(chars(&REGENERATED_PIECES[..1])),
        Delta { content },
    )
}

pub fn regenerated_event() -> Value {
    event(
        "assistant_message",
        Some(chars(&REGENERATED_PIECES)),
        regenerated(),
    )
}

/// `POST …/edit`: the new question and its reply.
pub fn edit_exchange() -> Value {
    value(MessageExchange {
        user_message: edited_question(),
        assistant_message: edit_reply(),
    })
}

pub fn edited_question_event() -> Value {
    event("user_message", None, edited_question())
}

pub fn edit_started_event() -> Value {
    event("reply_started", None, edit_reply_started())
}

pub fn edit_delta_event() -> Value {
    let content = EDITED_PIECES[0].to_owned();
    event("delta", Some(chars(&EDITED_PIECES[..1])), Delta { content })
}

pub fn edit_reply_event() -> Value {
    event(
        "assistant_message",
        Some(chars(&EDITED_PIECES)),
        edit_reply(),
    )
}

// ---- search, usage, exports -------------------------------------------------

/// The search terms of the examples.
pub fn search_terms() -> Value {
    Value::String(SEARCH_TERMS.into())
}

/// `GET /search?q=savings account` at 09:23: both replies that mention it,
/// best match first.
pub fn search_page() -> Value {
    let hit = |message: Message, snippet: &str| SearchHit {
        session_id: SESSION_ID.into(),
        session_title: Some(TITLE.into()),
        message,
        snippet: snippet.into(),
    };
    value(Page {
        items: vec![
            hit(
                regenerated(),
                "A high-yield «savings» «account» at an insured bank is the usual choice: your \
money stays safe…",
            ),
            hit(
                rated_reply(),
                "…Start with one month and build from there; keep it in an easy-access «savings» \
«account».",
            ),
        ],
        next_cursor: None,
    })
}

/// `GET /auth/me/usage` at the end of the story: three finished replies
/// (the stopped one reported no tokens).
pub fn usage() -> Value {
    let (prompt, completion) = (412 + 498 + 521, 61 + 52 + 57);
    value(TokenUsage {
        day: ASKED_AT[..10].into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        quota: Some(QUOTA),
        remaining: Some(QUOTA - prompt - completion),
        resets_at: NEXT_MIDNIGHT.into(),
    })
}

/// The session at 09:24, after the regenerate.
fn regenerated_session() -> Session {
    Session {
        updated_at: REGENERATED_AT.into(),
        message_count: 4,
        ..asked_session()
    }
}

/// The conversation at 09:24 (the stopped reply left it).
fn session_export() -> SessionExport {
    SessionExport {
        session: regenerated_session(),
        messages: vec![question(), rated_reply(), second_question(), regenerated()],
    }
}

/// `GET /sessions/{id}/export`.
pub fn exported_session() -> Value {
    value(session_export())
}

/// `GET /sessions/{id}/export?format=markdown`: written by the exporter
/// itself, from the same conversation.
pub fn exported_markdown() -> Value {
    let at = DateTime::parse_from_rfc3339(EXPORTED_AT)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    Value::String(markdown(&session_export(), at))
}

/// `GET /auth/me/export` at 09:24: every stored message, the stopped reply
/// that the regenerate replaced too.
pub fn account_export() -> Value {
    let stopped = Message {
        superseded_by: Some(REGENERATED_ID.into()),
        ..stopped_reply()
    };
    value(AccountExport {
        user: ann(),
        sessions: vec![SessionExport {
            session: regenerated_session(),
            messages: vec![
                question(),
                rated_reply(),
                second_question(),
                stopped,
                regenerated(),
            ],
        }],
    })
}
