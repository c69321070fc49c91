//! A local OpenAI-compatible upstream for the benchmark (`bench/run.sh`).
//!
//! `POST /v1/chat/completions` answers one completion, after `--delay-ms`
//! (default 0: at once), or, when the request asks for `"stream": true`, an
//! SSE stream of `--pieces` pieces: the first `--first-ms` after the request,
//! then one every `--interval-ms`. Anything else about the request is
//! ignored, so a title request gets the same answer.
//!
//! ```sh
//! cargo run --release --example mock_upstream -- --port 0 --pieces 20 --interval-ms 50
//! ```
//!
//! Prints `listening on http://127.0.0.1:<port>/v1` once it accepts
//! connections (the base URL to give the service as `OPENAI_BASE_URL`).
//!
//! A streamed request whose last user message holds a tag `[stream N]` is
//! timed: `GET /v1/timeline` answers `{"N": [received_us, first_piece_us]}`,
//! when the request arrived and when its first piece was handed to the
//! connection, in microseconds since the Unix epoch (the benchmark's client,
//! on the same machine, compares them with its own clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use clap::Parser;
use futures_util::stream;
use serde_json::{json, Value};

#[derive(Debug, Clone, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay before a non-streamed answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Pieces of a streamed answer.
    #[arg(long, default_value_t = 20)]
    pieces: usize,
    /// Delay before the first streamed piece, in milliseconds.
    #[arg(long, default_value_t = 50)]
    first_ms: u64,
    /// Delay between streamed pieces, in milliseconds.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

const MODEL: &str = "mock-model";
const ANSWER: &str = "An emergency fund usually covers three to six months of essential \
     expenses, kept in an account you can reach at once.";

fn completion() -> Value {
    json!({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_764_000_000,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER},
            "finish_reason": "stop", "logprobs": null
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    })
}

fn chunk(delta: Value, finish: Option<&str>) -> Bytes {
    let body = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    Bytes::from(format!("data: {body}\n\n"))
}

fn end_of_stream() -> Bytes {
    let usage = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": MODEL, "choices": [],
        "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140}
    });
    let finish = chunk(json!({}), Some("stop"));
    let mut out = finish.to_vec();
    out.extend_from_slice(format!("data: {usage}\n\ndata: [DONE]\n\n").as_bytes());
    Bytes::from(out)
}

/// Tagged streams: tag → (request received, first piece sent), µs since the epoch.
type Timeline = Mutex<HashMap<String, (u64, Option<u64>)>>;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `N` of the last user message's `[stream N]`, if it has one.
fn stream_tag(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let last = messages.iter().rev().find(|m| m["role"] == "user")?;
    let content = last["content"].as_str()?;
    let start = content.rfind("[stream ")? + "[stream ".len();
    let len = content[start..].find(']')?;
    Some(content[start..start + len].to_owned())
}

async fn timeline_handler(timeline: web::Data<Timeline>) -> HttpResponse {
    let entries = timeline.lock().map(|t| t.clone()).unwrap_or_default();
    let body: serde_json::Map<String, Value> = entries
        .into_iter()
        .map(|(tag, (received, first))| (tag, json!([received, first])))
        .collect();
    HttpResponse::Ok().json(body)
}

async fn chat_completions(
    args: web::Data<Args>,
    timeline: web::Data<Timeline>,
    body: web::Json<Value>,
) -> HttpResponse {
    let received = now_us();
    let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
    if !streamed {
        if args.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        }
        return HttpResponse::Ok().json(completion());
    }
    let pieces = args.pieces;
    let first = Duration::from_millis(args.first_ms);
    let interval = Duration::from_millis(args.interval_ms);
    let tag = stream_tag(&body);
    if let (Some(tag), Ok(mut t)) = (&tag, timeline.lock()) {
        t.insert(tag.clone(), (received, None));
    }
    let timeline = timeline.into_inner();
    // State: how many pieces were sent; `pieces + 1` means the end was sent.
    let body = stream::unfold(0usize, move |sent| {
        let (tag, timeline) = (tag.clone(), Arc::clone(&timeline));
        async move {
            if sent > pieces {
                return None;
            }
            if sent == pieces {
                return Some((Ok::<_, actix_web::Error>(end_of_stream()), sent + 1));
            }
            tokio::time::sleep(if sent == 0 { first } else { interval }).await;
            let delta = if sent == 0 {
                if let (Some(tag), Ok(mut t)) = (&tag, timeline.lock()) {
                    if let Some(entry) = t.get_mut(tag) {
                        entry.1 = Some(now_us());
                    }
                }
                json!({"role": "assistant", "content": format!("w{} ", sent + 1)})
            } else {
                json!({"content": format!("w{} ", sent + 1)})
            };
            Some((Ok(chunk(delta, None)), sent + 1))
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(body)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let port = args.port;
    let workers = args.workers.max(1);
    let data = web::Data::new(args);
    let timeline = web::Data::new(Timeline::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(timeline.clone())
            .route("/v1/timeline", web::get().to(timeline_handler))
            .app_data(web::JsonConfig::default().limit(4 * 1024 * 1024))
            .route("/v1/chat/completions", web::post().to(chat_completions))
    })
    .workers(workers)
    // Set before `bind`, which is where it takes effect (a listener made
    // by `std` has an accept queue of 128: a burst of connections from the
    // service would have had SYNs dropped and retried a second later).
    .backlog(4096)
    .max_connections(100_000)
    .bind(("127.0.0.1", port))?;
    let port = server.addrs().first().map_or(port, |a| a.port());
    let server = server.run();
    println!("listening on http://127.0.0.1:{port}/v1");
    server.await
}
