use serde_json::{json, Value};

use crate::helpers::spawn_app;

/// 32 users send at once, and one user sends 32 messages at once into one
/// session: every request succeeds and every message is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_senders_lose_nothing() {
    let app = spawn_app().await;
    let shared_user = app.new_user("Ann").await;
    let shared_session = app.new_session(&shared_user).await;

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
        own_sessions.push(app.new_session(user).await);
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

    let session: Value = app
        .get(&format!("/sessions/{shared_session}"), &shared_user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["message_count"], 64);
    let page: Value = app
        .get(
            &format!("/sessions/{shared_session}/messages?limit=200"),
            &shared_user.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 64);
    let mut questions: Vec<&str> = items
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    questions.sort_unstable();
    questions.dedup();
    assert_eq!(questions.len(), 32, "every question stored once");
    for ((user, _), session) in own.iter().zip(&own_sessions) {
        let s: Value = app
            .get(&format!("/sessions/{session}"), &user.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(s["message_count"], 2);
    }
}
