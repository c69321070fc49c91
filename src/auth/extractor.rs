//! `AuthUser` and `AdminUser`: the caller, authenticated by bearer token and
//! re-checked against the database on every request, so deactivation and
//! role changes take effect from the next request on.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use actix_web_httpauth::extractors::bearer::BearerAuth;

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

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bearer = BearerAuth::from_request(req, payload).into_inner();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let bearer =
                bearer.map_err(|_| AppError::Unauthorized("missing bearer token".into()))?;
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let claims = state.jwt.verify(bearer.token())?;
            let user = state
                .db
                .run(move |conn| users::find_by_id(conn, &claims.sub))
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
