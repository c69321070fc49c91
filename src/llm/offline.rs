//! The offline responder: answers from the built-in knowledge base when no
//! model is configured or the provider fails. It says plainly that it is the
//! offline assistant, cites its sources, and with no match says what it can
//! help with instead of inventing an answer.

use std::time::Instant;

use async_trait::async_trait;

use super::knowledge::{Hit, KnowledgeBase, Topic};
use super::{ChatContext, ChatModel, DeltaSender, LlmError, Reply, Role, SourceRef};

pub const FALLBACK_MODEL: &str = "fallback";

/// A score below which a topic is not considered a match.
const MIN_SCORE: f64 = 5.0;
/// How much the previous user message counts when the new one is a follow-up.
const CONTEXT_WEIGHT: f64 = 0.5;
/// Score at which confidence reaches about 63% of its range.
const CONFIDENCE_SCALE: f64 = 10.0;

const OFFLINE_NOTE: &str =
    "I'm RichesReach's offline assistant: the AI model isn't available right now, \
so this answer comes from our built-in guides.";
const NOT_ADVICE: &str = "This is general education, not personal investment advice.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    Greeting,
    Thanks,
    Question,
}

fn intent(question: &str) -> Intent {
    let words: Vec<String> = question
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let all_in =
        |set: &[&str]| !words.is_empty() && words.iter().all(|w| set.contains(&w.as_str()));
    const GREETING: &[&str] = &[
        "hi",
        "hello",
        "hey",
        "hiya",
        "yo",
        "good",
        "morning",
        "afternoon",
        "evening",
        "there",
        "howdy",
        "greetings",
        "sup",
    ];
    const THANKS: &[&str] = &[
        "thanks", "thank", "you", "thx", "ty", "so", "much", "great", "cool", "awesome", "ok",
        "okay", "perfect", "helpful", "that's", "that", "was", "very", "a", "lot", "cheers",
    ];
    if all_in(GREETING) {
        Intent::Greeting
    } else if all_in(THANKS)
        && words
            .iter()
            .any(|w| ["thanks", "thank", "thx", "ty", "cheers"].contains(&w.as_str()))
    {
        Intent::Thanks
    } else {
        Intent::Question
    }
}

/// A question that leans on what came before ("tell me more", "what about
/// bonds?", "how does that work?").
fn is_follow_up(question: &str) -> bool {
    let q = question.to_lowercase();
    let markers = [
        "tell me more",
        "more about",
        "what about",
        "how about",
        "and ",
        "that",
        "this",
        " it",
        "those",
        "them",
        "explain",
        "why",
        "example",
        "go on",
        "elaborate",
        "more detail",
        "risks",
        "kids",
    ];
    q.split_whitespace().count() <= 8 && markers.iter().any(|m| q.contains(m))
}

fn asks_for_personal_advice(question: &str) -> bool {
    let q = question.to_lowercase();
    [
        "should i buy",
        "should i sell",
        "should i invest",
        "what should i invest",
        "what should i buy",
        "which stock",
        "what stock",
        "tell me what to buy",
        "is it a good time to",
    ]
    .iter()
    .any(|p| q.contains(p))
}

