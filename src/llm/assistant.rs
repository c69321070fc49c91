//! The assistant the service talks to: provider first, offline responder when
//! there is no provider, it fails, or its breaker is open. Never fails.
//!
//! A provider's reply is grounded here, whatever the provider: the passages
//! chosen for the message go into its request, and its citation markers are
//! renumbered (pieces included, as they stream) so that the reply's sources
//! are the passages it cited.
//!
//! The offline responder is called directly (it is not a `ChatModel`): its
//! answer is ready at once and cannot fail, so streaming it is just cutting
//! it into pieces, which happens here in one place.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::grounding::{self, Citations};
use super::knowledge::KnowledgeBase;
use super::offline::OfflineResponder;
use super::openai::{elapsed_ms, OpenAiProvider};
use super::prompt::CONTINUE_INSTRUCTION;
use super::titles::heuristic_title;
use super::{
    ChatContext, ChatModel, CircuitBreaker, DeltaSender, LlmError, Message, Passage, Reply, Role,
    Title,
};
use crate::config::LlmSettings;
use crate::metrics::Metrics;

pub struct Assistant {
    provider: Option<Arc<dyn ChatModel>>,
    offline: OfflineResponder,
    /// Characters of reference passages a provider request may carry.
    knowledge_chars: usize,
    breaker: CircuitBreaker,
    metrics: Arc<Metrics>,
}

