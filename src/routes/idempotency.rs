//! The `Idempotency-Key` header: parsing it, and the headers of a replay.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::AppError;
use crate::service::idempotency::KeyedRequest;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

pub const KEY_DESCRIPTION: &str = "1–255 visible ASCII characters. Within 24 hours, the same \
key with the same request answers the first answer again (same status, body and ids; nothing new \
is stored) with `Idempotent-Replayed: true`; with another request, 409 `idempotency_conflict`. \
Keys are per user.";

/// The request's key, tied to the caller, the method, the operation's path
/// and the body; `None` without the header; 400 for a malformed key.
pub fn keyed_request(
    req: &HttpRequest,
    user_id: &str,
    path: &str,
    body: &impl Serialize,
) -> Result<Option<KeyedRequest>, AppError> {
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = raw.as_bytes();
    if key.is_empty() || key.len() > 255 || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(AppError::BadRequest(
            "Idempotency-Key must be 1–255 visible ASCII characters".into(),
        ));
    }
    let key = String::from_utf8_lossy(key);
    let body = serde_json::to_vec(body).map_err(AppError::internal)?;
    Ok(Some(KeyedRequest::new(
        user_id,
        &key,
        req.method().as_str(),
        path,
        &body,
    )))
}

/// Marks an answer as a replay of an earlier one.
pub fn mark_replayed(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        HeaderName::from_static(IDEMPOTENT_REPLAYED),
        HeaderValue::from_static("true"),
    );
    response
}
