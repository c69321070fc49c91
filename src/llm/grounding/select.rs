//! Which passages of the knowledge base a message is given.

use crate::llm::knowledge::{KnowledgeBase, Query, Topic};
use crate::llm::offline::intent::{intent, Intent};
use crate::llm::offline::retrieve::{retrieve, CONTEXT_LOOKBACK, MIN_SCORE};
use crate::llm::{ChatContext, Role};

use super::{render, Passage};

/// At most this many topics are given.
pub const MAX_PASSAGES: usize = 3;
/// A runner-up topic is given only within this share of the best score
/// (and above [`MIN_SCORE`], the relevance threshold of every passage).
pub const RELATED_SHARE: f64 = 0.5;

/// The passages for the conversation's last message, best topic first,
/// whose rendering ([`render`]) takes at most `budget` characters.
///
/// Greetings and thanks get none, nor does a message whose best topic
/// scores under [`MIN_SCORE`]. Otherwise up to [`MAX_PASSAGES`] topics
/// within [`RELATED_SHARE`] of the best are candidates, and their
/// paragraphs are taken in this order while they fit: the best topic's
/// opening paragraph (it says what the topic is), its paragraphs that share
/// terms with the message (those that use them most first), then the same for each
/// runner-up, then any remaining paragraphs. A paragraph that does not fit
/// is skipped for a shorter one. Each passage keeps its paragraphs in the
/// topic's order. When not even the best topic's opening fits, it is cut at
/// a word boundary to the budget.
pub fn select(kb: &KnowledgeBase, ctx: &ChatContext, budget: usize) -> Vec<Passage> {
    let question = ctx.question();
    if budget == 0 || intent(question) != Intent::Question {
        return Vec::new();
    }
    let retrieval = retrieve(kb, ctx);
    let Some(best) = retrieval.best() else {
        return Vec::new();
    };
    let floor = MIN_SCORE.max(best.score * RELATED_SHARE);
    let topics: Vec<&Topic> = retrieval
        .hits
        .iter()
        .take_while(|h| h.score >= floor)
        .take(MAX_PASSAGES)
        .map(|h| h.topic)
        .collect();
    let query = Query::new(&message_text(ctx, retrieval.follow_up));

    let mut order: Vec<(usize, usize)> = Vec::new();
    for (t, topic) in topics.iter().enumerate() {
        order.push((t, 0));
        let mut relevant: Vec<(usize, usize)> = kb
            .paragraph_terms(topic)
            .iter()
            .enumerate()
            .skip(1)
            .map(|(p, found)| (p, query.overlap(found)))
            .filter(|(_, shared)| *shared > 0)
            .collect();
        relevant.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        order.extend(relevant.into_iter().map(|(p, _)| (t, p)));
    }
    for (t, topic) in topics.iter().enumerate() {
        for p in 1..topic.paragraphs.len() {
            if !order.contains(&(t, p)) {
                order.push((t, p));
            }
        }
    }

    let mut chosen: Vec<Vec<usize>> = vec![Vec::new(); topics.len()];
    for (t, p) in order {
        chosen[t].push(p);
        if render(&passages(&topics, &chosen)).chars().count() > budget {
            chosen[t].pop();
        }
    }
    let given = passages(&topics, &chosen);
    if given.is_empty() {
        return cut_to_fit(topics[0], budget).into_iter().collect();
    }
    given
}

