//! Server-Sent Events replies.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    assert_error, from_wire, spawn_app, Delta, ErrorResponse, Message, MessageStatus, Role,
    TestApp, TestUser, Usage,
};
use crate::provider::{app_with_upstream, UPSTREAM_MODEL};

/// One Server-Sent Event as framed on the wire. `data` stays raw JSON: which
/// API type it holds depends on the event's name.
#[derive(Debug)]
pub(crate) struct Event {
    name: String,
    data: Value,
}

impl Event {
    /// The `data` of a `user_message` or `assistant_message` event.
    pub(crate) fn message(&self) -> Message {
        from_wire(self.data.clone())
    }

    /// The `data` of an `error` event.
    fn error(&self) -> ErrorResponse {
        from_wire(self.data.clone())
    }
}

pub(crate) fn parse_events(text: &str) -> Vec<Event> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(d).expect("event data is JSON"));
                }
            }
            Some(Event {
                name: name?,
                data: data?,
            })
        })
        .collect()
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": UPSTREAM_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    format!("data: {body}\n\n")
}

/// An upstream stream as OpenAI sends it: role, pieces, finish, usage, [DONE].
pub(crate) fn openai_stream(pieces: &[&str]) -> String {
    let mut out = chunk(json!({"role": "assistant", "content": ""}), None);
    for p in pieces {
        out.push_str(&chunk(json!({"content": p}), None));
    }
    out.push_str(&chunk(json!({}), Some("stop")));
    let usage = json!({
        "id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": UPSTREAM_MODEL, "choices": [],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
    });
    out.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    out
}

pub(crate) async fn stream(
    app: &TestApp,
    user: &TestUser,
    session: &str,
    content: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/sessions/{session}/messages")))
        .bearer_auth(&user.token)
        .header("accept", "text/event-stream")
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap()
}

pub(crate) fn assert_well_formed(events: &[Event]) -> String {
    assert_eq!(
        events.first().map(|e| e.name.as_str()),
        Some("user_message")
    );
    assert_eq!(
        events.get(1).map(|e| e.name.as_str()),
        Some("reply_started")
    );
    assert_eq!(
        events.last().map(|e| e.name.as_str()),
        Some("assistant_message")
    );
    let middle = &events[2..events.len() - 1];
    assert!(!middle.is_empty(), "at least one delta");
    assert!(middle.iter().all(|e| e.name == "delta"));
    middle
        .iter()
        .map(|e| from_wire::<Delta>(e.data.clone()).content)
        .collect()
}

#[tokio::test]
async fn a_streamed_reply_relays_the_providers_pieces_and_stores_the_whole() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            openai_stream(&["An emergency ", "fund covers ", "3–6 months."]),
            "text/event-stream",
        ))
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;

    let response = stream(
        &app,
        &user,
        &session,
        "How big should my emergency fund be?",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let events = parse_events(&response.text().await.unwrap());

    let text = assert_well_formed(&events);
    assert_eq!(text, "An emergency fund covers 3–6 months.");
    assert_eq!(events.len(), 6);
    let question = events[0].message();
    assert_eq!(question.role, Role::User);
    let answer = events.last().unwrap().message();
    assert_eq!(answer.content, text);
    assert_eq!(answer.model.as_deref(), Some(UPSTREAM_MODEL));
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 42,
            completion_tokens: 7
        })
    );
    assert!(!answer.fallback);

    let started = events[1].message();
    assert_eq!(started.id, answer.id);
    assert_eq!(started.status, MessageStatus::Generating);
    assert_eq!(started.content, "");
    assert_eq!(answer.status, MessageStatus::Complete);
    let stored = app.messages(&user, &session).await;
    assert_eq!(stored, vec![question, answer]);
    // The upstream's (OpenAI's) wire format, not ours: raw JSON.
    let sent: Value =
        serde_json::from_slice(&upstream.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn the_offline_responder_streams_too() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let response = app
        .client
        .post(app.url(&format!("/sessions/{session}/messages?stream=true")))
        .bearer_auth(&user.token)
        .json(&json!({"content": "what is dollar cost averaging?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = parse_events(&response.text().await.unwrap());
    let text = assert_well_formed(&events);
    assert!(events.len() > 5, "sent in several pieces");
    let answer = events.last().unwrap().message();
    assert_eq!(answer.content, text);
    assert!(answer.fallback);
    assert!(!answer.sources.is_empty());
    assert_eq!(app.messages(&user, &session).await.len(), 2);
}

#[tokio::test]
async fn a_client_that_disconnects_does_not_stop_the_reply() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    openai_stream(&["Slow ", "but ", "complete."]),
                    "text/event-stream",
                )
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;

    let response = stream(&app, &user, &session, "tell me something").await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with("event: user_message"),
        "flushed before the model answers"
    );
    drop(body);

    let mut stored = Vec::new();
    for _ in 0..40 {
        stored = app.messages(&user, &session).await;
        // The reply is listed from the start (`generating`); wait for it to finish.
        if stored.len() == 2 && stored[1].status == MessageStatus::Complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stored.len(),
        2,
        "the reply was stored after the client left"
    );
    assert_eq!(stored[1].content, "Slow but complete.");
    assert!(!stored[1].fallback);
}

