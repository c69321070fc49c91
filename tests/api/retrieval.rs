//! Retrieval quality of the offline responder, on questions phrased the way
//! people ask them (tests/fixtures/retrieval_questions.tsv).

use richesreach_chat::llm::knowledge::KnowledgeBase;
use richesreach_chat::llm::offline::OfflineResponder;
use richesreach_chat::llm::{ChatContext, Role, Turn};

const CASES: &str = include_str!("../fixtures/retrieval_questions.tsv");
const REQUIRED_HIT_RATE: f64 = 0.9;

#[test]
fn the_right_topic_ranks_first_for_at_least_90_percent_of_questions() {
    let responder = OfflineResponder::default();
    let mut total = 0;
    let mut misses = Vec::new();
    for line in CASES.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (expected, question) = (cols[0], cols[1]);
        let mut history = Vec::new();
        if let Some(previous) = cols.get(2) {
            history.push(Turn {
                role: Role::User,
                content: (*previous).to_owned(),
            });
            history.push(Turn {
                role: Role::Assistant,
                content: "(earlier answer)".to_owned(),
            });
        }
        history.push(Turn {
            role: Role::User,
            content: question.to_owned(),
        });
        let ctx = ChatContext {
            user_name: "Ann".into(),
            history,
        };
        let hits = responder.retrieve(&ctx);
        total += 1;
        let got = hits.first().map_or("(nothing)", |h| h.topic.slug.as_str());
        if got != expected {
            misses.push(format!(
                "  {question:?} (after {:?}): expected {expected}, got {got}",
                cols.get(2)
            ));
        }
    }
    let rate = (total - misses.len()) as f64 / total as f64;
    println!(
        "retrieval hit rate: {}/{} = {:.1}%\n{}",
        total - misses.len(),
        total,
        rate * 100.0,
        misses.join("\n")
    );
    assert!(total >= 40, "at least 40 cases");
    assert!(
        rate >= REQUIRED_HIT_RATE,
        "hit rate {:.1}% is under 90%:\n{}",
        rate * 100.0,
        misses.join("\n")
    );
}

#[test]
fn the_knowledge_base_has_30_topics_each_with_an_https_source() {
    let kb = KnowledgeBase::embedded();
    assert!(kb.len() >= 30, "{} topics", kb.len());
    for topic in kb.topics() {
        assert!(!topic.sources.is_empty(), "{} has a source", topic.slug);
        for s in &topic.sources {
            assert!(s.url.starts_with("https://"), "{}: {}", topic.slug, s.url);
            assert!(!s.title.is_empty());
        }
        assert!(topic.paragraphs.len() >= 2, "{} has a body", topic.slug);
    }
}

#[test]
fn unrelated_questions_match_nothing_and_say_so() {
    let responder = OfflineResponder::default();
    let ctx = ChatContext {
        user_name: "Ann".into(),
        history: vec![Turn {
            role: Role::User,
            content: "what's the best pizza topping in naples?".into(),
        }],
    };
    let reply = responder.answer(&ctx);
    assert!(reply.sources.is_empty());
    assert!(reply.confidence <= 0.2, "{}", reply.confidence);
    assert!(reply.content.contains("offline"));
    assert!(reply.content.contains("can help with"));
}

#[test]
fn greetings_and_thanks_get_a_friendly_answer_with_the_name() {
    let responder = OfflineResponder::default();
    let ctx = |q: &str| ChatContext {
        user_name: "Ann Lee".into(),
        history: vec![Turn {
            role: Role::User,
            content: q.into(),
        }],
    };
    let hello = responder.answer(&ctx("hello!"));
    assert!(hello.content.starts_with("Hi Ann!"));
    assert!(hello.content.contains("offline"));
    let thanks = responder.answer(&ctx("thanks so much"));
    assert!(thanks.content.contains("welcome"));
}

#[test]
fn a_good_match_is_confident_and_cited() {
    let responder = OfflineResponder::default();
    let ctx = ChatContext {
        user_name: "Ann".into(),
        history: vec![Turn {
            role: Role::User,
            content: "How big should my emergency fund be?".into(),
        }],
    };
    let reply = responder.answer(&ctx);
    assert!(reply.confidence >= 0.5, "{}", reply.confidence);
    assert!(reply.fallback);
    assert_eq!(reply.model, "fallback");
    assert!(!reply.sources.is_empty());
    assert!(reply.content.contains("not personal investment advice"));
}
