//! The assistant. Knows nothing of HTTP or the database: it takes a
//! conversation context and returns (or streams) a reply with its metadata.
//!
//! [`Assistant`] is what the rest of the service uses. It asks the configured
//! provider (any OpenAI-compatible endpoint), giving it the best passages of
//! the knowledge base as reference material and storing the ones it cites
//! as the reply's sources (`grounding`), and, when there is no provider,
//! when it fails, or when its circuit breaker is open, lets the offline
//! responder answer from the knowledge base. It never fails.

mod assistant;
mod breaker;
pub mod grounding;
pub mod knowledge;
pub mod offline;
pub mod openai;
mod prompt;
pub mod titles;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use assistant::Assistant;
pub use breaker::CircuitBreaker;
pub use grounding::Passage;

pub use crate::domain::Role;

/// One message of the conversation, as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// What the model sees: who is asking and the recent conversation, oldest
/// first, ending with the new user message.
#[derive(Debug, Clone)]
pub struct ChatContext {
    pub user_name: String,
    pub history: Vec<Message>,
}

impl ChatContext {
    /// The message being answered.
    pub fn question(&self) -> &str {
        self.history
            .iter()
            .rev()
            .find(|t| t.role == Role::User)
            .map_or("", |t| t.content.as_str())
    }
}

/// A document a reply drew on.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub title: String,
    pub url: String,
    pub snippet: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// A finished reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub content: String,
    /// The model that wrote it, as the provider reported it; `"fallback"` for
    /// the offline responder.
    pub model: String,
    /// 0–1; see the README for how each responder derives it.
    pub confidence: f64,
    pub usage: Option<Usage>,
    pub sources: Vec<Source>,
    pub fallback: bool,
    pub latency_ms: u64,
}

/// A conversation's title, with the tokens the provider spent on it (none
/// for a derived one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title {
    pub text: String,
    pub usage: Option<Usage>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the provider did not answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach the provider: {0}")]
    Transport(String),
    #[error("the provider answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the provider's answer was malformed: {0}")]
    Malformed(String),
    #[error("the provider is skipped while its circuit breaker is open")]
    CircuitOpen,
}

/// Streamed pieces of a reply's text.
pub type DeltaSender = mpsc::UnboundedSender<String>;

/// A model that can answer a conversation. `reference` holds the passages
/// of the knowledge base the model is given to answer from (possibly none);
/// the reply it returns has no sources: citations are the assistant's job.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Answers in one piece.
    async fn complete(&self, ctx: &ChatContext, reference: &[Passage]) -> Result<Reply, LlmError>;

    /// Answers in pieces sent to `deltas` as they arrive, then returns the
    /// whole reply (whose content is the concatenation of the pieces).
    async fn stream(
        &self,
        ctx: &ChatContext,
        reference: &[Passage],
        deltas: &DeltaSender,
    ) -> Result<Reply, LlmError>;

    /// A short title for a conversation that opened with `first_message`.
    async fn title(&self, first_message: &str) -> Result<Title, LlmError>;
}