#[tokio::test]
async fn a_provider_failing_mid_stream_ends_with_the_offline_answer_and_stores_no_half_reply() {
    let upstream = MockServer::start().await;
    let mut broken = chunk(json!({"role": "assistant", "content": ""}), None);
    broken.push_str(&chunk(json!({"content": "Half of a "}), None));
    broken.push_str("data: {this is not json\n\n");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(broken, "text/event-stream"))
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;

    let response = stream(&app, &user, &session, "what is a bond?").await;
    let events = parse_events(&response.text().await.unwrap());
    let last = events.last().unwrap();
    assert_eq!(last.name, "assistant_message");
    let answer = last.message();
    assert!(answer.fallback);
    assert_eq!(answer.model.as_deref(), Some("fallback"));
    let stored = app.messages(&user, &session).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1], answer);
    assert!(!stored[1].content.starts_with("Half of a"));
}

#[tokio::test]
async fn a_provider_failing_before_the_first_piece_streams_the_offline_answer() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("LLM_MAX_RETRIES", "0")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let response = stream(&app, &user, &session, "what is a bond?").await;
    let events = parse_events(&response.text().await.unwrap());
    let text = assert_well_formed(&events);
    let answer = events.last().unwrap().message();
    assert_eq!(answer.content, text);
    assert!(answer.fallback);
}

#[tokio::test]
async fn a_session_deleted_mid_reply_ends_the_stream_with_an_error_event() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(openai_stream(&["never stored"]), "text/event-stream")
                .set_delay(Duration::from_millis(500)),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let response = stream(&app, &user, &session, "hello there").await;
    assert_eq!(
        app.delete(&format!("/sessions/{session}"), &user.token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let events = parse_events(&response.text().await.unwrap());
    let last = events.last().unwrap();
    assert_eq!(last.name, "error");
    assert_eq!(last.error().error.code, "not_found");
}

#[tokio::test]
async fn streaming_errors_before_the_stream_are_plain_json() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let response = stream(&app, &user, &session, "   ").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn a_slow_reply_is_kept_alive_with_comments() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(openai_stream(&["worth ", "the wait"]), "text/event-stream")
                .set_delay(Duration::from_millis(2500)),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("SSE_KEEP_ALIVE_SECS", "1")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let response = stream(&app, &user, &session, "hello").await;
    let text = response.text().await.unwrap();
    assert!(text.contains("\n: keep-alive\n\n"), "{text}");
    let text = assert_well_formed(&parse_events(&text));
    assert_eq!(text, "worth the wait");
}

#[tokio::test]
async fn a_provider_that_does_not_start_in_time_is_replaced_by_the_offline_stream() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(openai_stream(&["too late"]), "text/event-stream")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("LLM_TIMEOUT_SECS", "1")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let started = std::time::Instant::now();
    let response = stream(&app, &user, &session, "what is an index fund?").await;
    let events = parse_events(&response.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_millis(2500));
    let text = assert_well_formed(&events);
    let answer = events.last().unwrap().message();
    assert!(answer.fallback);
    assert_eq!(answer.content, text);
}
