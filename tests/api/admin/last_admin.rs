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

/// Active administrators, counted in the database.
async fn active_admins(app: &crate::helpers::TestApp) -> i64 {
    app.db()
        .run(|conn| {
            use diesel::prelude::*;
            use richesreach_chat::db::schema::users;
            Ok(users::table
                .filter(users::is_admin.eq(true).and(users::is_active.eq(true)))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_demoting_each_other_at_once_leave_one() {
    // Arrange: each round races the surviving administrator against a new one.
    let app = spawn_app().await;
    let mut survivor = app.new_admin().await;
    for round in 0..10 {
        let newcomer = app.new_admin().await;
        assert_eq!(active_admins(&app).await, 2);

        // Act: each demotes the other, at the same moment.
        let (a, b) = tokio::join!(
            update_user(&app, &survivor, &newcomer.id, json!({"is_admin": false})),
            update_user(&app, &newcomer, &survivor.id, json!({"is_admin": false})),
        );

        // Assert: one wins; the other is refused (409 by the last-admin
        // rule, or 403 when it is no longer an administrator by then).
        let (a, b) = (a.status(), b.status());
        let refused = [StatusCode::CONFLICT, StatusCode::FORBIDDEN];
        assert!(
            (a == StatusCode::OK && refused.contains(&b))
                || (b == StatusCode::OK && refused.contains(&a)),
            "round {round}: {a} and {b}"
        );
        assert_eq!(active_admins(&app).await, 1, "round {round}");
        if b == StatusCode::OK {
            survivor = newcomer;
        }
    }
}
