//! The service layer: plain functions over a database connection they are
//! handed. No HTTP types here; errors are `AppError` variants that the web
//! layer maps to statuses in one place.

pub mod account;
pub mod chat;
pub mod editing;
pub mod export;
pub mod feedback;
pub mod idempotency;
pub mod live;
pub mod messages;
pub mod pagination;
pub mod rate_limit;
pub mod replies;
pub mod retention;
pub mod search;
pub mod sessions;
pub mod signing_keys;
pub mod stats;
pub mod tokens;
pub mod usage;
pub mod users;
