//! `GET /auth/me/export` and `DELETE /auth/me`: the caller's own data.

use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{
    assert_error, expect_json, on_postgres, spawn_app, spawn_app_with, AccountExport, TestApp,
    TestUser, User, PASSWORD,
};

async fn delete_me(app: &TestApp, user: &TestUser, password: &str) -> reqwest::Response {
    app.request(
        Method::DELETE,
        "/auth/me",
        Some(&user.token),
        Some(json!({"password": password})),
    )
    .await
}

#[tokio::test]
async fn my_data_export_holds_every_session_and_every_stored_message() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let other = app.new_user("Bob").await;
    let first = app.new_titled_session(&user, "One").await;
    let second = app.new_titled_session(&user, "Two").await;
    let a = app.send(&user, &first.id, "first question").await;
    let b = app.send(&user, &first.id, "second question").await;
    app.send(&user, &second.id, "elsewhere").await;
    app.send(&other, &app.new_session(&other).await.id, "not mine")
        .await;
    {
        let mut conn = app.db().get().unwrap();
        diesel::sql_query("UPDATE chat_messages SET superseded_by = $1 WHERE id = $2")
            .bind::<Text, _>(&b.user_message.id)
            .bind::<Text, _>(&a.user_message.id)
            .execute(&mut *conn)
            .unwrap();
    }

    let response = app.get("/auth/me/export", &user.token).await;
    assert_eq!(
        response.headers()["content-disposition"],
        r#"attachment; filename="richesreach-chat-export.json""#
    );
    let exported: AccountExport = expect_json(response, StatusCode::OK).await;
    let me: User = app.get_json("/auth/me", &user.token).await;
    assert_eq!(exported.user, me);
    let titles: Vec<_> = exported
        .sessions
        .iter()
        .map(|s| s.session.title.clone().unwrap())
        .collect();
    assert_eq!(titles, ["One", "Two"]);
    // Superseded messages too, in order.
    let in_first = &exported.sessions[0].messages;
    assert_eq!(in_first.len(), 4);
    assert_eq!(in_first[0].id, a.user_message.id);
    assert!(in_first[0].superseded_by.is_some());
    assert_eq!(in_first[3], b.assistant_message);
    assert_eq!(exported.sessions[1].messages.len(), 2);
    // No secrets.
    let raw = app
        .get("/auth/me/export", &user.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!raw.contains("password") && !raw.contains("$2"), "{raw}");
    assert!(!raw.contains("not mine"));

    let anonymous = app
        .client
        .get(app.url("/auth/me/export"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Every table's rows as text, each joined with `|` (the FTS5 index's own
/// shadow tables hold encoded segments and are checked by query instead).
fn every_row(app: &TestApp) -> Vec<(String, String)> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        row: String,
    }
    let mut conn = app.db().get().unwrap();
    let tables: Vec<Name> = if on_postgres() {
        // PostgreSQL's search index is an index of chat_messages, no table.
        diesel::sql_query(
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .load(&mut *conn)
        .unwrap()
    } else {
        let tables: Vec<Name> = diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' \
             AND name NOT IN ('message_search_data', 'message_search_idx', \
                              'message_search_docsize', 'message_search_config')",
        )
        .load(&mut *conn)
        .unwrap();
        assert!(tables.iter().any(|t| t.name == "message_search"));
        assert!(tables.iter().any(|t| t.name == "message_search_docs"));
        tables
    };
    assert!(tables.iter().any(|t| t.name == "message_feedback"));
    let mut rows = Vec::new();
    for table in tables {
        let columns: Vec<Name> = if on_postgres() {
            diesel::sql_query(format!(
                "SELECT column_name AS name FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{}'",
                table.name
            ))
            .load(&mut *conn)
            .unwrap()
        } else {
            diesel::sql_query(format!(
                "SELECT name FROM pragma_table_info('{}')",
                table.name
            ))
            .load(&mut *conn)
            .unwrap()
        };
        let joined = columns
            .iter()
            .map(|c| format!("COALESCE(CAST(\"{}\" AS TEXT), '')", c.name))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let found: Vec<Row> =
            diesel::sql_query(format!("SELECT {joined} AS row FROM \"{}\"", table.name))
                .load(&mut *conn)
                .unwrap();
        rows.extend(found.into_iter().map(|r| (table.name.clone(), r.row)));
    }
    rows
}

fn fts_matches(app: &TestApp, word: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db().get().unwrap();
    if on_postgres() {
        return diesel::sql_query(
            "SELECT COUNT(*) AS n FROM chat_messages WHERE superseded_by IS NULL \
             AND to_tsvector('chat_english', content) @@ plainto_tsquery('chat_english', $1)",
        )
        .bind::<Text, _>(word)
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n;
    }
    diesel::sql_query("SELECT COUNT(*) AS n FROM message_search WHERE message_search MATCH $1")
        .bind::<Text, _>(format!("\"{word}\""))
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n
}

