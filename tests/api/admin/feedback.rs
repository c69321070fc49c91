//! The administrators' view of feedback: every rated reply, newest feedback
//! first, filtered by rating, paged; and the counts in the statistics.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_error, json, spawn_app, tick, FeedbackCounts, Message, MessageExchange, Page,
    RatedMessage, Stats, TestApp, TestUser,
};

async fn rate(app: &TestApp, user: &TestUser, exchange: &MessageExchange, rating: &str) -> Message {
    let path = format!(
        "/sessions/{}/messages/{}/feedback",
        exchange.assistant_message.session_id, exchange.assistant_message.id
    );
    let response = app
        .request(
            Method::PUT,
            &path,
            Some(&user.token),
            Some(json!({"rating": rating, "comment": format!("{rating} from {}", user.email)})),
        )
        .await;
    json(response).await
}

/// Three rated replies of two users, rated in this order: Ann down, Bob up,
/// Ann down; and one reply nobody rated.
async fn rated_replies(app: &TestApp) -> (TestUser, TestUser, Vec<MessageExchange>) {
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let ann_session = app.new_session(&ann).await.id;
    let bob_session = app.new_session(&bob).await.id;
    let first = app.send(&ann, &ann_session, "what is a bond?").await;
    let second = app.send(&bob, &bob_session, "what is a stock?").await;
    let third = app.send(&ann, &ann_session, "what is an ETF?").await;
    app.send(&bob, &bob_session, "thanks").await;
    rate(app, &ann, &first, "down").await;
    tick().await;
    rate(app, &bob, &second, "up").await;
    tick().await;
    rate(app, &ann, &third, "down").await;
    (ann, bob, vec![first, second, third])
}

#[tokio::test]
async fn rated_replies_are_listed_newest_feedback_first_with_their_owner() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (ann, bob, exchanges) = rated_replies(&app).await;
    // Rating the first one again makes it the newest.
    tick().await;
    let renewed = rate(&app, &ann, &exchanges[0], "down").await;

    // Act
    let page: Page<RatedMessage> = app.get_json("/admin/feedback", &admin.token).await;

    // Assert
    let ids: Vec<&str> = page.items.iter().map(|r| r.message.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            exchanges[0].assistant_message.id.as_str(),
            exchanges[2].assistant_message.id.as_str(),
            exchanges[1].assistant_message.id.as_str(),
        ]
    );
    assert_eq!(page.items[0].message, renewed);
    assert_eq!(page.items[0].session_id, renewed.session_id);
    assert_eq!(
        (
            page.items[0].user_id.as_str(),
            page.items[0].user_email.as_str()
        ),
        (ann.id.as_str(), ann.email.as_str())
    );
    assert_eq!(
        (
            page.items[2].user_id.as_str(),
            page.items[2].user_email.as_str()
        ),
        (bob.id.as_str(), bob.email.as_str())
    );
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn the_list_filters_by_rating_and_pages() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (_, bob, exchanges) = rated_replies(&app).await;

    let down: Vec<RatedMessage> = app
        .walk_pages::<Page<RatedMessage>>("/admin/feedback?rating=down", 1, &admin.token)
        .await;
    let up: Page<RatedMessage> = app
        .get_json("/admin/feedback?rating=up", &admin.token)
        .await;
    let all: Vec<RatedMessage> = app
        .walk_pages::<Page<RatedMessage>>("/admin/feedback", 2, &admin.token)
        .await;

    let ids = |items: &[RatedMessage]| -> Vec<String> {
        items.iter().map(|r| r.message.id.clone()).collect()
    };
    assert_eq!(
        ids(&down),
        [
            exchanges[2].assistant_message.id.clone(),
            exchanges[0].assistant_message.id.clone()
        ]
    );
    assert_eq!(ids(&up.items), [exchanges[1].assistant_message.id.clone()]);
    assert_eq!(up.items[0].user_id, bob.id);
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn unknown_ratings_and_cursors_are_bad_requests() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    for path in [
        "/admin/feedback?rating=sideways",
        "/admin/feedback?cursor=nope",
        "/admin/feedback?limit=0",
    ] {
        assert_error(
            app.get(path, &admin.token).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
}

#[tokio::test]
async fn removed_feedback_leaves_the_list_and_the_counts() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (ann, _, exchanges) = rated_replies(&app).await;
    let third = &exchanges[2].assistant_message;
    let response = app
        .delete(
            &format!(
                "/sessions/{}/messages/{}/feedback",
                third.session_id, third.id
            ),
            &ann.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let page: Page<RatedMessage> = app.get_json("/admin/feedback", &admin.token).await;
    let stats: Stats = app.get_json("/admin/stats", &admin.token).await;

    assert_eq!(page.items.len(), 2);
    assert!(page.items.iter().all(|r| r.message.id != third.id));
    assert_eq!(stats.feedback, FeedbackCounts { up: 1, down: 1 });
}

#[tokio::test]
async fn statistics_count_feedback_by_rating_and_replies_being_written() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let before: Stats = app.get_json("/admin/stats", &admin.token).await;
    assert_eq!(before.feedback, FeedbackCounts { up: 0, down: 0 });
    assert_eq!(before.generating, 0);
    rated_replies(&app).await;

    let stats: Stats = app.get_json("/admin/stats", &admin.token).await;

    assert_eq!(stats.feedback, FeedbackCounts { up: 1, down: 2 });
    assert_eq!(stats.generating, 0);
    // Two replies being written by another replica (their leases hold far
    // ahead, so nothing here takes them over).
    crate::helpers::db_execute(
        &app,
        "UPDATE chat_messages SET status = 'generating', lease_owner = 'elsewhere', \
         lease_expires_at = 9000000000000000 WHERE id IN \
         (SELECT id FROM chat_messages WHERE role = 'assistant' LIMIT 2)"
            .into(),
    )
    .await;
    let stats: Stats = app.get_json("/admin/stats", &admin.token).await;
    assert_eq!(stats.generating, 2);
}
