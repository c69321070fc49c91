//! The offline reply's text, confidence and sources.

use super::intent::{asks_for_more, asks_for_personal_advice};
use super::retrieve::{Retrieval, MIN_SCORE};
use crate::llm::knowledge::{KnowledgeBase, Topic};
use crate::llm::Source;

/// Score at which confidence reaches about 63% of its range.
const CONFIDENCE_SCALE: f64 = 10.0;
/// Confidence of greetings and thanks: there is nothing to get wrong.
const SMALL_TALK_CONFIDENCE: f64 = 0.9;
/// Paragraphs of the best topic in a reply, unless more are asked for.
const PARAGRAPHS: usize = 2;
/// A runner-up within this share of the best score is mentioned too.
const RELATED_SHARE: f64 = 0.6;
/// How many topic titles a reply without a match offers instead.
const OFFERED_TOPICS: usize = 12;

const OFFLINE_NOTE: &str =
    "I'm RichesReach's offline assistant: the AI model isn't available right now, \
so this answer comes from our built-in guides.";
const NOT_ADVICE: &str = "This is general education, not personal investment advice.";
const NO_PERSONAL_ADVICE: &str = "I can't tell you what to buy or sell — that depends on your \
goals, timeline and whole financial picture — but here is what matters for the decision.";

/// A composed reply.
pub struct Composed {
    pub content: String,
    pub confidence: f64,
    pub sources: Vec<Source>,
}

/// "Hi Ann! " with the user's first name, or "Hi! ".
fn greeting(user_name: &str) -> String {
    match user_name.split_whitespace().next() {
        Some(first) => format!("Hi {first}! "),
        None => "Hi! ".to_owned(),
    }
}

pub fn greeting_reply(user_name: &str) -> Composed {
    Composed {
        content: format!(
            "{}{OFFLINE_NOTE} I can explain budgeting, saving, debt, credit scores, retirement \
accounts, investing basics like index funds, stocks and bonds, and the risks of things like \
crypto and options. What would you like to know?",
            greeting(user_name)
        ),
        confidence: SMALL_TALK_CONFIDENCE,
        sources: Vec::new(),
    }
}

pub fn thanks_reply() -> Composed {
    Composed {
        content: "You're welcome! Ask me anything else about saving, investing or planning for \
retirement."
            .to_owned(),
        confidence: SMALL_TALK_CONFIDENCE,
        sources: Vec::new(),
    }
}

/// Answers `question` from the retrieved topics: the best topic (all of it
/// when more is asked for after an earlier answer), a close runner-up in
/// brief, and their sources. With no match, says so and offers topics.
pub fn answer(
    kb: &KnowledgeBase,
    user_name: &str,
    question: &str,
    retrieval: &Retrieval<'_>,
) -> Composed {
    let greeting = greeting(user_name);
    let Some(best) = retrieval.best() else {
        let topics: Vec<&str> = kb
            .topics()
            .take(OFFERED_TOPICS)
            .map(|t| t.title.as_str())
            .collect();
        return Composed {
            content: format!(
                "{greeting}{OFFLINE_NOTE} I don't have a guide that answers that, and I'd rather \
not guess. I can help with topics such as {}, and more. Could you rephrase your question around \
one of those?",
                topics.join(", ")
            ),
            confidence: calibrate(0.0, 0.0),
            sources: Vec::new(),
        };
    };
    let runner_up = retrieval.hits.get(1);
    let mut text = format!("{greeting}{OFFLINE_NOTE}\n\n");
    if asks_for_personal_advice(question) {
        text.push_str(NO_PERSONAL_ADVICE);
        text.push_str("\n\n");
    }
    let paragraphs = if retrieval.follow_up && asks_for_more(question) {
        best.topic.paragraphs.len()
    } else {
        PARAGRAPHS
    };
    text.push_str(&format!("**{}**\n\n", best.topic.title));
    text.push_str(
        &best.topic.paragraphs[..paragraphs.min(best.topic.paragraphs.len())].join("\n\n"),
    );
    let mut used = vec![best.topic];
    let related =
        runner_up.filter(|h| h.score >= best.score * RELATED_SHARE && h.score >= MIN_SCORE);
    if let Some(related) = related {
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
    Composed {
        content: text,
        confidence: calibrate(best.score, runner_up.map_or(0.0, |h| h.score)),
        sources: used.into_iter().flat_map(cited_sources).collect(),
    }
}

/// A topic's sources, each with the topic's opening sentence as snippet.
fn cited_sources(topic: &Topic) -> impl Iterator<Item = Source> + '_ {
    let snippet = first_sentences(topic.paragraphs.first().map_or("", String::as_str), 1);
    topic.sources.iter().map(move |s| Source {
        title: s.title.clone(),
        url: s.url.clone(),
        snippet: snippet.clone(),
    })
}

/// Confidence from the retrieval score: 0.1 when nothing matches, rising
/// towards 0.9 for strong, unambiguous matches.
pub fn calibrate(score: f64, runner_up: f64) -> f64 {
    if score < MIN_SCORE {
        return 0.1;
    }
    let strength = 1.0 - (-(score - MIN_SCORE) / CONFIDENCE_SCALE).exp();
    let margin = ((score - runner_up) / score).clamp(0.0, 1.0);
    (0.3 + 0.5 * strength + 0.1 * margin).clamp(0.0, 0.9)
}

/// The first `n` sentences of a paragraph (all of it when it has fewer).
fn first_sentences(paragraph: &str, n: usize) -> String {
    let mut count = 0;
    for (i, c) in paragraph.char_indices() {
        if matches!(c, '.' | '!' | '?') && paragraph[i + c.len_utf8()..].starts_with(' ') {
            count += 1;
            if count == n {
                return paragraph[..=i].to_owned();
            }
        }
    }
    paragraph.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_low_without_a_match_and_bounded() {
        assert!(calibrate(0.0, 0.0) <= 0.1);
        assert!(calibrate(30.0, 1.0) <= 0.9);
        assert!(calibrate(30.0, 1.0) > calibrate(4.0, 3.0));
        assert!(calibrate(30.0, 1.0) > calibrate(5.5, 5.0));
    }

    #[test]
    fn first_sentences_stop_at_sentence_ends() {
        assert_eq!(first_sentences("One. Two! Three?", 2), "One. Two!");
        assert_eq!(first_sentences("Only 2.5 percent", 1), "Only 2.5 percent");
    }
}
