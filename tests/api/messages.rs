use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    assert_error, db_count, db_execute, on_postgres, spawn_app, spawn_app_with, Message, Page,
    Role, Session,
};

#[tokio::test]
async fn sending_stores_both_messages_and_returns_them() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let exchange = app
        .send(&user, &session, "  How big should my emergency fund be?  ")
        .await;

    let question = &exchange.user_message;
    assert_eq!(question.role, Role::User);
    assert_eq!(question.content, "How big should my emergency fund be?");
    assert_eq!(question.session_id, session);
    assert_eq!(question.model, None);
    assert_eq!(question.confidence, None);
    assert_eq!(question.usage, None);
    assert_eq!(question.latency_ms, None);
    assert!(!question.fallback);
    assert!(question.sources.is_empty());

    let answer = &exchange.assistant_message;
    assert_eq!(answer.role, Role::Assistant);
    assert_eq!(answer.model.as_deref(), Some("fallback"));
    assert!(answer.fallback);
    assert_eq!(answer.usage, None);
    assert!(
        answer.confidence.is_some_and(|c| (0.0..=1.0).contains(&c)),
        "{answer:?}"
    );
    assert!(answer.latency_ms.is_some_and(|ms| ms >= 0), "{answer:?}");
    assert!(answer.content.contains("offline"));
    assert!(
        !answer.sources.is_empty(),
        "the offline answer cites its sources"
    );
    for s in &answer.sources {
        assert!(s.url.starts_with("https://"));
        assert!(!s.title.is_empty());
        assert!(uuid::Uuid::parse_str(&s.id).is_ok());
    }

    // History holds exactly these two, oldest first, sources included.
    let page: Page<Message> = app
        .get_json(&format!("/sessions/{session}/messages"), &user.token)
        .await;
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0], *question);
    assert_eq!(page.items[1], *answer);
    assert_eq!(page.next_cursor, None);
}

/// Notes the id of every message stored `generating` in `generating_seen`.
async fn note_replies_stored_generating(app: &crate::helpers::TestApp) {
    db_execute(app, "CREATE TABLE generating_seen (id TEXT)".into()).await;
    if on_postgres() {
        db_execute(
            app,
            "CREATE FUNCTION note_generating() RETURNS trigger AS $$ BEGIN \
             INSERT INTO generating_seen VALUES (NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql"
                .into(),
        )
        .await;
        db_execute(
            app,
            "CREATE TRIGGER note_generating AFTER INSERT ON chat_messages FOR EACH ROW \
             WHEN (NEW.status = 'generating') EXECUTE FUNCTION note_generating()"
                .into(),
        )
        .await;
    } else {
        db_execute(
            app,
            "CREATE TRIGGER note_generating AFTER INSERT ON chat_messages \
             WHEN new.status = 'generating' BEGIN \
             INSERT INTO generating_seen VALUES (new.id); END"
                .into(),
        )
        .await;
    }
}

/// The offline responder's answer is ready at once: the question and the
/// finished reply are stored together, the reply never `generating` (there
/// is nothing to write piece by piece or take over). A streamed send still
/// stores it `generating` first, for its writer to fill.
#[tokio::test]
async fn an_offline_reply_is_stored_finished_with_its_question() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    note_replies_stored_generating(&app).await;
    let session = app.new_session(&user).await.id;

    let exchange = app
        .send(&user, &session, "How big should my emergency fund be?")
        .await;
    let reply = &exchange.assistant_message;
    assert!(!reply.sources.is_empty(), "{reply:?}");
    let count = |sql: &str| db_count(&app, sql.to_owned());
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM generating_seen").await,
        0,
        "stored generating"
    );
    let stored: Page<Message> = app
        .get_json(&format!("/sessions/{session}/messages"), &user.token)
        .await;
    assert_eq!(
        stored.items,
        [exchange.user_message, exchange.assistant_message]
    );
    let titled: Session = app
        .get_json(&format!("/sessions/{session}"), &user.token)
        .await;
    assert!(titled.title.is_some(), "titled in the same write");

    let streamed = app
        .post(
            &format!("/sessions/{session}/messages?stream=true"),
            &user.token,
            json!({"content": "And what about index funds?"}),
        )
        .await;
    assert_eq!(streamed.status(), StatusCode::OK);
    let events = streamed.text().await.unwrap();
    assert!(events.contains("event: assistant_message"), "{events}");
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM generating_seen").await,
        1,
        "the streamed reply, written by its writer"
    );
}

