//! A user's message and the assistant's reply, end to end.
//!
//! A reply is a stored unit of work, not a task in memory: its row is
//! created `generating` with the question, its writer (this process, under a
//! lease) saves the text as it grows and completes it in one transaction,
//! and everyone who reads it — the request that sent the question, a client
//! resuming, a non-streamed send waiting — follows that same stored reply.
//! A reply whose writer died is taken over by [`Chat::run_background`] on
//! any process. A reply that is ready at once (the offline responder's, for
//! a send that does not stream) needs none of this: it is stored finished
//! with its question ([`Chat::start`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::live::{LiveWriter, Registry};
use super::messages::{self, Exchange, Lease, MessageWithSources};
use super::usage::{self, Quota, Spent};
use super::{editing, idempotency, replies, sessions};
use crate::clock::{new_id, now_ms};
use crate::db::models::{Message, Session};
use crate::db::{Database, DbConnection};
use crate::error::AppError;
use crate::llm::{Assistant, ChatContext, Usage};

/// The writer saves the text at least this often...
const SAVE_EVERY: Duration = Duration::from_millis(500);
/// ...and whenever this many bytes (so at most as many characters) are unsaved.
const SAVE_AFTER_BYTES: usize = 1_000;
/// How often a follower of a reply written by another process reads it.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often every process looks for replies whose writer died.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// How often expired idempotency keys are deleted.
const KEY_SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How long a stop waits for the writer to store what it had written.
const STOP_WAIT: Duration = Duration::from_millis(2_000);

