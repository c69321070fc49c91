//! Only administrators get in: a normal user is refused (403), a caller
//! without a valid token is challenged (401).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, User};

/// Every admin endpoint, with ids that exist, so only the caller's role can
/// explain a refusal.
fn admin_endpoints(user_id: &str, session_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/admin/stats".to_owned(), None),
        (Method::GET, "/admin/users".to_owned(), None),
        (
            Method::PATCH,
            format!("/admin/users/{user_id}"),
            Some(json!({"is_admin": true})),
        ),
        (Method::GET, "/admin/sessions".to_owned(), None),
        (
            Method::GET,
            format!("/admin/sessions/{session_id}/messages"),
            None,
        ),
        (Method::GET, "/admin/feedback".to_owned(), None),
        (Method::GET, "/admin/feedback?rating=down".to_owned(), None),
    ]
}

#[tokio::test]
async fn every_admin_endpoint_is_forbidden_to_a_normal_user() {
    // Arrange
    let app = spawn_app().await;
    app.new_admin().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    app.send(&user, &session, "hello").await;

    for (method, path, body) in admin_endpoints(&user.id, &session) {
        // Act
        let response = app
            .request(method.clone(), &path, Some(&user.token), body)
            .await;
        // Assert
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The refused PATCH changed nothing: they are still not an administrator.
    let me: User = app.get_json("/auth/me", &user.token).await;
    assert!(!me.is_admin);
}

#[tokio::test]
async fn every_admin_endpoint_requires_a_token() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let session = app.new_session(&admin).await.id;

    for (method, path, body) in admin_endpoints(&admin.id, &session) {
        for token in [None, Some("not-a-jwt")] {
            // Act
            let response = app
                .request(method.clone(), &path, token, body.clone())
                .await;
            // Assert
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer",
                "{method} {path}"
            );
            assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
}
