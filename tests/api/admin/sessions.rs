//! Every user's sessions, with their owner: listing, filtering by user,
//! pagination.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use super::{assert_item_fields, random_id};
use crate::helpers::{assert_error, from_wire, spawn_app, tick, AdminSession, Page, Session};

#[tokio::test]
async fn all_sessions_are_listed_with_their_owner() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let ann_first = app.new_session(&ann).await.id;
    tick().await;
    let bob_only = app.new_session(&bob).await.id;
    tick().await;
    let ann_second = app.new_session(&ann).await.id;
    tick().await;
    app.send(&ann, &ann_first, "hello").await;

    // Act
    let wire: Value = app.get_json("/admin/sessions", &admin.token).await;

    // Assert
    assert_item_fields(
        &wire,
        &[
            "id",
            "title",
            "created_at",
            "updated_at",
            "message_count",
            "user_id",
            "user_email",
        ],
    );
    let page: Page<AdminSession> = from_wire(wire);
    assert_eq!(page.next_cursor, None);
    let ids: Vec<&str> = page.items.iter().map(|s| s.session.id.as_str()).collect();
    // Most recently updated first: the one with a message, then by creation.
    assert_eq!(
        ids,
        vec![ann_first.as_str(), ann_second.as_str(), bob_only.as_str()]
    );
    for (item, owner) in page.items.iter().zip([&ann, &ann, &bob]) {
        assert_eq!(item.user_id, owner.id);
        assert_eq!(item.user_email, owner.email);
        // The Session fields are what the owner sees.
        let id = &item.session.id;
        let own: Session = app.get_json(&format!("/sessions/{id}"), &owner.token).await;
        assert_eq!(item.session, own, "{id}");
    }
    assert_eq!(page.items[0].session.message_count, 2);
    assert_eq!(page.items[1].session.message_count, 0);
}

#[tokio::test]
async fn sessions_can_be_filtered_by_user() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let ann_sessions: HashSet<String> = [
        app.new_session(&ann).await.id,
        app.new_session(&ann).await.id,
    ]
    .into();
    app.new_session(&bob).await;
    let ids = |page: &Page<AdminSession>| -> HashSet<String> {
        page.items.iter().map(|s| s.session.id.clone()).collect()
    };
    let of_user = |id: &str| format!("/admin/sessions?user_id={id}");

    // Act
    let filtered: Page<AdminSession> = app.get_json(&of_user(&ann.id), &admin.token).await;
    let upper: Page<AdminSession> = app
        .get_json(&of_user(&ann.id.to_uppercase()), &admin.token)
        .await;
    let nobody: Page<AdminSession> = app.get_json(&of_user(&random_id()), &admin.token).await;
    let invalid = app.get(&of_user("not-a-uuid"), &admin.token).await;

    // Assert
    assert_eq!(ids(&filtered), ann_sessions);
    assert!(filtered
        .items
        .iter()
        .all(|s| s.user_id == ann.id && s.user_email == ann.email));
    assert_eq!(ids(&upper), ann_sessions);
    assert!(ids(&nobody).is_empty());
    assert_error(invalid, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn all_sessions_can_be_walked_page_by_page() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let mut expected = HashSet::new();
    for user in [&ann, &bob, &ann, &bob, &ann] {
        expected.insert(app.new_session(user).await.id);
    }

    // Act
    let seen = app
        .walk_pages::<Page<AdminSession>>("/admin/sessions", 1, &admin.token)
        .await;
    let zero = app.get("/admin/sessions?limit=0", &admin.token).await;
    let garbage = app
        .get("/admin/sessions?cursor=garbage!!", &admin.token)
        .await;

    // Assert
    let ids: Vec<String> = seen.into_iter().map(|s| s.session.id).collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in {ids:?}");
    assert_eq!(unique, expected);
    assert_error(zero, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_error(garbage, StatusCode::BAD_REQUEST, "bad_request").await;
}