/// How much history the model sees.
#[derive(Debug, Clone, Copy)]
pub struct ContextLimits {
    pub max_messages: usize,
    pub max_chars: usize,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Asker {
    pub user_id: String,
    pub name: String,
}

/// What a follower of a reply sees, in order: pieces of text, then the
/// stored reply (or why there is none).
#[derive(Debug)]
pub enum ReplyEvent {
    /// The next piece; `position` is the number of characters of the reply
    /// up to the end of this piece.
    Delta {
        content: String,
        position: usize,
    },
    Finished(Box<Result<MessageWithSources, AppError>>),
}

/// This process as a writer of replies.
struct Writers {
    /// Random per process: the lease owner.
    owner: String,
    lease_ms: i64,
    live: Registry,
    /// How many replies this process is writing now.
    running: watch::Sender<usize>,
    /// Set on shutdown: writers store their text and hand their reply over.
    hand_over: watch::Sender<bool>,
    draining: AtomicBool,
    /// Where writers run: the runtime that outlives the HTTP workers, so a
    /// reply keeps being written while the server shuts down.
    runtime: Handle,
}

/// The chat service: the database, the assistant and how much history it
/// sees. Owned by the application state; cheap to clone into a task.
#[derive(Clone)]
pub struct Chat {
    db: Database,
    assistant: Arc<Assistant>,
    limits: ContextLimits,
    /// Provider tokens per user per UTC day (`TOKEN_QUOTA_PER_DAY`).
    quota: Quota,
    writers: Arc<Writers>,
}

/// A reply to write.
struct Job {
    reply: Message,
    context: ChatContext,
    /// The stored text to continue after (a takeover), empty for a new reply.
    prefix: String,
    /// Ask the provider for a stream (a streamed send, a takeover) or for one
    /// answer (a non-streamed send, which has nobody to show pieces to).
    streamed: bool,
    needs_title: bool,
    spender: Spender,
}

/// Counts a running writer for as long as it lives.
struct Running(watch::Sender<usize>);

impl Running {
    fn new(counter: &watch::Sender<usize>) -> Self {
        counter.send_modify(|n| *n += 1);
        Self(counter.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Resolves once the process hands its replies over (shutdown).
async fn handed_over(mut hand_over: watch::Receiver<bool>) {
    let _ = hand_over.wait_for(|h| *h).await;
}

/// What a follower has sent.
struct Sent<'a> {
    /// Characters of the reply up to the end of what was sent.
    position: usize,
    /// The text this follower sent, to tell whether the final text continues it.
    text: String,
    tx: &'a mpsc::UnboundedSender<ReplyEvent>,
}

impl Sent<'_> {
    /// Sends the next piece; `false` once nobody listens.
    fn delta(&mut self, content: String) -> bool {
        self.position += content.chars().count();
        self.text.push_str(&content);
        self.tx
            .send(ReplyEvent::Delta {
                content,
                position: self.position,
            })
            .is_ok()
    }
}

/// Adds what the provider spent to the user's count for today (UTC).
fn record_usage(conn: &mut DbConnection, user_id: &str, used: Usage) -> Result<(), AppError> {
    let spent = Spent {
        prompt_tokens: i64::from(used.prompt_tokens),
        completion_tokens: i64::from(used.completion_tokens),
    };
    usage::record(conn, user_id, &usage::day_of(now_ms()), spent)
}

/// Whose tokens a reply spends, and whether the provider may be asked for
/// it: not when the owner's daily quota is used up.
#[derive(Debug, Clone, Default)]
struct Spender {
    /// `None` without a provider: no token is spent, no quota applies.
    owner: Option<String>,
    over_quota: bool,
}

impl Spender {
    /// Read in the transaction that starts (or takes over) the reply, so
    /// every reply [`Chat::write`] writes was checked and no path reaches
    /// the provider past the quota. Without a provider, nothing to read.
    fn of(conn: &mut DbConnection, has_provider: bool, quota: Quota, session_id: &str) -> Self {
        if !has_provider {
            return Self::default();
        }
        match usage::owner_and_quota(conn, session_id, &usage::day_of(now_ms()), quota) {
            Ok(Some((owner, over_quota))) => Self {
                owner: Some(owner),
                over_quota,
            },
            Ok(None) => Self::default(),
            Err(e) => {
                tracing::warn!(error = ?e, "cannot read the token quota; the provider may answer");
                Self::default()
            }
        }
    }
}

/// How a writer's loop ended.
enum Ended {
    Written,
    /// Stopped, taken over, or deleted: someone else decides now.
    Lost,
    HandedOver,
}

impl Chat {
    pub fn new(
        db: Database,
        assistant: Arc<Assistant>,
        limits: ContextLimits,
        lease: Duration,
        runtime: Handle,
    ) -> Self {
        Self {
            db,
            assistant,
            limits,
            quota: Quota(0),
            writers: Arc::new(Writers {
                owner: new_id(),
                lease_ms: i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
                live: Registry::default(),
                running: watch::channel(0).0,
                hand_over: watch::channel(false).0,
                draining: AtomicBool::new(false),
                runtime,
            }),
        }
    }

    /// Limits each user's provider tokens per UTC day (`Quota(0)`: no limit).
    #[must_use]
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    pub fn assistant(&self) -> &Assistant {
        &self.assistant
    }

    /// How many replies this process is generating now (for the metrics).
    pub fn generating_now(&self) -> usize {
        *self.writers.running.borrow()
    }

    fn lease(&self) -> Lease {
        Lease {
            owner: self.writers.owner.clone(),
            ttl_ms: self.writers.lease_ms,
        }
    }

    /// Stores the question and its reply (`generating`) in one transaction
    /// and starts writing the reply (`streamed`: piece by piece). `also` runs
    /// inside that transaction. Without a provider, a send that does not
    /// stream gets its reply at once, stored finished in that transaction
    /// (the returned reply is then `complete`).
    /// 404 when the session is absent or not the asker's.
    pub async fn start(
        &self,
        asker: Asker,
        session_id: String,
        content: String,
        streamed: bool,
        also: impl FnOnce(&mut DbConnection, &Exchange) -> Result<(), AppError> + Send + 'static,
    ) -> Result<Exchange, AppError> {
        if !streamed && !self.assistant.has_provider() {
            return self.answer_at_once(asker, session_id, content, also).await;
        }
        let user_id = asker.user_id;
        self.begin(asker.name, streamed, move |conn, lease| {
            let (exchange, session) =
                messages::start_exchange(conn, &user_id, &session_id, &content, lease, also)?;
            let reply = exchange.reply.message.clone();
            Ok((exchange, reply, session))
        })
        .await
    }

