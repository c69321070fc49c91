//! The admin API: administrators only, statistics checked against a known
//! data set, user management (deactivation, the last-admin rule), and every
//! user's sessions and conversations.

use std::collections::{BTreeSet, HashSet};

use chrono::{Days, NaiveDate, Utc};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp, TestUser, PASSWORD};

/// Asserts a 200 and returns the JSON body (the body is shown on failure).
async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let url = response.url().to_string();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{url} answered {text}");
    serde_json::from_str(&text).unwrap()
}

async fn update_user(app: &TestApp, admin: &TestUser, id: &str, body: Value) -> Response {
    app.patch(&format!("/admin/users/{id}"), &admin.token, body)
        .await
}

/// Follows `next_cursor` with `limit=1` from `path` (which has no query yet)
/// and returns every item seen, in order.
async fn walk_one_by_one(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=1&cursor={c}"),
            None => format!("{path}?limit=1"),
        };
        let page = ok_json(app.get(&url, token).await).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1, "limit=1 gave {} items", items.len());
        seen.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
    panic!("pagination of {path} never ended");
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn set_of(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn find_by_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not among {items:?}"))
}

/// Lets the clock move on, so rows created next sort strictly after.
async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn today_utc() -> NaiveDate {
    Utc::now().date_naive()
}

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
    ]
}

#[tokio::test]
async fn every_admin_endpoint_is_forbidden_to_a_normal_user() {
    // Arrange
    let app = spawn_app().await;
    app.new_admin().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await;
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
    let me = ok_json(app.get("/auth/me", &user.token).await).await;
    assert_eq!(me["is_admin"], false);
}

#[tokio::test]
async fn every_admin_endpoint_requires_a_token() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let session = app.new_session(&admin).await;

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

#[tokio::test]
async fn stats_of_an_empty_service_are_zero_and_latency_is_null() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    // Act
    let stats = ok_json(app.get("/admin/stats", &admin.token).await).await;

    // Assert
    assert_eq!(stats["users"], 1);
    assert_eq!(stats["sessions"], 0);
    assert_eq!(stats["messages"], 0);
    assert_eq!(stats["messages_last_24h"], 0);
    assert_eq!(stats["fallback_ratio"].as_f64(), Some(0.0));
    assert_eq!(stats["avg_latency_ms"], Value::Null);
    assert_eq!(stats["tokens"], json!({"prompt": 0, "completion": 0}));
    assert_eq!(stats["by_model"], json!({}));
    let days = stats["messages_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert!(days.iter().all(|d| d["count"] == 0), "{days:?}");
}

#[tokio::test]
async fn stats_match_a_known_data_set() {
    // Arrange: 1 admin + 2 users; Ann has 2 sessions with 2 and 1 exchanges
    // (each a user and an offline assistant message), Bob 1 empty session.
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let day_before = today_utc();
    let first = app.new_session(&ann).await;
    let second = app.new_session(&ann).await;
    app.send(&ann, &first, "How big should my emergency fund be?")
        .await;
    app.send(&ann, &first, "And where should I keep it?").await;
    app.send(&ann, &second, "What is an index fund?").await;
    app.new_session(&bob).await;

    // Act
    let stats = ok_json(app.get("/admin/stats", &admin.token).await).await;
    let day_after = today_utc();

    // Assert
    assert_eq!(stats["users"], 3);
    assert_eq!(stats["sessions"], 3);
    assert_eq!(stats["messages"], 6);
    assert_eq!(stats["messages_last_24h"], 6);
    assert_eq!(stats["fallback_ratio"].as_f64(), Some(1.0));
    assert_eq!(stats["by_model"], json!({"fallback": 3}));
    assert_eq!(stats["tokens"], json!({"prompt": 0, "completion": 0}));
    let latency = stats["avg_latency_ms"]
        .as_f64()
        .expect("a mean latency after replies");
    assert!(latency >= 0.0, "{latency}");

    let days = stats["messages_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let total: i64 = days.iter().map(|d| d["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 6);
    if day_before != day_after {
        // Midnight (UTC) passed while the data was being written; the split
        // between the two days is not predictable.
        return;
    }
    let today = day_after;
    let last = days.last().unwrap();
    assert_eq!(last["date"], today.to_string());
    assert_eq!(last["count"], 6);
    // Oldest first, one entry per consecutive day ending today.
    let expected: Vec<String> = (0..30u64)
        .rev()
        .map(|back| today.checked_sub_days(Days::new(back)).unwrap().to_string())
        .collect();
    let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(dates, expected);
}

