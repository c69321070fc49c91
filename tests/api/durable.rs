//! Durable replies: stored while written, resumable, stoppable.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_error, expect_json, spawn_app, Message, MessageStatus, Rating, TestApp, TestUser,
};
use crate::slow_upstream::{numbered_pieces, SlowUpstream};
use crate::sse::{Event, Events};

pub async fn stream_send(app: &TestApp, user: &TestUser, session: &str, content: &str) -> Response {
    app.client
        .post(app.url(&format!("/sessions/{session}/messages/stream")))
        .bearer_auth(&user.token)
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap()
}

async fn resume(
    app: &TestApp,
    user: &TestUser,
    session: &str,
    reply: &str,
    last_event_id: Option<&str>,
    query: &str,
) -> Response {
    let mut req = app
        .client
        .get(app.url(&format!(
            "/sessions/{session}/messages/{reply}/events{query}"
        )))
        .bearer_auth(&user.token);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    req.send().await.unwrap()
}

async fn get_message(app: &TestApp, user: &TestUser, session: &str, id: &str) -> Message {
    app.get_json(&format!("/sessions/{session}/messages/{id}"), &user.token)
        .await
}

/// Reads the opening events of a streamed send; returns the reply.
async fn opening(events: &mut Events) -> Message {
    assert_eq!(events.next().await.unwrap().name, "user_message");
    let started = events.next().await.unwrap();
    assert_eq!(started.name, "reply_started");
    started.message()
}

fn deltas(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(Event::delta)
        .collect()
}

/// Ids grow with every event and count the characters sent so far.
fn assert_ids_count_characters(events: &[Event], from: usize) {
    let mut chars = from;
    for e in events {
        if e.name == "delta" {
            chars += e.delta().chars().count();
            assert_eq!(e.id, Some(chars), "{e:?}");
        }
    }
}

#[tokio::test]
async fn a_reply_is_stored_as_it_is_written_and_completed_once() {
    let upstream = SlowUpstream::start(numbered_pieces(30), Duration::from_millis(40)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;

    let mut events = Events::new(stream_send(&app, &user, &session, "count").await);
    let started = opening(&mut events).await;
    assert_eq!(started.status, MessageStatus::Generating);
    assert_eq!(started.content, "");
    // Listed and readable while it is being written, with the text so far.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let midway = get_message(&app, &user, &session, &started.id).await;
    assert_eq!(midway.status, MessageStatus::Generating);
    assert!(!midway.content.is_empty(), "saved within 500 ms");
    assert_eq!(app.messages(&user, &session).await.len(), 2);

    let rest = events.rest().await;
    let last = rest.last().unwrap();
    assert_eq!(last.name, "assistant_message");
    let answer = last.message();
    assert_eq!(answer.status, MessageStatus::Complete);
    assert_eq!(answer.content, numbered_pieces(30).concat());
    assert!(answer.content.starts_with(&midway.content));
    assert_eq!(deltas(&rest), answer.content);
    assert_ids_count_characters(&rest, 0);
    assert_eq!(last.id, Some(answer.content.chars().count()));
    assert_eq!(get_message(&app, &user, &session, &answer.id).await, answer);
}

#[tokio::test]
async fn a_reply_rated_while_it_is_written_is_completed_with_its_rating() {
    let upstream = SlowUpstream::start(numbered_pieces(10), Duration::from_millis(40)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;

    let mut events = Events::new(stream_send(&app, &user, &session, "count").await);
    let started = opening(&mut events).await;
    let rated = app
        .request(
            Method::PUT,
            &format!("/sessions/{session}/messages/{}/feedback", started.id),
            Some(&user.token),
            Some(json!({"rating": "up"})),
        )
        .await;
    assert_eq!(rated.status(), StatusCode::OK);

    let rest = events.rest().await;
    let answer = rest.last().unwrap().message();
    assert_eq!(answer.status, MessageStatus::Complete);
    assert_eq!(answer.content, numbered_pieces(10).concat());
    let feedback = answer
        .feedback
        .clone()
        .expect("the rating, in the completed reply");
    assert_eq!(feedback.rating, Rating::Up);
    assert_eq!(get_message(&app, &user, &session, &answer.id).await, answer);
}

#[tokio::test]
async fn a_dropped_stream_resumed_with_last_event_id_misses_and_repeats_nothing() {
    let upstream = SlowUpstream::start(numbered_pieces(40), Duration::from_millis(25)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;

    let mut events = Events::new(stream_send(&app, &user, &session, "count").await);
    let reply = opening(&mut events).await;
    let mut first = Vec::new();
    while first.len() < 5 {
        first.push(events.next().await.unwrap());
    }
    drop(events);
    let last_id = first.last().unwrap().id.unwrap();

    let resumed = resume(
        &app,
        &user,
        &session,
        &reply.id,
        Some(&last_id.to_string()),
        "",
    )
    .await;
    let second = Events::new(resumed).rest().await;
    let answer = second.last().unwrap().message();
    assert_eq!(answer.status, MessageStatus::Complete);
    assert_eq!(deltas(&first) + &deltas(&second), answer.content);
    assert_ids_count_characters(&second, last_id);
    // A resume can itself be resumed: from its last delta, only the end.
    let end = resume(
        &app,
        &user,
        &session,
        &reply.id,
        None,
        &format!("?after={}", answer.content.chars().count()),
    )
    .await;
    let end = Events::new(end).rest().await;
    assert_eq!(end.len(), 1);
    assert_eq!(end[0].message(), answer);
}

#[tokio::test]
async fn resuming_a_finished_reply_sends_the_rest_and_the_message_at_once() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let exchange = app.send(&user, &session, "what is an index fund?").await;
    let answer = exchange.assistant_message;
    let text: Vec<char> = answer.content.chars().collect();

    // `Last-Event-ID` wins over `after`.
    let events =
        Events::new(resume(&app, &user, &session, &answer.id, Some("10"), "?after=3").await)
            .rest()
            .await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].delta(), text[10..].iter().collect::<String>());
    assert_eq!(events[0].id, Some(text.len()));
    assert_eq!(events[1].message(), answer);

    let from_start = Events::new(resume(&app, &user, &session, &answer.id, None, "").await)
        .rest()
        .await;
    assert_eq!(deltas(&from_start), answer.content);

    let past_the_end =
        Events::new(resume(&app, &user, &session, &answer.id, Some("999999"), "").await)
            .rest()
            .await;
    assert_eq!(past_the_end.len(), 1);
    assert_eq!(past_the_end[0].name, "assistant_message");
    assert_eq!(past_the_end[0].id, Some(text.len()));
}

