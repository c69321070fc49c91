//! The OpenAI-compatible provider path, against a real local HTTP server
//! (wiremock) standing in for the upstream.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{spawn_app_with, MessageStatus, Session, TestApp, Usage};

pub const UPSTREAM_MODEL: &str = "gpt-4o-mini-2024-07-18";

pub fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": UPSTREAM_MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
            "logprobs": null
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    })
}

pub async fn app_with_upstream(upstream: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let base = format!("{}/v1", upstream.uri());
    let mut settings = vec![
        ("OPENAI_API_KEY", "test-key"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("OPENAI_MODEL", "test-model"),
        ("LLM_TIMEOUT_SECS", "5"),
    ];
    settings.extend_from_slice(extra);
    spawn_app_with(&settings).await
}

/// Chat requests (not title requests) the upstream received. They are in
/// the upstream's (OpenAI's) wire format, not one of our API types, so they
/// are read as raw JSON.
pub(crate) async fn chat_requests(upstream: &MockServer) -> Vec<Value> {
    upstream
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r: &Request| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b.get("max_completion_tokens").is_none())
        .collect()
}

/// The (role, content) of each message of a chat request, the system
/// prompt first.
pub(crate) fn turns(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .expect("messages is a list")
        .iter()
        .map(|m| {
            let text = |key: &str| m[key].as_str().expect("a string").to_owned();
            (text("role"), text("content"))
        })
        .collect()
}

async fn mount_reply(upstream: &MockServer, content: &str) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(content)))
        .mount(upstream)
        .await;
}

#[tokio::test]
async fn the_provider_gets_the_system_prompt_the_name_and_the_question() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion("Three to six months of expenses.")),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Mine").await.id;
    let exchange = app
        .send(&user, &session, "How big should my emergency fund be?")
        .await;

    let answer = &exchange.assistant_message;
    assert_eq!(answer.content, "Three to six months of expenses.");
    assert_eq!(answer.model.as_deref(), Some(UPSTREAM_MODEL));
    assert!(!answer.fallback);
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 120,
            completion_tokens: 30
        })
    );
    assert!(
        answer.confidence.is_some_and(|c| (c - 0.8).abs() < 1e-9),
        "{answer:?}"
    );
    assert!(answer.latency_ms.is_some_and(|ms| ms >= 0), "{answer:?}");
    // The model cited nothing: the passages it was given are the sources
    // (tests/api/grounding.rs covers grounding in full).
    assert_eq!(answer.sources[0].title, "Emergency fund");

    let sent = chat_requests(&upstream).await;
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["model"], "test-model");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(
        system.contains("do not give personal investment advice"),
        "{system}"
    );
    assert!(system.contains("Ann"), "the user's name is in the context");
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "How big should my emergency fund be?"})
    );
}

#[tokio::test]
async fn history_is_sent_oldest_first_and_cut_by_message_count() {
    let upstream = MockServer::start().await;
    mount_reply(&upstream, "ok answer").await;
    let app = app_with_upstream(&upstream, &[("CONTEXT_MAX_MESSAGES", "3")]).await;
    let user = app.new_user("Ann").await;
    let id = &app.new_titled_session(&user, "t").await.id;
    for q in ["first", "second", "third"] {
        app.send(&user, id, q).await;
    }
    let sent = chat_requests(&upstream).await;
    let last = turns(&sent[2])[1..].to_vec();
    let expected: Vec<(String, String)> = [
        ("user", "second"),
        ("assistant", "ok answer"),
        ("user", "third"),
    ]
    .iter()
    .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(last, expected);
}

#[tokio::test]
async fn history_is_cut_by_characters_but_always_holds_the_question() {
    let upstream = MockServer::start().await;
    mount_reply(&upstream, "ok answer").await; // 9 characters
    let app = app_with_upstream(&upstream, &[("CONTEXT_MAX_CHARS", "125")]).await;
    let user = app.new_user("Ann").await;
    let id = &app.new_titled_session(&user, "t").await.id;
    let (a, b, c) = ("a".repeat(100), "b".repeat(100), "c".repeat(10));
    for q in [&a, &b, &c] {
        app.send(&user, id, q).await;
    }
    // c (10) + ok (9) + b (100) = 119 fits; + ok (9) = 128 does not.
    let sent = chat_requests(&upstream).await;
    let contents: Vec<String> = turns(&sent[2]).into_iter().skip(1).map(|t| t.1).collect();
    assert_eq!(contents, vec![b.as_str(), "ok answer", c.as_str()]);

    // A question longer than the budget is still sent on its own.
    let long = "d".repeat(500);
    app.send(&user, id, &long).await;
    let sent = chat_requests(&upstream).await;
    let contents: Vec<String> = turns(&sent[3]).into_iter().skip(1).map(|t| t.1).collect();
    assert_eq!(contents, vec![long.as_str()]);
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"message": "boom", "type": "server_error"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(
                    json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("recovered")))
        .with_priority(3)
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("LLM_MAX_RETRIES", "1")]).await;
    let user = app.new_user("Ann").await;
    let id = &app.new_titled_session(&user, "t").await.id;

    // A 500, then one retry that meets a 429: retries are exhausted, so the
    // offline responder answers.
    let first = app.send(&user, id, "one").await;
    assert!(first.assistant_message.fallback);
    let started = Instant::now();
    let second = app.send(&user, id, "two").await;
    assert_eq!(second.assistant_message.content, "recovered");
    assert!(!second.assistant_message.fallback);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(chat_requests(&upstream).await.len(), 3);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(
                    json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&upstream)
        .await;
    mount_reply(&upstream, "after waiting").await;
    let app = app_with_upstream(&upstream, &[("LLM_MAX_RETRIES", "1")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;
    let started = Instant::now();
    let exchange = app.send(&user, &session, "hi").await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(exchange.assistant_message.content, "after waiting");
    assert_eq!(chat_requests(&upstream).await.len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_fall_back() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"message": "bad model", "type": "invalid_request_error"}}),
        ))
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("LLM_MAX_RETRIES", "3")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let exchange = app.send(&user, &session, "what is an index fund?").await;
    assert!(exchange.assistant_message.fallback);
    assert_eq!(
        exchange.assistant_message.model.as_deref(),
        Some("fallback")
    );
    assert_eq!(chat_requests(&upstream).await.len(), 1);
}

