//! The BM25 index over topics and its ranking.
//!
//! Two fields per topic: the head (title, slug and keywords: what the topic
//! is about, weighted [`HEAD_WEIGHT`] times) and the body. A whole keyword
//! phrase (or the title) appearing in the question adds [`PHRASE_BONUS`].

use std::collections::HashMap;

use super::parse::Topic;
use super::terms::terms;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// How much more a match in the title or keywords counts than one in the body.
const HEAD_WEIGHT: f64 = 2.0;
const PHRASE_BONUS: f64 = 2.0;
/// Term rarity is computed as if there were at least this many topics. An
/// operator's own knowledge base may hold a handful of topics, where BM25's
/// idf would make every term look common and every score fall under the
/// relevance threshold (calibrated on the built-in 39); a smaller base is
/// scored as if padded with topics about other things.
const MIN_TOPICS_FOR_IDF: usize = 30;

/// A question's terms, and its lower-cased text for phrase matches.
#[derive(Debug, Clone)]
pub struct Query {
    terms: Vec<String>,
    text: String,
}

impl Query {
    pub fn new(text: &str) -> Self {
        let mut terms = terms(text);
        terms.sort();
        terms.dedup();
        Self {
            terms,
            text: text.to_lowercase(),
        }
    }

    /// How many distinct terms the question has.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// How often the question's terms occur in a text whose terms are
    /// `found` ([`terms`]), each counted at most three times (a paragraph
    /// that dwells on a term is about it; one that repeats it endlessly is
    /// not more so).
    pub fn overlap(&self, found: &[String]) -> usize {
        const MAX_PER_TERM: usize = 3;
        self.terms
            .iter()
            .map(|t| found.iter().filter(|f| *f == t).count().min(MAX_PER_TERM))
            .sum()
    }
}

/// One field's bag of terms.
struct Field {
    tf: HashMap<String, f64>,
    length: f64,
}

impl Field {
    fn new(texts: &[&str]) -> Self {
        let mut tf: HashMap<String, f64> = HashMap::new();
        for text in texts {
            for t in terms(text) {
                *tf.entry(t).or_default() += 1.0;
            }
        }
        let length = tf.values().sum();
        Self { tf, length }
    }
}

/// BM25 statistics of one field across all topics.
struct FieldStats {
    idf: HashMap<String, f64>,
    avg_length: f64,
}

impl FieldStats {
    fn new<'a>(fields: impl Iterator<Item = &'a Field> + Clone) -> Self {
        let count = fields.clone().count();
        let n = count.max(MIN_TOPICS_FOR_IDF) as f64;
        let mut df: HashMap<String, f64> = HashMap::new();
        let mut total = 0.0;
        for f in fields {
            total += f.length;
            for term in f.tf.keys() {
                *df.entry(term.clone()).or_default() += 1.0;
            }
        }
        let idf = df
            .into_iter()
            .map(|(term, df)| (term, ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
            .collect();
        Self {
            idf,
            avg_length: (total / count.max(1) as f64).max(1.0),
        }
    }

    fn score(&self, field: &Field, query: &Query) -> f64 {
        let norm = K1 * (1.0 - B + B * field.length / self.avg_length);
        query
            .terms
            .iter()
            .filter_map(|term| {
                let tf = *field.tf.get(term)?;
                let idf = self.idf.get(term).copied().unwrap_or(0.0);
                Some(idf * tf * (K1 + 1.0) / (tf + norm))
            })
            .sum()
    }
}

struct IndexedTopic {
    topic: Topic,
    head: Field,
    body: Field,
    /// Multi-word keyword phrases and the title, lower-cased.
    phrases: Vec<String>,
    /// The terms of each paragraph, worked out once: grounding compares
    /// them with every question ([`KnowledgeBase::paragraph_terms`]).
    paragraph_terms: Vec<Vec<String>>,
}

impl IndexedTopic {
    fn new(topic: Topic) -> Self {
        let slug = topic.slug.replace('-', " ");
        let keywords = topic.keywords.join(", ");
        let head = Field::new(&[&topic.title, &slug, &keywords]);
        let body = Field::new(&[&topic.paragraphs.join("\n")]);
        let phrases = topic
            .keywords
            .iter()
            .cloned()
            .chain(std::iter::once(topic.title.to_lowercase()))
            .filter(|k| k.contains(' '))
            .collect();
        let paragraph_terms = topic.paragraphs.iter().map(|p| terms(p)).collect();
        Self {
            topic,
            head,
            body,
            phrases,
            paragraph_terms,
        }
    }
}

/// Topics and their index.
pub struct KnowledgeBase {
    /// Sorted by slug, so ties rank the same way on every run.
    topics: Vec<IndexedTopic>,
    head_stats: FieldStats,
    body_stats: FieldStats,
}

/// A ranked topic.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    pub topic: &'a Topic,
    pub score: f64,
}

