//! `/auth/me/export` and `DELETE /auth/me`: the caller's own data, to take
//! away or to delete.

use actix_web::{delete, get, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::User;
use super::examples;
use super::export::{attachment, SessionExport};
use super::extract::{client_ip, JsonBody};
use super::responses::{BodyErrors, Conflict, RateLimited, Unauthorized};
use crate::auth::AuthUser;
use crate::error::{AppError, ErrorResponse};
use crate::metrics::ExportKind;
use crate::service::{account, export, users};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export_my_data).service(delete_account);
}

/// Everything the service holds about a user, except secrets (password
/// hash, refresh tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountExport {
    pub user: User,
    /// Every session, oldest first, each with every stored message (the
    /// superseded ones too), oldest first.
    pub sessions: Vec<SessionExport>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The account's password, to confirm.
    #[schema(examples("correct horse battery staple"))]
    pub password: String,
}

/// Download all of the caller's data.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's data", body = AccountExport,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"richesreach-chat-export.json\"`")),
            examples(("export" = (summary = "Ann's account: one session, every stored message", value = json!(examples::account_export()))))),
        Unauthorized,
    )
)]
#[get("/auth/me/export")]
pub async fn export_my_data(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let user_id = user.id.clone();
    let sessions = state
        .db
        .run(move |conn| export::account(conn, &user_id))
        .await?;
    state.metrics.export(ExportKind::Account);
    let body = AccountExport {
        user: User::from(&user),
        sessions: sessions.iter().map(SessionExport::from).collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header(attachment("richesreach-chat-export.json"))
        .json(body))
}

/// Delete the caller's account and everything stored about it: sessions,
/// messages, sources, feedback, search index, tokens. Its access and refresh
/// tokens stop working; the email can register again.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body(content = DeleteAccountRequest,
        examples(("confirm" = (summary = "The password, to confirm", value = json!(examples::delete_account_request()))))),
    responses(
        (status = 204, description = "Deleted"),
        BodyErrors,
        (status = 401, description = "Not signed in (`unauthorized`), or the password is wrong (`invalid_credentials`)", body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`, when not signed in"))),
        Conflict,
        RateLimited,
    )
)]
#[delete("/auth/me")]
#[tracing::instrument(skip_all)]
pub async fn delete_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    JsonBody(body): JsonBody<DeleteAccountRequest>,
) -> Result<HttpResponse, AppError> {
    // Wrong passwords count as failed sign-ins: a stolen access token is not
    // a way to guess the password faster.
    let ip = client_ip(&req);
    state.limiter.check_sign_in(ip, &user.email).await?;
    let user_id = user.id.clone();
    let stored = state
        .db
        .run(move |conn| users::find_by_id(conn, &user_id))
        .await?
        .map(|u| u.password_hash);
    if !state.hasher.verify(body.password, stored).await? {
        state
            .limiter
            .record_sign_in_failure(ip, &user.email)
            .await?;
        return Err(AppError::InvalidCredentials);
    }
    let (user_id, email) = (user.id.clone(), user.email.clone());
    state
        .db
        .write(move |conn| account::delete(conn, &user_id, &email))
        .await?;
    state.metrics.account_deleted();
    Ok(HttpResponse::NoContent().finish())
}