    /// A send answered without a writer: with no provider the offline
    /// responder's answer is ready at once, so the question and the complete
    /// reply are stored in one write (the session titled with it, on its
    /// first exchange) and nobody has anything to follow. Streamed sends
    /// still go through a writer, whose pieces the stream shows.
    async fn answer_at_once(
        &self,
        asker: Asker,
        session_id: String,
        content: String,
        also: impl FnOnce(&mut DbConnection, &Exchange) -> Result<(), AppError> + Send + 'static,
    ) -> Result<Exchange, AppError> {
        let (assistant, limits) = (Arc::clone(&self.assistant), self.limits);
        let Asker { user_id, name } = asker;
        self.db
            .write(move |conn| {
                let (exchange, session) = messages::store_answered_exchange(
                    conn,
                    &user_id,
                    &session_id,
                    &content,
                    limits,
                    |history| {
                        assistant.reply_offline_now(&ChatContext {
                            user_name: name,
                            history,
                        })
                    },
                    also,
                )?;
                if session.title.is_none() {
                    let title = assistant.heuristic_title(&content);
                    if let Err(e) = sessions::set_title_if_unset(conn, &session_id, &title) {
                        tracing::warn!(error = ?e, "cannot store the session title");
                    }
                }
                Ok(exchange)
            })
            .await
    }

    /// Replaces the last reply of the conversation with a new one, written
    /// as a send's is (see [`editing::start_regenerate`] for the rules).
    pub async fn regenerate(
        &self,
        asker: Asker,
        session_id: String,
        message_id: String,
        streamed: bool,
        also: impl FnOnce(&mut DbConnection, &MessageWithSources) -> Result<(), AppError>
            + Send
            + 'static,
    ) -> Result<MessageWithSources, AppError> {
        let user_id = asker.user_id;
        self.begin(asker.name, streamed, move |conn, lease| {
            let (reply, session) =
                editing::start_regenerate(conn, &user_id, &session_id, &message_id, lease, also)?;
            let row = reply.message.clone();
            Ok((reply, row, session))
        })
        .await
    }

    /// Asks a question of the conversation again with new content; the new
    /// reply is written as a send's is, with the conversation up to the
    /// edited message as its context (see [`editing::start_edit`]).
    pub async fn edit(
        &self,
        asker: Asker,
        session_id: String,
        message_id: String,
        content: String,
        streamed: bool,
        also: impl FnOnce(&mut DbConnection, &Exchange) -> Result<(), AppError> + Send + 'static,
    ) -> Result<Exchange, AppError> {
        let user_id = asker.user_id;
        self.begin(asker.name, streamed, move |conn, lease| {
            let (exchange, session) = editing::start_edit(
                conn,
                &user_id,
                &session_id,
                &message_id,
                &content,
                lease,
                also,
            )?;
            let reply = exchange.reply.message.clone();
            Ok((exchange, reply, session))
        })
        .await
    }

