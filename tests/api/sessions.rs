use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn creating_a_session_without_a_title_leaves_it_null() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    for body in [json!({}), json!({"title": null})] {
        let response = app.post("/sessions", &user.token, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let session: Value = response.json().await.unwrap();
        assert_eq!(session["title"], Value::Null);
        assert_eq!(session["message_count"], 0);
        assert_eq!(session["created_at"], session["updated_at"]);
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
    let session: Value = app
        .post("/sessions", &user.token, json!({"title": "  Taxes  "}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["title"], "Taxes");
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
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
    for _ in 0..5 {
        ids.push(app.new_session(&user).await);
        tick().await;
    }
    // Activity moves the oldest session to the top.
    app.send(&user, &ids[0], "hello").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/sessions?limit=2&cursor={c}"),
            None => "/sessions?limit=2".to_owned(),
        };
        let page: Value = app.get(&path, &user.token).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = ids[1..].iter().rev().cloned().collect();
    expected.insert(0, ids[0].clone());
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_session_can_be_read_renamed_and_deleted() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await;
    let got: Value = app
        .get(&format!("/sessions/{id}"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], id.as_str());

    let renamed = app
        .patch(
            &format!("/sessions/{id}"),
            &user.token,
            json!({"title": "Budget"}),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["title"], "Budget");

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
    let id = app.new_session(&owner).await;
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
    let list: Value = app
        .get("/sessions", &intruder.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    // The owner's session is untouched.
    let session: Value = app
        .get(&format!("/sessions/{id}"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["message_count"], 2);
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
