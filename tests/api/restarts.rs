//! The real binary, killed or stopped while replies are being written, then
//! started again on the same database: no reply is lost or left
//! `generating`, none is duplicated.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::durable::stream_send;
use crate::helpers::{
    expect_json, MessageStatus, TestApp, TestDatabase, TestUser, TokenPair, User, PASSWORD,
};
use crate::slow_upstream::{numbered_pieces, SlowUpstream};
use crate::sse::Events;

/// A server process on `database`; killed when dropped (a failed test
/// leaves none behind).
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) app: TestApp,
}

impl Process {
    /// SIGKILL, and waits until the process is gone.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start(
    database: &TestDatabase,
    upstream: &SlowUpstream,
    extra: &[(&str, &str)],
) -> Process {
    start_on(&database.url, database.dir(), upstream, extra).await
}

/// A server process on `database_url`, logging into `log_dir`/server.log.
pub(crate) async fn start_on(
    database_url: &str,
    log_dir: &std::path::Path,
    upstream: &SlowUpstream,
    extra: &[(&str, &str)],
) -> Process {
    let port = free_port();
    let database_url = database_url.to_owned();
    let mut command = Command::new(env!("CARGO_BIN_EXE_richesreach-chat"));
    command
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &database_url)
        .env("JWT_SECRET", "test-secret-that-is-long-enough-for-hs256")
        .env("BCRYPT_COST", "4")
        .env("RATE_LIMIT_AUTH_PER_MIN", "0")
        .env("RATE_LIMIT_REGISTER_PER_MIN", "0")
        .env("RATE_LIMIT_MESSAGES_PER_MIN", "0")
        .env("OPENAI_API_KEY", "test-key")
        .env("OPENAI_BASE_URL", &upstream.base_url)
        .env("LLM_TIMEOUT_SECS", "5")
        .env("REPLY_LEASE_SECS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_dir.join("server.log"))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        );
    for (k, v) in extra {
        command.env(k, v);
    }
    let child = command.spawn().expect("the server starts");
    let app = TestApp::external(format!("http://127.0.0.1:{port}"), database_url);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = app.client.get(app.url("/healthz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Process { child, app }
}

pub(crate) async fn sign_up(app: &TestApp) -> TestUser {
    let email = "ann@example.com";
    let user: User = expect_json(
        app.register(email, PASSWORD, "Ann").await,
        reqwest::StatusCode::CREATED,
    )
    .await;
    let tokens: TokenPair = crate::helpers::json(app.login(email, PASSWORD).await).await;
    TestUser {
        id: user.id,
        email: email.into(),
        token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    }
}

/// Starts `n` streamed replies, each in its own session, and reads each
/// until its first delta; returns the streams (still open) and the ids.
pub(crate) async fn start_replies(
    app: &TestApp,
    user: &TestUser,
    n: usize,
) -> (Vec<Events>, Vec<(String, String)>) {
    let mut streams = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let session = app.new_titled_session(user, &format!("s{i}")).await.id;
        let mut events = Events::new(stream_send(app, user, &session, "count slowly").await);
        assert_eq!(events.next().await.unwrap().name, "user_message");
        let reply = events.next().await.unwrap().message();
        ids.push((session, reply.id));
        streams.push(events);
    }
    for events in &mut streams {
        assert_eq!(events.next().await.unwrap().name, "delta");
    }
    (streams, ids)
}

#[derive(QueryableByName, Debug)]
pub(crate) struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) content: String,
}

/// Every assistant row, straight from the database.
pub(crate) async fn stored_replies(app: &TestApp) -> Vec<Row> {
    app.db()
        .run(|conn| {
            Ok(diesel::sql_query(
                "SELECT id, status, content FROM chat_messages WHERE role = 'assistant' ORDER BY id",
            )
            .load::<Row>(conn)?)
        })
        .await
        .unwrap()
}

/// SQLite's own check of the file (PostgreSQL has no such check: "ok").
async fn integrity_check(app: &TestApp) -> String {
    if crate::helpers::on_postgres() {
        return "ok".into();
    }
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    app.db()
        .run(|conn| {
            Ok(diesel::sql_query("PRAGMA integrity_check")
                .get_result::<Check>(conn)?
                .integrity_check)
        })
        .await
        .unwrap()
}

