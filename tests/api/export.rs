//! `GET /sessions/{id}/export`: a conversation as a JSON or Markdown file.

use reqwest::StatusCode;

use crate::helpers::{assert_error, expect_json, spawn_app, Message, Role, Session, SessionExport};

fn disposition(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-disposition")
        .expect("Content-Disposition")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn json_export_reads_back_into_the_api_types() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Taxes 2026: Q&A/ü").await;
    app.send(&user, &session.id, "How do index funds work?")
        .await;
    app.send(&user, &session.id, "And bonds?").await;

    let response = app
        .get(&format!("/sessions/{}/export", session.id), &user.token)
        .await;
    assert_eq!(
        disposition(&response),
        r#"attachment; filename="Taxes 2026_ Q_A__.json""#
    );
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let exported: SessionExport = expect_json(response, StatusCode::OK).await;
    let listed: Session = app
        .get_json(&format!("/sessions/{}", session.id), &user.token)
        .await;
    assert_eq!(exported.session, listed);
    assert_eq!(exported.messages, app.messages(&user, &session.id).await);
    assert_eq!(exported.messages.len(), 4);

    // ?format=json is the same.
    let explicit: SessionExport = expect_json(
        app.get(
            &format!("/sessions/{}/export?format=json", session.id),
            &user.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(explicit, exported);
}

#[tokio::test]
async fn markdown_export_has_a_title_a_heading_per_message_details_and_links() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Emergency <fund>").await;
    let exchange = app
        .send(&user, &session.id, "How big should my emergency fund be?")
        .await;

    let response = app
        .get(
            &format!("/sessions/{}/export?format=markdown", session.id),
            &user.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        disposition(&response),
        r#"attachment; filename="Emergency _fund_.md""#
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("# Emergency \\<fund\\>\n"), "{text}");
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(headings.len(), 2, "{text}");
    assert!(headings[0].starts_with("## 1. You · "), "{text}");
    assert!(headings[1].starts_with("## 2. Assistant · "), "{text}");
    assert!(text.contains("How big should my emergency fund be?"));
    let reply = &exchange.assistant_message;
    assert!(text.contains(reply.content.trim_end()), "{text}");
    // The reply's details in one line.
    let details = text
        .lines()
        .find(|l| l.starts_with('*') && l.contains(" · ") && l.contains("UTC*"))
        .filter(|l| !l.starts_with("*Conversation"))
        .expect("a details line");
    assert!(details.contains("offline answer"), "{details}");
    assert!(
        details.contains(&format!("confidence {:.2}", reply.confidence.unwrap())),
        "{details}"
    );
    assert!(details.contains(" ms"), "{details}");
    // Sources as links.
    assert!(
        !reply.sources.is_empty(),
        "the offline answer cites its topics"
    );
    for source in &reply.sources {
        assert!(text.contains(&format!("](<{}>)", source.url)), "{text}");
    }
}

#[tokio::test]
async fn an_untitled_session_exports_under_its_id() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await;
    let response = app
        .get(
            &format!("/sessions/{}/export?format=markdown", session.id),
            &user.token,
        )
        .await;
    assert_eq!(
        disposition(&response),
        format!(r#"attachment; filename="{}.md""#, session.id)
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("# Untitled conversation\n"), "{text}");
}

#[tokio::test]
async fn superseded_messages_are_exported_only_when_asked_for() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "Edited").await;
    let first = app.send(&user, &session.id, "first question").await;
    let second = app.send(&user, &session.id, "second question").await;
    {
        use diesel::prelude::*;
        let mut conn = app.db().get().unwrap();
        diesel::sql_query("UPDATE chat_messages SET superseded_by = $1 WHERE id IN ($2, $3)")
            .bind::<diesel::sql_types::Text, _>(&second.user_message.id)
            .bind::<diesel::sql_types::Text, _>(&first.user_message.id)
            .bind::<diesel::sql_types::Text, _>(&first.assistant_message.id)
            .execute(&mut *conn)
            .unwrap();
    }
    let path = format!("/sessions/{}/export", session.id);
    let conversation: SessionExport =
        expect_json(app.get(&path, &user.token).await, StatusCode::OK).await;
    let ids = |ms: &[Message]| ms.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&conversation.messages),
        [
            second.user_message.id.clone(),
            second.assistant_message.id.clone()
        ]
    );
    let everything: SessionExport = expect_json(
        app.get(&format!("{path}?include_superseded=true"), &user.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        ids(&everything.messages),
        [
            first.user_message.id.clone(),
            first.assistant_message.id.clone(),
            second.user_message.id.clone(),
            second.assistant_message.id.clone()
        ]
    );
    assert_eq!(
        everything.messages[0].superseded_by.as_deref(),
        Some(second.user_message.id.as_str())
    );
    assert_eq!(everything.messages[1].role, Role::Assistant);
    let markdown = app
        .get(
            &format!("{path}?format=markdown&include_superseded=true"),
            &user.token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(markdown.matches(" · superseded\n").count(), 2, "{markdown}");
}

#[tokio::test]
async fn export_errors_are_the_contracts() {
    let app = spawn_app().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let session = app.new_titled_session(&ann, "Mine").await;
    let path = format!("/sessions/{}/export", session.id);
    assert_error(
        app.get(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get(
            "/sessions/01935d7e-8a4b-7c3d-9e2f-1a2b3c4d5e6f/export",
            &ann.token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for bad in ["?format=pdf", "?format=", "?include_superseded=maybe"] {
        assert_error(
            app.get(&format!("{path}{bad}"), &ann.token).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    let anonymous = app.client.get(app.url(&path)).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
