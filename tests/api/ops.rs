use crate::helpers::{assert_error, json, spawn_app, spawn_app_with, Health};
use reqwest::{Method, StatusCode};
use richesreach_chat::routes::ops::HealthStatus;

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.request(Method::GET, path, None, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Health = json(response).await;
        assert_eq!(body.status, HealthStatus::Ok);
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_llm_calls() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;
    app.send(&user, &session, "what is an index fund?").await;
    let text = app
        .request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="POST",route="/sessions/{id}/messages",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(text
        .contains(r#"http_request_duration_seconds_bucket{method="POST",route="/auth/register""#));
    assert!(text.contains("llm_fallbacks_total 1"));
    assert!(text.contains(r#"llm_calls_total{provider="offline",outcome="ok"} 1"#));
    assert!(text.contains(r#"llm_tokens_total{kind="prompt"} 0"#));
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let app = spawn_app_with(&[("METRICS_TOKEN", "scrape-me")]).await;
    let response = app.request(Method::GET, "/metrics", None, None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = app
        .request(Method::GET, "/metrics", Some("nope"), None)
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app
        .request(Method::GET, "/metrics", Some("scrape-me"), None)
        .await;
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = spawn_app().await;
    let index = app.request(Method::GET, "/swagger-ui/", None, None).await;
    assert_eq!(index.status(), StatusCode::OK);
    assert!(index.text().await.unwrap().contains("swagger-ui"));
    let bundle = app
        .request(Method::GET, "/swagger-ui/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the UI's assets are in the binary"
    );
    let init = app
        .request(
            Method::GET,
            "/swagger-ui/swagger-initializer.js",
            None,
            None,
        )
        .await;
    assert!(init.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn browsers_on_allowed_origins_may_call_the_api() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/sessions"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // Every method of the API: rating a reply is a PUT.
    let rate = app
        .client
        .request(Method::OPTIONS, app.url("/sessions/x/messages/y/feedback"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    let status = rate.status();
    assert!(
        status.is_success(),
        "PUT preflight: {status} {}",
        rate.text().await.unwrap()
    );
    // The headers the document describes are readable by a frontend.
    let answer = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "retry-after",
        "www-authenticate",
        "idempotent-replayed",
        "content-disposition",
    ] {
        assert!(exposed.contains(name), "{name} is not exposed: {exposed}");
    }
    let other = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        reqwest::StatusCode::OK,
        "served, without CORS headers"
    );
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // A front end on an allowed origin can read the request id of an answer.
    let allowed = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    let exposed = allowed.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    // The service's own pages (same origin) keep working.
    let same = app
        .client
        .post(app.url("/auth/token"))
        .header("origin", app.address.clone())
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "whatever1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// The container's HEALTHCHECK runs `richesreach-chat healthcheck` (there is
/// no curl in the image): exit 0 while the server answers, 1 when it does not.
#[tokio::test]
async fn the_healthcheck_command_exits_0_for_a_live_server_and_1_otherwise() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = |bind: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_richesreach-chat"))
                .arg("healthcheck")
                .env("BIND", bind)
                .output()
                .unwrap()
        })
    };
    let live = run(format!("0.0.0.0:{port}")).await.unwrap();
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let down = run(format!("127.0.0.1:{closed}")).await.unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("error:"));
}

/// The value of an unlabelled series in a scrape.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
}

async fn scrape(app: &crate::helpers::TestApp) -> String {
    app.request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_answer_carries_its_own_generated_request_id() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/healthz", StatusCode::OK),
        ("/sessions", StatusCode::UNAUTHORIZED),
        ("/no/such/page", StatusCode::NOT_FOUND),
    ] {
        let response = app
            .client
            .get(app.url(path))
            // A client-chosen id is not taken over (see README "Operations").
            .header("x-request-id", "chosen-by-the-client")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("{path}: no X-Request-Id"))
            .to_str()
            .unwrap()
            .to_owned();
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 7, "{id}");
        assert!(seen.insert(id), "ids are per request");
    }
}

#[tokio::test]
async fn metrics_report_pool_waits_replies_being_generated_and_open_streams() {
    use crate::durable::stream_send;
    use crate::slow_upstream::{numbered_pieces, SlowUpstream};
    use crate::sse::Events;
    use std::time::Duration;

    let upstream = SlowUpstream::start(numbered_pieces(40), Duration::from_millis(50)).await;
    let app = upstream.app(&[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;
    let idle = scrape(&app).await;
    assert_eq!(series(&idle, "replies_generating"), 0.0);
    assert_eq!(series(&idle, "sse_streams_open"), 0.0);
    // Registering and creating the session checked out connections.
    assert!(series(&idle, "db_pool_wait_seconds_count") >= 2.0, "{idle}");

    let mut events = Events::new(stream_send(&app, &user, &session, "count").await);
    while events.next().await.unwrap().name != "delta" {}
    let busy = scrape(&app).await;
    assert_eq!(series(&busy, "replies_generating"), 1.0);
    assert_eq!(series(&busy, "sse_streams_open"), 1.0);

    // The client goes away: its stream closes; the reply is still written.
    drop(events);
    let mut text = scrape(&app).await;
    for _ in 0..100 {
        if series(&text, "sse_streams_open") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = scrape(&app).await;
    }
    assert_eq!(series(&text, "sse_streams_open"), 0.0);
    assert_eq!(series(&text, "replies_generating"), 1.0);
    for _ in 0..200 {
        if series(&text, "replies_generating") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape(&app).await;
    }
    assert_eq!(series(&text, "replies_generating"), 0.0);
}