#[tokio::test]
async fn users_are_listed_with_their_activity() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    tick().await;
    let ann = app.new_user("Ann").await;
    tick().await;
    let bob = app.new_user("Bob").await;
    let first = app.new_session(&ann).await;
    app.new_session(&ann).await;
    app.send(&ann, &first, "hello").await;
    let latest = app.send(&ann, &first, "and again").await;
    let deactivated = update_user(&app, &admin, &bob.id, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    // Act
    let page = ok_json(app.get("/admin/users", &admin.token).await).await;

    // Assert
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(page["next_cursor"], Value::Null);
    for item in items {
        assert_eq!(
            keys(item),
            set_of(&[
                "id",
                "email",
                "name",
                "is_admin",
                "created_at",
                "is_active",
                "session_count",
                "message_count",
                "last_active_at",
            ]),
            "{item}"
        );
    }
    // Newest first.
    let ids: Vec<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![bob.id.as_str(), ann.id.as_str(), admin.id.as_str()]
    );

    let ann_view = find_by_id(items, &ann.id);
    let ann_me = ok_json(app.get("/auth/me", &ann.token).await).await;
    for field in ["id", "email", "name", "is_admin", "created_at"] {
        assert_eq!(ann_view[field], ann_me[field], "{field}");
    }
    assert_eq!(ann_view["is_active"], true);
    assert_eq!(ann_view["session_count"], 2);
    assert_eq!(ann_view["message_count"], 4, "both roles count");
    assert_eq!(
        ann_view["last_active_at"],
        latest["assistant_message"]["created_at"]
    );
    let last_active = ann_view["last_active_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(last_active).is_ok() && last_active.ends_with('Z'),
        "{last_active}"
    );

    let bob_view = find_by_id(items, &bob.id);
    assert_eq!(bob_view["is_active"], false);
    assert_eq!(bob_view["is_admin"], false);
    assert_eq!(bob_view["session_count"], 0);
    assert_eq!(bob_view["message_count"], 0);
    assert_eq!(bob_view["last_active_at"], Value::Null);

    let admin_view = find_by_id(items, &admin.id);
    assert_eq!(admin_view["is_admin"], true);
    assert_eq!(admin_view["is_active"], true);
    assert_eq!(admin_view["last_active_at"], Value::Null);
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
    let upper = ok_json(app.get(&search("ANN-"), &admin.token).await).await;
    let domain = ok_json(app.get(&search("Example.COM"), &admin.token).await).await;
    let none = ok_json(app.get(&search("nobody-here"), &admin.token).await).await;
    // `%` and `_` are not wildcards: no email contains them.
    let percent = ok_json(app.get(&search("%25"), &admin.token).await).await;
    let underscore = ok_json(app.get(&search("_"), &admin.token).await).await;

    // Assert
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&upper), vec![ann.id.clone()]);
    assert_eq!(ids(&domain), vec![bob.id, ann.id, admin.id]);
    assert!(ids(&none).is_empty());
    assert!(ids(&percent).is_empty(), "{percent}");
    assert!(ids(&underscore).is_empty(), "{underscore}");
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
    let seen = walk_one_by_one(&app, &admin.token, "/admin/users").await;

    // Assert
    let ids: Vec<String> = seen
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
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

