//! The application state every handler reaches through `web::Data<AppState>`.
//! It sits below the HTTP layer (handlers and extractors depend on it), and
//! `startup` only builds it.

use std::sync::Arc;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::Settings;
use crate::db::Database;
use crate::metrics::Metrics;
use crate::service::chat::Chat;
use crate::service::rate_limit::RateLimiter;

/// What every handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Database,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    pub chat: Chat,
    pub metrics: Arc<Metrics>,
    pub limiter: RateLimiter,
}
