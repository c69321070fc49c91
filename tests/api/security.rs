//! What a security review probed: slow bodies, sign-in lockout, registration
//! cost, lookalike emails, media types, token details and browser headers.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp, PASSWORD};

/// A client whose requests come from `ip` (any 127.x.y.z reaches the server
/// on 127.0.0.1), so one test can play several client addresses.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    client_from(ip)
        .post(app.url("/auth/token"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn register_from(app: &TestApp, ip: &str, email: &str) -> Response {
    client_from(ip)
        .post(app.url("/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Someone"}))
        .send()
        .await
        .unwrap()
}

/// Rate limits count in one-minute windows: start a scenario with at least
/// 20 s of its window left, so it does not straddle two.
async fn fresh_window() {
    let ms = chrono::Utc::now().timestamp_millis().rem_euclid(60_000);
    if ms > 40_000 {
        let left = u64::try_from(60_000 - ms).unwrap() + 100;
        tokio::time::sleep(Duration::from_millis(left)).await;
    }
}

mod bodies {
    use super::*;

    /// 1 s of silence or 3 s in all ends a body read.
    const LIMITS: &[(&str, &str)] = &[
        ("BODY_IDLE_TIMEOUT_SECS", "1"),
        ("BODY_READ_TIMEOUT_SECS", "3"),
    ];

    async fn connect(app: &TestApp) -> TcpStream {
        let addr = app.address.trim_start_matches("http://");
        TcpStream::connect(addr).await.expect("connect")
    }

    /// What the server sent until it closed the connection, and when it
    /// closed it; `None` when it was still open at `limit`.
    async fn read_until_closed(
        stream: &mut TcpStream,
        limit: Duration,
    ) -> (String, Option<Duration>) {
        let start = Instant::now();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return (
                        String::from_utf8_lossy(&received).into(),
                        Some(start.elapsed()),
                    )
                }
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&received).into(), None),
            }
        }
    }

    /// The status and JSON body of a raw HTTP/1.1 answer.
    fn parse_answer(raw: &str) -> (u16, Value) {
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn assert_request_timeout(raw: &str) {
        let (status, body) = parse_answer(raw);
        assert_eq!(status, 408, "{raw}");
        assert_eq!(body["error"]["code"], "request_timeout", "{raw}");
    }

    /// The server still answers others quickly.
    async fn assert_still_serving(app: &TestApp) {
        let started = Instant::now();
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_stalled_body_gets_408_and_the_connection_closes() {
        let app = spawn_app_with(LIMITS).await;
        let mut stream = connect(&app).await;
        stream
            .write_all(
                b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"e",
            )
            .await
            .unwrap();
        assert_still_serving(&app).await;
        let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let closed = closed.expect("the connection is closed");
        assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
        assert_request_timeout(&raw);
    }

    #[tokio::test]
    async fn a_trickled_body_gets_408_within_the_total_bound() {
        let app = spawn_app_with(LIMITS).await;
        let stream = connect(&app).await;
        let (mut reader, mut writer) = stream.into_split();
        writer
            .write_all(
                b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 1000\r\n\r\n",
            )
            .await
            .unwrap();
        // A byte every 400 ms: never idle for a second, but never done.
        let trickle = tokio::spawn(async move {
            for _ in 0..50 {
                if writer.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        });
        let started = Instant::now();
        let mut raw = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut raw)).await;
        let elapsed = started.elapsed();
        trickle.abort();
        assert!(closed.is_ok(), "the connection is closed");
        assert!(
            elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(6),
            "closed after {elapsed:?}"
        );
        assert_request_timeout(&String::from_utf8_lossy(&raw));
        assert_still_serving(&app).await;
    }

    #[tokio::test]
    async fn a_stalled_chunked_body_gets_408_and_the_connection_closes() {
        let app = spawn_app_with(LIMITS).await;
        let mut stream = connect(&app).await;
        stream
            .write_all(
                b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Transfer-Encoding: chunked\r\n\r\n3\r\n{\"e\r\n",
            )
            .await
            .unwrap();
        let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let closed = closed.expect("the connection is closed");
        assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
        assert_request_timeout(&raw);
        assert_still_serving(&app).await;
    }

    #[tokio::test]
    async fn an_unread_chunked_body_does_not_hold_the_connection() {
        let app = spawn_app_with(LIMITS).await;
        let mut stream = connect(&app).await;
        stream
            .write_all(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n",
            )
            .await
            .unwrap();
        let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let closed = closed.expect("the connection is closed");
        assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
        assert_eq!(parse_answer(&raw).0, 200, "{raw}");
    }

    #[tokio::test]
    async fn a_complete_chunked_body_is_read_as_usual() {
        let app = spawn_app_with(LIMITS).await;
        let mut stream = connect(&app).await;
        let body =
            r#"{"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}"#;
        let request = format!(
            "POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(closed.is_some());
        assert_eq!(parse_answer(&raw).0, 201, "{raw}");
    }
}

mod sign_in_limits {
    use super::*;

    const LIMIT_3: &[(&str, &str)] = &[("RATE_LIMIT_AUTH_PER_MIN", "3")];

    #[tokio::test]
    async fn one_address_cannot_lock_an_account_out_of_sign_in() {
        let app = spawn_app_with(LIMIT_3).await;
        app.register("carol@example.com", PASSWORD, "Carol").await;
        fresh_window().await;
        let mut limited = 0;
        for _ in 0..11 {
            let response =
                sign_in_from(&app, "127.0.0.2", "carol@example.com", "wrong password").await;
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                limited += 1;
            }
        }
        assert_eq!(limited, 8, "the attacking address is limited");
        let carol = sign_in_from(&app, "127.0.0.1", "carol@example.com", PASSWORD).await;
        assert_eq!(
            carol.status(),
            StatusCode::OK,
            "carol gets in from her address"
        );
    }

    #[tokio::test]
    async fn an_account_under_attack_gives_each_address_one_guess() {
        let app = spawn_app_with(LIMIT_3).await;
        app.register("carol@example.com", PASSWORD, "Carol").await;
        fresh_window().await;
        for _ in 0..3 {
            let response =
                sign_in_from(&app, "127.0.0.2", "carol@example.com", "wrong password").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        // Another address gets one guess, then no more for this account ...
        let guess = sign_in_from(&app, "127.0.0.3", "carol@example.com", "wrong again").await;
        assert_error(guess, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let again = sign_in_from(&app, "127.0.0.3", "carol@example.com", PASSWORD).await;
        assert_error(again, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // ... while it may still sign in to others, and a clean address to carol's.
        app.register("dave@example.com", PASSWORD, "Dave").await;
        let dave = sign_in_from(&app, "127.0.0.3", "dave@example.com", PASSWORD).await;
        assert_eq!(dave.status(), StatusCode::OK);
        let carol = sign_in_from(&app, "127.0.0.4", "carol@example.com", PASSWORD).await;
        assert_eq!(carol.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_address_over_its_budget_spends_nothing_of_an_emails_budget() {
        let app = spawn_app_with(LIMIT_3).await;
        app.register("bob@example.com", PASSWORD, "Bob").await;
        fresh_window().await;
        for _ in 0..3 {
            sign_in_from(&app, "127.0.0.2", "ann@example.com", "wrong password").await;
        }
        for _ in 0..5 {
            let response =
                sign_in_from(&app, "127.0.0.2", "bob@example.com", "wrong password").await;
            assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        }
        // Those refused attempts did not count against bob: another address
        // has bob's whole budget (three failures before a refusal).
        for _ in 0..3 {
            let response =
                sign_in_from(&app, "127.0.0.5", "bob@example.com", "wrong password").await;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
    }

    #[tokio::test]
    async fn successful_sign_ins_do_not_count_against_an_email() {
        let app = spawn_app_with(LIMIT_3).await;
        app.register("ann@example.com", PASSWORD, "Ann").await;
        fresh_window().await;
        // Three addresses sign in successfully, then one more fails three
        // times: only its failures count, so it is refused only after them.
        for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
            let ok = sign_in_from(&app, ip, "ann@example.com", PASSWORD).await;
            assert_eq!(ok.status(), StatusCode::OK);
        }
        for _ in 0..2 {
            let wrong = sign_in_from(&app, "127.0.0.5", "ann@example.com", "wrong password").await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }
        let ok = sign_in_from(&app, "127.0.0.5", "ann@example.com", PASSWORD).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn retry_after_is_the_time_left_in_the_window() {
        let app = spawn_app_with(LIMIT_3).await;
        fresh_window().await;
        // Not in the window's first seconds either, where the right answer
        // (60) is also what a broken computation falls back to.
        let into = chrono::Utc::now().timestamp_millis().rem_euclid(60_000);
        if into < 2_000 {
            tokio::time::sleep(Duration::from_millis(u64::try_from(2_000 - into).unwrap())).await;
        }
        for _ in 0..3 {
            app.login("ann@example.com", "wrong password").await;
        }
        let left_ms = || 60_000 - chrono::Utc::now().timestamp_millis().rem_euclid(60_000);
        let before = left_ms();
        let limited = app.login("ann@example.com", "wrong password").await;
        let after = left_ms();
        let retry_after: i64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // Whole seconds, rounded up: never earlier than the window ends.
        assert!(
            retry_after * 1000 >= after,
            "{retry_after} s, {after} ms left"
        );
        assert!(
            retry_after * 1000 < before + 1000,
            "{retry_after} s, {before} ms left"
        );
    }

    #[tokio::test]
    async fn oversized_emails_are_refused_before_any_write() {
        let app = spawn_app_with(LIMIT_3).await;
        let huge = format!("{}@example.com", "a".repeat(250_000));
        let response = app.login(&huge, PASSWORD).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        // A plausible but long unknown email is counted under a short key.
        let long = format!("{}@example.com", "b".repeat(60));
        app.login(&long, PASSWORD).await;
        let longest_key = app
            .db()
            .run(|conn| {
                use diesel::RunQueryDsl;
                #[derive(diesel::QueryableByName)]
                struct Longest {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    longest: i64,
                }
                Ok(diesel::sql_query(
                    "SELECT CAST(COALESCE(MAX(LENGTH(key)), 0) AS BIGINT) AS longest FROM rate_limits",
                )
                .get_result::<Longest>(conn)?
                .longest)
            })
            .await
            .unwrap();
        assert!(longest_key > 0, "the attempt was counted");
        assert!(
            longest_key <= 100,
            "a rate-limit key of {longest_key} characters"
        );
    }

    #[tokio::test]
    async fn old_windows_are_swept() {
        let app = spawn_app_with(LIMIT_3).await;
        app.db()
            .write(|conn| {
                use diesel::RunQueryDsl;
                diesel::sql_query(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ('old', 0, 5)",
                )
                .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
        app.login("ann@example.com", PASSWORD).await;
        let old_rows = app
            .db()
            .run(|conn| {
                use diesel::RunQueryDsl;
                #[derive(diesel::QueryableByName)]
                struct Count {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                Ok(
                    diesel::sql_query("SELECT COUNT(*) AS n FROM rate_limits WHERE key = 'old'")
                        .get_result::<Count>(conn)?
                        .n,
                )
            })
            .await
            .unwrap();
        assert_eq!(old_rows, 0);
    }
}

mod registration {
    use super::*;

    #[tokio::test]
    async fn registrations_are_limited_per_address() {
        let app = spawn_app_with(&[("RATE_LIMIT_REGISTER_PER_MIN", "2")]).await;
        fresh_window().await;
        for n in 0..2 {
            let response = register_from(&app, "127.0.0.2", &format!("user{n}@example.com")).await;
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        let limited = register_from(&app, "127.0.0.2", "user2@example.com").await;
        assert!(limited.headers().contains_key("retry-after"));
        assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // Nothing was created, and other addresses are not affected.
        let other = register_from(&app, "127.0.0.3", "user2@example.com").await;
        assert_eq!(other.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn registration_is_limited_by_default() {
        let app = spawn_app_with(&[("RATE_LIMIT_REGISTER_PER_MIN", "")]).await;
        fresh_window().await;
        let mut statuses = Vec::new();
        for n in 0..6 {
            statuses.push(
                register_from(&app, "127.0.0.2", &format!("u{n}@example.com"))
                    .await
                    .status(),
            );
        }
        assert_eq!(statuses[..5], [StatusCode::CREATED; 5]);
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    }

    /// A user whose password was hashed at bcrypt cost 4, on a server at `cost`.
    async fn user_hashed_at_cost_4(cost: &str) -> (TestApp, String) {
        let app = spawn_app_with(&[("BCRYPT_COST", cost)]).await;
        let hash = richesreach_chat::auth::PasswordHasher::new(4)
            .hash(PASSWORD.to_owned())
            .await
            .unwrap();
        let user = app
            .db()
            .write(move |conn| {
                richesreach_chat::service::users::create(
                    conn,
                    &richesreach_chat::domain::Email::parse("ann@example.com").unwrap(),
                    &richesreach_chat::domain::UserName::parse("Ann").unwrap(),
                    &hash,
                    false,
                )
            })
            .await
            .unwrap();
        (app, user.id)
    }

    async fn stored_hash(app: &TestApp, id: String) -> String {
        app.db()
            .run(move |conn| richesreach_chat::service::users::find_by_id(conn, &id))
            .await
            .unwrap()
            .unwrap()
            .password_hash
    }

    #[tokio::test]
    async fn signing_in_rehashes_a_password_hashed_at_another_cost() {
        let (app, id) = user_hashed_at_cost_4("5").await;
        // A wrong password changes nothing ...
        app.login("ann@example.com", "wrong password").await;
        assert!(stored_hash(&app, id.clone()).await.starts_with("$2b$04$"));
        // ... the right one rehashes at the server's cost, and still works.
        assert_eq!(
            app.login("ann@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
        let rehashed = stored_hash(&app, id.clone()).await;
        assert!(rehashed.starts_with("$2b$05$"), "{rehashed}");
        assert_eq!(
            app.login("ann@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
        assert_eq!(stored_hash(&app, id).await, rehashed, "hashed once");
    }
}

mod lookalikes {
    use super::*;

    #[tokio::test]
    async fn lookalike_emails_are_one_account_or_refused() {
        let app = spawn_app().await;
        assert_eq!(
            app.register("ann@example.com", PASSWORD, "Ann")
                .await
                .status(),
            StatusCode::CREATED
        );
        let fullwidth = app.register("ＡＮＮ@example.com", PASSWORD, "Ann").await;
        assert_error(fullwidth, StatusCode::CONFLICT, "conflict").await;
        for lookalike in [
            "\u{200B}ann@example.com",
            "ann@ex\u{03B1}mple.com",
            "\u{0430}nn@example.com",
        ] {
            let response = app.register(lookalike, PASSWORD, "Ann").await;
            let body = assert_error(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
            assert_eq!(
                body.error.details.as_ref().unwrap()[0].field,
                "email",
                "{lookalike:?}"
            );
        }
        // Signing in normalises the same way.
        assert_eq!(
            app.login("ＡＮＮ@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn names_and_titles_refuse_invisible_characters() {
        let app = spawn_app().await;
        for name in ["\u{200B}", "Ann\u{202E}gnp.exe"] {
            let response = app.register("ann@example.com", PASSWORD, name).await;
            let body = assert_error(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
            assert_eq!(body.error.details.as_ref().unwrap()[0].field, "name");
        }
        let user = app.new_user("Ann").await;
        let created = app
            .post("/sessions", &user.token, json!({"title": "\u{200B}"}))
            .await;
        assert_error(
            created,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let session = app.new_session(&user).await.id;
        let renamed = app
            .patch(
                &format!("/sessions/{session}"),
                &user.token,
                json!({"title": "Budget\u{202E}"}),
            )
            .await;
        assert_error(
            renamed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let fullwidth = app
            .patch(
                &format!("/sessions/{session}"),
                &user.token,
                json!({"title": "Ｂｕｄｇｅｔ"}),
            )
            .await;
        assert_eq!(fullwidth.status(), StatusCode::OK);
        let renamed: Value = fullwidth.json().await.unwrap();
        assert_eq!(renamed["title"], "Budget");
    }
}

mod media_types {
    use super::*;

    async fn register_as(app: &TestApp, content_type: Option<&str>, email: &str) -> Response {
        let body = json!({"email": email, "password": PASSWORD, "name": "Ann"}).to_string();
        let mut request = app.client.post(app.url("/auth/register")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }

    #[tokio::test]
    async fn json_bodies_need_a_json_content_type() {
        let app = spawn_app().await;
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonp"),
            None,
        ] {
            let response = register_as(&app, content_type, "ann@example.com").await;
            assert_error(
                response,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .await;
        }
        // Nothing was created by those; JSON types in any case are fine.
        for (n, content_type) in [
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ]
        .into_iter()
        .enumerate()
        {
            let response =
                register_as(&app, Some(content_type), &format!("ann{n}@example.com")).await;
            assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
        }
        let again = register_as(&app, Some("application/json"), "ann@example.com").await;
        assert_eq!(again.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn an_untitled_session_needs_no_body_and_no_content_type() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        let bare = app
            .client
            .post(app.url("/sessions"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), StatusCode::CREATED);
        let text = app
            .client
            .post(app.url("/sessions"))
            .bearer_auth(&user.token)
            .header("content-type", "text/plain")
            .body(r#"{"title": "Budget"}"#)
            .send()
            .await
            .unwrap();
        assert_error(
            text,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
}

mod tokens {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sign(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    async fn me_with(app: &TestApp, authorization: &str) -> Response {
        app.client
            .get(app.url("/auth/me"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_bearer_scheme_is_case_insensitive() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let response = me_with(&app, &format!("{scheme} {}", user.token)).await;
            assert_eq!(response.status(), StatusCode::OK, "{scheme}");
        }
        for refused in [
            format!("Basic {}", user.token),
            format!("Bearer{}", user.token),
            "Bearer ".to_owned(),
            "Bearer".to_owned(),
            user.token.clone(),
        ] {
            let response = me_with(&app, &refused).await;
            assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }

    #[tokio::test]
    async fn tokens_not_valid_yet_are_refused() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        let later =
            sign(json!({"sub": user.id, "iat": now(), "nbf": now() + 3600, "exp": now() + 7200}));
        let response = me_with(&app, &format!("Bearer {later}")).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let already =
            sign(json!({"sub": user.id, "iat": now(), "nbf": now() - 10, "exp": now() + 600}));
        assert_eq!(
            me_with(&app, &format!("Bearer {already}")).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn access_tokens_expire_ttl_seconds_after_issue() {
        let app = spawn_app_with(&[("ACCESS_TOKEN_TTL", "600")]).await;
        let user = app.new_user("Ann").await;
        let payload = user.token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 600, "{claims}");
        assert!(iat.abs_diff(now()) <= 5, "{claims}");
        assert_eq!(claims["sub"], user.id.as_str());
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_as_expired() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        // Within the 5 s leeway: still good.
        let just = sign(json!({"sub": user.id, "iat": now() - 600, "exp": now() - 2}));
        assert_eq!(
            me_with(&app, &format!("Bearer {just}")).await.status(),
            StatusCode::OK
        );
        let expired = sign(json!({"sub": user.id, "iat": now() - 600, "exp": now() - 60}));
        let response = me_with(&app, &format!("Bearer {expired}")).await;
        let body = assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(body.error.message, "access token expired");
    }

    async fn refresh(app: &TestApp, token: &str) -> Response {
        app.request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
        .await
    }

    async fn set_flags(app: &TestApp, admin: &str, id: &str, flags: Value) {
        let response = app.patch(&format!("/admin/users/{id}"), admin, flags).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn deactivating_a_user_revokes_their_refresh_tokens_for_good() {
        let app = spawn_app().await;
        let admin = app.new_admin().await;
        let ann = app.new_user("Ann").await;
        let bob = app.new_user("Bob").await;
        set_flags(&app, &admin.token, &ann.id, json!({"is_active": false})).await;
        let body = assert_error(
            refresh(&app, &ann.refresh_token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert_eq!(body.error.message, "refresh token revoked");
        // Active again, but the tokens issued before stay revoked.
        set_flags(&app, &admin.token, &ann.id, json!({"is_active": true})).await;
        let body = assert_error(
            refresh(&app, &ann.refresh_token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert_eq!(body.error.message, "refresh token revoked");
        // Other changes, and other users, keep their tokens.
        set_flags(
            &app,
            &admin.token,
            &bob.id,
            json!({"is_admin": true, "is_active": true}),
        )
        .await;
        assert_eq!(
            refresh(&app, &bob.refresh_token).await.status(),
            StatusCode::OK
        );
    }
}

mod headers {
    use super::*;

    /// What JSON answers get: nothing may load or run, nothing may frame them.
    const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    fn assert_common(response: &Response) {
        let url = response.url().path().to_owned();
        assert_eq!(
            header(response, "x-content-type-options"),
            Some("nosniff"),
            "{url}"
        );
        assert_eq!(
            header(response, "referrer-policy"),
            Some("no-referrer"),
            "{url}"
        );
        assert_eq!(header(response, "x-frame-options"), Some("DENY"), "{url}");
        assert!(
            header(response, "content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{url}"
        );
    }

    #[tokio::test]
    async fn api_answers_carry_the_common_headers() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        for response in [
            app.request(Method::GET, "/healthz", None, None).await,
            app.request(Method::GET, "/sessions", None, None).await,
            app.get("/sessions", &user.token).await,
            app.request(Method::GET, "/nope", None, None).await,
            app.request(Method::GET, "/openapi.json", None, None).await,
        ] {
            assert_common(&response);
            assert_eq!(header(&response, "content-security-policy"), Some(API_CSP));
        }
    }

    #[tokio::test]
    async fn token_answers_are_never_cached() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        let refreshed = app
            .request(
                Method::POST,
                "/auth/refresh",
                None,
                Some(json!({"refresh_token": user.refresh_token})),
            )
            .await;
        for response in [
            app.login(&user.email, PASSWORD).await,
            app.login(&user.email, "wrong password").await,
            refreshed,
            app.get("/auth/me", &user.token).await,
        ] {
            assert_common(&response);
            assert_eq!(header(&response, "cache-control"), Some("no-store"));
            assert_eq!(header(&response, "pragma"), Some("no-cache"));
        }
        let sessions = app.get("/sessions", &user.token).await;
        assert_eq!(header(&sessions, "cache-control"), None);
    }

    #[tokio::test]
    async fn swagger_ui_has_a_strict_csp_and_cannot_be_framed() {
        let app = spawn_app().await;
        for path in [
            "/swagger-ui/",
            "/swagger-ui/swagger-initializer.js",
            "/swagger-ui",
        ] {
            let response = app.request(Method::GET, path, None, None).await;
            assert_common(&response);
            let csp = header(&response, "content-security-policy").unwrap();
            for directive in [
                "default-src 'none'",
                "script-src 'self'",
                "frame-ancestors 'none'",
            ] {
                assert!(csp.contains(directive), "{path}: {csp}");
            }
            assert!(!csp.contains("unsafe"), "{path}: {csp}");
        }
    }

    #[tokio::test]
    async fn the_admin_page_keeps_its_own_csp() {
        let app = spawn_app().await;
        let page = app.request(Method::GET, "/admin/", None, None).await;
        assert_eq!(page.status(), StatusCode::OK);
        let csp = header(&page, "content-security-policy").unwrap();
        assert_ne!(csp, API_CSP);
        assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&page, "referrer-policy"), Some("no-referrer"));
    }

    #[tokio::test]
    async fn a_refused_cors_preflight_answers_in_the_error_shape() {
        let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
        let preflight = app
            .client
            .request(Method::OPTIONS, app.url("/sessions"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "TRACE")
            .send()
            .await
            .unwrap();
        assert_common(&preflight);
        assert_error(preflight, StatusCode::BAD_REQUEST, "bad_request").await;
        let allowed = app
            .client
            .request(Method::OPTIONS, app.url("/sessions"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), StatusCode::OK);
        assert_eq!(
            header(&allowed, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
    }
}
