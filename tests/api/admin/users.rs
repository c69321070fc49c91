//! Listing users: their activity, search by email, pagination.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{as_user, assert_item_fields, find_by_id, update_user};
use crate::helpers::{assert_error, from_wire, spawn_app, tick, Page, User, UserActivity};

#[tokio::test]
async fn users_are_listed_with_their_activity() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    tick().await;
    let ann = app.new_user("Ann").await;
    tick().await;
    let bob = app.new_user("Bob").await;
    let first = app.new_session(&ann).await.id;
    app.new_session(&ann).await;
    app.send(&ann, &first, "hello").await;
    let latest = app.send(&ann, &first, "and again").await;
    let deactivated = update_user(&app, &admin, &bob.id, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    // Act
    let wire: Value = app.get_json("/admin/users", &admin.token).await;

    // Assert
    assert_item_fields(
        &wire,
        &[
            "id",
            "email",
            "name",
            "is_admin",
            "created_at",
            "is_active",
            "session_count",
            "message_count",
            "last_active_at",
            "tokens_today",
        ],
    );
    let page: Page<UserActivity> = from_wire(wire);
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next_cursor, None);
    // Newest first.
    let ids: Vec<&str> = page.items.iter().map(|u| u.user.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![bob.id.as_str(), ann.id.as_str(), admin.id.as_str()]
    );

    let ann_view = find_by_id(&page.items, &ann.id);
    let ann_me: User = app.get_json("/auth/me", &ann.token).await;
    assert_eq!(as_user(ann_view), ann_me);
    assert!(ann_view.is_active);
    assert_eq!(ann_view.session_count, 2);
    assert_eq!(ann_view.message_count, 4, "both roles count");
    assert_eq!(
        ann_view.last_active_at.as_deref(),
        Some(latest.assistant_message.created_at.as_str())
    );
    let last_active = ann_view.last_active_at.as_deref().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(last_active).is_ok() && last_active.ends_with('Z'),
        "{last_active}"
    );

    let bob_view = find_by_id(&page.items, &bob.id);
    assert!(!bob_view.is_active);
    assert!(!bob_view.user.is_admin);
    assert_eq!(bob_view.session_count, 0);
    assert_eq!(bob_view.message_count, 0);
    assert_eq!(bob_view.last_active_at, None);

    let admin_view = find_by_id(&page.items, &admin.id);
    assert!(admin_view.user.is_admin);
    assert!(admin_view.is_active);
    assert_eq!(admin_view.last_active_at, None);
}

#[tokio::test]
async fn users_can_be_searched_by_email_ignoring_case() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    tick().await;
    let ann = app.new_user("Ann").await;
    tick().await;
    let bob = app.new_user("Bob").await;
    let search = |q: &str| format!("/admin/users?q={q}");

    // Act
    let upper: Page<UserActivity> = app.get_json(&search("ANN-"), &admin.token).await;
    let domain: Page<UserActivity> = app.get_json(&search("Example.COM"), &admin.token).await;
    let none: Page<UserActivity> = app.get_json(&search("nobody-here"), &admin.token).await;
    // `%` and `_` are not wildcards: no email contains them.
    let percent: Page<UserActivity> = app.get_json(&search("%25"), &admin.token).await;
    let underscore: Page<UserActivity> = app.get_json(&search("_"), &admin.token).await;

    // Assert
    let ids = |page: &Page<UserActivity>| -> Vec<String> {
        page.items.iter().map(|u| u.user.id.clone()).collect()
    };
    assert_eq!(ids(&upper), vec![ann.id.clone()]);
    assert_eq!(ids(&domain), vec![bob.id, ann.id, admin.id]);
    assert!(ids(&none).is_empty());
    assert!(ids(&percent).is_empty(), "{percent:?}");
    assert!(ids(&underscore).is_empty(), "{underscore:?}");
}

#[tokio::test]
async fn users_can_be_walked_page_by_page_without_duplicates() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let mut expected = vec![admin.id.clone()];
    for name in ["Ann", "Bob", "Cid", "Dee"] {
        tick().await;
        expected.push(app.new_user(name).await.id);
    }

    // Act
    let seen = app
        .walk_pages::<Page<UserActivity>>("/admin/users", 1, &admin.token)
        .await;

    // Assert
    let ids: Vec<String> = seen.into_iter().map(|u| u.user.id).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in {ids:?}");
    expected.reverse();
    assert_eq!(ids, expected, "every user, newest first");
}

#[tokio::test]
async fn bad_pagination_of_users_is_a_bad_request() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    for query in [
        "limit=0",
        "limit=201",
        "limit=many",
        "cursor=garbage!!",
        "cursor=bm90LWEtY3Vyc29y",
    ] {
        // Act
        let response = app
            .get(&format!("/admin/users?{query}"), &admin.token)
            .await;
        // Assert
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}
