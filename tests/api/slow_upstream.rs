//! A local OpenAI-compatible upstream that streams its answer slowly, piece
//! by piece (wiremock can only send a body at once). Good enough for the
//! service's client: it reads one request, answers with Server-Sent Events
//! and closes the connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{spawn_app_with, TestApp};
use crate::provider::UPSTREAM_MODEL;

pub struct SlowUpstream {
    pub base_url: String,
    /// Chat requests received so far (each written reply, and each
    /// takeover of one, asks once).
    requests: Arc<AtomicUsize>,
}

/// The pieces every answer streams: `count` numbered words, so the text is
/// long enough to stop or resume in the middle, and easy to check.
pub fn numbered_pieces(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("w{i} ")).collect()
}

impl SlowUpstream {
    /// Answers every chat request with `pieces`, one every `gap`.
    pub async fn start(pieces: Vec<String>, gap: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(answer(socket, pieces.clone(), gap, Arc::clone(&counted)));
            }
        });
        Self { base_url, requests }
    }

    /// How many chat requests have been answered (their head and body read).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// A server that asks this upstream, with `extra` settings.
    pub async fn app(&self, extra: &[(&str, &str)]) -> TestApp {
        let mut settings = vec![
            ("OPENAI_API_KEY", "test-key"),
            ("OPENAI_BASE_URL", self.base_url.as_str()),
            ("OPENAI_MODEL", "test-model"),
            ("LLM_TIMEOUT_SECS", "5"),
        ];
        settings.extend_from_slice(extra);
        spawn_app_with(&settings).await
    }
}

fn chunk(delta: serde_json::Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": UPSTREAM_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    format!("data: {body}\n\n")
}

async fn answer(
    mut socket: TcpStream,
    pieces: Vec<String>,
    gap: Duration,
    requests: Arc<AtomicUsize>,
) {
    // Read the request head and its body (Content-Length).
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let body_start = loop {
        let Ok(n) = socket.read(&mut tmp).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..body_start]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < body_start + length {
        let Ok(n) = socket.read(&mut tmp).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    out.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
    for piece in out {
        if socket.write_all(piece.as_bytes()).await.is_err() {
            return;
        }
        let _ = socket.flush().await;
        tokio::time::sleep(gap).await;
    }
    let usage = json!({
        "id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": UPSTREAM_MODEL, "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    });
    let end = format!(
        "{}data: {usage}\n\ndata: [DONE]\n\n",
        chunk(json!({}), Some("stop"))
    );
    let _ = socket.write_all(end.as_bytes()).await;
    let _ = socket.shutdown().await;
}
