//! The error answers many operations share, defined once for the OpenAPI
//! document. A handler's `responses(...)` names these types and writes out
//! only what is special to it (its success, and errors such as a 409).

use std::collections::BTreeMap;

use utoipa::openapi::response::Response;
use utoipa::openapi::RefOr;
use utoipa::IntoResponses;

use crate::error::ErrorResponse;

/// 400 `bad_request`.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "The body or query string is malformed (`bad_request`)"
)]
pub struct BadRequest(pub ErrorResponse);

/// 401 `unauthorized`.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Not signed in: the bearer token is missing, invalid or expired, or the account is deactivated (`unauthorized`)",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized(pub ErrorResponse);

/// 403 `forbidden` on administrator-only operations.
#[derive(IntoResponses)]
#[response(status = 403, description = "Not an administrator (`forbidden`)")]
pub struct NotAdmin(pub ErrorResponse);

/// 404 `not_found`.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "Absent, or another user's: the two are never told apart (`not_found`)"
)]
pub struct NotFound(pub ErrorResponse);

/// 409 `conflict`: the operation does not fit the resource's state.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Not possible in the resource's current state, e.g. stopping a reply that is not `generating`, or a user message where a reply is expected (`conflict`)"
)]
pub struct Conflict(pub ErrorResponse);

/// 409 `idempotency_conflict`.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "The `Idempotency-Key` was used for a different request (another body or path) within 24 hours (`idempotency_conflict`)"
)]
pub struct IdempotencyConflict(pub ErrorResponse);

/// 409 `conflict` or `idempotency_conflict`: both may answer an operation
/// that changes a resource's state and takes an `Idempotency-Key` (one
/// status, so one entry of the document).
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Not possible in the resource's current state (`conflict`), or the `Idempotency-Key` was used for a different request within 24 hours (`idempotency_conflict`)"
)]
pub struct StateOrKeyConflict(pub ErrorResponse);

/// 413 `payload_too_large`.
#[derive(IntoResponses)]
#[response(
    status = 413,
    description = "The body is larger than `MAX_BODY_BYTES` (`payload_too_large`)"
)]
pub struct PayloadTooLarge(pub ErrorResponse);

/// 415 `unsupported_media_type`.
#[derive(IntoResponses)]
#[response(
    status = 415,
    description = "A body was sent without `Content-Type: application/json` (`unsupported_media_type`)"
)]
pub struct UnsupportedMediaType(pub ErrorResponse);

/// 408 `request_timeout`.
#[derive(IntoResponses)]
#[response(
    status = 408,
    description = "The body did not arrive within the body deadlines (`request_timeout`)"
)]
pub struct RequestTimeout(pub ErrorResponse);

/// 422 `validation_failed`.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "A well-formed value breaks a rule; `details` lists each field (`validation_failed`)"
)]
pub struct ValidationFailed(pub ErrorResponse);

/// 429 `rate_limited`.
#[derive(IntoResponses)]
#[response(
    status = 429,
    description = "Too many requests (`rate_limited`)",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
)]
pub struct RateLimited(pub ErrorResponse);

/// Defines a set of the responses above that operations name as one entry.
macro_rules! response_set {
    ($(#[$doc:meta])* $name:ident = $($part:ty),+ $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let mut all = BTreeMap::new();
                $(all.extend(<$part as IntoResponses>::responses());)+
                all
            }
        }
    };
}

response_set!(
    /// What any operation that reads a JSON body may answer before it looks
    /// at the values.
    BodyErrors = BadRequest,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
);

response_set!(
    /// What any administrator-only operation may answer.
    AdminErrors = Unauthorized,
    NotAdmin,
);

response_set!(
    /// What any operation on one of the caller's resources may answer.
    OwnedErrors = Unauthorized,
    NotFound,
);
