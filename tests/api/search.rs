//! `GET /search`: the caller's conversation messages, by words, best first.

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::{assert_error, json, spawn_app, Page, Role, SearchHit, TestApp, TestUser};

async fn search(app: &TestApp, user: &TestUser, q: &str) -> Vec<SearchHit> {
    let path = format!("/search?limit=200&q={}", urlencode(q));
    let page: Page<SearchHit> = app.get_json(&path, &user.token).await;
    page.items
}

fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The user messages among the hits (offline replies may quote a question).
fn user_hits(hits: &[SearchHit]) -> Vec<&SearchHit> {
    hits.iter()
        .filter(|h| h.message.role == Role::User)
        .collect()
}

/// Runs `sql` as the service writes: through its writer, whose commit also
/// brings the search index up to date.
async fn run_sql(app: &TestApp, sql: &'static str, binds: Vec<String>) {
    app.db()
        .write(move |conn| {
            let mut query = diesel::sql_query(sql)
                .into_boxed::<<richesreach_chat::db::DbConnection as diesel::Connection>::Backend>(
            );
            for b in binds {
                query = query.bind::<diesel::sql_types::Text, _>(b);
            }
            query.execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn words_are_found_in_any_case_and_inflection_with_marked_snippets() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Plans").await;
    let sent = app
        .send(
            &user,
            &session.id,
            "I am INVESTING in Zorblax funds every month",
        )
        .await;

    let hits = search(&app, &user, "invest zorblax").await;
    let mine = user_hits(&hits);
    assert_eq!(mine.len(), 1, "{hits:?}");
    let hit = mine[0];
    assert_eq!(hit.message, sent.user_message);
    assert_eq!(hit.session_id, session.id);
    assert_eq!(hit.session_title.as_deref(), Some("Plans"));
    assert!(hit.snippet.contains("«INVESTING»"), "{}", hit.snippet);
    assert!(hit.snippet.contains("«Zorblax»"), "{}", hit.snippet);
    assert_eq!(
        hit.snippet.matches('«').count(),
        hit.snippet.matches('»').count()
    );

    // Every word is required.
    assert!(user_hits(&search(&app, &user, "zorblax quuxwidget").await).is_empty());
}

#[tokio::test]
async fn snippets_are_at_most_300_characters_around_the_match() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Long").await;
    let filler = "lorem ipsum dolor sit amet consectetur ".repeat(40);
    let text = format!("{filler} the zorblax «quoted» here {filler}");
    app.send(&user, &session.id, &text).await;
    let hits = search(&app, &user, "zorblax").await;
    let hit = user_hits(&hits)[0];
    assert!(hit.snippet.chars().count() <= 300, "{}", hit.snippet);
    assert!(hit.snippet.contains("«zorblax»"), "{}", hit.snippet);
    // The text's own guillemets never pass for markers.
    assert_eq!(hit.snippet.matches('«').count(), 1, "{}", hit.snippet);
    assert!(hit.snippet.contains('…'));
    assert_eq!(hit.message.content, text.trim());
}

#[tokio::test]
async fn the_best_match_comes_first() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Rank").await;
    let weak = app
        .send(
            &user,
            &session.id,
            "a long message that mentions zorblax once among many other words about budgets and \
             savings and retirement accounts and taxes and everything else people ask",
        )
        .await;
    let strong = app
        .send(&user, &session.id, "zorblax zorblax zorblax")
        .await;
    let middle = app
        .send(&user, &session.id, "zorblax and budgets, zorblax again")
        .await;
    let order: Vec<String> = user_hits(&search(&app, &user, "zorblax").await)
        .iter()
        .map(|h| h.message.id.clone())
        .collect();
    assert_eq!(
        order,
        [
            strong.user_message.id,
            middle.user_message.id,
            weak.user_message.id
        ]
    );
}

#[tokio::test]
async fn results_are_paginated_without_repeats_or_gaps() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Many").await;
    for n in 0..7 {
        let words = "zorblax ".repeat(n + 1);
        app.send(&user, &session.id, &format!("{words} number {n}"))
            .await;
    }
    let all = search(&app, &user, "zorblax").await;
    let walked = app
        .walk_pages::<Page<SearchHit>>("/search?q=zorblax", 2, &user.token)
        .await;
    assert!(all.len() >= 7);
    let ids = |hits: &[SearchHit]| {
        hits.iter()
            .map(|h| h.message.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&walked), ids(&all));
}

