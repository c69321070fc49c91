//! Token usage and the daily quota, against a mock upstream: provider tokens
//! (titles included) are counted per user per UTC day in the database, and a
//! user whose quota is used up is answered offline without the provider
//! being asked.

use std::time::Duration;

use chrono::{Days, NaiveTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    assert_error, db_execute, expect_json, spawn_app, Page, Session, TestApp, TokenUsage,
    UserActivity,
};
use crate::provider::{app_with_upstream, chat_requests, completion};

/// Each reply of the mock upstream costs 120 prompt + 30 completion tokens
/// (see `completion`).
const REPLY_TOKENS: i64 = 150;

async fn upstream() -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"max_completion_tokens": 20})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Bond basics")))
        .with_priority(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("A bond is a loan.")))
        .mount(&upstream)
        .await;
    upstream
}

async fn usage(app: &TestApp, token: &str) -> TokenUsage {
    app.get_json("/auth/me/usage", token).await
}

async fn all_requests(upstream: &MockServer) -> usize {
    upstream.received_requests().await.unwrap_or_default().len()
}

fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

fn next_midnight() -> String {
    let tomorrow = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap();
    tomorrow
        .and_time(NaiveTime::MIN)
        .and_utc()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[tokio::test]
async fn usage_starts_at_zero_with_no_quota_by_default() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;

    let usage = usage(&app, &ann.token).await;

    assert_eq!(
        usage,
        TokenUsage {
            day: today(),
            prompt_tokens: 0,
            completion_tokens: 0,
            quota: None,
            remaining: None,
            resets_at: next_midnight(),
        }
    );
}

#[tokio::test]
async fn usage_needs_a_signed_in_user() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/auth/me/usage", None, None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn provider_tokens_are_counted_per_user_and_shown_to_administrators() {
    // Arrange
    let upstream = upstream().await;
    let app = app_with_upstream(&upstream, &[("TOKEN_QUOTA_PER_DAY", "1000")]).await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let session = app.new_titled_session(&ann, "Bonds").await.id;

    // Act
    app.send(&ann, &session, "what is a bond?").await;
    app.send(&ann, &session, "and a coupon?").await;

    // Assert
    let ann_usage = usage(&app, &ann.token).await;
    assert_eq!(
        (ann_usage.prompt_tokens, ann_usage.completion_tokens),
        (240, 60)
    );
    assert_eq!(ann_usage.quota, Some(1000));
    assert_eq!(ann_usage.remaining, Some(1000 - 2 * REPLY_TOKENS));
    let bob_usage = usage(&app, &bob.token).await;
    assert_eq!(
        (bob_usage.prompt_tokens, bob_usage.remaining),
        (0, Some(1000))
    );
    let users: Page<UserActivity> = app.get_json("/admin/users", &admin.token).await;
    let tokens_of = |id: &str| {
        users
            .items
            .iter()
            .find(|u| u.user.id == id)
            .map(|u| u.tokens_today)
            .unwrap()
    };
    assert_eq!(tokens_of(&ann.id), 2 * REPLY_TOKENS);
    assert_eq!(tokens_of(&bob.id), 0);
}