    /// The start of every reply: `store` writes the rows (the reply
    /// `generating`, leased with the lease it is given) and returns what the
    /// caller answers with, the reply's row and the session as it was; then
    /// the context (the conversation before the reply) is read and the
    /// writer starts.
    async fn begin<T: Send + 'static>(
        &self,
        user_name: String,
        streamed: bool,
        store: impl FnOnce(&mut DbConnection, &Lease) -> Result<(T, Message, Session), AppError>
            + Send
            + 'static,
    ) -> Result<T, AppError> {
        let (lease, limits) = (self.lease(), self.limits);
        let (has_provider, quota) = (self.assistant.has_provider(), self.quota);
        let (stored, reply, context, needs_title, spender) = self
            .db
            .write(move |conn| {
                let (stored, reply, session) = store(conn, &lease)?;
                let spender = Spender::of(conn, has_provider, quota, &reply.session_id);
                let history = messages::recent_history(
                    conn,
                    &reply.session_id,
                    reply.created_at,
                    limits.max_messages,
                    limits.max_chars,
                )?;
                let context = ChatContext { user_name, history };
                Ok((stored, reply, context, session.title.is_none(), spender))
            })
            .await?;
        self.spawn_writer(Job {
            reply,
            context,
            prefix: String::new(),
            streamed,
            needs_title,
            spender,
        });
        Ok(stored)
    }

    fn spawn_writer(&self, job: Job) {
        // Registered before the writer runs, so a follower that starts now
        // finds it.
        let live = self.writers.live.open(&job.reply.id, &job.prefix);
        let running = Running::new(&self.writers.running);
        let chat = self.clone();
        self.writers.runtime.spawn(
            async move {
                chat.write(job, live).await;
                drop(running);
            }
            .in_current_span(),
        );
    }

    /// Writes one reply: generation runs in its own task; this loop saves
    /// the text as it grows (renewing the lease) and completes it.
    async fn write(&self, job: Job, live: LiveWriter) {
        let Job {
            reply,
            context,
            prefix,
            streamed,
            needs_title,
            spender:
                Spender {
                    owner: owner_id,
                    over_quota,
                },
        } = job;
        let id = reply.id.clone();
        let continuation = !prefix.is_empty();
        if over_quota && self.assistant.has_provider() {
            self.assistant.metrics().quota_fallback();
        }
        let (tx, mut pieces) = mpsc::unbounded_channel::<String>();
        let generation = {
            let (assistant, context, prefix) =
                (Arc::clone(&self.assistant), context.clone(), prefix.clone());
            tokio::spawn(
                async move {
                    if over_quota {
                        assistant.reply_offline(&context, continuation, &tx).await
                    } else if continuation {
                        assistant.continue_streaming(&context, &prefix, &tx).await
                    } else if streamed {
                        assistant.reply_streaming(&context, &tx).await
                    } else {
                        let reply = assistant.reply(&context).await;
                        let _ = tx.send(reply.content.clone());
                        reply
                    }
                }
                .in_current_span(),
            )
        };
        let mut text = prefix;
        let mut saved = text.len();
        // The first save is due one period from now. (Not `interval`, whose
        // first tick is "at once": the timer rounds that up to its next
        // millisecond, so awaiting it held every reply back by about 1 ms.)
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + SAVE_EVERY, SAVE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let hand_over = handed_over(self.writers.hand_over.subscribe());
        tokio::pin!(hand_over);
        let ended = loop {
            tokio::select! {
                piece = pieces.recv() => match piece {
                    Some(piece) => {
                        text.push_str(&piece);
                        live.push(&piece);
                        // Once generation has ended, every piece is here
                        // and the reply is completed next: no save first.
                        if text.len() - saved >= SAVE_AFTER_BYTES && !generation.is_finished() {
                            if !self.save(&id, &text).await {
                                break Ended::Lost;
                            }
                            saved = text.len();
                        }
                    }
                    None => break Ended::Written,
                },
                _ = tick.tick() => {
                    if !self.save(&id, &text).await {
                        break Ended::Lost;
                    }
                    saved = text.len();
                }
                () = &mut hand_over => break Ended::HandedOver,
            }
        };
        let owner = self.writers.owner.clone();
        let outcome = match ended {
            Ended::Written => match generation.await {
                Ok(answer) => {
                    // A continuation is whatever followed the stored text; a
                    // new reply is the assistant's (authoritative) answer.
                    let (content, latency_ms) = if continuation {
                        (text.clone(), now_ms() - reply.created_at)
                    } else {
                        let ms = i64::try_from(answer.latency_ms).unwrap_or(i64::MAX);
                        (answer.content.clone(), ms)
                    };
                    let (id, owner, stopped_text) = (id.clone(), owner.clone(), text.clone());
                    let spent = owner_id.clone().zip(answer.usage);
                    self.db
                        .write(move |conn| {
                            if let Some((user_id, used)) = &spent {
                                record_usage(conn, user_id, *used)?;
                            }
                            let completed = replies::complete(
                                conn, &id, &owner, &content, &answer, latency_ms,
                            )?;
                            if completed.is_some() {
                                return Ok(completed);
                            }
                            replies::flush_stopped(conn, &id, &owner, &stopped_text)?;
                            Ok(None)
                        })
                        .await
                }
                Err(e) => Err(AppError::internal(e)),
            },
            Ended::Lost => {
                generation.abort();
                let (id, owner) = (id.clone(), owner.clone());
                self.db
                    .write(move |conn| replies::flush_stopped(conn, &id, &owner, &text))
                    .await
                    .map(|_| None)
            }
            Ended::HandedOver => {
                generation.abort();
                let (id, owner) = (id.clone(), owner.clone());
                self.db
                    .write(move |conn| replies::release(conn, &id, &owner, &text))
                    .await
                    .map(|_| None)
            }
        };
        match outcome {
            Ok(Some(stored)) => {
                if needs_title {
                    self.title(&reply.session_id, context.question(), owner_id, over_quota)
                        .await;
                }
                live.complete(stored);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = ?e, reply = %id, "cannot finish the reply"),
        }
    }

