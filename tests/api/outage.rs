//! PostgreSQL stopped for 5 s under load, then started again: no request
//! hangs, every request answers 503 `service_unavailable` (with
//! `Retry-After`) and `/readyz` 503 while the database is down, and the
//! same server process serves normally again once it is back.
//!
//! PostgreSQL only, and on a cluster of its own: stopping the suite's shared
//! cluster would fail every other test running at the same time. The test
//! creates that cluster with `initdb` and `pg_ctl` from `PG_BIN_DIR`, as the
//! user `PG_OWNER` when that is set (PostgreSQL refuses to run as root);
//! tests/pg.sh exports both and runs the suite with `--include-ignored`. On
//! the SQLite run the test is listed as ignored (there is no server to stop).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{on_postgres, TestApp, TestUser};
use crate::restarts::{sign_up, start_on};
use crate::slow_upstream::{numbered_pieces, SlowUpstream};

/// The server's `DB_CONNECT_TIMEOUT_SECS` in this test.
const CONNECT_TIMEOUT_SECS: u64 = 2;
/// What a request may take beyond that while the database is down.
const MARGIN: Duration = Duration::from_secs(2);
const DOWN_FOR: Duration = Duration::from_secs(5);

/// A throwaway PostgreSQL cluster in a temporary directory, on a free local
/// port; stopped (immediately) when dropped.
struct Cluster {
    bin: PathBuf,
    owner: Option<String>,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn create() -> Self {
        let bin = PathBuf::from(
            std::env::var("PG_BIN_DIR")
                .expect("PG_BIN_DIR names PostgreSQL's bin directory (tests/pg.sh sets it)"),
        );
        let owner = std::env::var("PG_OWNER").ok().filter(|o| !o.is_empty());
        let dir = tempfile::tempdir().unwrap();
        if let Some(owner) = &owner {
            let chowned = Command::new("chown")
                .arg(owner)
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chowned.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            bin,
            owner,
            dir,
            port,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of PostgreSQL's programs as the cluster's owner; panics
    /// (with its log) when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = match &self.owner {
            Some(owner) => {
                let mut c = Command::new("runuser");
                c.args(["-u", owner, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        );
        let (data, log) = (self.data(), self.log().display().to_string());
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "start", "-o", &options,
            ],
        );
    }

    /// A fast shutdown: open connections are closed, as when the database
    /// fails over or restarts.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.path().join("data/postmaster.pid").exists() {
            let path = self.bin.join("pg_ctl");
            let data = self.data();
            let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
            let _ = match &self.owner {
                Some(owner) => Command::new("runuser")
                    .args(["-u", owner, "--"])
                    .arg(&path)
                    .args(args)
                    .output(),
                None => Command::new(&path).args(args).output(),
            };
        }
    }
}

/// One request of the load and how it went.
#[derive(Debug, Clone)]
struct Sample {
    what: &'static str,
    started: Instant,
    took: Duration,
    /// `None`: no answer at all (the client gave up after 30 s).
    status: Option<StatusCode>,
    retry_after: Option<String>,
    code: Option<String>,
}

async fn sample(what: &'static str, request: reqwest::RequestBuilder) -> Sample {
    let started = Instant::now();
    let answer = request.timeout(Duration::from_secs(30)).send().await;
    let (status, retry_after, code) = match answer {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().map(str::to_owned);
            (Some(status), retry_after, code)
        }
        Err(_) => (None, None, None),
    };
    Sample {
        what,
        started,
        took: started.elapsed(),
        status,
        retry_after,
        code,
    }
}

