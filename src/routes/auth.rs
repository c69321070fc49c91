//! `/auth`: register, sign in, refresh, me.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::{client_ip, JsonBody};
use super::responses::{BodyErrors, RateLimited, Unauthorized, ValidationFailed};
use crate::auth::AuthUser;
use crate::clock::rfc3339;
use crate::db::models;
use crate::domain::{Email, Password, UserName, Violations, EMAIL_MAX_CHARS};
use crate::error::{AppError, ErrorResponse};
use crate::service::{tokens, users};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register)
        .service(sign_in)
        .service(refresh)
        .service(get_me);
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// UUID v7.
    #[schema(format = Uuid, examples("01935d7e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"))]
    pub id: String,
    /// Trimmed and lower-cased.
    #[schema(examples("ann@example.com"), format = Email)]
    pub email: String,
    #[schema(examples("Ann"))]
    pub name: String,
    pub is_admin: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime, examples("2026-11-24T12:00:00.123Z"))]
    pub created_at: String,
}

impl From<&models::User> for User {
    fn from(u: &models::User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            is_admin: u.is_admin,
            created_at: rfc3339(u.created_at),
        }
    }
}

impl From<&AuthUser> for User {
    fn from(u: &AuthUser) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            is_admin: u.is_admin,
            created_at: rfc3339(u.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Trimmed and lower-cased before it is stored.
    #[schema(examples("ann@example.com"), format = Email, max_length = 254)]
    pub email: String,
    /// 8–256 characters; every character counts.
    #[schema(
        examples("correct horse battery staple"),
        min_length = 8,
        max_length = 256
    )]
    pub password: String,
    /// 1–100 characters after trimming, no control characters.
    #[schema(
        examples("Ann"),
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(examples("ann@example.com"))]
    pub email: String,
    #[schema(examples("correct horse battery staple"))]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the last pair; it stops working once used.
    pub refresh_token: String,
}

/// How the access token is presented: always `Bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

impl PartialEq<&str> for TokenType {
    fn eq(&self, other: &&str) -> bool {
        matches!((self, *other), (Self::Bearer, "Bearer"))
    }
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// JWT (HS256); send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Opaque; exchange it at `/auth/refresh` for a new pair (once).
    pub refresh_token: String,
    #[schema(examples("Bearer"))]
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    #[schema(examples(900))]
    pub expires_in: u64,
}

impl TokenPair {
    /// A fresh access token for `user_id`, paired with `refresh_token`.
    fn new(state: &AppState, user_id: &str, refresh_token: String) -> Result<Self, AppError> {
        Ok(Self {
            access_token: state.jwt.issue(user_id)?,
            refresh_token,
            token_type: TokenType::Bearer,
            expires_in: state.jwt.access_ttl_secs,
        })
    }
}

/// Create an account.
#[utoipa::path(
    security(()),
    tag = "auth",
    request_body(content = RegisterRequest, examples(("ann" = (summary = "Ann signs up", value = json!(examples::register_request()))))),
    responses(
        (status = 201, description = "Account created", body = User, examples(("ann" = (summary = "Her account (the email trimmed and lower-cased)", value = json!(examples::user()))))),
        BodyErrors,
        (status = 403, description = "Registration is switched off (`registration_closed`)", body = ErrorResponse),
        (status = 409, description = "Email already registered", body = ErrorResponse),
        ValidationFailed,
        RateLimited,
    )
)]
#[post("/auth/register")]
#[tracing::instrument(skip_all)]
pub async fn register(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<HttpResponse, AppError> {
    if !state.settings.allow_registration {
        return Err(AppError::RegistrationClosed);
    }
    state.limiter.check_register(client_ip(&req)).await?;
    let mut violations = Violations::default();
    let email = violations.check(Email::parse(&body.email));
    let name = violations.check(UserName::parse(&body.name));
    let password = violations.check(Password::parse(body.password));
    violations.finish()?;
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let hash = state.hasher.hash(password.expose().to_owned()).await?;
    let user = state
        .db
        .write(move |conn| users::create(conn, &email, &name, &hash, false))
        .await?;
    Ok(HttpResponse::Created().json(User::from(&user)))
}

/// Sign in: exchange email and password for a token pair.
#[utoipa::path(
    security(()),
    tag = "auth",
    request_body(content = TokenRequest, examples(("ann" = (summary = "Ann signs in", value = json!(examples::sign_in_request()))))),
    responses(
        (status = 200, description = "Signed in", body = TokenPair, examples(("tokens" = (summary = "A token pair; the access token lasts 15 minutes", value = json!(examples::token_pair()))))),
        BodyErrors,
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = ErrorResponse),
        (status = 403, description = "The account is deactivated", body = ErrorResponse),
        RateLimited,
    )
)]
#[post("/auth/token")]
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let email = Email::normalise(&body.email);
    // No account has a longer email: answer before any work or write.
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(AppError::InvalidCredentials);
    }
    let ip = client_ip(&req);
    state.limiter.check_sign_in(ip, &email).await?;
    let lookup = email.clone();
    let user = state
        .db
        .run(move |conn| users::find_by_email(conn, &lookup))
        .await?;
    let verified = state
        .hasher
        .verify(
            body.password.clone(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            state.limiter.record_sign_in_failure(ip, &email).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    if !user.is_active {
        return Err(AppError::Forbidden("account is deactivated".into()));
    }
    if state.hasher.needs_rehash(&user.password_hash) {
        rehash(&state, &user.id, body.password).await;
    }
    let ttl = state.settings.refresh_token_ttl_secs;
    let user_id = user.id.clone();
    let refresh_token = state
        .db
        .write(move |conn| tokens::issue(conn, &user_id, None, ttl))
        .await?;
    Ok(HttpResponse::Ok().json(TokenPair::new(&state, &user.id, refresh_token)?))
}

/// Hashes the password again at the configured cost, so this account costs
/// as much to check as every other. A failure only delays that to the next
/// sign-in.
async fn rehash(state: &AppState, user_id: &str, password: String) {
    let user_id = user_id.to_owned();
    let result = match state.hasher.hash(password).await {
        Ok(hash) => {
            state
                .db
                .write(move |conn| users::set_password_hash(conn, &user_id, &hash))
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = ?e, "cannot rehash a password at the configured cost");
    }
}

/// Exchange a refresh token for a new pair (the old one stops working).
#[utoipa::path(
    security(()),
    tag = "auth",
    request_body(content = RefreshRequest, examples(("refresh" = (summary = "The refresh token of the last pair", value = json!(examples::refresh_request()))))),
    responses(
        (status = 200, description = "A new pair", body = TokenPair, examples(("tokens" = (summary = "A new pair; the old refresh token stops working", value = json!(examples::token_pair()))))),
        BodyErrors,
        (status = 401, description = "Unknown, expired, revoked or reused refresh token; reuse revokes the whole chain", body = ErrorResponse),
    )
)]
#[post("/auth/refresh")]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<HttpResponse, AppError> {
    let ttl = state.settings.refresh_token_ttl_secs;
    let (user, refresh_token) = state
        .db
        .write(move |conn| tokens::rotate(conn, &body.refresh_token, ttl))
        .await?;
    Ok(HttpResponse::Ok().json(TokenPair::new(&state, &user.id, refresh_token)?))
}

/// The signed-in user.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User, examples(("ann" = (summary = "Ann", value = json!(examples::user()))))),
        Unauthorized,
    )
)]
#[get("/auth/me")]
pub async fn get_me(user: AuthUser) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(User::from(&user)))
}