    /// Saves the text and renews the lease; `false` when this process no
    /// longer writes the reply. A database error keeps writing (the lease
    /// decides later).
    async fn save(&self, id: &str, text: &str) -> bool {
        let (id, owner, text) = (id.to_owned(), self.writers.owner.clone(), text.to_owned());
        let until = now_ms() + self.writers.lease_ms;
        match self
            .db
            .write(move |conn| replies::save(conn, &id, &owner, &text, until))
            .await
        {
            Ok(owned) => owned,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot save the reply's text; retrying");
                true
            }
        }
    }

    /// Titles the session after its first exchange. A title from the
    /// provider is asked for in the background, so it never delays the
    /// reply, and its tokens count against the owner's quota; a derived one
    /// is set at once (also when the quota is used up).
    async fn title(
        &self,
        session_id: &str,
        question: &str,
        owner_id: Option<String>,
        over_quota: bool,
    ) {
        let session_id = session_id.to_owned();
        if over_quota || !self.assistant.titles_from_provider() {
            let title = self.assistant.heuristic_title(question);
            if let Err(e) = self
                .db
                .write(move |conn| sessions::set_title_if_unset(conn, &session_id, &title))
                .await
            {
                tracing::warn!(error = ?e, "cannot store the session title");
            }
            return;
        }
        let (chat, question) = (self.clone(), question.to_owned());
        tokio::spawn(
            async move {
                let title = chat.assistant.title(&question).await;
                let spent = owner_id.zip(title.usage);
                if let Err(e) = chat
                    .db
                    .write(move |conn| {
                        if let Some((user_id, used)) = &spent {
                            record_usage(conn, user_id, *used)?;
                        }
                        sessions::set_title_if_unset(conn, &session_id, &title.text)
                    })
                    .await
                {
                    tracing::warn!(error = ?e, "cannot store the session title");
                }
            }
            .in_current_span(),
        );
    }