impl KnowledgeBase {
    /// The terms of each of `topic`'s paragraphs, in order ([`terms`]);
    /// empty for a topic of another knowledge base.
    pub fn paragraph_terms(&self, topic: &Topic) -> &[Vec<String>] {
        self.topics
            .binary_search_by(|t| t.topic.slug.as_str().cmp(&topic.slug))
            .map_or(&[], |i| &self.topics[i].paragraph_terms)
    }

    pub fn new(topics: Vec<Topic>) -> Self {
        let mut indexed: Vec<IndexedTopic> = topics.into_iter().map(IndexedTopic::new).collect();
        indexed.sort_by(|a, b| a.topic.slug.cmp(&b.topic.slug));
        let head_stats = FieldStats::new(indexed.iter().map(|t| &t.head));
        let body_stats = FieldStats::new(indexed.iter().map(|t| &t.body));
        Self {
            topics: indexed,
            head_stats,
            body_stats,
        }
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().map(|t| &t.topic)
    }

    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Scores every topic for `query` and returns them best first, dropping
    /// topics that match nothing.
    pub fn rank(&self, query: &Query) -> Vec<Hit<'_>> {
        let hits = self.topics.iter().map(|t| Hit {
            topic: &t.topic,
            score: self.score(t, query),
        });
        best_first(hits.collect())
    }

    /// Ranks topics for one question on its own.
    pub fn search(&self, question: &str) -> Vec<Hit<'_>> {
        self.rank(&Query::new(question))
    }

    fn score(&self, topic: &IndexedTopic, query: &Query) -> f64 {
        let phrase = topic
            .phrases
            .iter()
            .any(|p| query.text.contains(p.as_str()));
        HEAD_WEIGHT * self.head_stats.score(&topic.head, query)
            + self.body_stats.score(&topic.body, query)
            + if phrase { PHRASE_BONUS } else { 0.0 }
    }
}

/// Adds `weight` times the scores of `more` to those of `hits` (rankings
/// of the same knowledge base) and ranks the sums.
pub fn blend<'a>(hits: &[Hit<'a>], more: &[Hit<'a>], weight: f64) -> Vec<Hit<'a>> {
    let mut blended = hits.to_vec();
    for extra in more {
        match blended
            .iter_mut()
            .find(|h| std::ptr::eq(h.topic, extra.topic))
        {
            Some(hit) => hit.score += weight * extra.score,
            None => blended.push(Hit {
                topic: extra.topic,
                score: weight * extra.score,
            }),
        }
    }
    best_first(blended)
}

/// Sorts best first (ties by slug, so every run ranks alike) and drops
/// topics that match nothing.
fn best_first(mut hits: Vec<Hit<'_>>) -> Vec<Hit<'_>> {
    hits.retain(|h| h.score > 0.0);
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.topic.slug.cmp(&b.topic.slug))
    });
    hits
}
