//! Grounded answers: the passages of the knowledge base a provider request
//! carries, the sources stored with the reply, and an operator's own topics
//! (`KNOWLEDGE_DIR`), against a mock upstream.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{spawn_app_with, Message, Stats, TestApp};
use crate::provider::{app_with_upstream, chat_requests, completion, turns};
use crate::streaming::{assert_well_formed, openai_stream, parse_events, stream};
use richesreach_chat::config::Settings;
use richesreach_chat::startup::Application;

/// Introduces the passages in the system message (src/llm/prompt.rs).
const HEADING: &str = "Reference material from RichesReach's guides:";

/// A passage as the request carried it.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    title: String,
    text: String,
}

/// The system message of a chat request.
fn system(request: &Value) -> String {
    let turns = turns(request);
    assert_eq!(turns[0].0, "system");
    turns[0].1.clone()
}

/// The reference block of a request (what the budget counts), if any.
fn reference(request: &Value) -> Option<String> {
    let system = system(request);
    let (_, block) = system.split_once(HEADING)?;
    Some(block.trim_start_matches('\n').to_owned())
}

/// The passages of a request, in their numbered order.
fn passages(request: &Value) -> Vec<Sent> {
    let Some(block) = reference(request) else {
        return Vec::new();
    };
    let mut sent: Vec<Sent> = Vec::new();
    for line in block.split('\n') {
        let numbered = line
            .strip_prefix(&format!("[{}] ", sent.len() + 1))
            .map(str::to_owned);
        match (numbered, sent.last_mut()) {
            (Some(title), _) => sent.push(Sent {
                title,
                text: String::new(),
            }),
            (None, Some(last)) => {
                last.text.push_str(line);
                last.text.push('\n');
            }
            (None, None) => panic!("text before the first passage: {line:?}"),
        }
    }
    for s in &mut sent {
        s.text = s.text.trim_end().to_owned();
    }
    sent
}

/// The stored sources of a reply as (title, snippet).
fn stored(message: &Message) -> Vec<Sent> {
    message
        .sources
        .iter()
        .map(|s| Sent {
            title: s.title.clone(),
            text: s.snippet.clone(),
        })
        .collect()
}

async fn upstream_answering(content: &str) -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(content)))
        .mount(&upstream)
        .await;
    upstream
}

/// Asks `question` in a fresh session and returns the request the upstream
/// received for it and the stored reply.
async fn ask(app: &TestApp, upstream: &MockServer, questions: &[&str]) -> (Value, Message) {
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;
    let mut reply = None;
    for q in questions {
        reply = Some(app.send(&user, &session, q).await.assistant_message);
    }
    let request = chat_requests(upstream).await.pop().expect("a chat request");
    let reply = reply.expect("a question");
    let listed = app.messages(&user, &session).await;
    assert_eq!(listed.last(), Some(&reply), "the reply as stored");
    (request, reply)
}

#[tokio::test]
async fn an_emergency_fund_question_carries_its_passage_and_stores_it() {
    let upstream = upstream_answering("Keep three to six months of expenses.").await;
    let app = app_with_upstream(&upstream, &[]).await;

    let (request, reply) = ask(&app, &upstream, &["How big should my emergency fund be?"]).await;

    let sent = passages(&request);
    assert_eq!(sent[0].title, "Emergency fund", "{sent:?}");
    assert!(
        sent[0]
            .text
            .contains("three to six months of essential expenses"),
        "{sent:?}"
    );
    let system = system(&request);
    assert!(system.contains("cite"), "{system}");
    assert!(system.contains("do not cover the question"), "{system}");
    // No markers in the answer: every passage given is a source.
    assert_eq!(stored(&reply), sent);
    assert_eq!(
        reply.sources[0].url,
        "https://www.consumerfinance.gov/an-essential-guide-to-building-an-emergency-fund/"
    );
    assert!(!reply.fallback);
}

#[tokio::test]
async fn a_greeting_carries_no_passage_and_has_no_sources() {
    let upstream = upstream_answering("Hi Ann! What would you like to know?").await;
    let app = app_with_upstream(&upstream, &[]).await;

    let (request, reply) = ask(&app, &upstream, &["hello"]).await;

    assert_eq!(reference(&request), None, "{}", system(&request));
    assert!(reply.sources.is_empty());
}

#[tokio::test]
async fn a_follow_up_carries_the_previous_topic() {
    let upstream = upstream_answering("It can be.").await;
    let app = app_with_upstream(&upstream, &[]).await;

    let (request, reply) = ask(
        &app,
        &upstream,
        &["what is a health savings account?", "is it worth it?"],
    )
    .await;

    let sent = passages(&request);
    assert_eq!(
        sent.first().map(|s| s.title.as_str()),
        Some("Health savings account (HSA)"),
        "{sent:?}"
    );
    assert_eq!(stored(&reply), sent);
}