/// Waits (at most `limit`) until no reply is `generating`.
pub(crate) async fn all_finished(app: &TestApp, limit: Duration) -> Vec<Row> {
    let deadline = Instant::now() + limit;
    loop {
        let rows = stored_replies(app).await;
        if rows.iter().all(|r| r.status == "complete") {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "still generating after {limit:?}: {:?}",
            rows.iter().filter(|r| r.status != "complete").count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_one_exchange_per_session(app: &TestApp, user: &TestUser, ids: &[(String, String)]) {
    for (session, reply) in ids {
        let messages = app.messages(user, session).await;
        assert_eq!(messages.len(), 2, "one question and one reply in {session}");
        assert_eq!(&messages[1].id, reply);
        assert_eq!(messages[1].status, MessageStatus::Complete);
        let s: crate::helpers::Session = app
            .get_json(&format!("/sessions/{session}"), &user.token)
            .await;
        assert_eq!(s.message_count, 2);
    }
}

// Multi-threaded: the slow upstream must keep streaming while a test waits
// for a process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_written_by_a_killed_server_are_finished_after_a_restart() {
    let upstream = SlowUpstream::start(numbered_pieces(80), Duration::from_millis(30)).await;
    let database = TestDatabase::create();
    let mut first = start(&database, &upstream, &[]).await;
    let user = sign_up(&first.app).await;
    let (streams, ids) = start_replies(&first.app, &user, 20).await;
    tokio::time::sleep(Duration::from_millis(600)).await;

    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    drop(streams);
    let partial = stored_replies(&first.app).await;
    assert_eq!(partial.len(), 20);
    assert!(partial.iter().all(|r| r.status == "generating"));

    let restarted = Instant::now();
    let mut second = start(&database, &upstream, &[]).await;
    let done = all_finished(&second.app, Duration::from_secs(30)).await;
    let took = restarted.elapsed();
    assert_eq!(done.len(), 20, "no reply lost or duplicated");
    for (before, after) in partial.iter().zip(&done) {
        assert_eq!(before.id, after.id);
        assert!(
            after.content.starts_with(&before.content),
            "the stored text is kept and continued"
        );
        assert!(after.content.len() > before.content.len());
    }
    assert_one_exchange_per_session(&second.app, &user, &ids).await;
    assert_eq!(integrity_check(&second.app).await, "ok");
    eprintln!("20 replies finished {took:?} after the restart");
    second.child.kill().unwrap();
    second.child.wait().unwrap();
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

// Multi-threaded: the slow upstream must keep streaming while a test waits
// for a process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_lets_the_replies_being_written_finish() {
    let upstream = SlowUpstream::start(numbered_pieces(40), Duration::from_millis(30)).await;
    let database = TestDatabase::create();
    let mut server = start(&database, &upstream, &[]).await;
    let user = sign_up(&server.app).await;
    let (streams, ids) = start_replies(&server.app, &user, 10).await;

    sigterm(&server.child);
    // The open streams still end with their finished reply.
    for mut events in streams {
        let last = events.rest().await.pop().unwrap();
        assert_eq!(last.name, "assistant_message");
        assert_eq!(last.message().status, MessageStatus::Complete);
    }
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let rows = stored_replies(&server.app).await;
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.status == "complete"));
    assert_eq!(ids.len(), 10);
}

// Multi-threaded: the slow upstream must keep streaming while a test waits
// for a process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_hands_over_what_cannot_finish_in_time() {
    let upstream = SlowUpstream::start(numbered_pieces(150), Duration::from_millis(30)).await;
    let database = TestDatabase::create();
    let mut first = start(&database, &upstream, &[("SHUTDOWN_GRACE_SECS", "1")]).await;
    let user = sign_up(&first.app).await;
    let (streams, ids) = start_replies(&first.app, &user, 5).await;
    drop(streams);

    sigterm(&first.child);
    let exit = first.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let handed_over = stored_replies(&first.app).await;
    assert!(
        handed_over
            .iter()
            .all(|r| r.status == "generating" && !r.content.is_empty()),
        "{handed_over:?}"
    );

    // Released leases are taken over at once, without waiting for expiry.
    let mut second = start(&database, &upstream, &[("REPLY_LEASE_SECS", "60")]).await;
    let done = all_finished(&second.app, Duration::from_secs(20)).await;
    for (before, after) in handed_over.iter().zip(&done) {
        assert!(after.content.starts_with(&before.content));
    }
    assert_one_exchange_per_session(&second.app, &user, &ids).await;
    second.child.kill().unwrap();
    second.child.wait().unwrap();
}
