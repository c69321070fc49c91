//! Reading any user's conversation.

use reqwest::StatusCode;

use super::random_id;
use crate::helpers::{assert_error, spawn_app, Message, Page, Role};

#[tokio::test]
async fn an_admin_can_read_another_users_conversation() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let session = app.new_session(&ann).await.id;
    app.send(&ann, &session, "How big should my emergency fund be?")
        .await;
    app.send(&ann, &session, "Is a savings account fine?").await;
    let path = format!("/sessions/{session}/messages");

    // Act
    let page: Page<Message> = app.get_json(&format!("/admin{path}"), &admin.token).await;

    // Assert
    assert_eq!(page.next_cursor, None);
    let roles: Vec<Role> = page.items.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert_eq!(
        page.items[0].content,
        "How big should my emergency fund be?"
    );
    // (`sources` is a list in every message: the typed read checks that.)
    for message in &page.items {
        assert_eq!(message.session_id, session);
        match message.role {
            Role::Assistant => {
                assert_eq!(message.model.as_deref(), Some("fallback"));
                assert!(message.fallback);
                assert!(
                    message.confidence.is_some_and(|c| (0.0..=1.0).contains(&c)),
                    "{message:?}"
                );
                assert!(message.latency_ms.is_some_and(|ms| ms >= 0), "{message:?}");
            }
            Role::User => {
                assert_eq!(message.model, None);
                assert!(!message.fallback);
                assert!(message.sources.is_empty());
            }
        }
    }
    // Exactly what the owner sees.
    let own: Page<Message> = app.get_json(&path, &ann.token).await;
    assert_eq!(page, own);
    // The owner's route still hides it from the administrator.
    let not_theirs = app.get(&path, &admin.token).await;
    assert_error(not_theirs, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn an_admin_can_read_a_conversation_newest_first() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let session = app.new_session(&ann).await.id;
    app.send(&ann, &session, "first").await;
    app.send(&ann, &session, "second").await;
    let path = format!("/admin/sessions/{session}/messages");
    let oldest_first: Page<Message> = app.get_json(&path, &admin.token).await;

    // Act
    let newest_first: Page<Message> = app
        .get_json(&format!("{path}?order=desc"), &admin.token)
        .await;

    // Assert
    let mut expected = oldest_first.items;
    expected.reverse();
    assert_eq!(newest_first.items, expected);
    assert_eq!(expected.len(), 4);
    let bad_order = app
        .get(&format!("{path}?order=sideways"), &admin.token)
        .await;
    assert_error(bad_order, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn reading_an_unknown_session_is_not_found() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    for id in [random_id(), "not-a-uuid".to_owned()] {
        // Act
        let response = app
            .get(&format!("/admin/sessions/{id}/messages"), &admin.token)
            .await;
        // Assert
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}
