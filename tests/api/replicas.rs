//! Two server processes on one database behave as one service: nothing a
//! request depends on lives in one process (on PostgreSQL, the way replicas
//! run; on SQLite, two processes on one file).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, expect_json, json, MessageExchange, TestDatabase, TokenPair};
use crate::restarts::start;
use crate::slow_upstream::{numbered_pieces, SlowUpstream};

#[tokio::test]
async fn a_user_signed_in_on_one_replica_is_served_by_the_other() {
    let upstream = SlowUpstream::start(numbered_pieces(3), Duration::from_millis(1)).await;
    let database = TestDatabase::create();
    let one = start(&database, &upstream, &[]).await;
    let two = start(&database, &upstream, &[]).await;

    let ann = one.app.new_user("Ann").await;
    let session = two.app.new_session(&ann).await.id;
    let sent: MessageExchange = expect_json(
        two.app
            .post(
                &format!("/sessions/{session}/messages"),
                &ann.token,
                json!({"content": "what is an index fund?"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;

    let seen = one.app.messages(&ann, &session).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].id, sent.assistant_message.id);
    assert_eq!(seen[1].content, sent.assistant_message.content);
}

#[tokio::test]
async fn a_refresh_token_rotated_on_one_replica_is_refused_on_the_other() {
    let upstream = SlowUpstream::start(numbered_pieces(1), Duration::from_millis(1)).await;
    let database = TestDatabase::create();
    let one = start(&database, &upstream, &[]).await;
    let two = start(&database, &upstream, &[]).await;
    let ann = one.app.new_user("Ann").await;

    let rotated: TokenPair = json(one.app.refresh(&ann.refresh_token).await).await;
    let replay = two.app.refresh(&ann.refresh_token).await;

    assert_error(replay, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The replay revoked the chain everywhere, the new token with it.
    for app in [&one.app, &two.app] {
        assert_eq!(
            app.refresh(&rotated.refresh_token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn a_deactivation_on_one_replica_applies_on_the_other() {
    let upstream = SlowUpstream::start(numbered_pieces(1), Duration::from_millis(1)).await;
    let database = TestDatabase::create();
    let one = start(&database, &upstream, &[]).await;
    let two = start(&database, &upstream, &[]).await;
    let admin = one.app.new_admin().await;
    let bob = two.app.new_user("Bob").await;
    assert_eq!(
        two.app.get("/auth/me", &bob.token).await.status(),
        StatusCode::OK
    );

    let off = one
        .app
        .patch(
            &format!("/admin/users/{}", bob.id),
            &admin.token,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);

    assert!(two
        .app
        .get("/auth/me", &bob.token)
        .await
        .status()
        .is_client_error());
    assert_eq!(
        two.app.refresh(&bob.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
