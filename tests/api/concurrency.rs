use serde_json::json;

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Role, Session, TokenPair};

/// 32 users send at once, and one user sends 32 messages at once into one
/// session: every request succeeds and every message is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_senders_lose_nothing() {
    let app = spawn_app().await;
    let shared_user = app.new_user("Ann").await;
    let shared_session = app.new_session(&shared_user).await.id;

    let mut tasks = Vec::new();
    for i in 0..32 {
        let (app_url, client) = (app.address.clone(), app.client.clone());
        let (user, session) = (shared_user.clone(), shared_session.clone());
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(format!("{app_url}/sessions/{session}/messages"))
                .bearer_auth(&user.token)
                .json(&json!({"content": format!("question number {i} about index funds")}))
                .send()
                .await
                .expect("sent");
            response.status().as_u16()
        }));
    }
    let mut own = Vec::new();
    for i in 0..32 {
        own.push((app.new_user(&format!("user{i}")).await, i));
    }
    let mut own_sessions = Vec::new();
    for (user, _) in &own {
        own_sessions.push(app.new_session(user).await.id);
    }
    for ((user, i), session) in own.iter().zip(&own_sessions) {
        let (app_url, client, user, session, i) = (
            app.address.clone(),
            app.client.clone(),
            user.clone(),
            session.clone(),
            *i,
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{app_url}/sessions/{session}/messages"))
                .bearer_auth(&user.token)
                .json(&json!({"content": format!("hello from {i}")}))
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }

    let session: Session = app
        .get_json(&format!("/sessions/{shared_session}"), &shared_user.token)
        .await;
    assert_eq!(session.message_count, 64);
    let items = app.messages(&shared_user, &shared_session).await;
    assert_eq!(items.len(), 64);
    let mut questions: Vec<&str> = items
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    questions.sort_unstable();
    questions.dedup();
    assert_eq!(questions.len(), 32, "every question stored once");
    for ((user, _), session) in own.iter().zip(&own_sessions) {
        let s: Session = app
            .get_json(&format!("/sessions/{session}"), &user.token)
            .await;
        assert_eq!(s.message_count, 2);
    }
}

/// 20 refreshes with one refresh token at once: exactly one is answered a
/// new pair, and the others count as a replay, which revokes the chain (the
/// winner's new token with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_of_one_token_have_one_winner_and_revoke_the_chain() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;

    let answers =
        futures_util::future::join_all((0..20).map(|_| app.refresh(&user.refresh_token))).await;

    let mut winners = Vec::new();
    for answer in answers {
        match answer.status() {
            StatusCode::OK => winners.push(answer.json::<TokenPair>().await.unwrap()),
            StatusCode::UNAUTHORIZED => {}
            other => panic!("a refresh answered {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    assert_eq!(
        app.refresh(&winners[0].refresh_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the replays revoked the chain"
    );
}