#[tokio::test]
async fn a_slow_provider_times_out_into_the_offline_answer() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion("too late"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("LLM_TIMEOUT_SECS", "1")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;
    let started = Instant::now();
    let exchange = app.send(&user, &session, "what is a bond?").await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(exchange.assistant_message.fallback);
    assert!(!exchange.assistant_message.sources.is_empty());
}

#[tokio::test]
async fn a_malformed_answer_falls_back() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"choices\": [", "application/json"),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    let exchange = app.send(&user, &session, "what is a bond?").await;
    assert!(exchange.assistant_message.fallback);
    assert_eq!(app.messages(&user, &session).await.len(), 2);
}

#[tokio::test]
async fn the_circuit_breaker_opens_and_closes_again() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&upstream)
        .await;
    let app = app_with_upstream(
        &upstream,
        &[
            ("LLM_MAX_RETRIES", "0"),
            ("LLM_BREAKER_THRESHOLD", "2"),
            ("LLM_BREAKER_COOLDOWN_SECS", "1"),
        ],
    )
    .await;
    let user = app.new_user("Ann").await;
    let id = &app.new_titled_session(&user, "t").await.id;
    for _ in 0..4 {
        let exchange = app.send(&user, id, "what is a bond?").await;
        assert!(exchange.assistant_message.fallback);
    }
    assert_eq!(
        chat_requests(&upstream).await.len(),
        2,
        "open after two failures: no more calls"
    );

    upstream.reset().await;
    mount_reply(&upstream, "healthy again").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let exchange = app.send(&user, id, "what is a bond?").await;
    assert_eq!(exchange.assistant_message.content, "healthy again");
    let exchange = app.send(&user, id, "and stocks?").await;
    assert!(!exchange.assistant_message.fallback, "closed again");
}

#[tokio::test]
async fn a_new_session_is_titled_by_the_provider_in_the_background() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"max_completion_tokens": 20})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion("\"Emergency Fund Basics.\"")),
        )
        .with_priority(1)
        .mount(&upstream)
        .await;
    mount_reply(&upstream, "Three to six months.").await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    app.send(&user, &session, "How big should my emergency fund be?")
        .await;

    let mut title = None;
    for _ in 0..50 {
        let s: Session = app
            .get_json(&format!("/sessions/{session}"), &user.token)
            .await;
        title = s.title;
        if title.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(title.as_deref(), Some("Emergency Fund Basics"));
    let requests = upstream.received_requests().await.unwrap();
    let title_request: Value = requests
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .find(|b| b.get("max_completion_tokens").is_some())
        .expect("a title request");
    assert!(title_request["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("at most 6 words"));
    assert_eq!(
        title_request["messages"][1]["content"],
        "How big should my emergency fund be?"
    );
}

#[tokio::test]
async fn a_client_that_gives_up_does_not_lose_the_reply() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion("Worth waiting for."))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let id = &app.new_titled_session(&user, "t").await.id;

    let gave_up = app
        .client
        .post(app.url(&format!("/sessions/{id}/messages")))
        .bearer_auth(&user.token)
        .json(&json!({"content": "hello?"}))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client stopped waiting");

    let mut items = Vec::new();
    for _ in 0..40 {
        items = app.messages(&user, id).await;
        // The reply is listed from the start (`generating`); wait for it to finish.
        if items.len() == 2 && items[1].status == MessageStatus::Complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].content, "Worth waiting for.");
}

#[tokio::test]
async fn with_logprobs_confidence_is_the_mean_token_probability() {
    let upstream = MockServer::start().await;
    let mut body = completion("Yes.");
    body["choices"][0]["logprobs"] = json!({"content": [
        {"token": "Yes", "logprob": 0.0, "bytes": null, "top_logprobs": []},
        {"token": ".", "logprob": (0.5f64).ln(), "bytes": null, "top_logprobs": []}
    ], "refusal": null});
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"logprobs": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[("LLM_LOGPROBS", "true")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;
    let exchange = app.send(&user, &session, "is that right?").await;
    assert!(!exchange.assistant_message.fallback);
    let confidence = exchange.assistant_message.confidence;
    assert!(
        confidence.is_some_and(|c| (c - 0.75).abs() < 1e-6),
        "{confidence:?}"
    );
}