#[tokio::test]
async fn the_passages_fit_the_knowledge_budget() {
    let question = "should I pay off debt or build an emergency fund first?";
    let upstream = upstream_answering("Both matter.").await;
    let roomy = app_with_upstream(&upstream, &[]).await;
    let (request, _) = ask(&roomy, &upstream, &[question]).await;
    let full = reference(&request).expect("passages").chars().count();

    let upstream = upstream_answering("Both matter.").await;
    let tight = app_with_upstream(&upstream, &[("CONTEXT_KNOWLEDGE_CHARS", "700")]).await;
    let (request, reply) = ask(&tight, &upstream, &[question]).await;
    let block = reference(&request).expect("passages");

    assert!(
        full > 700,
        "the default budget gives more ({full} characters)"
    );
    assert!(
        block.chars().count() <= 700,
        "{} characters",
        block.chars().count()
    );
    assert!(!passages(&request).is_empty());
    assert_eq!(stored(&reply), passages(&request));

    let upstream = upstream_answering("Both matter.").await;
    let none = app_with_upstream(&upstream, &[("CONTEXT_KNOWLEDGE_CHARS", "0")]).await;
    let (request, reply) = ask(&none, &upstream, &[question]).await;
    assert_eq!(reference(&request), None);
    assert!(reply.sources.is_empty());
}

/// A question that draws two topics, and an answer that cites the second
/// passage first.
const TWO_TOPICS: &str = "should I pay off debt or build an emergency fund first?";
const CITING: &str = "Build a small cushion [2]. Then pay the debt [1]. Keep both going [2, 1].";
const RENUMBERED: &str =
    "Build a small cushion [1]. Then pay the debt [2]. Keep both going [1, 2].";

#[tokio::test]
async fn cited_passages_are_the_sources_with_markers_renumbered() {
    let upstream = upstream_answering(CITING).await;
    let app = app_with_upstream(&upstream, &[]).await;

    let (request, reply) = ask(&app, &upstream, &[TWO_TOPICS]).await;

    let sent = passages(&request);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(reply.content, RENUMBERED);
    assert_eq!(stored(&reply), vec![sent[1].clone(), sent[0].clone()]);
}

#[tokio::test]
async fn only_the_cited_passage_is_stored() {
    let upstream = upstream_answering("Pay the expensive debt first [1].").await;
    let app = app_with_upstream(&upstream, &[]).await;

    let (request, reply) = ask(&app, &upstream, &[TWO_TOPICS]).await;

    let sent = passages(&request);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(reply.content, "Pay the expensive debt first [1].");
    assert_eq!(stored(&reply), vec![sent[0].clone()]);
}

#[tokio::test]
async fn a_streamed_reply_stores_the_same_sources_and_its_deltas_make_the_content() {
    let upstream = MockServer::start().await;
    // The markers are cut across pieces, as a model's tokens cut them.
    let pieces = [
        "Build a small cushion [",
        "2]. Then pay the debt [1",
        "]. Keep both going [2,",
        " 1].",
    ];
    assert_eq!(pieces.concat(), CITING);
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(openai_stream(&pieces), "text/event-stream"),
        )
        .mount(&upstream)
        .await;
    let app = app_with_upstream(&upstream, &[]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_titled_session(&user, "t").await.id;

    let response = stream(&app, &user, &session, TWO_TOPICS).await;
    let events = parse_events(&response.text().await.unwrap());

    let deltas = assert_well_formed(&events);
    let answer = events.last().unwrap().message();
    assert_eq!(deltas, RENUMBERED);
    assert_eq!(answer.content, RENUMBERED);
    let sent = passages(&chat_requests(&upstream).await[0]);
    assert_eq!(stored(&answer), vec![sent[1].clone(), sent[0].clone()]);
    assert_eq!(app.messages(&user, &session).await[1], answer);
}

#[tokio::test]
async fn grounded_ratio_counts_the_models_replies_that_carried_passages() {
    let upstream = upstream_answering("An answer.").await;
    let app = app_with_upstream(&upstream, &[]).await;
    let admin = app.new_admin().await;
    let before: Stats = app.get_json("/admin/stats", &admin.token).await;

    ask(
        &app,
        &upstream,
        &["hello", "How big should my emergency fund be?"],
    )
    .await;
    let after: Stats = app.get_json("/admin/stats", &admin.token).await;

    assert_eq!(before.grounded_ratio, 0.0);
    assert_eq!(after.grounded_ratio, 0.5);
}

// --- an operator's own knowledge -----------------------------------------

const GOLD: &str = "---
title: RichesReach Gold membership
keywords: gold membership, gold plan, premium membership, membership price
source: RichesReach Gold | https://example.com/gold
---
RichesReach Gold is the premium membership. It costs 9 dollars a month and adds live webinars.

Gold members can cancel at any time from their account settings.
";

fn knowledge_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn dir_setting(dir: &TempDir) -> String {
    dir.path().display().to_string()
}