#[tokio::test]
async fn sending_bumps_the_session_and_titles_it() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let path = format!("/sessions/{session}");
    let before: Session = app.get_json(&path, &user.token).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.send(&user, &session, "is bitcoin safe?").await;
    let after: Session = app.get_json(&path, &user.token).await;
    assert_eq!(after.message_count, 2);
    assert!(after.updated_at > before.updated_at);
    let title = after.title.expect("titled after the first exchange");
    assert!(!title.is_empty() && title.chars().count() <= 61, "{title}");
}

#[tokio::test]
async fn a_user_set_title_is_never_overwritten() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_titled_session(&user, "My plan").await.id;
    app.send(&user, &id, "what is an ETF?").await;
    let after: Session = app.get_json(&format!("/sessions/{id}"), &user.token).await;
    assert_eq!(after.title.as_deref(), Some("My plan"));
}

#[tokio::test]
async fn message_history_pages_in_both_orders() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    for q in ["hello", "what is a bond?", "thanks"] {
        app.send(&user, &session, q).await;
    }
    let collect = |order: &'static str| {
        let (app, user, session) = (&app, &user, &session);
        async move {
            let path = format!("/sessions/{session}/messages?order={order}");
            let items = app.walk_pages::<Page<Message>>(&path, 4, &user.token).await;
            items.into_iter().map(|m| m.content).collect::<Vec<_>>()
        }
    };
    let asc = collect("asc").await;
    let mut desc = collect("desc").await;
    assert_eq!(asc.len(), 6);
    assert_eq!(asc[0], "hello");
    assert_eq!(asc[4], "thanks");
    desc.reverse();
    assert_eq!(asc, desc);
}

#[tokio::test]
async fn blank_or_oversized_content_is_a_validation_error_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let path = format!("/sessions/{session}/messages");
    for content in [json!("   \n\t "), json!("x".repeat(8001))] {
        let response = app
            .post(&path, &user.token, json!({"content": content}))
            .await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let details = body.error.details.expect("the fields that broke a rule");
        assert_eq!(details[0].field, "content");
    }
    assert_error(
        app.post(&path, &user.token, json!({})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        app.post(&path, &user.token, json!({"content": 42})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // 8,000 characters after trimming is fine.
    let ok = app
        .post(
            &path,
            &user.token,
            json!({"content": format!("  {}  ", "é".repeat(8000))}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let session: Session = app
        .get_json(&format!("/sessions/{session}"), &user.token)
        .await;
    assert_eq!(session.message_count, 2);
}

#[tokio::test]
async fn messages_are_rate_limited_per_user() {
    let app = spawn_app_with(&[("RATE_LIMIT_MESSAGES_PER_MIN", "2")]).await;
    let user = app.new_user("Ann").await;
    let other = app.new_user("Bob").await;
    let session = app.new_session(&user).await.id;
    app.send(&user, &session, "one").await;
    app.send(&user, &session, "two").await;
    let response = app
        .post(
            &format!("/sessions/{session}/messages"),
            &user.token,
            json!({"content": "three"}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other users have their own budget.
    let theirs = app.new_session(&other).await.id;
    app.send(&other, &theirs, "hello").await;
    // The refused message was not stored.
    let s: Session = app
        .get_json(&format!("/sessions/{session}"), &user.token)
        .await;
    assert_eq!(s.message_count, 4);
}