#[tokio::test]
async fn a_resume_position_that_is_not_a_non_negative_integer_is_a_bad_request() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let answer = app.send(&user, &session, "hello").await.assistant_message;
    for (header, query) in [
        (Some("abc"), ""),
        (Some("-1"), ""),
        (None, "?after=-1"),
        (None, "?after=x"),
    ] {
        let response = resume(&app, &user, &session, &answer.id, header, query).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}

#[tokio::test]
async fn another_users_reply_cannot_be_read_resumed_or_stopped() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let session = app.new_session(&ann).await.id;
    let answer = app.send(&ann, &session, "hello").await.assistant_message;
    let path = format!("/sessions/{session}/messages/{}", answer.id);
    assert_error(
        app.get(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let events = resume(&app, &bob, &session, &answer.id, None, "").await;
    assert_error(events, StatusCode::NOT_FOUND, "not_found").await;
    let stop = app
        .post(&format!("{path}/stop"), &bob.token, json!({}))
        .await;
    assert_error(stop, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_user_message_has_no_events_and_cannot_be_stopped() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let exchange = app.send(&user, &session, "hello").await;
    let question = exchange.user_message;
    assert_eq!(question.status, MessageStatus::Complete);
    assert_eq!(
        get_message(&app, &user, &session, &question.id).await,
        question
    );
    let events = resume(&app, &user, &session, &question.id, None, "").await;
    assert_error(events, StatusCode::CONFLICT, "conflict").await;
    let stop_path = format!("/sessions/{session}/messages/{}/stop", question.id);
    let stop = app.post(&stop_path, &user.token, json!({})).await;
    assert_error(stop, StatusCode::CONFLICT, "conflict").await;
    // A finished reply cannot be stopped either.
    let stop_path = format!(
        "/sessions/{session}/messages/{}/stop",
        exchange.assistant_message.id
    );
    let stop = app.post(&stop_path, &user.token, json!({})).await;
    assert_error(stop, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn stopping_a_reply_keeps_its_text_and_ends_every_stream_of_it() {
    let upstream = SlowUpstream::start(numbered_pieces(200), Duration::from_millis(20)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;

    let mut events = Events::new(stream_send(&app, &user, &session, "count").await);
    let reply = opening(&mut events).await;
    let mut seen = Vec::new();
    while seen.len() < 10 {
        seen.push(events.next().await.unwrap());
    }
    let mut follower = Events::new(resume(&app, &user, &session, &reply.id, None, "").await);

    let stop_path = format!("/sessions/{session}/messages/{}/stop", reply.id);
    let stopped: Message = expect_json(
        app.post(&stop_path, &user.token, json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped.status, MessageStatus::Stopped);
    assert!(stopped.content.starts_with(&deltas(&seen)));
    assert!(stopped.content.len() < numbered_pieces(200).concat().len());

    seen.extend(events.rest().await);
    let last = seen.last().unwrap();
    assert_eq!(last.name, "assistant_message");
    assert_eq!(last.message(), stopped);
    assert_eq!(
        deltas(&seen),
        stopped.content,
        "the stream ends exactly at the stopped text"
    );
    let followed = follower.rest().await;
    assert_eq!(followed.last().unwrap().message(), stopped);
    assert_eq!(deltas(&followed), stopped.content);

    // Nothing is written after the stop.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get_message(&app, &user, &session, &reply.id).await, stopped);
    let again = app.post(&stop_path, &user.token, json!({})).await;
    assert_error(again, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn a_non_streamed_send_whose_reply_is_stopped_answers_201_with_it() {
    let upstream = SlowUpstream::start(numbered_pieces(200), Duration::from_millis(20)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;
    let send = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/sessions/{session}/messages")),
            user.token.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"content": "count"}))
                .send()
                .await
                .unwrap()
        })
    };
    let reply = loop {
        let listed = app.messages(&user, &session).await;
        if let Some(reply) = listed.get(1) {
            break reply.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stop_path = format!("/sessions/{session}/messages/{}/stop", reply.id);
    let stopped: Message = expect_json(
        app.post(&stop_path, &user.token, json!({})).await,
        StatusCode::OK,
    )
    .await;
    let exchange: crate::helpers::MessageExchange =
        expect_json(send.await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(exchange.assistant_message, stopped);
}