#[tokio::test]
async fn another_users_messages_are_never_found() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let session = app.new_titled_session(&ann, "Secret").await;
    app.send(&ann, &session.id, "my zorblax account number")
        .await;
    assert!(!search(&app, &ann, "zorblax").await.is_empty());
    assert!(search(&app, &bob, "zorblax").await.is_empty());
}

#[tokio::test]
async fn superseded_deleted_and_rewritten_messages_follow_the_index() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Edits").await;
    let first = app.send(&user, &session.id, "old zorblax question").await;
    let second = app.send(&user, &session.id, "new zorblax question").await;
    assert_eq!(user_hits(&search(&app, &user, "zorblax").await).len(), 2);

    // Superseded (as a regenerate or an edit marks it): gone from search.
    run_sql(
        &app,
        "UPDATE chat_messages SET superseded_by = $1 WHERE id = $2",
        vec![
            second.user_message.id.clone(),
            first.user_message.id.clone(),
        ],
    )
    .await;
    let hits = search(&app, &user, "zorblax").await;
    let found: Vec<&str> = user_hits(&hits)
        .iter()
        .map(|h| h.message.id.as_str())
        .collect();
    assert_eq!(found, [second.user_message.id.as_str()]);

    // A reply's text saved while it is written is searchable as it is now.
    run_sql(
        &app,
        "UPDATE chat_messages SET content = 'a quuxwidget appears' WHERE id = $1",
        vec![second.assistant_message.id.clone()],
    )
    .await;
    let hits = search(&app, &user, "quuxwidget").await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.id, second.assistant_message.id);
    assert_eq!(hits[0].snippet, "a «quuxwidget» appears");

    // Deleting the session takes its messages out of the index.
    let deleted = app
        .delete(&format!("/sessions/{}", session.id), &user.token)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(search(&app, &user, "zorblax").await.is_empty());
    assert!(search(&app, &user, "quuxwidget").await.is_empty());
}

#[tokio::test]
async fn query_syntax_in_the_input_is_only_text() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Syntax").await;
    app.send(
        &user,
        &session.id,
        "Zorblax AND quux OR (near) NOT café \"quoted\" x* naïve 株式 投資",
    )
    .await;
    for q in [
        "\"",
        "\"\"",
        "zorblax\"",
        "\"zorblax",
        "zorblax AND",
        "OR",
        "NOT zorblax",
        "AND OR NOT",
        "*",
        "zorblax*",
        "^zorblax",
        "NEAR(zorblax quux)",
        "NEAR(zorblax quux, 2)",
        "(zorblax",
        "zorblax)",
        "content:zorblax",
        "{content}: zorblax",
        "-zorblax",
        "+zorblax",
        "zorblax ; DROP TABLE users; --",
        "'",
        "\\",
        "%",
        "«»",
        "🙂",
        "\u{E000}zorblax\u{E001}",
    ] {
        let path = format!("/search?q={}", urlencode(q));
        let response = app.get(&path, &user.token).await;
        let _page: Page<SearchHit> = json(response).await;
    }
    // Operators and punctuation are words like any other: they still find.
    // (Punctuation inside a word joins its parts into a phrase.)
    for q in [
        "zorblax AND",
        "quux OR (near)",
        "NEAR (zorblax quux)",
        "(zorblax)",
        "\"quoted\"",
        "cafe",
        "CAFÉ",
        "naive",
        "株式",
    ] {
        assert_eq!(user_hits(&search(&app, &user, q).await).len(), 1, "{q}");
    }
}

#[tokio::test]
async fn a_missing_blank_or_long_query_is_a_bad_request() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let long = "a".repeat(201);
    for path in [
        "/search".to_owned(),
        "/search?q=".to_owned(),
        "/search?q=%20%20%09".to_owned(),
        format!("/search?q={long}"),
        "/search?q=x&limit=0".to_owned(),
        "/search?q=x&limit=201".to_owned(),
        "/search?q=x&cursor=nope".to_owned(),
    ] {
        assert_error(
            app.get(&path, &user.token).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    let exactly_200 = format!("/search?q={}", "a".repeat(200));
    let _: Page<SearchHit> = app.get_json(&exactly_200, &user.token).await;
    let anonymous = app.client.get(app.url("/search?q=x")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn searches_are_counted_in_the_metrics() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    search(&app, &user, "anything").await;
    search(&app, &user, "else").await;
    let text = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert!(text.lines().any(|l| l == "searches_total 2"), "{text}");
}