#[tokio::test]
async fn titles_count_against_the_quota() {
    let upstream = upstream().await;
    let app = app_with_upstream(&upstream, &[]).await;
    let ann = app.new_user("Ann").await;
    let session = app.new_session(&ann).await.id;

    app.send(&ann, &session, "what is a bond?").await;

    // The title is asked for in the background: wait for it.
    for _ in 0..100 {
        let s: Session = app
            .get_json(&format!("/sessions/{session}"), &ann.token)
            .await;
        if s.title.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut counted = 0;
    for _ in 0..50 {
        let u = usage(&app, &ann.token).await;
        counted = u.prompt_tokens + u.completion_tokens;
        if counted == 2 * REPLY_TOKENS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted, 2 * REPLY_TOKENS, "the reply and the title");
    assert_eq!(all_requests(&upstream).await, 2);
}

#[tokio::test]
async fn a_used_up_quota_is_answered_offline_without_asking_the_provider() {
    // Arrange: one reply (150 tokens) uses up a quota of 100.
    let upstream = upstream().await;
    let app = app_with_upstream(&upstream, &[("TOKEN_QUOTA_PER_DAY", "100")]).await;
    let ann = app.new_user("Ann").await;
    let session = app.new_titled_session(&ann, "Bonds").await.id;
    let first = app.send(&ann, &session, "what is a bond?").await;
    assert!(!first.assistant_message.fallback);
    assert_eq!(all_requests(&upstream).await, 1);
    assert_eq!(usage(&app, &ann.token).await.remaining, Some(0));

    // Act: a plain send, a streamed one, and one in a new untitled session
    // (whose title would be asked of the provider).
    let plain = app.send(&ann, &session, "what is an emergency fund?").await;
    let streamed = app
        .client
        .post(app.url(&format!("/sessions/{session}/messages?stream=true")))
        .bearer_auth(&ann.token)
        .json(&json!({"content": "and a budget?"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let untitled = app.new_session(&ann).await.id;
    let third = app.send(&ann, &untitled, "how do index funds work?").await;
    // A regenerate and an edit write replies too.
    let messages = app.messages(&ann, &untitled).await;
    let regenerated: Value = expect_json(
        app.post(
            &format!(
                "/sessions/{untitled}/messages/{}/regenerate",
                messages[1].id
            ),
            &ann.token,
            json!({}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let edited: Value = expect_json(
        app.post(
            &format!("/sessions/{untitled}/messages/{}/edit", messages[0].id),
            &ann.token,
            json!({"content": "how do bond funds work?"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    // Assert
    assert!(plain.assistant_message.fallback);
    assert_eq!(plain.assistant_message.model.as_deref(), Some("fallback"));
    let last: Value = streamed
        .split("\n\n")
        .filter(|e| e.contains("event: assistant_message"))
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .last()
        .expect("an assistant_message event");
    assert_eq!(last["fallback"], true, "{streamed}");
    assert!(third.assistant_message.fallback);
    assert_eq!(regenerated["fallback"], true, "{regenerated}");
    assert_eq!(edited["assistant_message"]["fallback"], true, "{edited}");
    let titled: Session = app
        .get_json(&format!("/sessions/{untitled}"), &ann.token)
        .await;
    assert!(titled.title.is_some(), "a derived title");
    // Nothing more reached the upstream, neither replies nor titles.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(all_requests(&upstream).await, 1);
    assert_eq!(chat_requests(&upstream).await.len(), 1);
    let after = usage(&app, &ann.token).await;
    assert_eq!(after.prompt_tokens + after.completion_tokens, REPLY_TOKENS);
    let metrics = app
        .request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("quota_fallbacks_total 5"), "{metrics}");
}

#[tokio::test]
async fn the_quota_is_per_user() {
    let upstream = upstream().await;
    let app = app_with_upstream(&upstream, &[("TOKEN_QUOTA_PER_DAY", "100")]).await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let ann_session = app.new_titled_session(&ann, "a").await.id;
    let bob_session = app.new_titled_session(&bob, "b").await.id;
    app.send(&ann, &ann_session, "what is a bond?").await;
    let ann_again = app.send(&ann, &ann_session, "and a stock?").await;

    let bob_first = app.send(&bob, &bob_session, "what is a bond?").await;

    assert!(ann_again.assistant_message.fallback);
    assert!(!bob_first.assistant_message.fallback);
    assert_eq!(all_requests(&upstream).await, 2);
}

#[tokio::test]
async fn only_todays_tokens_count() {
    let upstream = upstream().await;
    let app = app_with_upstream(&upstream, &[("TOKEN_QUOTA_PER_DAY", "100")]).await;
    let ann = app.new_user("Ann").await;
    let session = app.new_titled_session(&ann, "a").await.id;
    // Yesterday she spent far more than the quota.
    let yesterday = (Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    db_execute(
        &app,
        format!(
            "INSERT INTO token_usage (user_id, day, prompt_tokens, completion_tokens) \
             VALUES ('{}', '{yesterday}', 50000, 50000)",
            ann.id
        ),
    )
    .await;

    let exchange = app.send(&ann, &session, "what is a bond?").await;

    assert!(!exchange.assistant_message.fallback);
    let u = usage(&app, &ann.token).await;
    assert_eq!((u.day, u.prompt_tokens), (today(), 120));
}

#[tokio::test]
async fn concurrent_replies_are_all_counted() {
    let upstream = upstream().await;
    let app = app_with_upstream(&upstream, &[]).await;
    let ann = app.new_user("Ann").await;
    let sessions = [
        app.new_titled_session(&ann, "a").await.id,
        app.new_titled_session(&ann, "b").await.id,
        app.new_titled_session(&ann, "c").await.id,
        app.new_titled_session(&ann, "d").await.id,
    ];

    futures_util::future::join_all(
        sessions
            .iter()
            .map(|s| app.send(&ann, s, "what is a bond?")),
    )
    .await;

    let u = usage(&app, &ann.token).await;
    assert_eq!((u.prompt_tokens, u.completion_tokens), (4 * 120, 4 * 30));
}
