//! Which topics answer a message, given the conversation so far.

use crate::llm::knowledge::{blend, Hit, KnowledgeBase, Query};
use crate::llm::{ChatContext, Role};

/// A score below which a topic is not considered a match.
pub const MIN_SCORE: f64 = 5.0;
/// How much the earlier message counts behind a short or weak question,
/// which may bring a subject of its own ("what about bonds?").
const CONTEXT_WEIGHT: f64 = 0.5;
/// How much the earlier message counts behind a question that refers back
/// to it: the pronoun stands for its subject, as if the user had repeated it.
const REFERENCE_WEIGHT: f64 = 1.0;
/// A question with at most this many content terms (after stop words) is
/// too short to stand on its own: "what about bonds?", "how many months is
/// enough?".
const SHORT_QUESTION_TERMS: usize = 2;
/// A pronoun makes a question a follow-up only up to this many content
/// terms: longer questions carry their own subject, and their "it" is
/// usually the empty one of "is it smart to …".
const REFERRING_QUESTION_TERMS: usize = 4;
/// How many earlier user messages to look back over for the topic.
pub const CONTEXT_LOOKBACK: usize = 3;

/// Words that point back at something said before. A closed class of the
/// language, not a list of topics.
const REFERRING_WORDS: &[&str] = &[
    "it", "its", "it's", "that", "this", "those", "these", "they", "them", "their", "there",
];

/// Topics ranked for a message.
pub struct Retrieval<'a> {
    /// Best first; topics that match nothing are left out.
    pub hits: Vec<Hit<'a>>,
    /// Whether the ranking drew on an earlier message.
    pub follow_up: bool,
}

impl<'a> Retrieval<'a> {
    /// The best hit if it is a match at all.
    pub fn best(&self) -> Option<&Hit<'a>> {
        self.hits.first().filter(|h| h.score >= MIN_SCORE)
    }
}

/// Ranks topics for the conversation's last user message.
///
/// The rule for follow-ups. A question *leans on the conversation* when it
/// cannot stand on its own:
/// - it refers back with a pronoun (it, that, they, …) and has at most
///   [`REFERRING_QUESTION_TERMS`] content terms ("should I pay them off
///   faster?"), or has no content terms at all ("tell me more"): the
///   earlier subject counts at [`REFERENCE_WEIGHT`], as if repeated;
/// - otherwise, it is short (at most [`SHORT_QUESTION_TERMS`] content
///   terms: "what about bonds?") or its own best score is under
///   [`MIN_SCORE`]: the earlier subject counts at [`CONTEXT_WEIGHT`], so a
///   subject the question names itself still wins.
///
/// The earlier subject is the ranking of the nearest earlier user message
/// (of the last [`CONTEXT_LOOKBACK`]) that matches a topic on its own, so
/// "tell me more" after "is it worth it?" still finds what "it" was. Its
/// scores are added, at that weight, to the question's own. A question that
/// stands on its own is ranked alone: the conversation never drags a new
/// subject back to an old one.
///
/// The rule looks only at the question's shape and scores, never at words
/// of particular topics.
pub fn retrieve<'a>(kb: &'a KnowledgeBase, ctx: &ChatContext) -> Retrieval<'a> {
    let question = ctx.question();
    let own_query = Query::new(question);
    let own = kb.rank(&own_query);
    let context = context_weight(question, &own_query, &own)
        .and_then(|weight| Some((earlier_subject(kb, ctx)?, weight)));
    match context {
        Some((earlier, weight)) => Retrieval {
            hits: blend(&own, &earlier, weight),
            follow_up: true,
        },
        None => Retrieval {
            hits: own,
            follow_up: false,
        },
    }
}

/// How much the earlier subject counts for `question`; `None` when the
/// question stands on its own (see [`retrieve`]).
fn context_weight(question: &str, own_query: &Query, own: &[Hit<'_>]) -> Option<f64> {
    let terms = own_query.term_count();
    let weak = own.first().is_none_or(|h| h.score < MIN_SCORE);
    if terms == 0 || (terms <= REFERRING_QUESTION_TERMS && refers_back(question)) {
        Some(REFERENCE_WEIGHT)
    } else if terms <= SHORT_QUESTION_TERMS || weak {
        Some(CONTEXT_WEIGHT)
    } else {
        None
    }
}

fn refers_back(question: &str) -> bool {
    question
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .any(|w| REFERRING_WORDS.contains(&w))
}

/// The ranking of the nearest earlier user message that matches a topic on
/// its own.
fn earlier_subject<'a>(kb: &'a KnowledgeBase, ctx: &ChatContext) -> Option<Vec<Hit<'a>>> {
    ctx.history
        .iter()
        .rev()
        .filter(|t| t.role == Role::User)
        .skip(1)
        .take(CONTEXT_LOOKBACK)
        .map(|t| kb.search(&t.content))
        .find(|hits| hits.first().is_some_and(|h| h.score >= MIN_SCORE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Message;

    fn conversation(user_messages: &[&str]) -> ChatContext {
        let history = user_messages
            .iter()
            .flat_map(|m| {
                [
                    Message {
                        role: Role::User,
                        content: (*m).to_owned(),
                    },
                    Message {
                        role: Role::Assistant,
                        content: "(answer)".to_owned(),
                    },
                ]
            })
            .take(user_messages.len() * 2 - 1)
            .collect();
        ChatContext {
            user_name: "Ann".into(),
            history,
        }
    }

    fn best(messages: &[&str]) -> (String, bool) {
        let r = retrieve(KnowledgeBase::embedded(), &conversation(messages));
        let slug = r
            .best()
            .map_or("(none)", |h| h.topic.slug.as_str())
            .to_owned();
        (slug, r.follow_up)
    }

    #[test]
    fn a_question_that_stands_alone_ignores_the_conversation() {
        let (slug, follow_up) = best(&[
            "how do index funds work",
            "how does compound interest grow my savings over decades",
        ]);
        assert_eq!(slug, "compound-interest");
        assert!(!follow_up);
    }

    #[test]
    fn a_question_without_a_subject_borrows_the_earlier_one() {
        assert_eq!(
            best(&["what's a roth ira", "how does that work?"]).0,
            "ira-roth-ira"
        );
        assert_eq!(
            best(&["what is an hsa", "is it worth it?"]),
            ("hsa".into(), true)
        );
    }

    #[test]
    fn the_subject_survives_a_chain_of_follow_ups() {
        let (slug, _) = best(&[
            "what's a health savings account",
            "is it worth it?",
            "tell me more",
        ]);
        assert_eq!(slug, "hsa");
    }

    #[test]
    fn a_new_subject_in_a_short_question_wins_over_the_earlier_one() {
        assert_eq!(
            best(&["how do index funds work", "what about bonds?"]),
            ("bonds".into(), true)
        );
    }

    #[test]
    fn a_pronoun_stands_for_the_earlier_subject() {
        let (slug, follow_up) = best(&[
            "I have 40k in student loans",
            "should I pay them off faster?",
        ]);
        assert_eq!(slug, "student-loans");
        assert!(follow_up);
    }

    #[test]
    fn a_long_question_with_an_empty_it_stands_alone() {
        let question = "is it smart to pay off my mortgage early instead of investing?";
        let (slug, follow_up) = best(&["how do index funds work", question]);
        assert!(!follow_up);
        assert_ne!(slug, "index-funds");
        assert_eq!(best(&[question]).0, slug);
    }
}
