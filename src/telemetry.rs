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

    /// A writer for a test subscriber: everything logged, in one buffer.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[actix_web::test]
    async fn what_a_request_logs_carries_the_id_it_answers() {
        use actix_web::middleware::from_fn;
        use actix_web::{test as actix_test, web, App, HttpResponse};
        use tracing_actix_web::TracingLogger;

        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app = actix_test::init_service(
            App::new()
                .wrap(from_fn(add_request_id))
                .wrap(TracingLogger::default())
                .route(
                    "/",
                    // (What blocking work logs is covered by the test
                    // below: it runs on a thread this test's subscriber,
                    // set for this thread only, does not see.)
                    web::get().to(|| async {
                        tracing::info!("in the handler");
                        tokio::task::yield_now().await;
                        tracing::warn!("after an await");
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let res =
                actix_test::call_service(&app, actix_test::TestRequest::get().to_request()).await;
            let id = res.headers().get(X_REQUEST_ID).unwrap();
            ids.push(id.to_str().unwrap().to_owned());
        }
        assert_ne!(ids[0], ids[1]);
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = logged.lines().collect();
        assert_eq!(lines.len(), 4, "{logged}");
        for (line, id) in lines.iter().zip([&ids[0], &ids[0], &ids[1], &ids[1]]) {
            assert!(line.contains(&format!("request_id={id}")), "{id}: {line}");
        }
    }

    #[tokio::test]
    async fn blocking_work_runs_inside_the_callers_span() {
        assert_eq!(span_seen_by_blocking_work(true).await, Some("request"));
        // What the helper is for: plain spawn_blocking loses the span.
        assert_eq!(span_seen_by_blocking_work(false).await, None);
    }
}
