use serde_json::json;

use crate::helpers::{spawn_app, Role, Session};

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