#[tokio::test]
async fn a_promoted_user_can_use_the_admin_api_with_their_existing_token() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let before = app.get("/admin/stats", &ann.token).await;
    assert_error(before, StatusCode::FORBIDDEN, "forbidden").await;

    // Act
    let promoted =
        ok_json(update_user(&app, &admin, &ann.id, json!({"is_admin": true})).await).await;

    // Assert
    assert_eq!(promoted["id"], ann.id.as_str());
    assert_eq!(promoted["email"], ann.email.as_str());
    assert_eq!(promoted["is_admin"], true);
    assert_eq!(promoted["is_active"], true);
    assert_eq!(promoted["session_count"], 0);
    assert_eq!(promoted["message_count"], 0);
    assert_eq!(promoted["last_active_at"], Value::Null);
    ok_json(app.get("/admin/stats", &ann.token).await).await;
    let me = ok_json(app.get("/auth/me", &ann.token).await).await;
    assert_eq!(me["is_admin"], true);

    // And demotion takes effect from the next request on, too.
    let demoted =
        ok_json(update_user(&app, &admin, &ann.id, json!({"is_admin": false})).await).await;
    assert_eq!(demoted["is_admin"], false);
    let after = app.get("/admin/stats", &ann.token).await;
    assert_error(after, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_deactivated_user_loses_their_tokens_and_cannot_sign_in() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    ok_json(app.get("/auth/me", &ann.token).await).await;

    // Act
    let updated =
        ok_json(update_user(&app, &admin, &ann.id, json!({"is_active": false})).await).await;

    // Assert
    assert_eq!(updated["id"], ann.id.as_str());
    assert_eq!(updated["is_active"], false);
    assert_eq!(updated["is_admin"], false);
    let me = app.get("/auth/me", &ann.token).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let sessions = app.get("/sessions", &ann.token).await;
    assert_error(sessions, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let refreshed = app
        .request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refresh_token": ann.refresh_token})),
        )
        .await;
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
    ok_json(update_user(&app, &admin, &ann.id, json!({"is_active": false})).await).await;
    assert_error(
        app.login(&ann.email, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Act
    let updated =
        ok_json(update_user(&app, &admin, &ann.id, json!({"is_active": true})).await).await;
    let login = app.login(&ann.email, PASSWORD).await;

    // Assert
    assert_eq!(updated["is_active"], true);
    let tokens = ok_json(login).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = ok_json(app.get("/auth/me", token).await).await;
    assert_eq!(me["id"], ann.id.as_str());
    let page = ok_json(app.get("/admin/users", &admin.token).await).await;
    assert_eq!(
        find_by_id(page["items"].as_array().unwrap(), &ann.id)["is_active"],
        true
    );
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

    for body in [
        "{not json",
        "[]",
        r#"{"is_admin": "yes"}"#,
        r#"{"is_active": 1}"#,
    ] {
        // Act
        let response = app
            .client
            .patch(app.url(&format!("/admin/users/{}", ann.id)))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        // Assert
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // Nothing changed; an empty object is a no-op that returns the user.
    let unchanged = ok_json(update_user(&app, &admin, &ann.id, json!({})).await).await;
    assert_eq!(unchanged["is_admin"], false);
    assert_eq!(unchanged["is_active"], true);
}

#[tokio::test]
async fn the_only_admin_cannot_demote_themself() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    // Act
    let response = update_user(&app, &admin, &admin.id, json!({"is_admin": false})).await;

    // Assert
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    ok_json(app.get("/admin/stats", &admin.token).await).await;
    let me = ok_json(app.get("/auth/me", &admin.token).await).await;
    assert_eq!(me["is_admin"], true);
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
    let page = ok_json(app.get("/admin/users", &admin.token).await).await;
    let me = find_by_id(page["items"].as_array().unwrap(), &admin.id);
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["is_active"], true);
    ok_json(app.login(&admin.email, PASSWORD).await).await;
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
    let demoted = ok_json(response).await;
    assert_eq!(demoted["is_admin"], false);
    assert_eq!(demoted["is_active"], true);
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
    assert_eq!(ok_json(off).await["is_admin"], true);

    // Act
    let demote = update_user(&app, &first, &first.id, json!({"is_admin": false})).await;
    let deactivate = update_user(&app, &first, &first.id, json!({"is_active": false})).await;

    // Assert
    assert_error(demote, StatusCode::CONFLICT, "conflict").await;
    assert_error(deactivate, StatusCode::CONFLICT, "conflict").await;
    ok_json(app.get("/admin/stats", &first.token).await).await;
}

#[tokio::test]
async fn all_sessions_are_listed_with_their_owner() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let ann_first = app.new_session(&ann).await;
    tick().await;
    let bob_only = app.new_session(&bob).await;
    tick().await;
    let ann_second = app.new_session(&ann).await;
    tick().await;
    app.send(&ann, &ann_first, "hello").await;

    // Act
    let page = ok_json(app.get("/admin/sessions", &admin.token).await).await;

    // Assert
    let items = page["items"].as_array().unwrap();
    assert_eq!(page["next_cursor"], Value::Null);
    let ids: Vec<&str> = items.iter().map(|s| s["id"].as_str().unwrap()).collect();
    // Most recently updated first: the one with a message, then by creation.
    assert_eq!(
        ids,
        vec![ann_first.as_str(), ann_second.as_str(), bob_only.as_str()]
    );
    for (item, owner) in items.iter().zip([&ann, &ann, &bob]) {
        assert_eq!(
            keys(item),
            set_of(&[
                "id",
                "title",
                "created_at",
                "updated_at",
                "message_count",
                "user_id",
                "user_email",
            ]),
            "{item}"
        );
        assert_eq!(item["user_id"], owner.id.as_str());
        assert_eq!(item["user_email"], owner.email.as_str());
        // The Session fields are what the owner sees.
        let id = item["id"].as_str().unwrap();
        let own = ok_json(app.get(&format!("/sessions/{id}"), &owner.token).await).await;
        for field in ["id", "title", "created_at", "updated_at", "message_count"] {
            assert_eq!(item[field], own[field], "{field} of {id}");
        }
    }
    assert_eq!(items[0]["message_count"], 2);
    assert_eq!(items[1]["message_count"], 0);
}

