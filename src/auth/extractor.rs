//! `AuthUser` and `AdminUser`: the caller, authenticated by bearer token and
//! re-checked against the database on every request, so deactivation and
//! role changes take effect from the next request on.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

use crate::error::AppError;
use crate::service::users;
use crate::state::AppState;

/// The authenticated, active caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token =
                token.ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let claims = state.jwt.verify(&token)?;
            let user = state
                .db
                .read(move |conn| users::find_by_id(conn, &claims.sub))
                .await?
                .filter(|u| u.is_active)
                .ok_or_else(|| AppError::Unauthorized("invalid access token".into()))?;
            Ok(AuthUser {
                id: user.id,
                email: user.email,
                name: user.name,
                is_admin: user.is_admin,
                created_at: user.created_at,
            })
        })
    }
}

/// The token of `Authorization: Bearer <token>`. The scheme name is
/// case-insensitive (RFC 7235 §2.1), so `bearer` and `BEARER` work too.
fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An authenticated administrator; anyone else gets 403 (401 without a token).
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.is_admin {
                Ok(AdminUser(user))
            } else {
                Err(AppError::Forbidden("administrators only".into()))
            }
        })
    }
}
