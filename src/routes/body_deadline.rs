//! Deadlines on request bodies. actix times out a slow request head (408 after
//! 5 s) but not the body that follows it: without this, a client that declares
//! `Content-Length: 100` and sends 3 bytes, or trickles a byte every few
//! seconds, holds its connection open for as long as it likes.
//!
//! Every body is read through [`DeadlineStream`]: a gap of more than
//! `BODY_IDLE_TIMEOUT_SECS` between two pieces, or a body not complete
//! `BODY_READ_TIMEOUT_SECS` after the request head, ends the read with a
//! timeout error, which the JSON extractors answer with 408 `request_timeout`.
//!
//! Once the answer is sent, actix closes a connection whose `Content-Length`
//! body was not read to its end, but it keeps *draining* an unread chunked body
//! for as long as the client sends (or stalls) it. So when a chunked body was
//! not read to its end, [`guard_body`] shuts down the reading half of the
//! socket: actix sees the end of the stream, sends the answer and closes.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderValue, CONNECTION, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::state::AppState;

type BoxedStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

const DEFAULT_IDLE: Duration = Duration::from_secs(10);
const DEFAULT_TOTAL: Duration = Duration::from_secs(30);
const TIMEOUT_MESSAGE: &str = "request body deadline passed";

/// How far the body of one request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Reading,
    Complete,
    TimedOut,
}

/// A request body that fails with a timeout error when it stalls or takes too long.
struct DeadlineStream {
    inner: Payload,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    total_timer: Pin<Box<Sleep>>,
    state: Rc<Cell<BodyState>>,
}

impl Stream for DeadlineStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.state.get() != BodyState::Reading {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                let next = Instant::now() + this.idle;
                this.idle_timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                this.state.set(BodyState::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => {
                let idle = this.idle_timer.as_mut().poll(cx).is_ready();
                let total = this.total_timer.as_mut().poll(cx).is_ready();
                if idle || total {
                    this.state.set(BodyState::TimedOut);
                    Poll::Ready(Some(Err(timeout_error())))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

fn timeout_error() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        TIMEOUT_MESSAGE,
    ))
}

/// True for the error a body read ends with when its deadline passed.
pub fn is_deadline_error(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// Middleware: puts the body of every request behind the deadlines, and
/// closes the connection when a chunked body was left unread.
pub async fn guard_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (idle, total) =
        req.app_data::<web::Data<AppState>>()
            .map_or((DEFAULT_IDLE, DEFAULT_TOTAL), |s| {
                (
                    Duration::from_secs(s.settings.body_idle_timeout_secs),
                    Duration::from_secs(s.settings.body_read_timeout_secs),
                )
            });
    let chunked = req
        .headers()
        .get(TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let state = Rc::new(Cell::new(BodyState::Reading));
    let now = Instant::now();
    let stream = DeadlineStream {
        inner: req.take_payload(),
        idle,
        idle_timer: Box::pin(tokio::time::sleep_until(now + idle)),
        total_timer: Box::pin(tokio::time::sleep_until(now + total)),
        state: Rc::clone(&state),
    };
    req.set_payload(Payload::from(Box::pin(stream) as BoxedStream));
    let mut res = next.call(req).await?;
    if chunked && state.get() != BodyState::Complete {
        res.response_mut()
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        stop_reading(res.request());
    }
    Ok(res)
}

/// The connection's socket, remembered when it is accepted.
#[derive(Debug, Clone, Copy)]
struct ConnectionSocket(#[cfg(unix)] std::os::fd::RawFd);

/// `HttpServer::on_connect` hook: remembers each connection's socket so
/// [`guard_body`] can stop reading from it.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    #[cfg(unix)]
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        use std::os::fd::AsRawFd;
        data.insert(ConnectionSocket(stream.as_raw_fd()));
    }
    #[cfg(not(unix))]
    let _ = (connection, data);
}

/// Shuts down the reading half of the request's connection: the server sees
/// the end of the stream, finishes the answer and closes.
fn stop_reading(req: &HttpRequest) {
    #[cfg(unix)]
    if let Some(ConnectionSocket(fd)) = req.conn_data::<ConnectionSocket>() {
        use std::os::fd::BorrowedFd;
        // SAFETY: the descriptor is the socket of the connection this request
        // arrived on. That connection's dispatcher owns the socket and is what
        // polls this middleware's future, so the socket stays open while we
        // run; it is closed only after the dispatcher is dropped.
        let socket = unsafe { BorrowedFd::borrow_raw(*fd) };
        if let Ok(dup) = socket.try_clone_to_owned() {
            if let Err(e) = std::net::TcpStream::from(dup).shutdown(std::net::Shutdown::Read) {
                tracing::debug!(error = %e, "cannot shut down an abandoned request body");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = req;
}
