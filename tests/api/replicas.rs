//! Two server processes on one database behave as one service: nothing a
//! request depends on lives in one process (on PostgreSQL, the way replicas
//! run; on SQLite, two processes on one file).

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::durable::stream_send;
use crate::helpers::{
    assert_error, expect_json, json, Message, MessageExchange, MessageStatus, TestApp,
    TestDatabase, TestUser, TokenPair,
};
use crate::restarts::{all_finished, sign_up, start, start_replies, stored_replies};
use crate::slow_upstream::{numbered_pieces, SlowUpstream};
use crate::sse::{Event, Events};

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

fn deltas(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(Event::delta)
        .collect()
}

async fn get_message(app: &TestApp, user: &TestUser, session: &str, id: &str) -> Message {
    app.get_json(&format!("/sessions/{session}/messages/{id}"), &user.token)
        .await
}

async fn follow(
    app: &TestApp,
    user: &TestUser,
    session: &str,
    reply: &str,
    last_event_id: Option<usize>,
) -> Events {
    let mut request = app
        .client
        .get(app.url(&format!("/sessions/{session}/messages/{reply}/events")))
        .bearer_auth(&user.token);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    Events::new(response)
}

/// Opens a streamed send; returns the stream (after `reply_started`) and
/// the reply.
async fn open_reply(app: &TestApp, user: &TestUser, session: &str) -> (Events, Message) {
    let mut events = Events::new(stream_send(app, user, session, "count slowly").await);
    assert_eq!(events.next().await.unwrap().name, "user_message");
    let started = events.next().await.unwrap();
    assert_eq!(started.name, "reply_started");
    let reply = started.message();
    (events, reply)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The ids of every stored message of `role`, straight from the database.
async fn stored_ids(app: &TestApp, role: &'static str) -> BTreeSet<String> {
    app.db()
        .run(move |conn| {
            Ok(
                diesel::sql_query("SELECT id FROM chat_messages WHERE role = $1")
                    .bind::<diesel::sql_types::Text, _>(role)
                    .load::<Id>(conn)?,
            )
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_senders_over_two_replicas_lose_nothing() {
    let upstream = SlowUpstream::start(numbered_pieces(3), Duration::from_millis(1)).await;
    let database = TestDatabase::create();
    let replicas = [
        start(&database, &upstream, &[]).await,
        start(&database, &upstream, &[]).await,
    ];
    // 8 users with 2 sessions each; 4 senders per session, half of them on
    // each replica, so sends into one conversation race across processes.
    let mut sessions = Vec::new();
    for u in 0..8 {
        let user = replicas[u % 2].app.new_user(&format!("User{u}")).await;
        for _ in 0..2 {
            let session = replicas[u % 2].app.new_session(&user).await.id;
            sessions.push((user.clone(), session));
        }
    }
    let sends = (0..64).map(|i| {
        let app = &replicas[i % 2].app;
        let (user, session) = &sessions[i % sessions.len()];
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/sessions/{session}/messages")),
            user.token.clone(),
        );
        tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"content": format!("question {i}")}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            (status, body)
        })
    });
    let mut acknowledged = Vec::new();
    for send in futures_util::future::join_all(sends).await {
        let (status, body) = send.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acknowledged.push(serde_json::from_str::<MessageExchange>(&body).unwrap());
    }

    let questions: BTreeSet<String> = acknowledged
        .iter()
        .map(|e| e.user_message.id.clone())
        .collect();
    let answers: BTreeSet<String> = acknowledged
        .iter()
        .map(|e| e.assistant_message.id.clone())
        .collect();
    assert_eq!(questions.len(), 64);
    assert_eq!(answers.len(), 64);
    let app = &replicas[0].app;
    assert_eq!(
        stored_ids(app, "user").await,
        questions,
        "stored = acknowledged"
    );
    assert_eq!(stored_ids(app, "assistant").await, answers);
    // Each conversation counts what it holds, whichever replica wrote it.
    for (user, session) in &sessions {
        let listed = replicas[1].app.messages(user, session).await;
        assert_eq!(listed.len(), 8, "4 exchanges in {session}");
        let s: crate::helpers::Session = replicas[0]
            .app
            .get_json(&format!("/sessions/{session}"), &user.token)
            .await;
        assert_eq!(s.message_count, 8);
    }
}

