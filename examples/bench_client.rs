//! The benchmark's own client (`bench/run.sh`): prepares data through the API
//! and runs the streaming scenario, which a request-rate load generator
//! cannot measure.
//!
//! - `seed` registers users and creates, through the API only, the sessions
//!   the scenarios use: sessions to send into, one with `--history-messages`
//!   messages, one with `--big-messages` (filled by many sends in parallel),
//!   a user with `--list-sessions` sessions, and `--stream-sessions` sessions
//!   for `streams`. It writes `KEY=value` lines (for the shell) to `--out`
//!   and one `token<TAB>session` line per streaming session to `--streams-out`.
//! - `oha-result` turns `oha --output-format json` (on stdin) into the line
//!   `bench/run.sh` reads from wrk's script, when oha is the load generator.
//! - `streams` opens one streamed send per session of that file, all at once,
//!   reads every SSE event, and reports how many completed with the expected
//!   text, how many are stored `complete` with it, and the time to the first
//!   `delta` (p50/p99) and to the end. With `--mock`, also (from the mock's
//!   timeline) how long each request took to reach the upstream and how long
//!   the upstream's first piece took to reach the client.
//!
//! ```sh
//! cargo run --release --example bench_client -- seed --base http://127.0.0.1:8080 --out seed.env
//! cargo run --release --example bench_client -- streams --base http://127.0.0.1:8080 --sessions seed.streams
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

type Error = Box<dyn std::error::Error + Send + Sync>;

const PASSWORD: &str = "correct horse battery";
const QUESTION: &str = "How big should my emergency fund be?";

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Seed(SeedArgs),
    Streams(StreamArgs),
    OhaResult,
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// The service, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    base: String,
    /// Makes the emails unique (a database may be reused on PostgreSQL).
    #[arg(long, default_value = "bench")]
    run_id: String,
    /// Sessions the send scenarios spread over (one per connection).
    #[arg(long, default_value_t = 32)]
    send_sessions: usize,
    /// Messages in the session the history page is read from.
    #[arg(long, default_value_t = 100)]
    history_messages: usize,
    /// Messages in the large session (0: none).
    #[arg(long, default_value_t = 10_000)]
    big_messages: usize,
    /// Sessions of the user whose sessions are listed.
    #[arg(long, default_value_t = 100)]
    list_sessions: usize,
    /// Sessions for the streaming scenario (100 per user).
    #[arg(long, default_value_t = 0)]
    stream_sessions: usize,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long)]
    out: String,
    #[arg(long)]
    streams_out: Option<String>,
}

#[derive(Debug, clap::Args)]
struct StreamArgs {
    #[arg(long)]
    base: String,
    /// `token<TAB>session` lines, one stream each.
    #[arg(long)]
    sessions: String,
    /// Pieces the upstream streams, named w1 … wN (checks the text).
    #[arg(long, default_value_t = 20)]
    pieces: usize,
    /// The upstream's own delay before its first piece, in milliseconds.
    #[arg(long, default_value_t = 50)]
    first_ms: u64,
    /// The mock upstream's base URL (`…/v1`): its `/timeline` says when each
    /// stream's request reached it and when it sent the first piece.
    #[arg(long)]
    mock: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    match Cli::parse().command {
        Command::Seed(args) => seed(args).await,
        Command::Streams(args) => streams(args).await,
        Command::OhaResult => oha_result(),
    }
}

