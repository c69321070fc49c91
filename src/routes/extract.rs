//! Request parsing that answers in the contract's error shape: JSON bodies
//! (JSON media type, size-limited, time-limited, objects only), query strings
//! and ids.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{self, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::body_deadline::is_deadline_error;
use crate::error::AppError;
use crate::state::AppState;

const DEFAULT_LIMIT: usize = 256 * 1024;

/// A JSON object body deserialized into `T`. Malformed JSON, a non-object, a
/// wrong type or a missing field is 400; over `MAX_BODY_BYTES` is 413; a body
/// that stalls or takes too long is 408; another media type than JSON is 415.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Like [`JsonBody`], but an empty body means `T::default()`, whatever its
/// content type. (`null` is not an object, so it is 400 like any other
/// non-object.)
#[derive(Debug)]
pub struct JsonBodyOrEmpty<T>(pub T);

async fn read_body(req: &HttpRequest, mut payload: Payload) -> Result<BytesMut, AppError> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(DEFAULT_LIMIT, |s| s.settings.max_body_bytes);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if is_deadline_error(&e) {
                AppError::RequestTimeout
            } else {
                AppError::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the body is declared as JSON: `application/json` or any
/// `application/*+json`, in any case, with or without parameters. Refusing
/// everything else means a cross-site page cannot send a JSON body with a
/// "simple" (no preflight) request, whose types are form and text types.
fn declared_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json") && !subtype.contains('/'))
}

fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(AppError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| AppError::BadRequest(format!("invalid request body: {e}")))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            if !declared_json(&req) {
                return Err(AppError::UnsupportedMediaType);
            }
            let body = read_body(&req, payload).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(AppError::BadRequest(
                    "a JSON object body is required".into(),
                ));
            }
            parse_object(&body).map(JsonBody)
        })
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonBodyOrEmpty<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let body = read_body(&req, payload).await?;
            if body.trim_ascii().is_empty() {
                return Ok(JsonBodyOrEmpty(T::default()));
            }
            if !declared_json(&req) {
                return Err(AppError::UnsupportedMediaType);
            }
            parse_object(&body).map(JsonBodyOrEmpty)
        })
    }
}

/// A resource id from the path, normalised. Anything that is not a UUID
/// cannot name a resource, so it is 404 like an absent one.
pub fn resource_id(raw: &str, what: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|id| id.to_string())
        .map_err(|_| AppError::not_found(what))
}

/// The `{id}` and `{message_id}` of a message path, normalised
/// ([`resource_id`]): a session and one of its messages.
pub fn message_ids(path: &(String, String)) -> Result<(String, String), AppError> {
    Ok((
        resource_id(&path.0, "chat session")?,
        resource_id(&path.1, "message")?,
    ))
}

/// Query-string errors in the contract's shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        AppError::BadRequest(format!("invalid query string: {err}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_err, _req| AppError::NotFound("not found".into()).into())
}

/// The client's address as the socket sees it. (Behind a reverse proxy every
/// request comes from the proxy; see the README.)
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|addr| addr.ip())
}
