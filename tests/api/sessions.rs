use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, expect_json, json, spawn_app, tick, Page, Session};

#[tokio::test]
async fn creating_a_session_without_a_title_leaves_it_null() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    for body in [json!({}), json!({"title": null})] {
        let response = app.post("/sessions", &user.token, body).await;
        let session: Session = expect_json(response, StatusCode::CREATED).await;
        assert_eq!(session.title, None);
        assert_eq!(session.message_count, 0);
        assert_eq!(session.created_at, session.updated_at);
    }
    // An empty body is accepted too.
    let response = app
        .client
        .post(app.url("/sessions"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn creating_a_session_with_a_title_keeps_it() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "  Taxes  ").await;
    assert_eq!(session.title.as_deref(), Some("Taxes"));
    let long = app
        .post("/sessions", &user.token, json!({"title": "t".repeat(201)}))
        .await;
    assert_error(long, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let wrong_type = app
        .post("/sessions", &user.token, json!({"title": 5}))
        .await;
    assert_error(wrong_type, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn sessions_are_listed_most_recently_updated_first_and_paginated() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let mut ids = Vec::new();
    // Times have millisecond resolution: keep them distinct so the order is defined.
    for _ in 0..5 {
        ids.push(app.new_session(&user).await.id);
        tick().await;
    }
    // Activity moves the oldest session to the top.
    app.send(&user, &ids[0], "hello").await;
    let seen: Vec<String> = app
        .walk_pages::<Page<Session>>("/sessions", 2, &user.token)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut expected: Vec<String> = ids[1..].iter().rev().cloned().collect();
    expected.insert(0, ids[0].clone());
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_session_can_be_read_renamed_and_deleted() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let got: Session = app.get_json(&format!("/sessions/{id}"), &user.token).await;
    assert_eq!(got.id, id);

    let renamed = app
        .patch(
            &format!("/sessions/{id}"),
            &user.token,
            json!({"title": "Budget"}),
        )
        .await;
    let renamed: Session = json(renamed).await;
    assert_eq!(renamed.title.as_deref(), Some("Budget"));

    let blank = app
        .patch(
            &format!("/sessions/{id}"),
            &user.token,
            json!({"title": "   "}),
        )
        .await;
    assert_error(blank, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let missing = app
        .patch(&format!("/sessions/{id}"), &user.token, json!({}))
        .await;
    assert_error(missing, StatusCode::BAD_REQUEST, "bad_request").await;

    app.send(&user, &id, "what is an index fund?").await;
    let deleted = app.delete(&format!("/sessions/{id}"), &user.token).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&format!("/sessions/{id}"), &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.delete(&format!("/sessions/{id}"), &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Messages and sources went with it.
    let (messages, sources) = app
        .db()
        .run(|conn| {
            use diesel::prelude::*;
            use richesreach_chat::db::schema::{chat_messages, message_sources};
            let m: i64 = chat_messages::table.count().get_result(conn)?;
            let s: i64 = message_sources::table.count().get_result(conn)?;
            Ok((m, s))
        })
        .await
        .unwrap();
    assert_eq!((messages, sources), (0, 0));
}

#[tokio::test]
async fn another_users_session_is_not_found_on_every_endpoint() {
    let app = spawn_app().await;
    let owner = app.new_user("Ann").await;
    let intruder = app.new_user("Mallory").await;
    let id = app.new_session(&owner).await.id;
    app.send(&owner, &id, "hello").await;

    let attempts = [
        (Method::GET, format!("/sessions/{id}"), None),
        (
            Method::PATCH,
            format!("/sessions/{id}"),
            Some(json!({"title": "mine"})),
        ),
        (Method::DELETE, format!("/sessions/{id}"), None),
        (Method::GET, format!("/sessions/{id}/messages"), None),
        (
            Method::POST,
            format!("/sessions/{id}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            Method::POST,
            format!("/sessions/{id}/messages?stream=true"),
            Some(json!({"content": "hi"})),
        ),
    ];
    let absent = uuid::Uuid::now_v7();
    for (method, path, body) in attempts {
        let theirs = app
            .request(method.clone(), &path, Some(&intruder.token), body.clone())
            .await;
        let theirs = assert_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
        // Indistinguishable from a session that does not exist.
        let path = path.replace(&id, &absent.to_string());
        let nothing = assert_error(
            app.request(method, &path, Some(&intruder.token), body)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_eq!(theirs, nothing);
    }
    let list: Page<Session> = app.get_json("/sessions", &intruder.token).await;
    assert_eq!(list.items.len(), 0);

    // The owner's session is untouched.
    let session: Session = app.get_json(&format!("/sessions/{id}"), &owner.token).await;
    assert_eq!(session.message_count, 2);
}

#[tokio::test]
async fn malformed_session_ids_are_not_found() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    assert_error(
        app.get("/sessions/not-a-uuid", &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/sessions/not-a-uuid/messages", &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn session_endpoints_need_a_token() {
    let app = spawn_app().await;
    for (method, path) in [(Method::GET, "/sessions"), (Method::POST, "/sessions")] {
        let response = app.request(method, path, None, None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}
