//! The HTTP layer: thin handlers that parse, call the service layer, and map
//! the result. One module per resource.

pub mod admin;
pub mod auth;
pub mod body_deadline;
pub mod extract;
pub mod messages;
pub mod ops;
pub mod sessions;
pub mod sse;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::AppError;
use crate::service::pagination::PageRequest;

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
