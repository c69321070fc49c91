//! The last active administrator can neither demote nor deactivate
//! themself, so the service always keeps one.

use reqwest::StatusCode;
use serde_json::json;

use super::{find_by_id, update_user};
use crate::helpers::{
    assert_error, json, spawn_app, Page, Stats, TokenPair, User, UserActivity, PASSWORD,
};

#[tokio::test]
async fn the_only_admin_cannot_demote_themself() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    // Act
    let response = update_user(&app, &admin, &admin.id, json!({"is_admin": false})).await;

    // Assert
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    app.get_json::<Stats>("/admin/stats", &admin.token).await;
    let me: User = app.get_json("/auth/me", &admin.token).await;
    assert!(me.is_admin);
}

#[tokio::test]
async fn the_only_admin_cannot_deactivate_themself() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    for body in [
        json!({"is_active": false}),
        json!({"is_active": false, "is_admin": true}),
        json!({"is_active": false, "is_admin": false}),
    ] {
        // Act
        let response = update_user(&app, &admin, &admin.id, body.clone()).await;
        // Assert
        assert_eq!(response.status(), StatusCode::CONFLICT, "{body}");
        assert_error(response, StatusCode::CONFLICT, "conflict").await;
    }
    let page: Page<UserActivity> = app.get_json("/admin/users", &admin.token).await;
    let me = find_by_id(&page.items, &admin.id);
    assert!(me.user.is_admin);
    assert!(me.is_active);
    json::<TokenPair>(app.login(&admin.email, PASSWORD).await).await;
}

#[tokio::test]
async fn with_two_admins_one_can_demote_themself() {
    // Arrange
    let app = spawn_app().await;
    let first = app.new_admin().await;
    let second = app.new_admin().await;

    // Act
    let response = update_user(&app, &first, &first.id, json!({"is_admin": false})).await;

    // Assert
    let demoted: UserActivity = json(response).await;
    assert!(!demoted.user.is_admin);
    assert!(demoted.is_active);
    let refused = app.get("/admin/stats", &first.token).await;
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    // The other one is now the last administrator.
    let last = update_user(&app, &second, &second.id, json!({"is_admin": false})).await;
    assert_error(last, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn a_deactivated_admin_does_not_count_as_another_admin() {
    // Arrange
    let app = spawn_app().await;
    let first = app.new_admin().await;
    let second = app.new_admin().await;
    let off = update_user(&app, &first, &second.id, json!({"is_active": false})).await;
    assert!(json::<UserActivity>(off).await.user.is_admin);

    // Act
    let demote = update_user(&app, &first, &first.id, json!({"is_admin": false})).await;
    let deactivate = update_user(&app, &first, &first.id, json!({"is_active": false})).await;

    // Assert
    assert_error(demote, StatusCode::CONFLICT, "conflict").await;
    assert_error(deactivate, StatusCode::CONFLICT, "conflict").await;
    app.get_json::<Stats>("/admin/stats", &first.token).await;
}
