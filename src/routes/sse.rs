//! Server-Sent Events: framing, and a response body that sends a keep-alive
//! comment while nothing else is happening.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::{stream, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::metrics::OpenStream;

/// One event, framed.
pub fn event(name: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// One event with an `id:` line (what a client sends back as `Last-Event-ID`).
pub fn event_with_id(name: &str, id: usize, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {name}\nid: {id}\ndata: {json}\n\n"))
}

const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

/// A `200 text/event-stream` response: `first` (already framed), then every event of
/// `events` framed by `frame`, until the sender side is dropped; a keep-alive
/// comment after `keep_alive` of silence. Dropping the response (the client
/// went away) drops the receiver; senders then simply fail, which producers
/// ignore. `open` counts the stream in the metrics until the body is dropped.
pub fn response<T: 'static>(
    first: Vec<Bytes>,
    events: mpsc::UnboundedReceiver<T>,
    frame: fn(T) -> Bytes,
    keep_alive: Duration,
    open: OpenStream,
) -> HttpResponse {
    let rest = stream::unfold((events, open), move |(mut rx, open)| async move {
        match tokio::time::timeout(keep_alive, rx.recv()).await {
            Ok(Some(event)) => Some((frame(event), (rx, open))),
            Ok(None) => None,
            Err(_) => Some((Bytes::from_static(KEEP_ALIVE_COMMENT), (rx, open))),
        }
    });
    let body = stream::iter(first)
        .chain(rest)
        .map(Ok::<_, actix_web::Error>);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
