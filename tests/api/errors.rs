use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, Message, Page};

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app().await;
    for body in [
        "{\"email\": ",
        "not json",
        "[1, 2]",
        "\"a string\"",
        "null",
        "",
        "{\"email\": 5, \"password\": \"x\", \"name\": \"y\"}",
        "{\"email\": \"a@b.co\"}",
    ] {
        let response = app
            .request_raw(Method::POST, "/auth/register", None, body)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_rejected_with_413() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let response = app
        .post(
            &format!("/sessions/{session}/messages"),
            &user.token,
            json!({"content": "x".repeat(4000)}),
        )
        .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Nothing was stored.
    let page: Page<Message> = app
        .get_json(&format!("/sessions/{session}/messages"), &user.token)
        .await;
    assert_eq!(page.items.len(), 0);
}

#[tokio::test]
async fn the_default_body_limit_is_256_kib() {
    let app = spawn_app().await;
    let response = app
        .request(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({"email": "a@b.co", "password": "x".repeat(300 * 1024), "name": "A"})),
        )
        .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_are_not_found_in_the_error_shape() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/nope", None, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    let response = app.request(Method::PUT, "/sessions", None, None).await;
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app.request(Method::GET, "/auth/token", None, None).await;
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn bad_query_values_are_bad_requests() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    for query in [
        "limit=0",
        "limit=500",
        "limit=abc",
        "cursor=%%%",
        "cursor=bm9wZQ",
        "limit=-1",
    ] {
        let response = app.get(&format!("/sessions?{query}"), &user.token).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let session = app.new_session(&user).await.id;
    let response = app
        .get(
            &format!("/sessions/{session}/messages?order=sideways"),
            &user.token,
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
}
