//! Regenerate and edit: replaced messages stay stored with `superseded_by`,
//! the conversation is what nothing replaced, and both produce their reply
//! as a send does (streamed, resumable, stoppable, idempotent).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{
    assert_error, expect_json, json, on_postgres, spawn_app, spawn_app_with, tick, Message,
    MessageExchange, MessageStatus, Page, Role, Session, TestApp, TestUser, UserActivity,
};
use crate::provider::{app_with_upstream, chat_requests, completion, turns};
use crate::slow_upstream::{numbered_pieces, SlowUpstream};
use crate::sse::{Event, Events};

fn regenerate_path(session: &str, message: &str) -> String {
    format!("/sessions/{session}/messages/{message}/regenerate")
}

fn edit_path(session: &str, message: &str) -> String {
    format!("/sessions/{session}/messages/{message}/edit")
}

async fn regenerate(app: &TestApp, user: &TestUser, session: &str, message: &str) -> Response {
    app.client
        .post(app.url(&regenerate_path(session, message)))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
}

async fn edit(
    app: &TestApp,
    user: &TestUser,
    session: &str,
    message: &str,
    content: &str,
) -> Response {
    app.post(
        &edit_path(session, message),
        &user.token,
        json!({"content": content}),
    )
    .await
}

async fn keyed(app: &TestApp, user: &TestUser, path: &str, key: &str, body: Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&user.token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn all_messages(app: &TestApp, user: &TestUser, session: &str) -> Vec<Message> {
    let path = format!("/sessions/{session}/messages?limit=200&include_superseded=true");
    let page: Page<Message> = app.get_json(&path, &user.token).await;
    page.items
}

async fn session(app: &TestApp, user: &TestUser, id: &str) -> Session {
    app.get_json(&format!("/sessions/{id}"), &user.token).await
}

async fn stored_messages(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use richesreach_chat::db::schema::chat_messages;
    app.db()
        .run(|conn| Ok(chat_messages::table.count().get_result(conn)?))
        .await
        .unwrap()
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

fn deltas(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(Event::delta)
        .collect()
}

#[tokio::test]
async fn regenerating_the_last_reply_replaces_it_in_the_conversation() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is an index fund?").await;
    let before = session(&app, &user, &id).await;
    tick().await;

    let new: Message = expect_json(
        regenerate(&app, &user, &id, &first.assistant_message.id).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(new.role, Role::Assistant);
    assert_eq!(new.status, MessageStatus::Complete);
    assert_eq!(new.superseded_by, None);
    assert_ne!(new.id, first.assistant_message.id);
    assert!(!new.content.is_empty());

    let conversation = app.messages(&user, &id).await;
    assert_eq!(
        ids(&conversation),
        [first.user_message.id.as_str(), &new.id]
    );
    let all = all_messages(&app, &user, &id).await;
    assert_eq!(
        ids(&all),
        [
            first.user_message.id.as_str(),
            &first.assistant_message.id,
            &new.id
        ]
    );
    assert_eq!(all[1].superseded_by.as_deref(), Some(new.id.as_str()));
    let old: Message = app
        .get_json(
            &format!("/sessions/{id}/messages/{}", first.assistant_message.id),
            &user.token,
        )
        .await;
    assert_eq!(old.superseded_by.as_deref(), Some(new.id.as_str()));

    let after = session(&app, &user, &id).await;
    assert_eq!(
        after.message_count, 2,
        "superseded messages are not counted"
    );
    assert!(after.updated_at > before.updated_at);

    // The new reply is the last one now: it can be regenerated, the old one not.
    assert_error(
        regenerate(&app, &user, &id, &first.assistant_message.id).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let again: Message = expect_json(
        regenerate(&app, &user, &id, &new.id).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(ids(&app.messages(&user, &id).await)[1], again.id);
}

#[tokio::test]
async fn regenerate_is_refused_on_anything_but_the_last_reply() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    let second = app.send(&user, &id, "and a stock?").await;
    for message in [
        &first.user_message.id,
        &first.assistant_message.id,
        &second.user_message.id,
    ] {
        assert_error(
            regenerate(&app, &user, &id, message).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
    // `{}` is as good as an empty body.
    let response = app
        .post(
            &regenerate_path(&id, &second.assistant_message.id),
            &user.token,
            json!({}),
        )
        .await;
    let _: Message = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(stored_messages(&app).await, 5);
}

#[tokio::test]
async fn another_users_ids_are_not_found() {
    let app = spawn_app().await;
    let (ann, bob) = (app.new_user("Ann").await, app.new_user("Bob").await);
    let id = app.new_session(&ann).await.id;
    let exchange = app.send(&ann, &id, "what is a bond?").await;
    let bobs = app.new_session(&bob).await.id;
    let (q, r) = (&exchange.user_message.id, &exchange.assistant_message.id);
    let missing = uuid::Uuid::now_v7().to_string();
    for (session, message) in [
        (id.as_str(), r.as_str()),
        (&bobs, r),
        (&id, &missing),
        (&missing, r),
        ("not-a-uuid", r),
    ] {
        assert_error(
            regenerate(&app, &bob, session, message).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for (session, message) in [(id.as_str(), q.as_str()), (&bobs, q), (&id, "nope")] {
        assert_error(
            edit(&app, &bob, session, message, "mine now").await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // Ann's own message, named with another of her sessions: not found either.
    let other = app.new_session(&ann).await.id;
    assert_error(
        regenerate(&app, &ann, &other, r).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        edit(&app, &ann, &other, q, "again").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let without_token = app
        .client
        .post(app.url(&regenerate_path(&id, r)))
        .send()
        .await
        .unwrap();
    assert_error(without_token, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(stored_messages(&app).await, 2);
    assert_eq!(app.messages(&ann, &id).await.len(), 2);
}

#[tokio::test]
async fn editing_a_question_replaces_it_and_everything_after_it() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    let second = app.send(&user, &id, "what is a stock?").await;
    let third = app.send(&user, &id, "what is an ETF?").await;
    tick().await;

    let edited: MessageExchange = expect_json(
        edit(
            &app,
            &user,
            &id,
            &second.user_message.id,
            "what is a dividend?",
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(edited.user_message.role, Role::User);
    assert_eq!(edited.user_message.content, "what is a dividend?");
    assert_eq!(edited.assistant_message.status, MessageStatus::Complete);

    let conversation = app.messages(&user, &id).await;
    assert_eq!(
        ids(&conversation),
        [
            first.user_message.id.as_str(),
            &first.assistant_message.id,
            &edited.user_message.id,
            &edited.assistant_message.id,
        ]
    );
    let all = all_messages(&app, &user, &id).await;
    assert_eq!(all.len(), 8);
    let replaced: Vec<&str> = all
        .iter()
        .filter(|m| m.superseded_by.as_deref() == Some(edited.user_message.id.as_str()))
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(
        replaced,
        [
            second.user_message.id.as_str(),
            &second.assistant_message.id,
            &third.user_message.id,
            &third.assistant_message.id,
        ]
    );
    // Newest first, the conversation alone.
    let page: Page<Message> = app
        .get_json(&format!("/sessions/{id}/messages?order=desc"), &user.token)
        .await;
    assert_eq!(page.items[0].id, edited.assistant_message.id);
    assert_eq!(page.items.len(), 4);
    // Paged one at a time, with and without the superseded ones.
    let walked = app
        .walk_pages::<Page<Message>>(&format!("/sessions/{id}/messages"), 1, &user.token)
        .await;
    assert_eq!(walked, conversation);
    let walked = app
        .walk_pages::<Page<Message>>(
            &format!("/sessions/{id}/messages?include_superseded=true"),
            3,
            &user.token,
        )
        .await;
    assert_eq!(walked, all);

    assert_eq!(session(&app, &user, &id).await.message_count, 4);
    let admin = app.new_admin().await;
    let users: Page<UserActivity> = app.get_json("/admin/users?limit=200", &admin.token).await;
    let ann = users.items.iter().find(|u| u.user.id == user.id).unwrap();
    assert_eq!(ann.message_count, 4);
    // The admin conversation view takes the same parameter.
    let viewed: Page<Message> = app
        .get_json(&format!("/admin/sessions/{id}/messages"), &admin.token)
        .await;
    assert_eq!(viewed.items, conversation);
    let viewed: Page<Message> = app
        .get_json(
            &format!("/admin/sessions/{id}/messages?include_superseded=true"),
            &admin.token,
        )
        .await;
    assert_eq!(viewed.items, all);
}

#[tokio::test]
async fn edit_is_refused_on_replies_and_replaced_questions_and_checks_the_content() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    assert_error(
        edit(&app, &user, &id, &first.assistant_message.id, "x").await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    for bad in ["", "   ", &"x".repeat(8001), "bell\u{7}"] {
        let body: Value = expect_json(
            edit(&app, &user, &id, &first.user_message.id, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["error"]["code"], "validation_failed");
    }
    let missing_field = app
        .post(
            &edit_path(&id, &first.user_message.id),
            &user.token,
            json!({}),
        )
        .await;
    assert_error(missing_field, StatusCode::BAD_REQUEST, "bad_request").await;

    let _: MessageExchange = expect_json(
        edit(&app, &user, &id, &first.user_message.id, "what is a stock?").await,
        StatusCode::CREATED,
    )
    .await;
    // Replaced now, and so is its old reply.
    assert_error(
        edit(&app, &user, &id, &first.user_message.id, "again").await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        regenerate(&app, &user, &id, &first.assistant_message.id).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(stored_messages(&app).await, 4);
}

/// Answers each chat request with "answer to <its last user message>".
fn echo_upstream() -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    |req: &Request| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let question = turns(&body)
            .into_iter()
            .rev()
            .find(|(role, _)| role == "user")
            .map(|(_, content)| content)
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(completion(&format!("answer to {question}")))
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_edited_question_is_answered_with_the_conversation_before_it() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(echo_upstream())
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let id = app.new_titled_session(&user, "t").await.id;
    app.send(&user, &id, "one").await;
    let second = app.send(&user, &id, "two").await;
    app.send(&user, &id, "three").await;

    let edited: MessageExchange = expect_json(
        edit(&app, &user, &id, &second.user_message.id, "two, again").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(edited.assistant_message.content, "answer to two, again");
    let sent = chat_requests(&upstream).await;
    assert_eq!(sent.len(), 4);
    assert_eq!(
        turns(&sent[3])[1..],
        pairs(&[
            ("user", "one"),
            ("assistant", "answer to one"),
            ("user", "two, again"),
        ])
    );

    // A regenerate asks the same conversation again, without its old reply.
    let _: Message = expect_json(
        regenerate(&app, &user, &id, &edited.assistant_message.id).await,
        StatusCode::CREATED,
    )
    .await;
    // And a send after both sees only the conversation.
    app.send(&user, &id, "four").await;
    let sent = chat_requests(&upstream).await;
    assert_eq!(turns(&sent[4])[1..], turns(&sent[3])[1..]);
    assert_eq!(
        turns(&sent[5])[1..],
        pairs(&[
            ("user", "one"),
            ("assistant", "answer to one"),
            ("user", "two, again"),
            ("assistant", "answer to two, again"),
            ("user", "four"),
        ])
    );
}

#[tokio::test]
async fn editing_the_first_question_starts_from_nothing() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(echo_upstream())
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let id = app.new_titled_session(&user, "t").await.id;
    let first = app.send(&user, &id, "one").await;
    app.send(&user, &id, "two").await;
    let _: MessageExchange = expect_json(
        edit(&app, &user, &id, &first.user_message.id, "zero").await,
        StatusCode::CREATED,
    )
    .await;
    let sent = chat_requests(&upstream).await;
    assert_eq!(turns(&sent[2])[1..], pairs(&[("user", "zero")]));
    assert_eq!(session(&app, &user, &id).await.message_count, 2);
}

async fn stream_post(app: &TestApp, user: &TestUser, path: &str, body: Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn regenerate_streams_in_all_three_forms() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let mut last = app
        .send(&user, &id, "what is an index fund?")
        .await
        .assistant_message;
    let sse = |req: reqwest::RequestBuilder| req.header("accept", "text/event-stream");
    for form in ["accept", "query", "twin"] {
        let path = regenerate_path(&id, &last.id);
        let req = match form {
            "accept" => sse(app.client.post(app.url(&path))),
            "query" => app.client.post(app.url(&format!("{path}?stream=true"))),
            _ => app.client.post(app.url(&format!("{path}/stream"))),
        };
        let response = req.bearer_auth(&user.token).send().await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{form}"
        );
        let events = Events::new(response).rest().await;
        assert_eq!(events[0].name, "reply_started", "{form}: no user_message");
        let started = events[0].message();
        assert_eq!(started.status, MessageStatus::Generating);
        assert_eq!(started.content, "");
        let end = events.last().unwrap();
        assert_eq!(end.name, "assistant_message");
        let answer = end.message();
        assert_eq!(answer.id, started.id);
        assert_eq!(answer.status, MessageStatus::Complete);
        assert_eq!(deltas(&events), answer.content);
        assert_eq!(end.id, Some(answer.content.chars().count()));
        assert!(events[1..events.len() - 1]
            .iter()
            .all(|e| e.name == "delta" && e.id.is_some()));
        let conversation = app.messages(&user, &id).await;
        assert_eq!(conversation[1], answer);
        last = answer;
    }
    assert_eq!(all_messages(&app, &user, &id).await.len(), 5);
}

#[tokio::test]
async fn edit_streams_in_all_three_forms() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let mut question = app.send(&user, &id, "what is a bond?").await.user_message;
    for (n, form) in ["accept", "query", "twin"].into_iter().enumerate() {
        let path = edit_path(&id, &question.id);
        let req = match form {
            "accept" => app
                .client
                .post(app.url(&path))
                .header("accept", "text/event-stream"),
            "query" => app.client.post(app.url(&format!("{path}?stream=true"))),
            _ => app.client.post(app.url(&format!("{path}/stream"))),
        };
        let content = format!("what is a bond, take {n}?");
        let response = req
            .bearer_auth(&user.token)
            .json(&json!({"content": content}))
            .send()
            .await
            .unwrap();
        let events = Events::new(response).rest().await;
        let names: Vec<&str> = events.iter().take(2).map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["user_message", "reply_started"], "{form}");
        let asked = events[0].message();
        assert_eq!(asked.content, content);
        let answer = events.last().unwrap().message();
        assert_eq!(answer.id, events[1].message().id);
        assert_eq!(deltas(&events), answer.content);
        assert_eq!(app.messages(&user, &id).await, [asked.clone(), answer]);
        question = asked;
    }
    assert_eq!(session(&app, &user, &id).await.message_count, 2);
}

#[tokio::test]
async fn a_reply_being_written_blocks_regenerate_and_edit_until_it_is_stopped() {
    let upstream = SlowUpstream::start(numbered_pieces(60), Duration::from_millis(40)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let id = app.new_titled_session(&user, "t").await.id;
    let mut events = Events::new(
        stream_post(
            &app,
            &user,
            &format!("/sessions/{id}/messages/stream"),
            json!({"content": "count"}),
        )
        .await,
    );
    let question = events.next().await.unwrap().message();
    let reply = events.next().await.unwrap().message();
    assert_eq!(reply.status, MessageStatus::Generating);

    assert_error(
        regenerate(&app, &user, &id, &reply.id).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        edit(&app, &user, &id, &question.id, "count again").await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    events.next().await.unwrap();
    let stopped: Message = json(
        app.post(
            &format!("/sessions/{id}/messages/{}/stop", reply.id),
            &user.token,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(stopped.status, MessageStatus::Stopped);

    // A stopped last reply may be regenerated; the new one is written,
    // followed and stopped like any reply.
    let mut events = Events::new(
        stream_post(
            &app,
            &user,
            &format!("{}/stream", regenerate_path(&id, &reply.id)),
            json!({}),
        )
        .await,
    );
    let new = events.next().await.unwrap().message();
    assert_eq!(new.status, MessageStatus::Generating);
    let first_delta = events.next().await.unwrap();
    assert_eq!(first_delta.name, "delta");
    drop(events);
    let resumed = app
        .client
        .get(app.url(&format!("/sessions/{id}/messages/{}/events", new.id)))
        .bearer_auth(&user.token)
        .header("last-event-id", first_delta.id.unwrap().to_string())
        .send()
        .await
        .unwrap();
    let rest = Events::new(resumed).rest().await;
    let answer = rest.last().unwrap().message();
    assert_eq!(answer.status, MessageStatus::Complete);
    assert_eq!(first_delta.delta() + &deltas(&rest), answer.content);
    assert_eq!(answer.content, numbered_pieces(60).concat());

    let conversation = app.messages(&user, &id).await;
    assert_eq!(ids(&conversation), [question.id.as_str(), &answer.id]);
    assert_eq!(
        all_messages(&app, &user, &id).await[1].superseded_by,
        Some(answer.id.clone())
    );

    // An edit, once nothing is being written.
    let edited = stream_post(
        &app,
        &user,
        &format!("{}/stream", edit_path(&id, &question.id)),
        json!({"content": "count again"}),
    )
    .await;
    let events = Events::new(edited).rest().await;
    let answer = events.last().unwrap().message();
    assert_eq!(answer.content, numbered_pieces(60).concat());
    assert_eq!(app.messages(&user, &id).await[1], answer);
}

#[tokio::test]
async fn a_non_streamed_regenerate_answers_with_the_providers_written_reply() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(echo_upstream())
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let id = app.new_titled_session(&user, "t").await.id;
    let first = app.send(&user, &id, "count").await;
    let new: Message = expect_json(
        regenerate(&app, &user, &id, &first.assistant_message.id).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(new.status, MessageStatus::Complete);
    assert_eq!(new.content, "answer to count");
    assert_eq!(new.model.as_deref(), Some(crate::provider::UPSTREAM_MODEL));
    assert!(!new.fallback);
    let sent = chat_requests(&upstream).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(turns(&sent[1])[1..], pairs(&[("user", "count")]));
}

#[tokio::test]
async fn a_repeated_regenerate_or_edit_answers_the_first_answer_again() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    let path = regenerate_path(&id, &first.assistant_message.id);

    let once = keyed(&app, &user, &path, "regen-1", json!({})).await;
    assert!(!replayed(&once));
    let once: Message = expect_json(once, StatusCode::CREATED).await;
    // The message is superseded now, but the same request is a replay.
    let twice = keyed(&app, &user, &path, "regen-1", json!({})).await;
    assert!(replayed(&twice));
    assert_eq!(
        expect_json::<Message>(twice, StatusCode::CREATED).await,
        once
    );
    let streamed = keyed(&app, &user, &format!("{path}/stream"), "regen-1", json!({})).await;
    assert!(replayed(&streamed));
    let events = Events::new(streamed).rest().await;
    assert_eq!(events.last().unwrap().message(), once);
    assert_eq!(deltas(&events), once.content);
    assert_eq!(stored_messages(&app).await, 3);
    // Another path with the same key is a conflict.
    let other = keyed(
        &app,
        &user,
        &regenerate_path(&id, &once.id),
        "regen-1",
        json!({}),
    )
    .await;
    assert_error(other, StatusCode::CONFLICT, "idempotency_conflict").await;

    let path = edit_path(&id, &first.user_message.id);
    let body = json!({"content": "what is a stock?"});
    let once = keyed(&app, &user, &path, "edit-1", body.clone()).await;
    let once: MessageExchange = expect_json(once, StatusCode::CREATED).await;
    let twice = keyed(&app, &user, &path, "edit-1", body.clone()).await;
    assert!(replayed(&twice));
    assert_eq!(
        expect_json::<MessageExchange>(twice, StatusCode::CREATED).await,
        once
    );
    let streamed = keyed(&app, &user, &format!("{path}/stream"), "edit-1", body).await;
    assert!(replayed(&streamed));
    let events = Events::new(streamed).rest().await;
    assert_eq!(events[0].message(), once.user_message);
    assert_eq!(events.last().unwrap().message(), once.assistant_message);
    assert_eq!(stored_messages(&app).await, 5);
    let another_body = keyed(&app, &user, &path, "edit-1", json!({"content": "other"})).await;
    assert_error(another_body, StatusCode::CONFLICT, "idempotency_conflict").await;
    // Malformed keys store nothing.
    for key in ["", &"k".repeat(256), "with space"] {
        let response = keyed(&app, &user, &path, key, json!({"content": "x"})).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(stored_messages(&app).await, 5);
    assert_eq!(session(&app, &user, &id).await.message_count, 2);
}

#[tokio::test]
async fn concurrent_regenerates_of_one_reply_make_one_new_reply() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    let path = regenerate_path(&id, &first.assistant_message.id);

    let tries = (0..10).map(|_| app.post(&path, &user.token, json!({})));
    let mut created = 0;
    for response in futures_util::future::join_all(tries).await {
        match response.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                assert_error(response, StatusCode::CONFLICT, "conflict").await;
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(stored_messages(&app).await, 3);

    // With one key, every try answers the one new reply.
    let last = app.messages(&user, &id).await[1].id.clone();
    let path = regenerate_path(&id, &last);
    let tries = (0..10).map(|_| keyed(&app, &user, &path, "same", json!({})));
    let mut answers = Vec::new();
    for response in futures_util::future::join_all(tries).await {
        answers.push(expect_json::<Message>(response, StatusCode::CREATED).await);
    }
    assert!(answers.iter().all(|a| *a == answers[0]));
    assert_eq!(stored_messages(&app).await, 4);
    assert_eq!(session(&app, &user, &id).await.message_count, 2);
}

#[tokio::test]
async fn concurrent_edits_of_one_question_make_one_new_question() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    app.send(&user, &id, "what is a stock?").await;
    let path = edit_path(&id, &first.user_message.id);
    let tries =
        (0..10).map(|n| app.post(&path, &user.token, json!({"content": format!("take {n}")})));
    let mut created = 0;
    for response in futures_util::future::join_all(tries).await {
        if response.status() == StatusCode::CREATED {
            created += 1;
        } else {
            assert_error(response, StatusCode::CONFLICT, "conflict").await;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(stored_messages(&app).await, 6);
    assert_eq!(app.messages(&user, &id).await.len(), 2);
    assert_eq!(session(&app, &user, &id).await.message_count, 2);
}

#[tokio::test]
async fn regenerate_and_edit_count_against_the_message_rate_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_MESSAGES_PER_MIN", "2")]).await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    let first = app.send(&user, &id, "what is a bond?").await;
    let new: Message = expect_json(
        regenerate(&app, &user, &id, &first.assistant_message.id).await,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        regenerate(&app, &user, &id, &new.id).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_error(
        edit(&app, &user, &id, &first.user_message.id, "again").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(stored_messages(&app).await, 3);
}

/// The SQL of the statements `work` runs, with their binds written in.
fn statements_of(
    conn: &mut richesreach_chat::db::DbConnection,
    work: impl FnOnce(&mut richesreach_chat::db::DbConnection),
) -> Vec<String> {
    use diesel::connection::{Connection, InstrumentationEvent};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            sink.lock().unwrap().push(query.to_string());
        }
    });
    work(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let seen = seen.lock().unwrap().clone();
    seen.into_iter().map(|q| with_binds(&q)).collect()
}

/// `SELECT … WHERE a = ? -- binds: ["x", 3]` → `SELECT … WHERE a = 'x'`.
fn with_binds(debug: &str) -> String {
    let (sql, binds) = debug.split_once(" -- binds: ").unwrap();
    let binds: Vec<Value> = serde_json::from_str(binds).unwrap();
    let mut binds = binds.into_iter();
    sql.chars()
        .map(|c| match c {
            '?' => match binds.next().unwrap() {
                Value::String(s) => format!("'{}'", s.replace('\'', "''")),
                other => other.to_string(),
            },
            c => c.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn the_conversation_of_a_long_session_is_read_through_its_index_sqlite_query_plan() {
    use diesel::prelude::*;
    use richesreach_chat::db::{models, schema::chat_messages};
    use richesreach_chat::service::{
        messages,
        pagination::{Direction, PageRequest},
        sessions::Access,
    };

    // SQLite's `EXPLAIN QUERY PLAN` reads the captured statements with their
    // placeholders unbound; PostgreSQL's EXPLAIN needs the values, and its
    // plan depends on statistics. The index is created on both backends.
    if on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let id = app.new_session(&user).await.id;
    // 10,000 messages, 9,000 of them replaced.
    let session_id = id.clone();
    app.db()
        .write(move |conn| {
            let rows: Vec<models::Message> = (0..10_000i64)
                .map(|n| models::Message {
                    id: uuid::Uuid::now_v7().to_string(),
                    session_id: session_id.clone(),
                    role: if n % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    content: format!("message {n}"),
                    model: None,
                    confidence: None,
                    prompt_tokens: None,
                    completion_tokens: None,
                    latency_ms: None,
                    fallback: false,
                    created_at: 1_000_000 + n,
                    status: MessageStatus::Complete,
                    superseded_by: (n % 10 != 0).then(|| "replaced".to_owned()),
                    lease_owner: None,
                    lease_expires_at: None,
                })
                .collect();
            conn.transaction(|conn| {
                for row in &rows {
                    diesel::insert_into(chat_messages::table)
                        .values(row)
                        .execute(conn)?;
                }
                diesel::QueryResult::Ok(())
            })?;
            Ok(())
        })
        .await
        .unwrap();

    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let session_id = id.clone();
    let (plans, page) = app
        .db()
        .run(move |conn| {
            let first = PageRequest::new(Some(50), None)?;
            let mut found = None;
            let mut sql = statements_of(conn, |conn| {
                found = Some(
                    messages::list(
                        conn,
                        &Access::Any,
                        &session_id,
                        Direction::Ascending,
                        &first,
                        false,
                    )
                    .unwrap(),
                );
            });
            let page = found.unwrap();
            // The next page, after a cursor, and the newest first.
            let next = PageRequest::new(Some(50), page.next_cursor.as_deref())?;
            for direction in [Direction::Ascending, Direction::Descending] {
                sql.extend(statements_of(conn, |conn| {
                    messages::list(conn, &Access::Any, &session_id, direction, &next, false)
                        .unwrap();
                }));
            }
            let mut plans = Vec::new();
            for statement in sql.iter().filter(|s| s.contains("FROM `chat_messages`")) {
                let steps: Vec<Step> =
                    diesel::sql_query(format!("EXPLAIN QUERY PLAN {statement}")).load(conn)?;
                plans.push((
                    statement.clone(),
                    steps.into_iter().map(|s| s.detail).collect::<Vec<_>>(),
                ));
            }
            Ok((plans, page))
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 50);
    assert!(page.items.iter().all(|m| m.message.superseded_by.is_none()));
    assert_eq!(plans.len(), 3, "{plans:#?}");
    for (statement, steps) in plans {
        assert!(
            steps
                .iter()
                .any(|s| s.contains("USING INDEX chat_messages_conversation")),
            "{statement}\n{steps:#?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "no sort: {statement}\n{steps:#?}"
        );
    }
}

#[tokio::test]
async fn a_reply_of_an_edit_whose_writer_died_is_taken_over_with_the_edited_context() {
    use diesel::prelude::*;
    use richesreach_chat::db::schema::chat_messages;

    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(echo_upstream())
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let id = app.new_titled_session(&user, "t").await.id;
    app.send(&user, &id, "one").await;
    let second = app.send(&user, &id, "two").await;
    let edited: MessageExchange = expect_json(
        edit(&app, &user, &id, &second.user_message.id, "two, again").await,
        StatusCode::CREATED,
    )
    .await;
    // As a process that died while writing it would have left it.
    let reply = edited.assistant_message.id.clone();
    app.db()
        .write(move |conn| {
            diesel::update(chat_messages::table.find(reply))
                .set((
                    chat_messages::status.eq(MessageStatus::Generating),
                    chat_messages::content.eq("partial answer"),
                    chat_messages::lease_owner.eq("a-dead-process"),
                    chat_messages::lease_expires_at.eq(0),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();

    let path = format!("/sessions/{id}/messages/{}", edited.assistant_message.id);
    let mut finished = None;
    for _ in 0..100 {
        let m: Message = app.get_json(&path, &user.token).await;
        if m.status == MessageStatus::Complete {
            finished = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished = finished.expect("taken over within 10 s");
    assert!(finished.content.starts_with("partial answer"));
    let sent = chat_requests(&upstream).await;
    let takeover = turns(sent.last().unwrap());
    assert_eq!(
        takeover[1..4],
        pairs(&[
            ("user", "one"),
            ("assistant", "answer to one"),
            ("user", "two, again"),
        ])
    );
    assert_eq!(
        takeover[4],
        ("assistant".to_owned(), "partial answer".to_owned())
    );
    assert!(!takeover
        .iter()
        .any(|(_, c)| c == "two" || c == "answer to two"));
}

/// The document types both operations and their twins for SDK generators.
#[test]
fn the_document_describes_regenerate_and_edit() {
    let spec: Value =
        serde_json::from_str(&richesreach_chat::openapi::spec_json()).expect("the spec is JSON");
    let paths = &spec["paths"];
    let base = "/sessions/{id}/messages/{message_id}";
    let schema_ref = |name: &str| format!("#/components/schemas/{name}");
    for (suffix, operation_id, request, created) in [
        (
            "/regenerate",
            "regenerate_reply",
            "RegenerateRequest",
            // Always a reply: typed as one, so a client narrows on `status` only.
            Some("AssistantMessage"),
        ),
        (
            "/regenerate/stream",
            "regenerate_reply_stream",
            "RegenerateRequest",
            None,
        ),
        (
            "/edit",
            "edit_message",
            "EditMessageRequest",
            Some("MessageExchange"),
        ),
        (
            "/edit/stream",
            "edit_message_stream",
            "EditMessageRequest",
            None,
        ),
    ] {
        let op = &paths[format!("{base}{suffix}")]["post"];
        assert_eq!(op["operationId"], operation_id);
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            schema_ref(request),
            "{operation_id}"
        );
        let headers: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(headers, ["Idempotency-Key"], "{operation_id}");
        let responses = &op["responses"];
        for status in ["400", "401", "404", "409", "429"] {
            assert!(responses[status].is_object(), "{operation_id} {status}");
        }
        let conflict = responses["409"]["description"].as_str().unwrap();
        assert!(conflict.contains("`conflict`") && conflict.contains("`idempotency_conflict`"));
        assert_eq!(
            responses["422"].is_object(),
            operation_id.starts_with("edit"),
            "{operation_id}"
        );
        match created {
            Some(body) => {
                let ok = &responses["201"];
                assert_eq!(
                    ok["content"]["application/json"]["schema"]["$ref"],
                    schema_ref(body)
                );
                assert!(ok["headers"]["Idempotent-Replayed"].is_object());
                assert!(responses["200"].is_null());
            }
            None => {
                let ok = &responses["200"];
                assert_eq!(
                    ok["content"]["text/event-stream"]["schema"]["$ref"],
                    schema_ref("ReplyStreamEvent")
                );
                assert_eq!(ok["content"].as_object().unwrap().len(), 1);
                assert!(responses["201"].is_null());
            }
        }
    }
    for list in ["/sessions/{id}/messages", "/admin/sessions/{id}/messages"] {
        let params = paths[list]["get"]["parameters"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "include_superseded" && p["in"] == "query"),
            "{list}"
        );
    }
}
