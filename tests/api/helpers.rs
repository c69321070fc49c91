//! `spawn_app()`, a small HTTP client for the API, and typed reading of its
//! answers.

use std::any::type_name;
use std::collections::HashMap;

use reqwest::{Method, Response, StatusCode};
use richesreach_chat::config::Settings;
use richesreach_chat::db::Database;
use richesreach_chat::domain::{Email, UserName};
use richesreach_chat::service::users;
use richesreach_chat::startup::Application;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tempfile::TempDir;

// The API types the tests read answers into, from this one place: when they
// move or are renamed in src, only this block changes.
pub use richesreach_chat::{
    domain::{MessageStatus, Role},
    error::ErrorResponse,
    routes::account::AccountExport,
    routes::admin::{AdminSession, FeedbackCounts, Stats, TokenTotals, UserActivity},
    routes::auth::{TokenPair, User},
    routes::export::SessionExport,
    routes::feedback::RatedMessage,
    routes::messages::{Delta, Message, MessageExchange, Rating, Usage},
    routes::ops::Health,
    routes::search::SearchHit,
    routes::sessions::Session,
    routes::usage::TokenUsage,
    service::pagination::Page,
};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    _database: Option<TestDatabase>,
}

/// A fresh, empty database for one test, on the backend the suite runs on:
/// a SQLite file in a temporary directory, or, when `TEST_DATABASE_URL`
/// names a PostgreSQL server (tests/pg.sh sets it), a database of its own
/// created on that server and dropped when this value is.
pub struct TestDatabase {
    pub url: String,
    dir: TempDir,
    postgres: Option<PostgresDatabase>,
}

struct PostgresDatabase {
    /// The server's URL as given (its maintenance database).
    server: String,
    name: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            None => Self {
                url: dir.path().join("chat.db").display().to_string(),
                dir,
                postgres: None,
            },
            Some(server) => {
                use diesel::{Connection, PgConnection, RunQueryDsl};
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&server).expect("TEST_DATABASE_URL answers");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("CREATE DATABASE");
                Self {
                    url: database_url_on(&server, &name),
                    dir,
                    postgres: Some(PostgresDatabase { server, name }),
                }
            }
        }
    }

    /// A temporary directory that lives as long as the database (server
    /// logs, files a test writes).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// True when the suite runs on PostgreSQL (`TEST_DATABASE_URL` is set).
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.trim().is_empty())
}

/// `server` (`postgres://user@host:port/db?params`) with `name` as its database.
fn database_url_on(server: &str, name: &str) -> String {
    let (scheme, rest) = server.split_once("://").expect("a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(pg) = &self.postgres {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            // FORCE: the test's server may still hold connections.
            if let Ok(mut conn) = PgConnection::establish(&pg.server) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name))
                        .execute(&mut conn);
            }
        }
    }
}

/// A server with defaults for tests: fresh database (SQLite, or PostgreSQL
/// with `TEST_DATABASE_URL`), cheap bcrypt, no rate limits, offline assistant.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A server with some settings overridden (e.g. `OPENAI_BASE_URL`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase::create();
    let database_url = database.url.clone();
    let mut env: HashMap<String, String> = [
        ("BIND", "127.0.0.1:0"),
        ("JWT_SECRET", "test-secret-that-is-long-enough-for-hs256"),
        ("BCRYPT_COST", "4"),
        ("RATE_LIMIT_AUTH_PER_MIN", "0"),
        ("RATE_LIMIT_REGISTER_PER_MIN", "0"),
        ("RATE_LIMIT_MESSAGES_PER_MIN", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.insert("DATABASE_URL".into(), database_url.clone());
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("settings");
    let app = Application::build(settings).expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        database_url,
        _database: Some(database),
    }
}