#[tokio::test]
async fn an_added_topic_answers_offline_and_grounds_the_provider() {
    let dir = knowledge_dir(&[("gold.md", GOLD)]);
    let folder = dir_setting(&dir);
    let question = "how much does the gold membership cost?";

    let offline = spawn_app_with(&[("KNOWLEDGE_DIR", &folder)]).await;
    let user = offline.new_user("Ann").await;
    let session = offline.new_session(&user).await.id;
    let reply = offline
        .send(&user, &session, question)
        .await
        .assistant_message;
    assert!(reply.fallback);
    assert!(
        reply.content.contains("9 dollars a month"),
        "{}",
        reply.content
    );
    assert_eq!(reply.sources[0].url, "https://example.com/gold");
    // Extend mode keeps the built-in topics.
    let reply = offline
        .send(&user, &session, "How big should my emergency fund be?")
        .await
        .assistant_message;
    assert!(
        reply.content.contains("Emergency fund"),
        "{}",
        reply.content
    );

    let upstream = upstream_answering("Nine dollars a month [1].").await;
    let app = app_with_upstream(&upstream, &[("KNOWLEDGE_DIR", &folder)]).await;
    let (request, reply) = ask(&app, &upstream, &[question]).await;
    let sent = passages(&request);
    assert_eq!(sent[0].title, "RichesReach Gold membership");
    assert_eq!(stored(&reply), vec![sent[0].clone()]);
    assert_eq!(reply.sources[0].url, "https://example.com/gold");
}

#[tokio::test]
async fn replace_mode_drops_the_built_in_topics() {
    let dir = knowledge_dir(&[("gold.md", GOLD)]);
    let folder = dir_setting(&dir);
    let app = spawn_app_with(&[("KNOWLEDGE_DIR", &folder), ("KNOWLEDGE_MODE", "replace")]).await;
    let user = app.new_user("Ann").await;
    let session = app.new_session(&user).await.id;

    let builtin = app
        .send(&user, &session, "How big should my emergency fund be?")
        .await
        .assistant_message;
    let own = app
        .send(&user, &session, "what does the gold membership cost?")
        .await
        .assistant_message;

    assert!(builtin.sources.is_empty(), "{:?}", builtin.sources);
    assert!(
        builtin.content.contains("RichesReach Gold membership"),
        "offers what it has"
    );
    assert_eq!(own.sources[0].url, "https://example.com/gold");
}

/// Settings as the tests' server would have them, plus `extra`.
fn settings(database: &Path, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = [
        ("BIND", "127.0.0.1:0"),
        ("JWT_SECRET", "test-secret-that-is-long-enough-for-hs256"),
        ("BCRYPT_COST", "4"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.insert("DATABASE_URL".into(), database.display().to_string());
    Settings::from_lookup(|k| env.get(k).cloned()).unwrap()
}

const BROKEN: &str = "---\ntitle: Fees\nsource: Fees https://example.com/fees\n---\nBody.\n";

#[tokio::test]
async fn a_malformed_topic_stops_the_start_naming_the_file() {
    let dir = knowledge_dir(&[("gold.md", GOLD), ("fees-2027.md", BROKEN)]);
    let database = tempfile::tempdir().unwrap();
    let settings = settings(
        &database.path().join("chat.db"),
        &[("KNOWLEDGE_DIR", &dir_setting(&dir))],
    );

    let error = match Application::build(settings) {
        Ok(_) => panic!("the server started with a malformed topic"),
        Err(e) => e.to_string(),
    };

    assert!(error.contains("KNOWLEDGE_DIR"), "{error}");
    assert!(error.contains("fees-2027.md"), "{error}");
    assert!(error.contains("line 3: a source must read"), "{error}");
}

fn knowledge_check(dir: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_richesreach-chat"))
        .args(["knowledge", "check"])
        .arg(dir)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn knowledge_check_prints_what_would_be_indexed() {
    let dir = knowledge_dir(&[("gold.md", GOLD), ("README.txt", "notes")]);

    let (ok, out, err) = knowledge_check(dir.path());

    assert!(ok, "{out}{err}");
    assert!(
        out.contains("gold.md: \"RichesReach Gold membership\", 4 keyword(s), 2 paragraph(s)"),
        "{out}"
    );
    assert!(
        out.contains("source: RichesReach Gold | https://example.com/gold"),
        "{out}"
    );
    assert!(out.contains("README.txt: ignored"), "{out}");
    assert!(out.contains("1 topic(s)"), "{out}");
}

#[test]
fn knowledge_check_fails_naming_the_malformed_file() {
    let dir = knowledge_dir(&[("gold.md", GOLD), ("fees-2027.md", BROKEN)]);

    let (ok, out, err) = knowledge_check(dir.path());

    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("fees-2027.md: line 3: a source must read"),
        "{err}"
    );
    assert!(err.contains("1 malformed file(s)"), "{err}");
}