// Multi-threaded: the slow upstream must keep streaming while a test waits
// for a process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_whose_replica_is_killed_is_finished_by_the_other_and_resumed_through_it() {
    let upstream = SlowUpstream::start(numbered_pieces(80), Duration::from_millis(30)).await;
    let database = TestDatabase::create();
    let mut one = start(&database, &upstream, &[]).await;
    let two = start(&database, &upstream, &[]).await;
    let ann = sign_up(&one.app).await;
    let session = one.app.new_titled_session(&ann, "t").await.id;

    let (mut events, reply) = open_reply(&one.app, &ann, &session).await;
    let mut seen = Vec::new();
    while seen.len() < 5 {
        seen.push(events.next().await.unwrap());
    }
    // The client's connection drops; the replica goes on writing (and
    // saving, every 500 ms) until it is killed.
    drop(events);
    let last_id = seen.last().unwrap().id.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    one.kill();

    let stored = get_message(&two.app, &ann, &session, &reply.id).await;
    assert_eq!(stored.status, MessageStatus::Generating);
    assert!(stored.content.chars().count() >= last_id);

    let rest = follow(&two.app, &ann, &session, &reply.id, Some(last_id))
        .await
        .rest()
        .await;
    let finished = rest.last().unwrap().message();
    assert_eq!(finished.status, MessageStatus::Complete);
    assert!(finished.content.starts_with(&stored.content));
    assert!(finished.content.len() > stored.content.len());
    assert_eq!(
        deltas(&seen) + &deltas(&rest),
        finished.content,
        "the resumed stream misses and repeats nothing"
    );
    assert_eq!(
        get_message(&two.app, &ann, &session, &reply.id).await,
        finished
    );
    assert_eq!(upstream.requests(), 2, "asked once, then once to continue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_written_on_one_replica_is_followed_and_stopped_through_the_other() {
    let upstream = SlowUpstream::start(numbered_pieces(200), Duration::from_millis(20)).await;
    let database = TestDatabase::create();
    let one = start(&database, &upstream, &[]).await;
    let two = start(&database, &upstream, &[]).await;
    let ann = sign_up(&one.app).await;
    let session = one.app.new_titled_session(&ann, "t").await.id;

    let (mut events, reply) = open_reply(&one.app, &ann, &session).await;
    let mut seen = Vec::new();
    while seen.len() < 10 {
        seen.push(events.next().await.unwrap());
    }
    // Replica two does not write this reply: it follows the stored text.
    let mut follower = follow(&two.app, &ann, &session, &reply.id, None).await;
    let mut followed = Vec::new();
    while followed.len() < 3 {
        followed.push(follower.next().await.unwrap());
    }

    let stop_path = format!("/sessions/{session}/messages/{}/stop", reply.id);
    let stopped: Message = expect_json(
        two.app.post(&stop_path, &ann.token, json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped.status, MessageStatus::Stopped);
    assert!(stopped.content.starts_with(&deltas(&seen)));
    assert!(stopped.content.len() < numbered_pieces(200).concat().len());

    // The writer's stream and the follower's both end exactly at it.
    seen.extend(events.rest().await);
    assert_eq!(seen.last().unwrap().message(), stopped);
    assert_eq!(deltas(&seen), stopped.content);
    followed.extend(follower.rest().await);
    assert_eq!(followed.last().unwrap().message(), stopped);
    assert_eq!(deltas(&followed), stopped.content);

    // Nothing is written after the stop, on either replica.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        get_message(&one.app, &ann, &session, &reply.id).await,
        stopped
    );
    let again = one.app.post(&stop_path, &ann.token, json!({})).await;
    assert_error(again, StatusCode::CONFLICT, "conflict").await;
}

