//! The headers every answer carries for browsers, and the contract's error
//! shape for errors that actix or its middleware (CORS) answer themselves.
//!
//! - `X-Content-Type-Options: nosniff` everywhere: a browser never guesses a
//!   JSON answer into HTML or script.
//! - `Referrer-Policy: no-referrer` everywhere: page URLs (with session ids)
//!   never leak to other sites.
//! - `X-Frame-Options: DENY`, and a CSP with `frame-ancestors 'none'` on every
//!   answer that does not bring its own: no page of the service can be framed
//!   (clickjacking). JSON answers get `default-src 'none'`, so one opened as a
//!   document can load and run nothing.
//! - Swagger UI gets a CSP that allows exactly what its vendored page needs:
//!   its own scripts and styles (the page has no inline script), images and
//!   fonts inlined as `data:` URLs, and calls to this origin.
//! - `Cache-Control: no-store` on `/auth/*`: token pairs and the signed-in
//!   user's details are never kept by caches (RFC 6749 §5.1).
//!
//! A page that sets its own `Content-Security-Policy` (the admin console)
//! keeps it; the other headers are added only when absent.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::HttpResponse;

use crate::error::AppError;

/// Swagger UI 5.17: `index.html` loads `swagger-ui-bundle.js`,
/// `swagger-ui-standalone-preset.js` and `swagger-initializer.js` (no inline
/// script); its stylesheet inlines icons and fonts as `data:` URLs; it fetches
/// `/openapi.json` and the operations tried out from this origin. The one
/// inline style is the `<style>` of the top bar's logo, allowed by its hash
/// (`.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}`).
/// The browser test (tests/browser/swagger.test.mjs) fails on any violation,
/// so an upgrade of Swagger UI that needs more shows up there.
pub const SWAGGER_UI_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// For answers that are data, not pages.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Middleware: adds the headers above and puts errors answered outside the
/// handlers (a refused CORS preflight, for one) in the contract's error shape.
pub async fn add_security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    // (Services inside answer errors as responses; an `Err` here is rendered
    // by actix itself.)
    let mut res = in_error_shape(next.call(req).await?.map_into_boxed_body());
    let headers = res.headers_mut();
    set_default(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(headers, header::REFERRER_POLICY, "no-referrer");
    set_default(headers, header::X_FRAME_OPTIONS, "DENY");
    if path == "/swagger-ui" || path.starts_with("/swagger-ui/") {
        set_default(headers, header::CONTENT_SECURITY_POLICY, SWAGGER_UI_CSP);
    } else if !is_html(headers) {
        set_default(headers, header::CONTENT_SECURITY_POLICY, API_CSP);
    }
    if path.starts_with("/auth/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    Ok(res)
}

fn set_default(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"))
}

/// An error answered by actix or a middleware rather than by our handlers
/// (`AppError`) gets the contract's body, keeping its status.
fn in_error_shape(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let Some(err) = res.response().error() else {
        return res;
    };
    if err.as_error::<AppError>().is_some() {
        return res;
    }
    let app_error = match res.status() {
        StatusCode::BAD_REQUEST => AppError::BadRequest(err.to_string()),
        StatusCode::NOT_FOUND => AppError::NotFound(err.to_string()),
        StatusCode::REQUEST_TIMEOUT => AppError::RequestTimeout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType,
        status if status.is_server_error() => AppError::internal(err.to_string()),
        _ => return res,
    };
    res.into_response(HttpResponse::from_error(app_error))
}
