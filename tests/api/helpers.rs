//! `spawn_app()` and a small HTTP client for the API.

use std::collections::HashMap;

use reqwest::{Method, Response, StatusCode};
use richesreach_chat::config::Settings;
use richesreach_chat::db::Database;
use richesreach_chat::domain::{Email, UserName};
use richesreach_chat::service::users;
use richesreach_chat::startup::Application;
use serde_json::{json, Value};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    _dir: TempDir,
}

/// A server with defaults for tests: fresh SQLite file, cheap bcrypt, no rate
/// limits, offline assistant.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A server with some settings overridden (e.g. `OPENAI_BASE_URL`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = dir.path().join("chat.db").display().to_string();
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
        _dir: dir,
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

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
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

    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &'static str) -> Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request sent")
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

    /// Registers and signs in a fresh user.
    pub async fn new_user(&self, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let created = self.register(&email, PASSWORD, name).await;
        assert_eq!(created.status(), StatusCode::CREATED, "register {email}");
        let user: Value = created.json().await.expect("user json");
        self.sign_in(user["id"].as_str().expect("id"), &email).await
    }

    async fn sign_in(&self, id: &str, email: &str) -> TestUser {
        let tokens: Value = self
            .login(email, PASSWORD)
            .await
            .json()
            .await
            .expect("token json");
        TestUser {
            id: id.to_owned(),
            email: email.to_owned(),
            token: tokens["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
            refresh_token: tokens["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
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
            .run(move |conn| users::create(conn, &em, &name, &hash, true))
            .await
            .expect("admin created");
        self.sign_in(&user.id, &email).await
    }

    pub fn db(&self) -> Database {
        Database::connect(&self.database_url, 2).expect("db")
    }

    /// Creates a session and returns its id.
    pub async fn new_session(&self, user: &TestUser) -> String {
        let response = self.post("/sessions", &user.token, json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let session: Value = response.json().await.expect("session json");
        session["id"].as_str().expect("id").to_owned()
    }

    /// Creates a session with a title (so no title request reaches a fake
    /// upstream) and returns its id.
    pub async fn new_titled_session(&self, user: &TestUser, title: &str) -> String {
        let response = self
            .post("/sessions", &user.token, json!({"title": title}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let session: Value = response.json().await.expect("session json");
        session["id"].as_str().expect("id").to_owned()
    }

    /// Sends a message and returns the exchange.
    pub async fn send(&self, user: &TestUser, session_id: &str, content: &str) -> Value {
        let response = self
            .post(
                &format!("/sessions/{session_id}/messages"),
                &user.token,
                json!({"content": content}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "send message");
        response.json().await.expect("exchange json")
    }
}

/// Asserts the contract's error shape and code; returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    body
}