/// The text whose terms pick paragraphs: the message, and for a follow-up
/// the earlier messages it leans on.
fn message_text(ctx: &ChatContext, follow_up: bool) -> String {
    let lookback = if follow_up { CONTEXT_LOOKBACK + 1 } else { 1 };
    ctx.history
        .iter()
        .rev()
        .filter(|m| m.role == Role::User)
        .take(lookback)
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn passages(topics: &[&Topic], chosen: &[Vec<usize>]) -> Vec<Passage> {
    topics
        .iter()
        .zip(chosen)
        .filter(|(_, paragraphs)| !paragraphs.is_empty())
        .map(|(topic, paragraphs)| {
            let mut paragraphs = paragraphs.clone();
            paragraphs.sort_unstable();
            passage(
                topic,
                paragraphs
                    .iter()
                    .map(|&p| topic.paragraphs[p].as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            )
        })
        .collect()
}

fn passage(topic: &Topic, text: String) -> Passage {
    Passage {
        title: topic.title.clone(),
        url: topic
            .sources
            .first()
            .map(|s| s.url.clone())
            .unwrap_or_default(),
        text,
    }
}

/// The topic's opening paragraph cut at a word boundary so that its
/// rendering fits `budget`; `None` when not even a few words fit.
fn cut_to_fit(topic: &Topic, budget: usize) -> Option<Passage> {
    const ELLIPSIS: char = '…';
    let opening = topic.paragraphs.first()?;
    let overhead = render(&[passage(topic, String::new())]).chars().count() + 1;
    let room = budget.checked_sub(overhead)?;
    let mut text = String::new();
    for word in opening.split(' ') {
        let next = if text.is_empty() {
            word.chars().count()
        } else {
            word.chars().count() + 1
        };
        if text.chars().count() + next > room {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    if text.is_empty() {
        return None;
    }
    text.push(ELLIPSIS);
    Some(passage(topic, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Message;

    fn ctx(user_messages: &[&str]) -> ChatContext {
        let mut history = Vec::new();
        for (i, m) in user_messages.iter().enumerate() {
            if i > 0 {
                history.push(Message {
                    role: Role::Assistant,
                    content: "(answer)".into(),
                });
            }
            history.push(Message {
                role: Role::User,
                content: (*m).into(),
            });
        }
        ChatContext {
            user_name: "Ann".into(),
            history,
        }
    }

    fn titles(messages: &[&str], budget: usize) -> Vec<String> {
        select(KnowledgeBase::embedded(), &ctx(messages), budget)
            .into_iter()
            .map(|p| p.title)
            .collect()
    }

    #[test]
    fn a_question_gets_its_topic_and_small_talk_gets_nothing() {
        let got = titles(&["How big should my emergency fund be?"], 2500);
        assert_eq!(got.first().map(String::as_str), Some("Emergency fund"));
        assert!(titles(&["hello"], 2500).is_empty());
        assert!(titles(&["what is an hsa", "thanks!"], 2500).is_empty());
        assert!(titles(&["what's the best pizza topping in naples?"], 2500).is_empty());
        assert!(titles(&["How big should my emergency fund be?"], 0).is_empty());
    }

    #[test]
    fn the_rendering_fits_the_budget() {
        for budget in [80, 200, 500, 1000, 2500, 6000] {
            let given = select(
                KnowledgeBase::embedded(),
                &ctx(&["where should I keep my emergency fund and how much?"]),
                budget,
            );
            assert!(!given.is_empty(), "budget {budget}");
            let chars = render(&given).chars().count();
            assert!(chars <= budget, "{chars} > {budget}");
        }
    }

    #[test]
    fn the_paragraph_that_answers_is_chosen_over_the_next_one() {
        // The emergency-fund topic says where to keep the money in its third
        // paragraph; a budget for two paragraphs takes the first and that one.
        let kb = KnowledgeBase::embedded();
        let topic = kb.topics().find(|t| t.slug == "emergency-fund").unwrap();
        let budget = "[1] Emergency fund\n".len()
            + topic.paragraphs[0].len()
            + topic.paragraphs[2].len()
            + 10;
        let given = select(
            kb,
            &ctx(&["where should I keep an emergency fund? a savings account?"]),
            budget,
        );
        assert!(
            given[0].text.contains("federally insured"),
            "{}",
            given[0].text
        );
    }

    #[test]
    fn a_budget_too_small_for_a_paragraph_cuts_the_opening() {
        let given = select(
            KnowledgeBase::embedded(),
            &ctx(&["How big should my emergency fund be?"]),
            60,
        );
        assert_eq!(given.len(), 1);
        assert!(given[0].text.ends_with('…'), "{}", given[0].text);
        assert!(render(&given).chars().count() <= 60);
    }
}
