//! Logging: `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` for JSON lines.
//!
//! Every request runs in a span (`tracing_actix_web::TracingLogger`) whose
//! `request_id` field, a UUID v7 generated for the request, is on every line
//! logged while serving it (blocking database work and the tasks it spawns
//! enter the same span); [`add_request_id`] returns it as `X-Request-Id`.
//! An incoming `X-Request-Id` is not reused: anyone who reaches the service
//! could pick one, to mix their requests into another request's lines. A
//! proxy that wants one id on both sides logs the id it gets back (nginx:
//! `$upstream_http_x_request_id`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing_actix_web::RequestId;
use tracing_subscriber::EnvFilter;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A subscriber may already be installed (tests); that is fine.
    let _ = result;
}

/// Middleware (inside `TracingLogger`, which assigns the id): answers the
/// request's id as `X-Request-Id`. (Services inside answer errors as
/// responses, so errors carry it too.)
pub async fn add_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

/// `tokio::task::spawn_blocking`, with the caller's span entered inside the
/// closure, so what the blocking work logs (and its timing) stays attached to
/// the request that asked for it.
pub fn spawn_blocking_with_tracing<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::dispatcher::{self, Dispatch};

    /// The name of the span current on the blocking thread.
    async fn span_seen_by_blocking_work(with_tracing: bool) -> Option<&'static str> {
        let dispatch = Dispatch::new(tracing_subscriber::registry());
        let inner = dispatch.clone();
        // The blocking thread reports to the same subscriber (in the service
        // it is the global one).
        let work = move || {
            dispatcher::with_default(&inner, || {
                tracing::Span::current().metadata().map(|m| m.name())
            })
        };
        let handle = dispatcher::with_default(&dispatch, || {
            let _entered = tracing::info_span!("request").entered();
            if with_tracing {
                spawn_blocking_with_tracing(work)
            } else {
                tokio::task::spawn_blocking(work)
            }
        });
        handle.await.unwrap()
    }

    #[tokio::test]
    async fn blocking_work_runs_inside_the_callers_span() {
        assert_eq!(span_seen_by_blocking_work(true).await, Some("request"));
        // What the helper is for: plain spawn_blocking loses the span.
        assert_eq!(span_seen_by_blocking_work(false).await, None);
    }
}