/// Starts `n` replies on a replica, kills it, and waits until their leases
/// (2 s in tests) have expired; returns the user, the (session, reply) ids
/// and the text each had stored.
async fn orphaned_replies(
    database: &TestDatabase,
    upstream: &SlowUpstream,
    n: usize,
) -> (TestUser, Vec<(String, String)>, Vec<crate::restarts::Row>) {
    let mut writer = start(database, upstream, &[]).await;
    let user = sign_up(&writer.app).await;
    let (streams, ids) = start_replies(&writer.app, &user, n).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    writer.kill();
    drop(streams);
    let orphans = stored_replies(&writer.app).await;
    assert_eq!(orphans.len(), n);
    assert!(orphans.iter().all(|r| r.status == "generating"));
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    (user, ids, orphans)
}

/// Of several processes claiming the same expired replies at the same
/// moment, exactly one wins each (the claim is one conditional UPDATE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_of_expired_replies_have_one_winner_each() {
    use richesreach_chat::clock::now_ms;
    use richesreach_chat::db::Database;
    use richesreach_chat::service::replies::claim_expired;

    let upstream = SlowUpstream::start(numbered_pieces(80), Duration::from_millis(30)).await;
    let database = TestDatabase::create();
    let (_, _, orphans) = orphaned_replies(&database, &upstream, 12).await;

    const CLAIMERS: usize = 8;
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|i| {
            let (url, barrier) = (database.url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let db = Database::connect(&url, 1).unwrap();
                let mut conn = db.get().unwrap();
                barrier.wait();
                let now = now_ms();
                claim_expired(&mut conn, &format!("claimer-{i}"), now, now + 60_000, 32)
                    .unwrap()
                    .into_iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let claims: Vec<Vec<String>> = claimers.into_iter().map(|c| c.join().unwrap()).collect();

    let all: Vec<&String> = claims.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), 12, "every reply claimed once: {claims:?}");
    assert_eq!(distinct.len(), 12);
    let orphan_ids: HashSet<&String> = orphans.iter().map(|r| &r.id).collect();
    assert_eq!(distinct, orphan_ids);
}

/// Two live replicas sweep for the replies of a dead one: each reply is
/// taken over and finished exactly once (one continuation asked of the
/// upstream per reply, its text continued once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sweeping_the_same_orphans_finish_each_exactly_once() {
    let upstream = SlowUpstream::start(numbered_pieces(40), Duration::from_millis(30)).await;
    let database = TestDatabase::create();
    let one = start(&database, &upstream, &[]).await;
    let two = start(&database, &upstream, &[]).await;
    let (user, ids, orphans) = orphaned_replies(&database, &upstream, 12).await;

    let done = all_finished(&one.app, Duration::from_secs(30)).await;
    // Time for a late, second takeover to show (sweeps run every 2 s).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(upstream.requests(), 24, "12 replies, each continued once");
    let after = stored_replies(&two.app).await;
    assert_eq!(after.len(), 12);
    let continuation = numbered_pieces(40).concat();
    for ((before, finished), settled) in orphans.iter().zip(&done).zip(&after) {
        assert_eq!(before.id, finished.id);
        assert_eq!(finished.content, settled.content, "nothing written after");
        assert_eq!(settled.status, "complete");
        assert!(settled.content.starts_with(&before.content));
        assert!(
            settled.content.len() <= before.content.len() + continuation.len(),
            "continued once: {:?}",
            settled.content
        );
    }
    for (session, reply) in &ids {
        let messages = two.app.messages(&user, session).await;
        assert_eq!(messages.len(), 2);
        assert_eq!(&messages[1].id, reply);
        assert_eq!(messages[1].status, MessageStatus::Complete);
    }
}