/// `RESULT requests=… seconds=… p50_us=… p99_us=… errors=…` from oha's JSON
/// report; errors are failed requests and answers other than 2xx/3xx.
fn oha_result() -> Result<(), Error> {
    let report: Value = serde_json::from_reader(std::io::stdin())?;
    let counts = |key: &str| -> Vec<(String, u64)> {
        report[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let statuses = counts("statusCodeDistribution");
    let failures: u64 = counts("errorDistribution").iter().map(|(_, n)| n).sum();
    let answered: u64 = statuses.iter().map(|(_, n)| n).sum();
    let bad: u64 = statuses
        .iter()
        .filter(|(code, _)| !(code.starts_with('2') || code.starts_with('3')))
        .map(|(_, n)| n)
        .sum();
    let micros = |p: &str| report["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1e6;
    println!(
        "RESULT requests={} seconds={:.3} p50_us={:.0} p99_us={:.0} errors={}",
        answered + failures,
        report["summary"]["total"].as_f64().unwrap_or(f64::NAN),
        micros("p50"),
        micros("p99"),
        bad + failures,
    );
    Ok(())
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(base: &str) -> Result<Self, Error> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(4096)
                .timeout(Duration::from_secs(120))
                .build()?,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {text}").into());
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers a user and signs in; returns the access token.
    async fn user(&self, email: &str) -> Result<String, Error> {
        let body = json!({"email": email, "password": PASSWORD, "name": "Bench"});
        self.call(reqwest::Method::POST, "/auth/register", None, Some(body))
            .await?;
        let body = json!({"email": email, "password": PASSWORD});
        let pair = self
            .call(reqwest::Method::POST, "/auth/token", None, Some(body))
            .await?;
        pair["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no access_token".into())
    }

    /// `count` sessions with titles (so no title is generated), in parallel.
    async fn sessions(&self, token: &str, count: usize, par: usize) -> Result<Vec<String>, Error> {
        let ids: Vec<Result<String, Error>> = stream::iter(0..count)
            .map(|i| async move {
                let body = json!({"title": format!("Bench session {i}")});
                let session = self
                    .call(reqwest::Method::POST, "/sessions", Some(token), Some(body))
                    .await?;
                session["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "no session id".into())
            })
            .buffered(par)
            .collect()
            .await;
        ids.into_iter().collect()
    }

    /// Fills a session with `messages` messages (two per send), `par` sends at a time.
    async fn fill(
        &self,
        token: &str,
        session: &str,
        messages: usize,
        par: usize,
    ) -> Result<(), Error> {
        let path = format!("/sessions/{session}/messages");
        let results: Vec<Result<Value, Error>> = stream::iter(0..messages.div_ceil(2))
            .map(|_| {
                self.call(
                    reqwest::Method::POST,
                    &path,
                    Some(token),
                    Some(json!({"content": QUESTION})),
                )
            })
            .buffer_unordered(par)
            .collect()
            .await;
        results.into_iter().try_for_each(|r| r.map(drop))
    }
}

async fn seed(args: SeedArgs) -> Result<(), Error> {
    let api = Api::new(&args.base)?;
    let started = Instant::now();
    let par = args.concurrency.max(1);
    let run = &args.run_id;
    let mut env = Vec::new();

    let token = api.user(&format!("{run}-sender@example.com")).await?;
    let send_sessions = api.sessions(&token, args.send_sessions, par).await?;
    let history = api.sessions(&token, 1, 1).await?.remove(0);
    api.fill(&token, &history, args.history_messages, par)
        .await?;
    env.push(format!("TOKEN={token}"));
    env.push(format!("SEND_SESSIONS='{}'", send_sessions.join(" ")));
    env.push(format!("HISTORY_SESSION={history}"));
    if args.big_messages > 0 {
        let big = api.sessions(&token, 1, 1).await?.remove(0);
        let fill_started = Instant::now();
        api.fill(&token, &big, args.big_messages, par).await?;
        let session = api
            .call(
                reqwest::Method::GET,
                &format!("/sessions/{big}"),
                Some(&token),
                None,
            )
            .await?;
        eprintln!(
            "seed: {} messages in the large session in {:.1} s",
            session["message_count"],
            fill_started.elapsed().as_secs_f64()
        );
        env.push(format!("BIG_SESSION={big}"));
    }

    let list_token = api.user(&format!("{run}-lister@example.com")).await?;
    api.sessions(&list_token, args.list_sessions, par).await?;
    env.push(format!("LIST_TOKEN={list_token}"));

    if let Some(path) = &args.streams_out {
        let mut lines = String::new();
        let users = args.stream_sessions.div_ceil(100);
        for u in 0..users {
            let token = api.user(&format!("{run}-streamer{u}@example.com")).await?;
            let count = (args.stream_sessions - u * 100).min(100);
            for id in api.sessions(&token, count, par).await? {
                lines.push_str(&format!("{token}\t{id}\n"));
            }
        }
        std::fs::write(path, lines)?;
    }
    std::fs::write(&args.out, env.join("\n") + "\n")?;
    eprintln!("seed: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// What one streamed send saw.
struct Seen {
    /// When the request was sent and the first delta arrived, µs since the
    /// epoch: compared with the mock's own timeline.
    sent_at_us: u64,
    first_delta_at_us: Option<u64>,
    first_delta: Option<Duration>,
    total: Duration,
    text: String,
    finished: bool,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Stream `tag` sends the question tagged `[stream tag]`, so that the mock
/// can tell the streams apart.
async fn one_stream(api: &Api, token: &str, session: &str, tag: usize) -> Result<Seen, Error> {
    let started = Instant::now();
    let sent_at_us = now_us();
    let response = api
        .http
        .post(format!("{}/sessions/{session}/messages/stream", api.base))
        .bearer_auth(token)
        .json(&json!({"content": format!("{QUESTION} [stream {tag}]")}))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("stream: {}", response.status()).into());
    }
    let mut body = response.bytes_stream();
    let mut buf = String::new();
    let mut seen = Seen {
        sent_at_us,
        first_delta_at_us: None,
        first_delta: None,
        total: Duration::ZERO,
        text: String::new(),
        finished: false,
    };
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut name = "";
            let mut data = "";
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v;
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v;
                }
            }
            match name {
                "delta" => {
                    if seen.first_delta.is_none() {
                        seen.first_delta = Some(started.elapsed());
                        seen.first_delta_at_us = Some(now_us());
                    }
                    let delta: Value = serde_json::from_str(data)?;
                    seen.text.push_str(delta["content"].as_str().unwrap_or(""));
                }
                "assistant_message" => {
                    let message: Value = serde_json::from_str(data)?;
                    seen.finished = message["content"].as_str() == Some(seen.text.as_str())
                        && message["status"] == "complete";
                }
                "error" => return Err(format!("stream error event: {data}").into()),
                _ => {}
            }
        }
    }
    seen.total = started.elapsed();
    Ok(seen)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

async fn streams(args: StreamArgs) -> Result<(), Error> {
    let api = Arc::new(Api::new(&args.base)?);
    let pairs: Vec<(String, String)> = std::fs::read_to_string(&args.sessions)?
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, s)| (t.to_owned(), s.to_owned()))
        .collect();
    let expected: String = (1..=args.pieces).map(|i| format!("w{i} ")).collect();
    // All at once: the point is how many the service holds concurrently.
    let gate = Arc::new(Semaphore::new(pairs.len().max(1)));
    let started = Instant::now();
    let tasks: Vec<_> = pairs
        .iter()
        .cloned()
        .enumerate()
        .map(|(tag, (token, session))| {
            let api = Arc::clone(&api);
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                let _permit = gate.acquire().await;
                one_stream(&api, &token, &session, tag)
                    .await
                    .map(|s| (tag, s))
            })
        })
        .collect();
    let mut times = HashMap::new();
    let mut first = Vec::new();
    let mut total = Vec::new();
    let (mut complete, mut errors) = (0usize, 0usize);
    for task in tasks {
        match task.await {
            Ok(Ok((tag, seen))) => {
                if seen.finished && seen.text == expected {
                    complete += 1;
                }
                if let Some(at) = seen.first_delta_at_us {
                    times.insert(tag.to_string(), (seen.sent_at_us, at));
                }
                first.extend(seen.first_delta);
                total.push(seen.total);
            }
            Ok(Err(e)) => {
                if errors < 3 {
                    eprintln!("streams: {e}");
                }
                errors += 1;
            }
            Err(e) => {
                eprintln!("streams: task failed: {e}");
                errors += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    // Stored: the newest message of every session is the finished reply.
    let stored: Vec<bool> = stream::iter(pairs.iter())
        .map(|(token, session)| {
            let api = Arc::clone(&api);
            let expected = expected.clone();
            async move {
                let page = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/sessions/{session}/messages?order=desc&limit=1"),
                        Some(token),
                        None,
                    )
                    .await;
                page.is_ok_and(|p| {
                    let m = &p["items"][0];
                    m["status"] == "complete" && m["content"].as_str() == Some(expected.as_str())
                })
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let stored = stored.into_iter().filter(|ok| *ok).count();
    let (reach, relay) = match &args.mock {
        Some(mock) => against_upstream(&api, mock, &times).await?,
        None => (Vec::new(), Vec::new()),
    };
    first.sort();
    total.sort();
    // One machine-readable line for bench/run.sh.
    println!(
        "STREAMS count={} complete={complete} stored={stored} errors={errors} \
         first_p50_ms={:.1} first_p99_ms={:.1} upstream_first_ms={} \
         total_p50_ms={:.1} total_p99_ms={:.1} elapsed_s={:.2} \
         timed={} reach_p50_ms={:.1} reach_p99_ms={:.1} relay_p50_ms={:.1} relay_p99_ms={:.1}",
        pairs.len(),
        percentile(&first, 50.0),
        percentile(&first, 99.0),
        args.first_ms,
        percentile(&total, 50.0),
        percentile(&total, 99.0),
        elapsed.as_secs_f64(),
        relay.len(),
        percentile(&reach, 50.0),
        percentile(&reach, 99.0),
        percentile(&relay, 50.0),
        percentile(&relay, 99.0),
    );
    Ok(())
}

/// Each stream against the mock's timeline, sorted: how long its request
/// took to reach the upstream (sent → received there), and how long the
/// upstream's first piece took to reach the client as a `delta` (sent by the
/// upstream → read here). `times`: tag → (sent, first delta read), µs.
async fn against_upstream(
    api: &Api,
    mock: &str,
    times: &HashMap<String, (u64, u64)>,
) -> Result<(Vec<Duration>, Vec<Duration>), Error> {
    let timeline: HashMap<String, (u64, Option<u64>)> = api
        .http
        .get(format!("{}/timeline", mock.trim_end_matches('/')))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let (mut reach, mut relay) = (Vec::new(), Vec::new());
    for (tag, (sent, first_read)) in times {
        if let Some((received, Some(first_sent))) = timeline.get(tag) {
            reach.push(Duration::from_micros(received.saturating_sub(*sent)));
            relay.push(Duration::from_micros(
                first_read.saturating_sub(*first_sent),
            ));
        }
    }
    reach.sort();
    relay.sort();
    Ok((reach, relay))
}
