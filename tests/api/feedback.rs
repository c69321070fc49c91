//! Feedback on replies: rating, replacing, removing, where it shows, the
//! errors the contract names, and isolation between users.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, db_count, expect_json, json, spawn_app, tick, Message, MessageExchange, Rating,
    TestApp, TestUser,
};

fn feedback_path(exchange: &MessageExchange, message: &Message) -> String {
    format!(
        "/sessions/{}/messages/{}/feedback",
        exchange.user_message.session_id, message.id
    )
}

async fn put(app: &TestApp, user: &TestUser, path: &str, body: Value) -> reqwest::Response {
    app.request(Method::PUT, path, Some(&user.token), Some(body))
        .await
}

async fn exchange_of(app: &TestApp, user: &TestUser) -> MessageExchange {
    let session = app.new_session(user).await.id;
    app.send(user, &session, "what is an index fund?").await
}

#[tokio::test]
async fn rating_a_reply_answers_the_message_with_its_feedback() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    assert_eq!(exchange.assistant_message.feedback, None);
    let path = feedback_path(&exchange, &exchange.assistant_message);

    // Act
    let response = put(
        &app,
        &ann,
        &path,
        json!({"rating": "down", "comment": "  Too vague.  "}),
    )
    .await;

    // Assert
    let rated: Message = json(response).await;
    let feedback = rated.feedback.clone().expect("feedback");
    assert_eq!(feedback.rating, Rating::Down);
    assert_eq!(feedback.comment.as_deref(), Some("Too vague."));
    assert_eq!(
        Message {
            feedback: None,
            ..rated.clone()
        },
        exchange.assistant_message
    );
    // Every answer that holds the message shows it.
    let listed = app.messages(&ann, &exchange.user_message.session_id).await;
    assert_eq!(listed[1], rated);
    assert_eq!(listed[0].feedback, None);
    let one: Message = app
        .get_json(
            &format!("/sessions/{}/messages/{}", rated.session_id, rated.id),
            &ann.token,
        )
        .await;
    assert_eq!(one, rated);
}

#[tokio::test]
async fn a_second_rating_replaces_the_first_and_renews_its_time() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);
    let first: Message = json(
        put(
            &app,
            &ann,
            &path,
            json!({"rating": "down", "comment": "meh"}),
        )
        .await,
    )
    .await;
    tick().await;

    let second: Message = json(put(&app, &ann, &path, json!({"rating": "up"})).await).await;

    let (first, second) = (first.feedback.unwrap(), second.feedback.unwrap());
    assert_eq!(second.rating, Rating::Up);
    assert_eq!(second.comment, None);
    assert!(
        second.created_at > first.created_at,
        "{second:?} after {first:?}"
    );
    assert_eq!(
        db_count(&app, "SELECT COUNT(*) AS n FROM message_feedback".into()).await,
        1
    );
}

#[tokio::test]
async fn deleting_feedback_removes_it_and_is_fine_when_there_is_none() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);
    json::<Message>(put(&app, &ann, &path, json!({"rating": "up"})).await).await;

    for _ in 0..2 {
        let response = app.delete(&path, &ann.token).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    let listed = app.messages(&ann, &exchange.user_message.session_id).await;
    assert_eq!(listed[1].feedback, None);
    // On a user message, where there never is any, too.
    let response = app
        .delete(
            &feedback_path(&exchange, &exchange.user_message),
            &ann.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn rating_a_user_message_is_a_conflict() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;

    let response = put(
        &app,
        &ann,
        &feedback_path(&exchange, &exchange.user_message),
        json!({"rating": "up"}),
    )
    .await;

    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(
        db_count(&app, "SELECT COUNT(*) AS n FROM message_feedback".into()).await,
        0
    );
}

#[tokio::test]
async fn other_ratings_and_long_comments_are_validation_failures() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);

    for (body, field) in [
        (json!({"rating": "sideways"}), "rating"),
        (json!({"rating": "UP"}), "rating"),
        (json!({"rating": ""}), "rating"),
        (
            json!({"rating": "up", "comment": "x".repeat(2_001)}),
            "comment",
        ),
    ] {
        let error = assert_error(
            put(&app, &ann, &path, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let details = error.error.details.expect("details");
        assert_eq!(details[0].field, field, "{body}");
    }
    // Exactly 2,000 characters (multi-byte ones count as one) is fine.
    let longest = "é".repeat(2_000);
    let rated: Message = json(
        put(
            &app,
            &ann,
            &path,
            json!({"rating": "up", "comment": longest}),
        )
        .await,
    )
    .await;
    assert_eq!(
        rated.feedback.unwrap().comment.unwrap().chars().count(),
        2_000
    );
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);

    for body in [
        json!({}),
        json!({"rating": 1}),
        json!({"rating": "up", "comment": 5}),
        json!([]),
    ] {
        assert_error(
            put(&app, &ann, &path, body).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
}

#[tokio::test]
async fn another_users_messages_cannot_be_rated_or_unrated() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);
    json::<Message>(put(&app, &ann, &path, json!({"rating": "up"})).await).await;

    assert_error(
        put(&app, &bob, &path, json!({"rating": "down"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.delete(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Ann's rating is untouched.
    let listed = app.messages(&ann, &exchange.user_message.session_id).await;
    assert_eq!(listed[1].feedback.as_ref().unwrap().rating, Rating::Up);
}

#[tokio::test]
async fn unknown_messages_and_sessions_are_not_found_and_bad_ids_are_bad_requests() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let session = &exchange.user_message.session_id;
    let unknown = uuid::Uuid::now_v7();
    let other_session = app.new_session(&ann).await.id;

    for path in [
        format!("/sessions/{session}/messages/{unknown}/feedback"),
        format!(
            "/sessions/{unknown}/messages/{}/feedback",
            exchange.assistant_message.id
        ),
        // The message exists, but not in this session.
        format!(
            "/sessions/{other_session}/messages/{}/feedback",
            exchange.assistant_message.id
        ),
    ] {
        assert_error(
            put(&app, &ann, &path, json!({"rating": "up"})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_error(
            app.delete(&path, &ann.token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn feedback_needs_a_signed_in_user() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);

    let response = app
        .request(Method::PUT, &path, None, Some(json!({"rating": "up"})))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.request(Method::DELETE, &path, None, None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn feedback_goes_with_its_session() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);
    json::<Message>(put(&app, &ann, &path, json!({"rating": "up"})).await).await;

    let response = app
        .delete(
            &format!("/sessions/{}", exchange.user_message.session_id),
            &ann.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        db_count(&app, "SELECT COUNT(*) AS n FROM message_feedback".into()).await,
        0
    );
}

#[tokio::test]
async fn ratings_are_counted_in_the_metrics() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let path = feedback_path(&exchange, &exchange.assistant_message);
    for rating in ["down", "down", "up"] {
        json::<Message>(put(&app, &ann, &path, json!({"rating": rating})).await).await;
    }
    // A refused rating is not counted.
    let refused = put(&app, &ann, &path, json!({"rating": "meh"})).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let text = app
        .request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"feedback_total{rating="down"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"feedback_total{rating="up"} 1"#), "{text}");
}

#[tokio::test]
async fn sends_answer_messages_without_feedback() {
    // The send answers the stored reply, which has no feedback yet.
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let exchange = exchange_of(&app, &ann).await;
    let response = app
        .post(
            &format!("/sessions/{}/messages", exchange.user_message.session_id),
            &ann.token,
            json!({"content": "and bonds?"}),
        )
        .await;
    let next: MessageExchange = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(next.assistant_message.feedback, None);
    assert_eq!(next.user_message.feedback, None);
}
