//! The HTTP layer: thin handlers that parse, call the service layer, and map
//! the result. One module per resource.
//!
//! Every route is declared once, on its handler: the actix attribute
//! (`#[get("/sessions")]`) gives the method and path, `#[utoipa::path]` the
//! documentation, and [`configure`] registers the handlers through
//! `utoipa-actix-web`, which builds the router and the OpenAPI paths from the
//! same registration. `405 Allow` answers are derived from that document
//! ([`fallback`]).

pub mod account;
pub mod admin;
pub mod auth;
pub mod body_deadline;
pub mod console;
pub mod editing;
pub mod examples;
pub mod export;
pub mod extract;
pub mod fallback;
pub mod feedback;
pub mod idempotency;
pub mod message_shapes;
pub mod messages;
pub mod ops;
pub mod replies;
pub mod responses;
pub mod search;
pub mod sessions;
pub mod sse;
pub mod usage;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::AppError;
use crate::service::pagination::PageRequest;

/// Registers every API operation (router and OpenAPI document alike).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.configure(auth::configure)
        .configure(sessions::configure)
        .configure(messages::configure)
        .configure(replies::configure)
        .configure(editing::configure)
        .configure(feedback::configure)
        .configure(usage::configure)
        .configure(search::configure)
        .configure(export::configure)
        .configure(account::configure)
        .configure(admin::configure)
        .configure(console::configure)
        .configure(ops::configure);
}

/// Pagination of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 200)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, AppError> {
        PageRequest::new(self.limit, self.cursor.as_deref())
    }
}