#[tokio::test]
async fn deleting_my_account_leaves_nothing_of_me_in_the_database() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_MESSAGES_PER_MIN", "100"),
        ("RATE_LIMIT_AUTH_PER_MIN", "100"),
    ])
    .await;
    let user = app.new_user("Ann").await;
    let keep = app.new_user("Bob").await;
    let session = app.new_titled_session(&user, "Zorblax plans").await;
    let exchange = app.send(&user, &session.id, "my quuxsaving zorblax").await;
    // An idempotency key, a second refresh family and a failed sign-in.
    let keyed = app
        .client
        .post(app.url("/sessions"))
        .bearer_auth(&user.token)
        .header("Idempotency-Key", "key-1")
        .json(&json!({"title": "Keyed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::CREATED);
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let failed = app.login(&user.email, "wrong password!").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let bobs = app.new_titled_session(&keep, "Bob's").await;
    app.send(&keep, &bobs.id, "quuxkeep zorblax").await;

    let email_key = format!(
        "auth:email:{:x}",
        Sha256::new()
            .chain_update(user.email.as_bytes())
            .chain_update([0])
            .finalize()
    );
    let traces = [
        user.id.clone(),
        user.email.clone(),
        session.id.clone(),
        exchange.user_message.id.clone(),
        exchange.assistant_message.id.clone(),
        "my quuxsaving zorblax".to_owned(),
        email_key,
    ];
    let before = every_row(&app);
    for trace in &traces {
        assert!(
            before.iter().any(|(_, row)| row.contains(trace.as_str())),
            "{trace} should be stored before"
        );
    }
    assert_eq!(fts_matches(&app, "quuxsaving"), 1);

    let response = delete_me(&app, &user, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let after = every_row(&app);
    for trace in &traces {
        let left: Vec<_> = after
            .iter()
            .filter(|(_, row)| row.contains(trace.as_str()))
            .collect();
        assert!(left.is_empty(), "{trace} is still stored: {left:?}");
    }
    assert_eq!(fts_matches(&app, "quuxsaving"), 0);
    // Bob keeps everything.
    assert_eq!(fts_matches(&app, "quuxkeep"), 1);
    assert_eq!(app.messages(&keep, &bobs.id).await.len(), 2);

    // Tokens are dead; the email is free again.
    assert_error(
        app.get("/auth/me", &user.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.refresh(&user.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let again = app.register(&user.email, PASSWORD, "Ann again").await;
    let again: User = expect_json(again, StatusCode::CREATED).await;
    assert_ne!(again.id, user.id);
}

#[tokio::test]
async fn deleting_an_account_needs_its_password() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    assert_error(
        delete_me(&app, &user, "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    for body in [json!({}), json!({"password": 5}), json!({"pass": PASSWORD})] {
        let response = app
            .request(Method::DELETE, "/auth/me", Some(&user.token), Some(body))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let no_body = app
        .request(Method::DELETE, "/auth/me", Some(&user.token), None)
        .await;
    assert!(no_body.status().is_client_error());
    let anonymous = app
        .request(
            Method::DELETE,
            "/auth/me",
            None,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Still there.
    let me: User = app.get_json("/auth/me", &user.token).await;
    assert_eq!(me.id, user.id);
}

#[tokio::test]
async fn password_attempts_are_limited_like_sign_ins() {
    // The budget of 3 per address: the sign-in of new_user, then two guesses.
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_PER_MIN", "3")]).await;
    let user = app.new_user("Ann").await;
    for _ in 0..2 {
        let response = delete_me(&app, &user, "guess guess").await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let limited = delete_me(&app, &user, PASSWORD).await;
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn the_last_active_admin_cannot_delete_their_account() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    assert_error(
        delete_me(&app, &admin, PASSWORD).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let second = app.new_admin().await;
    assert_eq!(
        delete_me(&app, &admin, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        delete_me(&app, &second, PASSWORD).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn two_admins_deleting_themselves_at_once_leave_one() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let (a, b) = (app.new_admin().await, app.new_admin().await);
        // Only a and b are active admins from here on.
        {
            let mut conn = app.db().get().unwrap();
            diesel::sql_query(
                "UPDATE users SET is_active = FALSE WHERE is_admin AND id NOT IN ($1, $2)",
            )
            .bind::<Text, _>(&a.id)
            .bind::<Text, _>(&b.id)
            .execute(&mut *conn)
            .unwrap();
        }
        let (first, second) =
            tokio::join!(delete_me(&app, &a, PASSWORD), delete_me(&app, &b, PASSWORD));
        let mut statuses = [first.status(), second.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::CONFLICT]);
    }
}

#[tokio::test]
async fn exports_and_deletions_are_counted_in_the_metrics() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "M").await;
    app.get(&format!("/sessions/{}/export", session.id), &user.token)
        .await;
    app.get(
        &format!("/sessions/{}/export?format=markdown", session.id),
        &user.token,
    )
    .await;
    app.get("/auth/me/export", &user.token).await;
    delete_me(&app, &user, PASSWORD).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"exports_total{format="json"} 1"#,
        r#"exports_total{format="markdown"} 1"#,
        r#"exports_total{format="account"} 1"#,
        "account_deletions_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
}