/// Confidence from the retrieval score: 0 when nothing matches, rising towards
/// 0.9 for strong, unambiguous matches.
fn calibrate(score: f64, runner_up: f64) -> f64 {
    if score < MIN_SCORE {
        return 0.1;
    }
    let strength = 1.0 - (-(score - MIN_SCORE) / CONFIDENCE_SCALE).exp();
    let margin = if score > 0.0 {
        ((score - runner_up) / score).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (0.3 + 0.5 * strength + 0.1 * margin).clamp(0.0, 0.9)
}

pub struct OfflineResponder {
    kb: &'static KnowledgeBase,
}

impl Default for OfflineResponder {
    fn default() -> Self {
        Self::new(KnowledgeBase::embedded())
    }
}

impl OfflineResponder {
    pub fn new(kb: &'static KnowledgeBase) -> Self {
        Self { kb }
    }

    /// Ranks topics for the question, with the previous user message as
    /// context when the question is a follow-up.
    pub fn retrieve<'a>(&'a self, ctx: &ChatContext) -> Vec<Hit<'a>> {
        let question = ctx.question();
        let previous = ctx
            .history
            .iter()
            .rev()
            .filter(|t| t.role == Role::User)
            .nth(1)
            .map(|t| t.content.as_str());
        let own = self.kb.search(question);
        let own_strong = own.first().is_some_and(|h| h.score >= MIN_SCORE);
        match previous {
            Some(prev) if is_follow_up(question) || !own_strong => {
                self.kb.rank(&[(question, 1.0), (prev, CONTEXT_WEIGHT)])
            }
            _ => own,
        }
    }

    /// The best topic for a question on its own (used for titles).
    pub fn best_topic(&self, question: &str) -> Option<&Topic> {
        self.kb
            .search(question)
            .into_iter()
            .find(|h| h.score >= MIN_SCORE)
            .map(|h| h.topic)
    }

    pub fn answer(&self, ctx: &ChatContext) -> Reply {
        let started = Instant::now();
        let question = ctx.question();
        let greeting = match ctx.user_name.split_whitespace().next() {
            Some(first) => format!("Hi {first}! "),
            None => "Hi! ".to_owned(),
        };
        let (content, confidence, sources) = match intent(question) {
            Intent::Greeting => (
                format!("{greeting}{OFFLINE_NOTE} I can explain budgeting, saving, debt, credit scores, retirement accounts, investing basics like index funds, stocks and bonds, and the risks of things like crypto and options. What would you like to know?"),
                0.9,
                Vec::new(),
            ),
            Intent::Thanks => (
                "You're welcome! Ask me anything else about saving, investing or planning for retirement.".to_owned(),
                0.9,
                Vec::new(),
            ),
            Intent::Question => self.compose(ctx, &greeting),
        };
        Reply {
            content,
            model: FALLBACK_MODEL.to_owned(),
            confidence,
            usage: None,
            sources,
            fallback: true,
            latency_ms: super::openai::elapsed_ms(started),
        }
    }

    fn compose(&self, ctx: &ChatContext, greeting: &str) -> (String, f64, Vec<SourceRef>) {
        let question = ctx.question();
        let hits = self.retrieve(ctx);
        let Some(best) = hits.first().filter(|h| h.score >= MIN_SCORE) else {
            let topics: Vec<&str> = self
                .kb
                .topics()
                .take(12)
                .map(|t| t.title.as_str())
                .collect();
            return (
                format!("{greeting}{OFFLINE_NOTE} I don't have a guide that answers that, and I'd rather not guess. I can help with topics such as {}, and more. Could you rephrase your question around one of those?", topics.join(", ")),
                calibrate(0.0, 0.0),
                Vec::new(),
            );
        };
        let runner_up = hits.get(1).map_or(0.0, |h| h.score);
        let wants_more = is_follow_up(question) && question.to_lowercase().contains("more");
        let mut text = format!("{greeting}{OFFLINE_NOTE}\n\n");
        if asks_for_personal_advice(question) {
            text.push_str("I can't tell you what to buy or sell — that depends on your goals, timeline and whole financial picture — but here is what matters for the decision.\n\n");
        }
        text.push_str(&format!("**{}**\n\n", best.topic.title));
        let paragraphs = if wants_more {
            best.topic.paragraphs.len()
        } else {
            2
        };
        text.push_str(
            &best
                .topic
                .paragraphs
                .iter()
                .take(paragraphs)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n\n"),
        );
        let mut used = vec![best.topic];
        if let Some(related) = hits
            .get(1)
            .filter(|h| h.score >= best.score * 0.6 && h.score >= MIN_SCORE)
        {
            if let Some(first) = related.topic.paragraphs.first() {
                text.push_str(&format!(
                    "\n\nRelated — **{}**: {}",
                    related.topic.title,
                    first_sentences(first, 2)
                ));
                used.push(related.topic);
            }
        }
        text.push_str(&format!("\n\n{NOT_ADVICE}"));
        let sources = used
            .iter()
            .flat_map(|topic| {
                topic.sources.iter().map(|s| SourceRef {
                    title: s.title.clone(),
                    url: s.url.clone(),
                    snippet: first_sentences(
                        topic.paragraphs.first().map_or("", String::as_str),
                        1,
                    ),
                })
            })
            .collect();
        (text, calibrate(best.score, runner_up), sources)
    }
}

fn first_sentences(paragraph: &str, n: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for (i, c) in paragraph.char_indices() {
        if matches!(c, '.' | '!' | '?') && paragraph[i + c.len_utf8()..].starts_with(' ') {
            count += 1;
            if count == n {
                out = paragraph[..=i].to_owned();
                break;
            }
        }
    }
    if out.is_empty() {
        paragraph.to_owned()
    } else {
        out
    }
}

/// Splits text into small pieces for streaming (a few words each).
pub fn chunks(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for (i, c) in text.char_indices() {
        current.push(c);
        if c == ' ' || c == '\n' {
            let next_is_space = text[i + 1..].starts_with([' ', '\n']);
            if !next_is_space {
                words += 1;
                if words == 4 {
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

#[async_trait]
impl ChatModel for OfflineResponder {
    async fn complete(&self, ctx: &ChatContext) -> Result<Reply, LlmError> {
        Ok(self.answer(ctx))
    }

    async fn stream(&self, ctx: &ChatContext, deltas: &DeltaSender) -> Result<Reply, LlmError> {
        let reply = self.answer(ctx);
        for piece in chunks(&reply.content) {
            let _ = deltas.send(piece);
            tokio::task::yield_now().await;
        }
        Ok(reply)
    }

    async fn title(&self, first_message: &str) -> Result<String, LlmError> {
        Ok(super::titles::heuristic_title(
            first_message,
            self.best_topic(first_message).map(|t| t.title.as_str()),
        ))
    }
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

    #[test]
    fn greetings_and_thanks_are_recognised() {
        assert_eq!(intent("Hello!"), Intent::Greeting);
        assert_eq!(intent("good morning"), Intent::Greeting);
        assert_eq!(intent("thanks, that was helpful"), Intent::Thanks);
        assert_eq!(intent("hello, what is an ETF?"), Intent::Question);
    }

    #[test]
    fn confidence_is_low_without_a_match_and_bounded() {
        assert!(calibrate(0.0, 0.0) <= 0.1);
        assert!(calibrate(30.0, 1.0) <= 0.9);
        assert!(calibrate(30.0, 1.0) > calibrate(4.0, 3.0));
    }
}
