//! `PATCH /admin/users/{id}`: promotion, demotion, deactivation and
//! reactivation, and what the user can do afterwards.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{find_by_id, random_id, update_user};
use crate::helpers::{
    assert_error, json, spawn_app, Page, Stats, TokenPair, User, UserActivity, PASSWORD,
};

#[tokio::test]
async fn a_promoted_user_can_use_the_admin_api_with_their_existing_token() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let before = app.get("/admin/stats", &ann.token).await;
    assert_error(before, StatusCode::FORBIDDEN, "forbidden").await;

    // Act
    let promoted: UserActivity =
        json(update_user(&app, &admin, &ann.id, json!({"is_admin": true})).await).await;

    // Assert
    assert_eq!(promoted.user.id, ann.id);
    assert_eq!(promoted.user.email, ann.email);
    assert!(promoted.user.is_admin);
    assert!(promoted.is_active);
    assert_eq!(promoted.session_count, 0);
    assert_eq!(promoted.message_count, 0);
    assert_eq!(promoted.last_active_at, None);
    app.get_json::<Stats>("/admin/stats", &ann.token).await;
    let me: User = app.get_json("/auth/me", &ann.token).await;
    assert!(me.is_admin);

    // And demotion takes effect from the next request on, too.
    let demoted: UserActivity =
        json(update_user(&app, &admin, &ann.id, json!({"is_admin": false})).await).await;
    assert!(!demoted.user.is_admin);
    let after = app.get("/admin/stats", &ann.token).await;
    assert_error(after, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_deactivated_user_loses_their_tokens_and_cannot_sign_in() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    app.get_json::<User>("/auth/me", &ann.token).await;

    // Act
    let updated: UserActivity =
        json(update_user(&app, &admin, &ann.id, json!({"is_active": false})).await).await;

    // Assert
    assert_eq!(updated.user.id, ann.id);
    assert!(!updated.is_active);
    assert!(!updated.user.is_admin);
    let me = app.get("/auth/me", &ann.token).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let sessions = app.get("/sessions", &ann.token).await;
    assert_error(sessions, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let refreshed = app.refresh(&ann.refresh_token).await;
    assert_error(refreshed, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let login = app.login(&ann.email, PASSWORD).await;
    assert_error(login, StatusCode::FORBIDDEN, "forbidden").await;
    // A wrong password still answers as for anyone else.
    let wrong = app.login(&ann.email, "not the password").await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn a_reactivated_user_can_sign_in_again() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    json::<UserActivity>(update_user(&app, &admin, &ann.id, json!({"is_active": false})).await)
        .await;
    assert_error(
        app.login(&ann.email, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Act
    let updated: UserActivity =
        json(update_user(&app, &admin, &ann.id, json!({"is_active": true})).await).await;
    let login = app.login(&ann.email, PASSWORD).await;

    // Assert
    assert!(updated.is_active);
    let tokens: TokenPair = json(login).await;
    let me: User = app.get_json("/auth/me", &tokens.access_token).await;
    assert_eq!(me.id, ann.id);
    let page: Page<UserActivity> = app.get_json("/admin/users", &admin.token).await;
    assert!(find_by_id(&page.items, &ann.id).is_active);
}

#[tokio::test]
async fn updating_an_unknown_user_is_not_found() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    for id in [random_id(), "not-a-uuid".to_owned()] {
        // Act
        let response = update_user(&app, &admin, &id, json!({"is_admin": true})).await;
        // Assert
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn a_malformed_update_body_is_a_bad_request() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let path = format!("/admin/users/{}", ann.id);

    for body in [
        "{not json",
        "[]",
        r#"{"is_admin": "yes"}"#,
        r#"{"is_active": 1}"#,
    ] {
        // Act
        let response = app
            .request_raw(Method::PATCH, &path, Some(&admin.token), body)
            .await;
        // Assert
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // Nothing changed; an empty object is a no-op that returns the user.
    let unchanged: UserActivity = json(update_user(&app, &admin, &ann.id, json!({})).await).await;
    assert!(!unchanged.user.is_admin);
    assert!(unchanged.is_active);
}
