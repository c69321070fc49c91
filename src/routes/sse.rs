//! Server-Sent Events: framing, and a response body that sends a keep-alive
//! comment while nothing else is happening.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;
use serde::Serialize;
use tokio::sync::mpsc;

/// One event, framed.
pub fn event(name: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// A `200 text/event-stream` response that relays `events` until the sender
/// side is dropped, with a keep-alive comment after `keep_alive` of silence.
/// Dropping the response (the client went away) drops the receiver; senders
/// then simply fail, which producers ignore.
pub fn response(events: mpsc::UnboundedReceiver<Bytes>, keep_alive: Duration) -> HttpResponse {
    let body = stream::unfold(events, move |mut rx| async move {
        match tokio::time::timeout(keep_alive, rx.recv()).await {
            Ok(Some(bytes)) => Some((Ok::<_, actix_web::Error>(bytes), rx)),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), rx)),
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