impl TestApp {
    /// A client of a server started elsewhere (a separate process) on
    /// `database_url`.
    pub fn external(address: String, database_url: String) -> Self {
        Self {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            database_url,
            _database: None,
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    /// Sends `body` as it is, labelled as JSON (for bodies that are not
    /// valid JSON, or not the expected shape).
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &'static str,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// GETs `path`, expects a 200 and reads the body as a `T`.
    pub async fn get_json<T: DeserializeOwned + Serialize>(&self, path: &str, token: &str) -> T {
        json(self.get(path, token).await).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Response {
        self.request(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({"email": email, "password": password, "name": name})),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request(
            Method::POST,
            "/auth/token",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// Registers and signs in a fresh user.
    pub async fn new_user(&self, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let created = self.register(&email, PASSWORD, name).await;
        let user: User = expect_json(created, StatusCode::CREATED).await;
        self.sign_in(&user.id, &email).await
    }

    async fn sign_in(&self, id: &str, email: &str) -> TestUser {
        let tokens: TokenPair = json(self.login(email, PASSWORD).await).await;
        TestUser {
            id: id.to_owned(),
            email: email.to_owned(),
            token: tokens.access_token,
            refresh_token: tokens.refresh_token,
        }
    }

    /// Creates an administrator directly in the database (as `create-user --admin` does).
    pub async fn new_admin(&self) -> TestUser {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let hash = richesreach_chat::auth::PasswordHasher::new(4)
            .hash(PASSWORD.to_owned())
            .await
            .expect("hash");
        let db = self.db();
        let (em, name) = (
            Email::parse(&email).expect("email"),
            UserName::parse("Admin").expect("name"),
        );
        let user = db
            .write(move |conn| users::create(conn, &em, &name, &hash, true))
            .await
            .expect("admin created");
        self.sign_in(&user.id, &email).await
    }

    pub fn db(&self) -> Database {
        Database::connect(&self.database_url, 2).expect("db")
    }

    /// Creates an untitled session.
    pub async fn new_session(&self, user: &TestUser) -> Session {
        let response = self.post("/sessions", &user.token, json!({})).await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Creates a session with a title (so no title request reaches a fake
    /// upstream).
    pub async fn new_titled_session(&self, user: &TestUser, title: &str) -> Session {
        let response = self
            .post("/sessions", &user.token, json!({"title": title}))
            .await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Sends a message and returns the exchange.
    pub async fn send(&self, user: &TestUser, session_id: &str, content: &str) -> MessageExchange {
        let response = self
            .post(
                &format!("/sessions/{session_id}/messages"),
                &user.token,
                json!({"content": content}),
            )
            .await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// A session's messages as they are stored, oldest first (one page).
    pub async fn messages(&self, user: &TestUser, session_id: &str) -> Vec<Message> {
        let path = format!("/sessions/{session_id}/messages?limit=200");
        let page: Page<Message> = self.get_json(&path, &user.token).await;
        page.items
    }

    /// Follows `next_cursor` from `path` (which may have a query already),
    /// `limit` items at a time, and returns every item seen, in order.
    pub async fn walk_pages<P: Paged>(
        &self,
        path: &str,
        limit: usize,
        token: &str,
    ) -> Vec<P::Item> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let first = format!("{path}{separator}limit={limit}");
        let mut seen = Vec::new();
        let mut url = first.clone();
        for _ in 0..100 {
            let (items, next_cursor) = self.get_json::<P>(&url, token).await.into_parts();
            assert!(
                items.len() <= limit,
                "limit={limit} gave {} items",
                items.len()
            );
            seen.extend(items);
            match next_cursor {
                Some(cursor) => url = format!("{first}&cursor={cursor}"),
                None => return seen,
            }
        }
        panic!("pagination of {path} never ended");
    }
}

/// A page of a list: its items and the cursor of the next page.
pub trait Paged: DeserializeOwned + Serialize {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

macro_rules! paged {
    ($($page:ty => $item:ty),* $(,)?) => {$(
        impl Paged for $page {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.items, self.next_cursor)
            }
        }
    )*};
}

paged!(
    Page<Session> => Session,
    Page<Message> => Message,
    Page<UserActivity> => UserActivity,
    Page<AdminSession> => AdminSession,
    Page<RatedMessage> => RatedMessage,
    Page<SearchHit> => SearchHit,
);

/// Reads JSON into an API type, strictly: serialising the value again must
/// give back exactly the JSON received. So a field the type does not know, a
/// field the body lacks, or `null` where a field should be absent fails the
/// test instead of being dropped or defaulted on the way in.
pub fn from_wire<T: DeserializeOwned + Serialize>(wire: Value) -> T {
    let typed: T = serde_json::from_value(wire.clone())
        .unwrap_or_else(|e| panic!("not a {}: {e}\n{wire}", type_name::<T>()));
    let again = serde_json::to_value(&typed).expect("API types serialise");
    assert_eq!(
        again,
        wire,
        "the body is not exactly a {}",
        type_name::<T>()
    );
    typed
}

/// Expects `status` and reads the body as a `T` (see [`from_wire`]); the body
/// is shown on failure.
pub async fn expect_json<T: DeserializeOwned + Serialize>(
    response: Response,
    status: StatusCode,
) -> T {
    let actual = response.status();
    let url = response.url().clone();
    let text = response.text().await.expect("body read");
    assert_eq!(actual, status, "{url} answered {text}");
    let wire: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"));
    from_wire(wire)
}

/// Expects a 200 and reads the body as a `T`.
pub async fn json<T: DeserializeOwned + Serialize>(response: Response) -> T {
    expect_json(response, StatusCode::OK).await
}

/// Asserts the contract's error shape, status and code; returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> ErrorResponse {
    let body: ErrorResponse = expect_json(response, status).await;
    assert_eq!(body.error.code, code, "error code in {body:?}");
    assert!(!body.error.message.is_empty(), "message in {body:?}");
    body
}

/// Runs `sql` on the test database; returns the rows it changed.
pub async fn db_execute(app: &TestApp, sql: String) -> usize {
    use diesel::RunQueryDsl;
    app.db()
        .write(move |conn| Ok(diesel::sql_query(sql).execute(conn)?))
        .await
        .expect("the statement runs")
}

/// The `n` of a query such as `SELECT COUNT(*) AS n FROM …`.
pub async fn db_count(app: &TestApp, sql: String) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.db()
        .run(move |conn| Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n))
        .await
        .expect("the count runs")
}

/// Lets the clock (millisecond resolution) move on, so rows created next
/// sort strictly after.
pub async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

#[test]
#[should_panic(expected = "is not exactly a")]
fn a_body_with_a_field_its_type_does_not_know_is_refused() {
    from_wire::<Health>(json!({"status": "ok", "uptime": 5}));
}

#[test]
#[should_panic(expected = "is not exactly a")]
fn null_where_a_field_should_be_absent_is_refused() {
    from_wire::<ErrorResponse>(
        json!({"error": {"code": "not_found", "message": "m", "details": null}}),
    );
}
