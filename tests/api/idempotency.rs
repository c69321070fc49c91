//! `Idempotency-Key` on POST /sessions and POST /sessions/{id}/messages.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, expect_json, spawn_app, MessageExchange, Session, TestApp, TestUser,
};
use crate::sse::Events;

async fn keyed_post(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    key: &str,
    body: Value,
) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&user.token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.db()
        .run(move |conn| {
            Ok(
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                    .get_result::<Count>(conn)?
                    .n,
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeated_send_answers_the_same_exchange_and_stores_nothing_new() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let path = format!("/sessions/{session}/messages");
    let body = json!({"content": "what is a bond?"});

    let first = keyed_post(&app, &user, &path, "key-1", body.clone()).await;
    assert!(!replayed(&first));
    let first: MessageExchange = expect_json(first, StatusCode::CREATED).await;
    let again = keyed_post(&app, &user, &path, "key-1", body.clone()).await;
    assert!(replayed(&again));
    let again: MessageExchange = expect_json(again, StatusCode::CREATED).await;
    assert_eq!(again, first);
    assert_eq!(count(&app, "chat_messages").await, 2);

    // A streamed replay follows the same stored exchange.
    let streamed = app
        .client
        .post(app.url(&format!("{path}/stream")))
        .bearer_auth(&user.token)
        .header("idempotency-key", "key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(replayed(&streamed));
    let events = Events::new(streamed).rest().await;
    assert_eq!(events[0].message(), first.user_message);
    assert_eq!(events.last().unwrap().message(), first.assistant_message);
    assert_eq!(count(&app, "chat_messages").await, 2);
}

#[tokio::test]
async fn twenty_concurrent_sends_with_one_key_store_one_exchange() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let path = format!("/sessions/{session}/messages");
    let sends = (0..20).map(|_| {
        keyed_post(
            &app,
            &user,
            &path,
            "same-key",
            json!({"content": "what is an ETF?"}),
        )
    });
    let responses = futures_util::future::join_all(sends).await;
    let mut exchanges = Vec::new();
    for r in responses {
        exchanges.push(expect_json::<MessageExchange>(r, StatusCode::CREATED).await);
    }
    assert!(exchanges.iter().all(|e| *e == exchanges[0]));
    assert_eq!(count(&app, "chat_messages").await, 2);
    let session: Session = app
        .get_json(&format!("/sessions/{session}"), &user.token)
        .await;
    assert_eq!(session.message_count, 2);
}

#[tokio::test]
async fn the_same_key_with_another_body_or_path_is_an_idempotency_conflict() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let path = format!("/sessions/{session}/messages");
    keyed_post(&app, &user, &path, "k", json!({"content": "one"})).await;
    let other_body = keyed_post(&app, &user, &path, "k", json!({"content": "two"})).await;
    assert_error(other_body, StatusCode::CONFLICT, "idempotency_conflict").await;
    let other_path = keyed_post(&app, &user, "/sessions", "k", json!({})).await;
    assert_error(other_path, StatusCode::CONFLICT, "idempotency_conflict").await;
    assert_eq!(count(&app, "chat_messages").await, 2);
    assert_eq!(count(&app, "chat_sessions").await, 1);
}

#[tokio::test]
async fn keys_are_per_user() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let a = keyed_post(&app, &ann, "/sessions", "shared", json!({"title": "Ann's"})).await;
    let a: Session = expect_json(a, StatusCode::CREATED).await;
    let b = keyed_post(&app, &bob, "/sessions", "shared", json!({"title": "Ann's"})).await;
    assert!(!replayed(&b));
    let b: Session = expect_json(b, StatusCode::CREATED).await;
    assert_ne!(a.id, b.id);
}

#[tokio::test]
async fn a_repeated_session_creation_answers_the_same_session() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let first = keyed_post(&app, &user, "/sessions", "s-1", json!({"title": "Taxes"})).await;
    let first: Session = expect_json(first, StatusCode::CREATED).await;
    let again = keyed_post(&app, &user, "/sessions", "s-1", json!({"title": "Taxes"})).await;
    assert!(replayed(&again));
    assert_eq!(
        expect_json::<Session>(again, StatusCode::CREATED).await,
        first
    );
    assert_eq!(count(&app, "chat_sessions").await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_a_bad_request_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "has space", "naïve"] {
        let response = app
            .client
            .post(app.url("/sessions"))
            .bearer_auth(&user.token)
            .header(
                "idempotency-key",
                reqwest::header::HeaderValue::from_bytes(key.as_bytes()).unwrap(),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(count(&app, "chat_sessions").await, 0);
    assert_eq!(count(&app, "idempotency_keys").await, 0);
}