impl Assistant {
    /// The provider is used when `OPENAI_API_KEY` is set; `knowledge` serves
    /// both grounding and the offline responder.
    pub fn from_settings(
        settings: &LlmSettings,
        knowledge: Arc<KnowledgeBase>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let provider: Option<Arc<dyn ChatModel>> = match settings.api_key {
            None => None,
            Some(_) => match OpenAiProvider::new(settings) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the model provider; answering offline");
                    None
                }
            },
        };
        let breaker = CircuitBreaker::new(
            settings.breaker_threshold,
            Duration::from_secs(settings.breaker_cooldown_secs),
        );
        Self::new(
            provider,
            knowledge,
            settings.context_knowledge_chars,
            breaker,
            metrics,
        )
    }

    pub fn new(
        provider: Option<Arc<dyn ChatModel>>,
        knowledge: Arc<KnowledgeBase>,
        knowledge_chars: usize,
        breaker: CircuitBreaker,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            provider,
            offline: OfflineResponder::new(knowledge),
            knowledge_chars,
            breaker,
            metrics,
        }
    }

    /// The passages a provider is given for the conversation's last message.
    pub fn passages(&self, ctx: &ChatContext) -> Vec<Passage> {
        grounding::select(self.offline.knowledge(), ctx, self.knowledge_chars)
    }

    pub fn has_provider(&self) -> bool {
        self.provider.is_some()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn usable_provider(&self) -> Option<&Arc<dyn ChatModel>> {
        self.provider.as_ref().filter(|_| self.breaker.allow())
    }

    fn record(&self, result: &Result<Reply, LlmError>) {
        match result {
            Ok(reply) => {
                self.breaker.record_success();
                self.metrics.llm_call("provider", "ok");
                if let Some(usage) = reply.usage {
                    self.metrics
                        .llm_tokens(usage.prompt_tokens, usage.completion_tokens);
                }
            }
            Err(e) => {
                self.breaker.record_failure();
                self.metrics.llm_call("provider", "error");
                tracing::warn!(error = %e, "model provider failed; the offline responder answers");
            }
        }
    }

    fn offline_reply(&self, ctx: &ChatContext, started: Instant) -> Reply {
        let mut reply = self.offline.answer(ctx);
        reply.latency_ms = elapsed_ms(started);
        self.metrics.llm_call("offline", "ok");
        self.metrics.fallback();
        reply
    }

    /// The offline responder's answer, at once, whatever the provider's
    /// state (the caller decided the provider is not to be asked).
    pub fn reply_offline_now(&self, ctx: &ChatContext) -> Reply {
        self.offline_reply(ctx, Instant::now())
    }

    /// Answers in one piece.
    pub async fn reply(&self, ctx: &ChatContext) -> Reply {
        let started = Instant::now();
        if let Some(provider) = self.usable_provider() {
            let passages = self.passages(ctx);
            let result = provider.complete(ctx, &passages).await;
            self.record(&result);
            if let Ok(mut reply) = result {
                let mut citations = Citations::new(passages.len());
                let mut content = citations.push(&reply.content);
                content.push_str(&citations.finish());
                reply.content = content;
                reply.sources = citations.sources(&passages);
                reply.latency_ms = elapsed_ms(started);
                return reply;
            }
        }
        self.offline_reply(ctx, started)
    }

    /// Answers in pieces sent to `deltas`, and returns the whole reply.
    ///
    /// The provider's pieces pass through the citation renumbering on their
    /// way, so they concatenate to the returned reply's content.
    ///
    /// When the provider fails before sending anything, the offline answer is
    /// streamed instead. When it fails mid-reply, no more pieces are sent: the
    /// returned reply is the offline answer (`fallback: true`), which the
    /// caller sends as the authoritative final message.
    pub async fn reply_streaming(&self, ctx: &ChatContext, deltas: &DeltaSender) -> Reply {
        let started = Instant::now();
        if let Some(provider) = self.usable_provider() {
            let passages = self.passages(ctx);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let forward = {
                let deltas = deltas.clone();
                let mut citations = Citations::new(passages.len());
                async move {
                    let mut sent = String::new();
                    while let Some(piece) = rx.recv().await {
                        let piece = citations.push(&piece);
                        if !piece.is_empty() {
                            sent.push_str(&piece);
                            let _ = deltas.send(piece);
                        }
                    }
                    (sent, citations)
                }
            };
            let generate = async {
                let result = provider.stream(ctx, &passages, &tx).await;
                drop(tx);
                result
            };
            let (result, (mut sent, mut citations)) = tokio::join!(generate, forward);
            self.record(&result);
            match result {
                Ok(mut reply) => {
                    let rest = citations.finish();
                    if !rest.is_empty() {
                        sent.push_str(&rest);
                        let _ = deltas.send(rest);
                    }
                    reply.content = sent;
                    reply.sources = citations.sources(&passages);
                    reply.latency_ms = elapsed_ms(started);
                    return reply;
                }
                Err(_) if !sent.is_empty() => return self.offline_reply(ctx, started),
                Err(_) => {}
            }
        }
        let reply = self.offline_reply(ctx, started);
        for piece in chunks(&reply.content) {
            let _ = deltas.send(piece);
        }
        reply
    }

    /// Continues a reply whose text so far is `partial` (its writer died).
    /// The continuation's pieces go to `deltas`, each following the text
    /// already there: the provider is given the partial text as its own turn
    /// and asked to carry on; if it cannot, the offline answer follows after
    /// a blank line. The returned reply's content is the continuation only.
    pub async fn continue_streaming(
        &self,
        ctx: &ChatContext,
        partial: &str,
        deltas: &DeltaSender,
    ) -> Reply {
        let started = Instant::now();
        if let Some(provider) = self.usable_provider() {
            let mut continued = ctx.clone();
            continued.history.push(Message {
                role: Role::Assistant,
                content: partial.to_owned(),
            });
            continued.history.push(Message {
                role: Role::User,
                content: CONTINUE_INSTRUCTION.to_owned(),
            });
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let forward = {
                let deltas = deltas.clone();
                async move {
                    let mut sent = String::new();
                    while let Some(piece) = rx.recv().await {
                        sent.push_str(&piece);
                        let _ = deltas.send(piece);
                    }
                    sent
                }
            };
            // No passages: the stored text's citation markers were renumbered
            // for its own sources, which a continuation cannot extend safely.
            let generate = async {
                let result = provider.stream(&continued, &[], &tx).await;
                drop(tx);
                result
            };
            let (result, sent) = tokio::join!(generate, forward);
            self.record(&result);
            match result {
                Ok(mut reply) => {
                    reply.latency_ms = elapsed_ms(started);
                    return reply;
                }
                Err(_) => {
                    // What was streamed stays; the offline answer follows it.
                    let mut reply = self.offline_reply(ctx, started);
                    let tail = format!("\n\n{}", reply.content);
                    for piece in chunks(&tail) {
                        let _ = deltas.send(piece);
                    }
                    reply.content = sent + &tail;
                    return reply;
                }
            }
        }
        let mut reply = self.offline_reply(ctx, started);
        reply.content = format!("\n\n{}", reply.content);
        for piece in chunks(&reply.content) {
            let _ = deltas.send(piece);
        }
        reply
    }

    /// Answers with the offline responder whatever the provider's state (the
    /// caller decided the provider must not be asked), in pieces sent to
    /// `deltas`. A `continuation` follows text already stored, after a blank
    /// line, as [`Self::continue_streaming`] does without a provider.
    pub async fn reply_offline(
        &self,
        ctx: &ChatContext,
        continuation: bool,
        deltas: &DeltaSender,
    ) -> Reply {
        let mut reply = self.offline_reply(ctx, Instant::now());
        if continuation {
            reply.content = format!("\n\n{}", reply.content);
        }
        for piece in chunks(&reply.content) {
            let _ = deltas.send(piece);
        }
        reply
    }

    /// Whether a title should be asked of the provider (rather than derived).
    pub fn titles_from_provider(&self) -> bool {
        self.provider.is_some() && self.breaker.is_closed()
    }

    /// A title for a conversation that opened with `first_message`, with
    /// the tokens the provider spent on it.
    pub async fn title(&self, first_message: &str) -> Title {
        let healthy = self.provider.as_ref().filter(|_| self.breaker.is_closed());
        if let Some(provider) = healthy {
            match provider.title(first_message).await {
                Ok(title) => {
                    if let Some(usage) = title.usage {
                        self.metrics
                            .llm_tokens(usage.prompt_tokens, usage.completion_tokens);
                    }
                    return title;
                }
                Err(e) => tracing::warn!(error = %e, "title request failed; deriving one"),
            }
        }
        Title {
            text: self.heuristic_title(first_message),
            usage: None,
        }
    }

    /// A title derived without a model (instant).
    pub fn heuristic_title(&self, first_message: &str) -> String {
        heuristic_title(
            first_message,
            self.offline
                .best_topic(first_message)
                .map(|t| t.title.as_str()),
        )
    }
}

/// Splits text into small pieces for streaming (a few words each), so an
/// offline answer streams like a provider's.
fn chunks(text: &str) -> Vec<String> {
    const WORDS_PER_PIECE: usize = 4;
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for (i, c) in text.char_indices() {
        current.push(c);
        if c == ' ' || c == '\n' {
            let next_is_space = text[i + 1..].starts_with([' ', '\n']);
            if !next_is_space {
                words += 1;
                if words == WORDS_PER_PIECE {
                    pieces.push(std::mem::take(&mut current));
                    words = 0;
                }
            }
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_reassemble_exactly() {
        let text = "Hello there, this is  a test.\n\nSecond paragraph with more words in it.";
        assert_eq!(chunks(text).concat(), text);
        assert!(chunks(text).len() > 2);
    }
}
