//! Retention: sessions idle for `RETENTION_DAYS` are deleted with
//! everything in them by a sweep that runs on one replica at a time (a lease
//! in the database). The tests move the stored times back rather than wait.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_error, db_count, db_execute, spawn_app_with, Message, TestApp, TestUser,
};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A session with one rated exchange; returns its id.
async fn conversation(app: &TestApp, user: &TestUser) -> String {
    let session = app.new_session(user).await.id;
    let exchange = app.send(user, &session, "what is an emergency fund?").await;
    let reply = exchange.assistant_message;
    let response = app
        .request(
            Method::PUT,
            &format!("/sessions/{session}/messages/{}/feedback", reply.id),
            Some(&user.token),
            Some(json!({"rating": "up"})),
        )
        .await;
    crate::helpers::json::<Message>(response).await;
    session
}

/// Makes a session look last active `days` ago.
async fn idle_for(app: &TestApp, session: &str, days: i64) {
    let at = chrono::Utc::now().timestamp_millis() - days * DAY_MS;
    let changed = db_execute(
        app,
        format!(
            "UPDATE chat_sessions SET updated_at = {at}, last_message_at = {at}, \
             created_at = {at} WHERE id = '{session}'"
        ),
    )
    .await;
    assert_eq!(changed, 1);
}

async fn exists(app: &TestApp, session: &str) -> bool {
    db_count(
        app,
        format!("SELECT COUNT(*) AS n FROM chat_sessions WHERE id = '{session}'"),
    )
    .await
        == 1
}

/// Waits (a few sweeps at most) until `session` is gone; `false` if it stays.
async fn gone_soon(app: &TestApp, session: &str) -> bool {
    for _ in 0..40 {
        if !exists(app, session).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn rows(app: &TestApp, table: &str) -> i64 {
    db_count(app, format!("SELECT COUNT(*) AS n FROM {table}")).await
}

#[tokio::test]
async fn idle_sessions_are_deleted_with_everything_in_them_and_recent_ones_stay() {
    // Arrange
    let app = spawn_app_with(&[("RETENTION_DAYS", "30"), ("RETENTION_SWEEP_SECS", "1")]).await;
    let ann = app.new_user("Ann").await;
    let old = conversation(&app, &ann).await;
    let nearly_old = conversation(&app, &ann).await;
    let recent = conversation(&app, &ann).await;
    assert_eq!(rows(&app, "message_feedback").await, 3);

    // Act
    idle_for(&app, &old, 31).await;
    idle_for(&app, &nearly_old, 29).await;

    // Assert
    assert!(gone_soon(&app, &old).await, "the idle session is deleted");
    assert_error(
        app.get(&format!("/sessions/{old}"), &ann.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(exists(&app, &nearly_old).await);
    assert!(exists(&app, &recent).await);
    let in_old = |table: &str, column: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {column} IN \
             (SELECT id FROM chat_messages WHERE session_id = '{old}')"
        )
    };
    assert_eq!(
        db_count(
            &app,
            format!("SELECT COUNT(*) AS n FROM chat_messages WHERE session_id = '{old}'")
        )
        .await,
        0
    );
    assert_eq!(
        db_count(&app, in_old("message_feedback", "message_id")).await,
        0
    );
    assert_eq!(rows(&app, "message_feedback").await, 2);
    assert_eq!(rows(&app, "chat_messages").await, 4);
    // The user and the other sessions' messages are untouched.
    assert_eq!(app.messages(&ann, &recent).await.len(), 2);
    let metrics = app
        .request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("retention_deleted_sessions_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn many_idle_sessions_are_deleted_in_batches() {
    let app = spawn_app_with(&[("RETENTION_DAYS", "7"), ("RETENTION_SWEEP_SECS", "1")]).await;
    let ann = app.new_user("Ann").await;
    let keep = app.new_session(&ann).await.id;
    // More than one batch (100) of idle, empty sessions.
    let at = chrono::Utc::now().timestamp_millis() - 8 * DAY_MS;
    let values: Vec<String> = (0..250)
        .map(|_| format!("('{}', '{}', 0, {at}, {at})", uuid::Uuid::now_v7(), ann.id))
        .collect();
    db_execute(
        &app,
        format!(
            "INSERT INTO chat_sessions (id, user_id, message_count, created_at, updated_at) \
             VALUES {}",
            values.join(", ")
        ),
    )
    .await;

    let mut left = i64::MAX;
    for _ in 0..40 {
        left = rows(&app, "chat_sessions").await;
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(left, 1);
    assert!(exists(&app, &keep).await);
}

#[tokio::test]
async fn only_the_replica_holding_the_lease_sweeps() {
    // Arrange: another replica holds the lease for a long while.
    let app = spawn_app_with(&[("RETENTION_DAYS", "30"), ("RETENTION_SWEEP_SECS", "1")]).await;
    let ann = app.new_user("Ann").await;
    let far = chrono::Utc::now().timestamp_millis() + 3_600_000;
    // This server may already have swept once (and taken the lease): the
    // other replica takes it over, as if this one had been slow.
    db_execute(
        &app,
        format!(
            "INSERT INTO leases (name, owner, expires_at) VALUES ('retention', 'other-replica', {far}) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
        ),
    )
    .await;
    let old = conversation(&app, &ann).await;
    idle_for(&app, &old, 31).await;

    // Act + Assert: while the other holds it, this server deletes nothing...
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(exists(&app, &old).await, "swept without the lease");

    // ...and once the other's lease has expired (it died), this one takes over.
    db_execute(
        &app,
        "UPDATE leases SET expires_at = 0 WHERE name = 'retention'".into(),
    )
    .await;
    assert!(gone_soon(&app, &old).await);
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) AS n FROM leases WHERE name = 'retention' AND owner <> 'other-replica'"
                .into()
        )
        .await,
        1
    );
}

#[tokio::test]
async fn without_retention_nothing_is_deleted() {
    let app = spawn_app_with(&[("RETENTION_SWEEP_SECS", "1")]).await;
    let ann = app.new_user("Ann").await;
    let old = conversation(&app, &ann).await;
    idle_for(&app, &old, 3_650).await;

    tokio::time::sleep(Duration::from_millis(2_500)).await;

    assert!(exists(&app, &old).await);
    assert_eq!(app.messages(&ann, &old).await.len(), 2);
    assert_eq!(rows(&app, "leases").await, 0);
}

#[tokio::test]
async fn a_session_with_a_reply_being_written_is_kept() {
    let app = spawn_app_with(&[("RETENTION_DAYS", "30"), ("RETENTION_SWEEP_SECS", "1")]).await;
    let ann = app.new_user("Ann").await;
    let old = conversation(&app, &ann).await;
    let gone = conversation(&app, &ann).await;
    // Another replica is writing a reply in `old` (its lease holds).
    db_execute(
        &app,
        format!(
            "UPDATE chat_messages SET status = 'generating', lease_owner = 'elsewhere', \
             lease_expires_at = 9000000000000000 WHERE session_id = '{old}' AND role = 'assistant'"
        ),
    )
    .await;
    idle_for(&app, &old, 31).await;
    idle_for(&app, &gone, 31).await;

    assert!(gone_soon(&app, &gone).await);
    assert!(exists(&app, &old).await);
}
