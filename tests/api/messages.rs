use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn sending_stores_both_messages_and_returns_them() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await;
    let exchange = app
        .send(&user, &session, "  How big should my emergency fund be?  ")
        .await;

    let question = &exchange["user_message"];
    assert_eq!(question["role"], "user");
    assert_eq!(question["content"], "How big should my emergency fund be?");
    assert_eq!(question["session_id"], session.as_str());
    for field in ["model", "confidence", "usage", "latency_ms"] {
        assert_eq!(question[field], Value::Null, "{field}");
    }
    assert_eq!(question["fallback"], false);
    assert_eq!(question["sources"], json!([]));

    let answer = &exchange["assistant_message"];
    assert_eq!(answer["role"], "assistant");
    assert_eq!(answer["model"], "fallback");
    assert_eq!(answer["fallback"], true);
    assert_eq!(answer["usage"], Value::Null);
    let confidence = answer["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence));
    assert!(answer["latency_ms"].as_i64().unwrap() >= 0);
    assert!(answer["content"].as_str().unwrap().contains("offline"));
    let sources = answer["sources"].as_array().unwrap();
    assert!(!sources.is_empty(), "the offline answer cites its sources");
    for s in sources {
        assert!(s["url"].as_str().unwrap().starts_with("https://"));
        assert!(!s["title"].as_str().unwrap().is_empty());
        assert!(uuid::Uuid::parse_str(s["id"].as_str().unwrap()).is_ok());
    }

    // History holds exactly these two, oldest first, sources included.
    let page: Value = app
        .get(&format!("/sessions/{session}/messages"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], *question);
    assert_eq!(items[1], *answer);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn sending_bumps_the_session_and_titles_it() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await;
    let before: Value = app
        .get(&format!("/sessions/{session}"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.send(&user, &session, "is bitcoin safe?").await;
    let after: Value = app
        .get(&format!("/sessions/{session}"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["message_count"], 2);
    assert!(after["updated_at"].as_str().unwrap() > before["updated_at"].as_str().unwrap());
    let title = after["title"]
        .as_str()
        .expect("titled after the first exchange");
    assert!(!title.is_empty() && title.chars().count() <= 61, "{title}");
}

#[tokio::test]
async fn a_user_set_title_is_never_overwritten() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session: Value = app
        .post("/sessions", &user.token, json!({"title": "My plan"}))
        .await
        .json()
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap();
    app.send(&user, id, "what is an ETF?").await;
    let after: Value = app
        .get(&format!("/sessions/{id}"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["title"], "My plan");
}

#[tokio::test]
async fn message_history_pages_in_both_orders() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await;
    for q in ["hello", "what is a bond?", "thanks"] {
        app.send(&user, &session, q).await;
    }
    let collect = |order: &'static str| {
        let (app, user, session) = (&app, &user, &session);
        async move {
            let mut all = Vec::new();
            let mut cursor = String::new();
            loop {
                let page: Value = app
                    .get(
                        &format!(
                            "/sessions/{session}/messages?limit=4&order={order}&cursor={cursor}"
                        ),
                        &user.token,
                    )
                    .await
                    .json()
                    .await
                    .unwrap();
                all.extend(
                    page["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["content"].as_str().unwrap().to_owned()),
                );
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = c.to_owned(),
                    None => break all,
                }
            }
        }
    };
    let asc = collect("asc").await;
    let mut desc = collect("desc").await;
    assert_eq!(asc.len(), 6);
    assert_eq!(asc[0], "hello");
    assert_eq!(asc[4], "thanks");
    desc.reverse();
    assert_eq!(asc, desc);
}

#[tokio::test]
async fn blank_or_oversized_content_is_a_validation_error_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await;
    let path = format!("/sessions/{session}/messages");
    for content in [json!("   \n\t "), json!("x".repeat(8001))] {
        let response = app
            .post(&path, &user.token, json!({"content": content}))
            .await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(body["error"]["details"][0]["field"], "content");
    }
    assert_error(
        app.post(&path, &user.token, json!({})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        app.post(&path, &user.token, json!({"content": 42})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // 8,000 characters after trimming is fine.
    let ok = app
        .post(
            &path,
            &user.token,
            json!({"content": format!("  {}  ", "é".repeat(8000))}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let session: Value = app
        .get(&format!("/sessions/{session}"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["message_count"], 2);
}

#[tokio::test]
async fn messages_are_rate_limited_per_user() {
    let app = spawn_app_with(&[("RATE_LIMIT_MESSAGES_PER_MIN", "2")]).await;
    let user = app.new_user("Ann").await;
    let other = app.new_user("Bob").await;
    let session = app.new_session(&user).await;
    app.send(&user, &session, "one").await;
    app.send(&user, &session, "two").await;
    let response = app
        .post(
            &format!("/sessions/{session}/messages"),
            &user.token,
            json!({"content": "three"}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other users have their own budget.
    let theirs = app.new_session(&other).await;
    app.send(&other, &theirs, "hello").await;
    // The refused message was not stored.
    let s: Value = app
        .get(&format!("/sessions/{session}"), &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["message_count"], 4);
}
