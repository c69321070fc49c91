//! A user's message and the assistant's reply, end to end: store the
//! question, build the context, ask the assistant, store the answer, title
//! the session.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::messages::{self, MessageWithSources};
use super::sessions;
use crate::db::Database;
use crate::error::AppError;
use crate::llm::{Assistant, ChatContext, Reply};

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

/// The chat service: the database, the assistant and how much history it
/// sees. Owned by the application state; cheap to clone into a task.
#[derive(Clone)]
pub struct Chat {
    db: Database,
    assistant: Arc<Assistant>,
    limits: ContextLimits,
}

/// The stored question and everything needed to answer it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub session_id: String,
    pub user_message: MessageWithSources,
    pub context: ChatContext,
    needs_title: bool,
}

/// What a streamed answer produces after the stored question, in order:
/// pieces of text, then the outcome.
#[derive(Debug)]
pub enum StreamEvent {
    Delta(String),
    Finished(Result<MessageWithSources, AppError>),
}

impl Chat {
    pub fn new(db: Database, assistant: Arc<Assistant>, limits: ContextLimits) -> Self {
        Self {
            db,
            assistant,
            limits,
        }
    }

    pub fn assistant(&self) -> &Assistant {
        &self.assistant
    }

    /// Stores the user's message and reads the context, in one trip to the
    /// blocking pool. 404 when the session is absent or not the asker's.
    async fn prepare(
        &self,
        asker: &Asker,
        session_id: &str,
        content: String,
    ) -> Result<Prepared, AppError> {
        let (user_id, session_id, name) = (
            asker.user_id.clone(),
            session_id.to_owned(),
            asker.name.clone(),
        );
        let limits = self.limits;
        self.db
            .run(move |conn| {
                let (user_message, session) =
                    messages::append_user_message(conn, &user_id, &session_id, &content)?;
                let history = messages::recent_history(
                    conn,
                    &session_id,
                    limits.max_messages,
                    limits.max_chars,
                )?;
                Ok(Prepared {
                    session_id,
                    user_message,
                    context: ChatContext {
                        user_name: name,
                        history,
                    },
                    needs_title: session.title.is_none(),
                })
            })
            .await
    }

    /// Stores the reply and titles the session if it has no title yet. A title
    /// from the provider is asked for in the background, so it never delays the
    /// reply; a derived title is set in the same trip as the reply.
    async fn finish(
        &self,
        prepared: &Prepared,
        reply: Reply,
    ) -> Result<MessageWithSources, AppError> {
        let session_id = prepared.session_id.clone();
        let after = prepared.user_message.message.created_at;
        let question = prepared.user_message.message.content.clone();
        let ask_provider = self.assistant.titles_from_provider();
        let derived_title = (prepared.needs_title && !ask_provider)
            .then(|| self.assistant.heuristic_title(&question));
        let stored = self
            .db
            .run(move |conn| {
                let stored = messages::append_assistant_message(conn, &session_id, &reply, after)?;
                if let Some(title) = derived_title {
                    sessions::set_title_if_unset(conn, &session_id, &title)?;
                }
                Ok(stored)
            })
            .await?;
        if prepared.needs_title && ask_provider {
            let (chat, session_id) = (self.clone(), prepared.session_id.clone());
            tokio::spawn(
                async move {
                    let title = chat.assistant.title(&question).await;
                    if let Err(e) = chat
                        .db
                        .run(move |conn| sessions::set_title_if_unset(conn, &session_id, &title))
                        .await
                    {
                        tracing::warn!(error = ?e, "cannot store the session title");
                    }
                }
                .in_current_span(),
            );
        }
        Ok(stored)
    }

    /// The whole exchange, non-streaming. It runs in a task of its own, so it
    /// completes (and the reply is stored) even if the caller goes away.
    pub async fn send(
        &self,
        asker: Asker,
        session_id: String,
        content: String,
    ) -> Result<(MessageWithSources, MessageWithSources), AppError> {
        let chat = self.clone();
        tokio::spawn(
            async move {
                let prepared = chat.prepare(&asker, &session_id, content).await?;
                let reply = chat.assistant.reply(&prepared.context).await;
                let stored = chat.finish(&prepared, reply).await?;
                Ok((prepared.user_message, stored))
            }
            .in_current_span(),
        )
        .await
        .map_err(AppError::internal)?
    }

    /// The exchange, streamed. Stores the question and returns it with the
    /// receiver of the answer's events; the work runs in a task of its own, so
    /// the reply is completed and stored whether or not anyone listens.
    pub async fn send_streaming(
        &self,
        asker: Asker,
        session_id: String,
        content: String,
    ) -> Result<(MessageWithSources, mpsc::UnboundedReceiver<StreamEvent>), AppError> {
        let (stored_tx, stored_rx) = oneshot::channel();
        let (events, rx) = mpsc::unbounded_channel();
        let chat = self.clone();
        let exchange = async move {
            let prepared = match chat.prepare(&asker, &session_id, content).await {
                Ok(prepared) => prepared,
                Err(e) => {
                    let _ = stored_tx.send(Err(e));
                    return;
                }
            };
            let _ = stored_tx.send(Ok(prepared.user_message.clone()));
            let (deltas, mut pieces) = mpsc::unbounded_channel::<String>();
            let relay = {
                let events = events.clone();
                async move {
                    while let Some(piece) = pieces.recv().await {
                        let _ = events.send(StreamEvent::Delta(piece));
                    }
                }
            };
            let generate = async {
                let reply = chat
                    .assistant
                    .reply_streaming(&prepared.context, &deltas)
                    .await;
                drop(deltas);
                chat.finish(&prepared, reply).await
            };
            let (result, ()) = tokio::join!(generate, relay);
            if let Err(e) = &result {
                tracing::warn!(error = ?e, "streamed reply could not be stored");
            }
            let _ = events.send(StreamEvent::Finished(result));
        };
        tokio::spawn(exchange.in_current_span());
        let question = stored_rx.await.map_err(AppError::internal)??;
        Ok((question, rx))
    }
}