#[tokio::test]
async fn sessions_can_be_filtered_by_user() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let ann_sessions: HashSet<String> =
        [app.new_session(&ann).await, app.new_session(&ann).await].into();
    app.new_session(&bob).await;
    let ids = |page: &Value| -> HashSet<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // Act
    let filtered = ok_json(
        app.get(&format!("/admin/sessions?user_id={}", ann.id), &admin.token)
            .await,
    )
    .await;
    let upper = ok_json(
        app.get(
            &format!("/admin/sessions?user_id={}", ann.id.to_uppercase()),
            &admin.token,
        )
        .await,
    )
    .await;
    let nobody = ok_json(
        app.get(
            &format!("/admin/sessions?user_id={}", random_id()),
            &admin.token,
        )
        .await,
    )
    .await;
    let invalid = app
        .get("/admin/sessions?user_id=not-a-uuid", &admin.token)
        .await;

    // Assert
    assert_eq!(ids(&filtered), ann_sessions);
    assert!(filtered["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["user_id"] == ann.id.as_str() && s["user_email"] == ann.email.as_str()));
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
        expected.insert(app.new_session(user).await);
    }

    // Act
    let seen = walk_one_by_one(&app, &admin.token, "/admin/sessions").await;
    let zero = app.get("/admin/sessions?limit=0", &admin.token).await;
    let garbage = app
        .get("/admin/sessions?cursor=garbage!!", &admin.token)
        .await;

    // Assert
    let ids: Vec<String> = seen
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in {ids:?}");
    assert_eq!(unique, expected);
    assert_error(zero, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_error(garbage, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn an_admin_can_read_another_users_conversation() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let session = app.new_session(&ann).await;
    app.send(&ann, &session, "How big should my emergency fund be?")
        .await;
    app.send(&ann, &session, "Is a savings account fine?").await;
    let path = format!("/sessions/{session}/messages");

    // Act
    let page = ok_json(app.get(&format!("/admin{path}"), &admin.token).await).await;

    // Assert
    let items = page["items"].as_array().unwrap();
    assert_eq!(page["next_cursor"], Value::Null);
    let roles: Vec<&str> = items.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["user", "assistant", "user", "assistant"]);
    assert_eq!(items[0]["content"], "How big should my emergency fund be?");
    for message in items {
        assert_eq!(message["session_id"], session.as_str());
        assert!(message["sources"].is_array(), "{message}");
        if message["role"] == "assistant" {
            assert_eq!(message["model"], "fallback");
            assert_eq!(message["fallback"], true);
            let confidence = message["confidence"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&confidence), "{confidence}");
            assert!(message["latency_ms"].as_i64().unwrap() >= 0);
        } else {
            assert_eq!(message["model"], Value::Null);
            assert_eq!(message["fallback"], false);
            assert_eq!(message["sources"], json!([]));
        }
    }
    // Exactly what the owner sees.
    let own = ok_json(app.get(&path, &ann.token).await).await;
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
    let session = app.new_session(&ann).await;
    app.send(&ann, &session, "first").await;
    app.send(&ann, &session, "second").await;
    let path = format!("/admin/sessions/{session}/messages");
    let oldest_first = ok_json(app.get(&path, &admin.token).await).await;

    // Act
    let newest_first = ok_json(app.get(&format!("{path}?order=desc"), &admin.token).await).await;

    // Assert
    let mut expected = oldest_first["items"].as_array().unwrap().clone();
    expected.reverse();
    assert_eq!(newest_first["items"].as_array().unwrap(), &expected);
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
