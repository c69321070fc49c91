use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, expect_json, from_wire, json, spawn_app, spawn_app_with, TestDatabase, TokenPair,
    User, PASSWORD,
};

#[tokio::test]
async fn registering_returns_the_user_with_a_normalised_email() {
    let app = spawn_app().await;
    let response = app
        .register("  Ann.Lee@Example.COM ", PASSWORD, " Ann ")
        .await;
    // Raw JSON first: no password or hash may be on the wire under any name.
    let wire: Value = expect_json(response, StatusCode::CREATED).await;
    assert!(wire.get("password_hash").is_none() && wire.get("password").is_none());
    let user: User = from_wire(wire);
    assert_eq!(user.email, "ann.lee@example.com");
    assert_eq!(user.name, "Ann");
    assert!(!user.is_admin);
    assert!(uuid::Uuid::parse_str(&user.id).is_ok());
    assert!(user.created_at.ends_with('Z'));
}

#[tokio::test]
async fn registering_an_existing_email_in_any_case_is_a_conflict() {
    let app = spawn_app().await;
    app.register("ann@example.com", PASSWORD, "Ann").await;
    let again = app.register("ANN@example.com", PASSWORD, "Ann 2").await;
    assert_error(again, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn registration_rules_are_reported_per_field() {
    let app = spawn_app().await;
    let response = app.register("not-an-email", "short", "").await;
    let body = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let details = body.error.details.expect("the fields that broke a rule");
    let fields: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, vec!["email", "name", "password"]);
    let too_long = app
        .register("bob@example.com", &"x".repeat(257), "Bob")
        .await;
    assert_error(
        too_long,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn registration_can_be_closed() {
    let app = spawn_app_with(&[("ALLOW_REGISTRATION", "false")]).await;
    let response = app.register("ann@example.com", PASSWORD, "Ann").await;
    assert_error(response, StatusCode::FORBIDDEN, "registration_closed").await;
}

#[tokio::test]
async fn signing_in_returns_a_bearer_token_pair() {
    let app = spawn_app().await;
    app.register("ann@example.com", PASSWORD, "Ann").await;
    let response = app.login("  ANN@example.com", PASSWORD).await;
    let tokens: TokenPair = json(response).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    let me: User = app.get_json("/auth/me", &tokens.access_token).await;
    assert_eq!(me.email, "ann@example.com");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("ann@example.com", PASSWORD, "Ann").await;
    let wrong = assert_error(
        app.login("ann@example.com", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_error(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn every_character_of_a_long_password_counts() {
    let app = spawn_app().await;
    let long = format!("{}A", "p".repeat(120));
    assert_eq!(
        app.register("ann@example.com", &long, "Ann").await.status(),
        StatusCode::CREATED
    );
    let almost = format!("{}B", "p".repeat(120));
    assert_error(
        app.login("ann@example.com", &almost).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login("ann@example.com", &long).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn passwords_are_stored_only_as_bcrypt_hashes() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let stored = app
        .db()
        .run(move |conn| richesreach_chat::service::users::find_by_id(conn, &user.id))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$2"), "bcrypt hash");
    assert!(!stored.password_hash.contains(PASSWORD));
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let pair: TokenPair = json(app.refresh(&user.refresh_token).await).await;
    assert_ne!(pair.refresh_token, user.refresh_token);
    assert_eq!(
        app.get("/auth/me", &pair.access_token).await.status(),
        StatusCode::OK
    );

    let replay = app.refresh(&user.refresh_token).await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_chain() {
    let app = spawn_app().await;
    let user = app.new_user("Ann").await;
    let second: TokenPair = json(app.refresh(&user.refresh_token).await).await;
    // An attacker replays the first token: the chain is revoked ...
    assert_eq!(
        app.refresh(&user.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // ... so the legitimate latest token no longer works either.
    assert_error(
        app.refresh(&second.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Another sign-in starts a fresh chain.
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_refresh_tokens_are_unauthorized() {
    let app = spawn_app().await;
    let response = app.refresh("made-up").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn expired_refresh_tokens_are_unauthorized() {
    let app = spawn_app_with(&[("REFRESH_TOKEN_TTL", "1")]).await;
    let user = app.new_user("Ann").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = app.refresh(&user.refresh_token).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
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

    async fn assert_rejected(app: &crate::helpers::TestApp, token: &str) {
        let response = app.get("/auth/me", token).await;
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }

    #[tokio::test]
    async fn a_missing_token_is_unauthorized_with_a_bearer_challenge() {
        let app = spawn_app().await;
        let response = app.request(Method::GET, "/auth/me", None, None).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }

    #[tokio::test]
    async fn expired_tampered_and_unsigned_tokens_are_rejected() {
        let app = spawn_app().await;
        let user = app.new_user("Ann").await;
        let key = EncodingKey::from_secret(SECRET.as_bytes());

        let expired = encode(
            &Header::default(),
            &json!({"sub": user.id, "iat": now() - 7200, "exp": now() - 3600}),
            &key,
        )
        .unwrap();
        assert_rejected(&app, &expired).await;

        let wrong_key = encode(
            &Header::default(),
            &json!({"sub": user.id, "iat": now(), "exp": now() + 600}),
            &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
        )
        .unwrap();
        assert_rejected(&app, &wrong_key).await;

        // Tampered: someone else's id in the payload, original signature.
        let other = app.new_user("Bob").await;
        let parts: Vec<&str> = user.token.split('.').collect();
        let payload = URL_SAFE_NO_PAD
            .encode(json!({"sub": other.id, "iat": now(), "exp": now() + 600}).to_string());
        assert_rejected(&app, &format!("{}.{}.{}", parts[0], payload, parts[2])).await;

        // alg: none.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD
            .encode(json!({"sub": user.id, "iat": now(), "exp": now() + 600}).to_string());
        assert_rejected(&app, &format!("{header}.{payload}.")).await;

        assert_rejected(&app, "not-a-jwt").await;

        // A valid token for a user that does not exist.
        let ghost = encode(
            &Header::default(),
            &json!({"sub": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 600}),
            &key,
        )
        .unwrap();
        assert_rejected(&app, &ghost).await;
    }
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_email() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_PER_MIN", "3")]).await;
    app.register("ann@example.com", PASSWORD, "Ann").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("ann@example.com", "wrong password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app.login("ann@example.com", PASSWORD).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// Starts a server without `JWT_SECRET` on `database_url`; returns its address.
fn start_without_jwt_secret(database_url: &str) -> String {
    use richesreach_chat::config::Settings;
    use richesreach_chat::startup::Application;
    let database_url = database_url.to_owned();
    let settings = Settings::from_lookup(move |k| match k {
        "BIND" => Some("127.0.0.1:0".into()),
        "DATABASE_URL" => Some(database_url.clone()),
        "BCRYPT_COST" => Some("4".into()),
        _ => None,
    })
    .unwrap();
    let app = Application::build(settings).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

async fn sign_up_on(client: &reqwest::Client, address: &str) -> TokenPair {
    client
        .post(format!("{address}/auth/register"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}))
        .send()
        .await
        .unwrap();
    json(
        client
            .post(format!("{address}/auth/token"))
            .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn without_jwt_secret_a_key_is_generated_once_and_shared_through_the_database() {
    let database = TestDatabase::create();
    let client = reqwest::Client::new();
    let first = start_without_jwt_secret(&database.url);
    let tokens = sign_up_on(&client, &first).await;

    // A second process on the same database (a replica, or a restart)
    // accepts the first one's token: the key is the database's, not the
    // process's or the machine's.
    let second = start_without_jwt_secret(&database.url);
    let me = client
        .get(format!("{second}/auth/me"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    #[derive(diesel::QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret: String,
    }
    let keys: Vec<Key> = {
        use diesel::RunQueryDsl;
        let db = richesreach_chat::db::Database::connect(&database.url, 1).unwrap();
        let mut conn = db.get().unwrap();
        diesel::sql_query("SELECT secret FROM signing_keys")
            .load(&mut *conn)
            .unwrap()
    };
    assert_eq!(keys.len(), 1);
    assert!(keys[0].secret.len() >= 64);
    assert!(
        !database.dir().join("jwt_secret").exists(),
        "no key file is written"
    );
}

#[tokio::test]
async fn sqlite_only_a_key_file_kept_by_earlier_versions_stays_the_signing_key() {
    // Earlier versions kept the generated key in a file beside the SQLite
    // database: tokens they issued stay valid after an upgrade.
    let dir = tempfile::tempdir().unwrap();
    let old_key = "an-old-key-from-a-file-kept-beside-the-database-0123456789";
    std::fs::write(dir.path().join("jwt_secret"), format!("{old_key}\n")).unwrap();
    let address = start_without_jwt_secret(&dir.path().join("chat.db").display().to_string());

    let tokens = sign_up_on(&reqwest::Client::new(), &address).await;

    let claims = richesreach_chat::auth::JwtKeys::new(old_key.as_bytes(), 900)
        .verify(&tokens.access_token)
        .expect("signed with the file's key");
    assert!(!claims.sub.is_empty());
}
