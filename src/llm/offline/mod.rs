//! The offline responder: answers from the built-in knowledge base when no
//! model is configured or the provider fails. It says plainly that it is the
//! offline assistant, cites its sources, and with no match says what it can
//! help with instead of inventing an answer.
//!
//! - `intent`: greeting, thanks or question (and what kind of question);
//! - `retrieve`: the topics for a message in its conversation, follow-ups
//!   included;
//! - `compose`: the reply's text, confidence and sources.
//!
//! It answers synchronously and never fails, so it is not a [`ChatModel`]:
//! the [`Assistant`] calls it directly and streams its answer in pieces.
//!
//! [`ChatModel`]: super::ChatModel
//! [`Assistant`]: super::Assistant

mod compose;
pub(crate) mod intent;
pub(crate) mod retrieve;

use std::sync::Arc;
use std::time::Instant;

use super::knowledge::{Hit, KnowledgeBase, Topic};
use super::openai::elapsed_ms;
use super::{ChatContext, Reply};
use intent::Intent;
use retrieve::MIN_SCORE;

/// The `model` of every offline reply.
pub const FALLBACK_MODEL: &str = "fallback";

pub struct OfflineResponder {
    kb: Arc<KnowledgeBase>,
}

impl Default for OfflineResponder {
    fn default() -> Self {
        Self::new(Arc::clone(KnowledgeBase::embedded_shared()))
    }
}

impl OfflineResponder {
    pub fn new(kb: Arc<KnowledgeBase>) -> Self {
        Self { kb }
    }

    pub fn knowledge(&self) -> &KnowledgeBase {
        &self.kb
    }

    /// Topics for the conversation's last user message, best first. A
    /// follow-up ("should I pay them off faster?") is ranked with the
    /// subject of an earlier message; the rule is documented on
    /// `retrieve::retrieve`.
    pub fn retrieve(&self, ctx: &ChatContext) -> Vec<Hit<'_>> {
        retrieve::retrieve(&self.kb, ctx).hits
    }

    /// The best topic for a message on its own (used for titles).
    pub fn best_topic(&self, message: &str) -> Option<&Topic> {
        self.kb
            .search(message)
            .into_iter()
            .find(|h| h.score >= MIN_SCORE)
            .map(|h| h.topic)
    }

    pub fn answer(&self, ctx: &ChatContext) -> Reply {
        let started = Instant::now();
        let question = ctx.question();
        let composed = match intent::intent(question) {
            Intent::Greeting => compose::greeting_reply(&ctx.user_name),
            Intent::Thanks => compose::thanks_reply(),
            Intent::Question => {
                let retrieval = retrieve::retrieve(&self.kb, ctx);
                compose::answer(&self.kb, &ctx.user_name, question, &retrieval)
            }
        };
        Reply {
            content: composed.content,
            model: FALLBACK_MODEL.to_owned(),
            confidence: composed.confidence,
            usage: None,
            sources: composed.sources,
            fallback: true,
            latency_ms: elapsed_ms(started),
        }
    }
}