/// Requests in a loop until `done`: listing sessions (`send` false) or
/// sending messages.
async fn load(
    app: TestApp,
    user: TestUser,
    session: String,
    send: bool,
    done: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut i = 0u32;
    while !done.load(Ordering::SeqCst) {
        let s = if !send {
            let request = app
                .client
                .get(app.url("/sessions"))
                .bearer_auth(&user.token);
            sample("list", request).await
        } else {
            let request = app
                .client
                .post(app.url(&format!("/sessions/{session}/messages")))
                .bearer_auth(&user.token)
                .json(&json!({"content": format!("question {i}")}));
            sample("send", request).await
        };
        samples.lock().unwrap().push(s);
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn probe_readiness(app: TestApp, done: Arc<AtomicBool>, samples: Arc<Mutex<Vec<Sample>>>) {
    while !done.load(Ordering::SeqCst) {
        let s = sample("readyz", app.client.get(app.url("/readyz"))).await;
        samples.lock().unwrap().push(s);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only, on a cluster of its own: tests/pg.sh runs it"]
async fn postgres_stopped_for_five_seconds_gives_fast_503s_and_the_service_recovers_by_itself() {
    assert!(
        on_postgres(),
        "needs PostgreSQL: run it with `bash tests/pg.sh outage`"
    );
    let cluster = Cluster::create();
    let upstream = SlowUpstream::start(numbered_pieces(3), Duration::from_millis(1)).await;
    let timeout = CONNECT_TIMEOUT_SECS.to_string();
    let server = start_on(
        &cluster.url(),
        cluster.dir(),
        &upstream,
        &[
            ("DB_CONNECT_TIMEOUT_SECS", timeout.as_str()),
            ("DB_STATEMENT_TIMEOUT_SECS", "5"),
        ],
    )
    .await;
    let user = sign_up(&server.app).await;
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    // While the database is down each request takes up to the connect
    // timeout: enough clients of each kind for several to fall in the gap.
    for i in 0..8 {
        let session = server.app.new_session(&user).await.id;
        let app = TestApp::external(server.app.address.clone(), cluster.url());
        workers.push(tokio::spawn(load(
            app,
            user.clone(),
            session,
            i % 2 == 1,
            Arc::clone(&done),
            Arc::clone(&samples),
        )));
    }
    for _ in 0..2 {
        let app = TestApp::external(server.app.address.clone(), cluster.url());
        workers.push(tokio::spawn(probe_readiness(
            app,
            Arc::clone(&done),
            Arc::clone(&samples),
        )));
    }

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stopping = Instant::now();
    tokio::task::block_in_place(|| cluster.stop());
    let down = Instant::now();
    tokio::time::sleep(DOWN_FOR).await;
    let starting = Instant::now();
    tokio::task::block_in_place(|| cluster.start());
    let up = Instant::now();

    // Recovery: the readiness probe and both kinds of request succeed again.
    let recovered = loop {
        let ok_since = |what: &str| {
            samples.lock().unwrap().iter().any(|s| {
                s.what == what && s.started >= up && s.status.is_some_and(|c| c.is_success())
            })
        };
        if ok_since("readyz") && ok_since("list") && ok_since("send") {
            break Instant::now();
        }
        assert!(
            up.elapsed() < Duration::from_secs(15),
            "not recovered 15 s after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let samples = samples.lock().unwrap().clone();

    let limit = Duration::from_secs(CONNECT_TIMEOUT_SECS) + MARGIN;
    for s in &samples {
        assert!(s.status.is_some(), "a request hung: {s:?}");
        assert!(s.took <= limit, "slower than {limit:?}: {s:?}");
        let status = s.status.unwrap();
        assert!(
            status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE,
            "only successes and 503s: {s:?}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE && s.what != "readyz" {
            assert_eq!(s.code.as_deref(), Some("service_unavailable"), "{s:?}");
            assert!(s.retry_after.is_some(), "503 without Retry-After: {s:?}");
        }
    }
    // Everything asked while the database was down got a 503.
    let while_down: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.started >= down && s.started + s.took <= starting)
        .collect();
    for what in ["list", "send", "readyz"] {
        assert!(
            while_down.iter().any(|s| s.what == what),
            "no {what} while down: {samples:?}"
        );
    }
    for s in &while_down {
        assert_eq!(s.status, Some(StatusCode::SERVICE_UNAVAILABLE), "{s:?}");
    }
    // Before and (shortly) after, everything succeeded.
    for s in samples
        .iter()
        .filter(|s| s.started + s.took < stopping || s.started >= recovered)
    {
        assert!(s.status.unwrap().is_success(), "{s:?}");
    }
    let fast = while_down.iter().map(|s| s.took).max().unwrap();
    eprintln!(
        "{} requests, {} while down (slowest {fast:?}); recovered {:?} after PostgreSQL started",
        samples.len(),
        while_down.len(),
        recovered - up
    );

    // The same process serves a full exchange, stored.
    let session = server.app.new_session(&user).await.id;
    let exchange = server.app.send(&user, &session, "still there?").await;
    let listed = server.app.messages(&user, &session).await;
    assert_eq!(listed[1].id, exchange.assistant_message.id);
}