    /// Follows a reply from character `from`: its text as it grows, then the
    /// stored reply. Works whichever process writes it. The follower stops
    /// when the receiver is dropped.
    pub fn follow(&self, reply_id: String, from: usize) -> mpsc::UnboundedReceiver<ReplyEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let chat = self.clone();
        tokio::spawn(async move { chat.follow_into(reply_id, from, tx).await }.in_current_span());
        rx
    }

    async fn follow_into(&self, id: String, from: usize, tx: mpsc::UnboundedSender<ReplyEvent>) {
        let mut sent = Sent {
            position: from,
            text: String::new(),
            tx: &tx,
        };
        loop {
            if let Some(mut live) = self.writers.live.subscribe(&id) {
                loop {
                    let (pieces, finished, stored) = {
                        let text = live.borrow_and_update();
                        let stored = text.stored.as_deref().cloned();
                        (text.pieces_after(sent.position), text.finished, stored)
                    };
                    for piece in pieces {
                        if !sent.delta(piece) {
                            return;
                        }
                    }
                    if let Some(stored) = stored {
                        // The writer here completed it: no need to read it back.
                        Self::finish_following(Ok(Some(stored)), from, &mut sent);
                        return;
                    }
                    if finished {
                        break;
                    }
                    tokio::select! {
                        changed = live.changed() => if changed.is_err() { break },
                        () = tx.closed() => return,
                    }
                }
            }
            let stored = {
                let id = id.clone();
                self.db.read(move |conn| replies::progress(conn, &id)).await
            };
            match stored {
                Err(e) => {
                    let _ = tx.send(ReplyEvent::Finished(Box::new(Err(e))));
                    return;
                }
                Ok(None) => {
                    let _ = tx.send(ReplyEvent::Finished(Box::new(Err(AppError::not_found(
                        "message",
                    )))));
                    return;
                }
                Ok(Some(p)) if p.is_settled(now_ms()) => break,
                Ok(Some(p)) => {
                    let rest: String = p.content.chars().skip(sent.position).collect();
                    if !rest.is_empty() && !sent.delta(rest) {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(POLL_EVERY) => {},
                        () = tx.closed() => return,
                    }
                }
            }
        }
        let stored = {
            let id = id.clone();
            self.db.read(move |conn| replies::load(conn, &id)).await
        };
        Self::finish_following(stored, from, &mut sent);
    }

    /// The end of following a reply from character `from`: the rest of the
    /// stored text, then the stored reply (or why there is none).
    fn finish_following(
        stored: Result<Option<MessageWithSources>, AppError>,
        from: usize,
        sent: &mut Sent<'_>,
    ) {
        let last = match stored {
            Ok(Some(reply)) => {
                // The rest of the text, unless the final text does not continue
                // what was sent (a provider that failed mid-reply is replaced by
                // the offline answer): then the final message alone is the truth.
                let continues = reply
                    .message
                    .content
                    .chars()
                    .skip(from)
                    .take(sent.position.saturating_sub(from))
                    .eq(sent.text.chars());
                let rest: String = reply.message.content.chars().skip(sent.position).collect();
                if continues && !rest.is_empty() && !sent.delta(rest) {
                    return;
                }
                Ok(reply)
            }
            Ok(None) => Err(AppError::not_found("message")),
            Err(e) => Err(e),
        };
        let _ = sent.tx.send(ReplyEvent::Finished(Box::new(last)));
    }

    /// Waits until the reply is finished (or stopped) and returns it.
    pub async fn wait(&self, reply_id: String) -> Result<MessageWithSources, AppError> {
        let mut events = self.follow(reply_id, usize::MAX);
        while let Some(event) = events.recv().await {
            if let ReplyEvent::Finished(result) = event {
                return *result;
            }
        }
        Err(AppError::internal("the reply's follower ended early"))
    }

    /// Stops a reply of the caller's: marks it `stopped`, then waits (at most
    /// [`STOP_WAIT`]) for its writer, on whichever process, to store what it
    /// had written and let go. Returns the stopped reply.
    pub async fn stop(
        &self,
        user_id: String,
        session_id: String,
        message_id: String,
    ) -> Result<MessageWithSources, AppError> {
        {
            let (user_id, session_id, message_id) =
                (user_id.clone(), session_id.clone(), message_id.clone());
            self.db
                .write(move |conn| replies::stop(conn, &user_id, &session_id, &message_id))
                .await?;
        }
        let started = Instant::now();
        while started.elapsed() < STOP_WAIT {
            let id = message_id.clone();
            let progress = self
                .db
                .read(move |conn| replies::progress(conn, &id))
                .await?;
            match progress {
                Some(p) if p.is_settled(now_ms()) => break,
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                None => return Err(AppError::not_found("message")),
            }
        }
        let id = message_id.clone();
        self.db
            .write(move |conn| {
                replies::clear_dead_lease(conn, &id, now_ms())?;
                replies::find(
                    conn,
                    &sessions::Access::Owner(user_id),
                    &session_id,
                    &message_id,
                )
            })
            .await
    }

    /// Every process runs this: it takes over replies whose writer died
    /// (their lease expired) and continues them, and forgets idempotency
    /// keys older than 24 hours, until shutdown.
    pub async fn run_background(self) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_key_sweep: Option<Instant> = None;
        loop {
            tick.tick().await;
            if self.writers.draining.load(Ordering::SeqCst) {
                return;
            }
            if let Err(e) = self.take_over().await {
                tracing::warn!(error = ?e, "cannot look for orphaned replies");
            }
            if last_key_sweep.is_none_or(|t| t.elapsed() >= KEY_SWEEP_EVERY) {
                last_key_sweep = Some(Instant::now());
                match self.db.write(idempotency::sweep).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(keys = n, "forgot expired idempotency keys"),
                    Err(e) => tracing::warn!(error = ?e, "cannot sweep idempotency keys"),
                }
            }
        }
    }

    async fn take_over(&self) -> Result<(), AppError> {
        let (owner, lease_ms, limits) = (
            self.writers.owner.clone(),
            self.writers.lease_ms,
            self.limits,
        );
        let (has_provider, quota) = (self.assistant.has_provider(), self.quota);
        let jobs = self
            .db
            .write(move |conn| {
                let now = now_ms();
                let claimed = replies::claim_expired(conn, &owner, now, now + lease_ms, 32)?;
                let mut jobs = Vec::with_capacity(claimed.len());
                for reply in claimed {
                    let (user_name, title) = replies::session_owner(conn, &reply.session_id)?;
                    let history = messages::recent_history(
                        conn,
                        &reply.session_id,
                        reply.created_at,
                        limits.max_messages,
                        limits.max_chars,
                    )?;
                    let spender = Spender::of(conn, has_provider, quota, &reply.session_id);
                    jobs.push(Job {
                        prefix: reply.content.clone(),
                        streamed: true,
                        reply,
                        context: ChatContext { user_name, history },
                        needs_title: title.is_none(),
                        spender,
                    });
                }
                Ok(jobs)
            })
            .await?;
        for job in jobs {
            tracing::info!(reply = %job.reply.id, stored_chars = job.prefix.chars().count(), "taking over a reply whose writer died");
            self.spawn_writer(job);
        }
        Ok(())
    }

    /// Graceful shutdown: no more takeovers; replies being written get
    /// `grace` to finish, then store their text and hand over (their leases
    /// expire at once, so another process — or this one restarted — goes on).
    pub async fn drain(&self, grace: Duration) {
        self.writers.draining.store(true, Ordering::SeqCst);
        let mut running = self.writers.running.subscribe();
        let finished = tokio::time::timeout(grace, running.wait_for(|n| *n == 0))
            .await
            .is_ok();
        if finished {
            return;
        }
        let left = *running.borrow();
        tracing::info!(
            replies = left,
            "handing over the replies still being written"
        );
        self.writers.hand_over.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), running.wait_for(|n| *n == 0)).await;
        let owner = self.writers.owner.clone();
        if let Err(e) = self
            .db
            .write(move |conn| replies::release_all(conn, &owner))
            .await
        {
            tracing::warn!(error = ?e, "cannot hand over the remaining replies");
        }
    }
}
