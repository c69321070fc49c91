//! The built-in knowledge base and its retrieval.
//!
//! Topics are `knowledge/*.md` files (front matter: `title`, `keywords`,
//! `source: title | url` lines; then paragraphs), embedded at build time.
//! Retrieval is BM25 over three fields (title and keywords weigh more than the
//! body), with a light stemmer, a synonym table for the words people actually
//! type, and a bonus when a whole keyword phrase appears in the question.

use std::collections::HashMap;
use std::sync::OnceLock;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/knowledge_files.rs"));
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub slug: String,
    pub title: String,
    pub keywords: Vec<String>,
    pub sources: Vec<Source>,
    pub paragraphs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("knowledge file {slug}: {reason}")]
pub struct ParseError {
    pub slug: String,
    pub reason: String,
}

/// Parses one topic file.
pub fn parse_topic(slug: &str, text: &str) -> Result<Topic, ParseError> {
    let err = |reason: &str| ParseError {
        slug: slug.to_owned(),
        reason: reason.to_owned(),
    };
    let text = text.replace("\r\n", "\n");
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| err("missing front matter"))?;
    let (front, body) = rest
        .split_once("\n---")
        .ok_or_else(|| err("unterminated front matter"))?;
    let mut title = None;
    let mut keywords = Vec::new();
    let mut sources = Vec::new();
    for line in front.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| err("front matter line without ':'"))?;
        let value = value.trim();
        match key.trim() {
            "title" => title = Some(value.to_owned()),
            "keywords" => {
                keywords = value
                    .split(',')
                    .map(|k| k.trim().to_lowercase())
                    .filter(|k| !k.is_empty())
                    .collect()
            }
            "source" => {
                let (t, url) = value
                    .split_once('|')
                    .ok_or_else(|| err("source needs 'title | url'"))?;
                sources.push(Source {
                    title: t.trim().to_owned(),
                    url: url.trim().to_owned(),
                });
            }
            _ => {}
        }
    }
    let paragraphs: Vec<String> = body
        .trim_start_matches('-')
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    let title = title
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err("missing title"))?;
    if paragraphs.is_empty() {
        return Err(err("empty body"));
    }
    Ok(Topic {
        slug: slug.to_owned(),
        title,
        keywords,
        sources,
        paragraphs,
    })
}

const STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "do", "does", "doing", "for", "from", "get", "got", "had", "has", "have", "how", "i",
    "i'm", "if", "in", "into", "is", "it", "it's", "its", "just", "know", "like", "me", "more",
    "much", "my", "need", "of", "on", "one", "or", "our", "please", "really", "should", "so",
    "some", "tell", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "thing", "things", "this", "to", "up", "us", "use", "want", "was", "we", "were", "what",
    "what's", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    "good", "best", "way", "ways", "explain", "mean", "means", "work", "works", "okay", "ok", "hi",
    "hello", "hey", "thanks", "thank", "also", "too", "very", "all", "there's", "im", "whats",
    "dont", "don't", "should", "ive", "i've", "go", "going",
];

/// Words people type, mapped to the vocabulary the topics use.
const SYNONYMS: &[(&str, &str)] = &[
    ("bitcoin", "crypto"),
    ("btc", "crypto"),
    ("ethereum", "crypto"),
    ("eth", "crypto"),
    ("cryptocurrency", "crypto"),
    ("cryptocurrencies", "crypto"),
    ("coin", "crypto"),
    ("coins", "crypto"),
    ("dogecoin", "crypto"),
    ("nft", "crypto"),
    ("shares", "stock"),
    ("share", "stock"),
    ("equities", "stock"),
    ("equity", "stock"),
    ("treasuries", "bond"),
    ("treasury", "bond"),
    ("fixed-income", "bond"),
    ("retire", "retirement"),
    ("retiring", "retirement"),
    ("pension", "retirement"),
    ("nest", "retirement"),
    ("401", "401k"),
    ("403b", "401k"),
    ("roth", "ira"),
    ("reit", "reits"),
    ("landlord", "real"),
    ("property", "real"),
    ("rental", "real"),
    ("house", "home"),
    ("houses", "home"),
    ("fico", "credit"),
    ("score", "credit"),
    ("calls", "options"),
    ("puts", "options"),
    ("option", "options"),
    ("crash", "volatility"),
    ("crashes", "volatility"),
    ("dip", "volatility"),
    ("downturn", "volatility"),
    ("bear", "volatility"),
    ("drop", "volatility"),
    ("dropping", "volatility"),
    ("recession", "volatility"),
    ("budget", "budgeting"),
    ("spending", "budgeting"),
    ("paycheck", "budgeting"),
    ("50/30/20", "budgeting"),
    ("robo", "robo-advisor"),
    ("betterment", "robo-advisor"),
    ("wealthfront", "robo-advisor"),
    ("vanguard", "index"),
    ("s&p", "index"),
    ("sp500", "index"),
    ("etf", "etf"),
    ("etfs", "etf"),
    ("commission", "fee"),
    ("commissions", "fee"),
    ("debts", "debt"),
    ("loan", "debt"),
    ("loans", "debt"),
    ("owe", "debt"),
    ("rainy", "emergency"),
    ("cushion", "emergency"),
    ("prices", "inflation"),
    ("cpi", "inflation"),
    ("dca", "dollar-cost"),
    ("hsa", "hsa"),
    ("medical", "health"),
    ("dividend", "dividend"),
    ("yield", "dividend"),
];

fn stem(word: &str) -> String {
    let strip = |w: &str, suffix: &str, min: usize| -> Option<String> {
        w.strip_suffix(suffix)
            .filter(|s| s.chars().count() >= min)
            .map(str::to_owned)
    };
    // Plurals first, then one derivational or inflectional suffix.
    let singular = if let Some(s) = strip(word, "ies", 3) {
        format!("{s}y")
    } else if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        word.to_owned()
    } else {
        strip(word, "es", 4)
            .filter(|s| s.ends_with(['x', 'z']) || s.ends_with("ch") || s.ends_with("sh"))
            .or_else(|| strip(word, "s", 3))
            .unwrap_or_else(|| word.to_owned())
    };
    for (suffix, min) in [
        ("ing", 4),
        ("edly", 4),
        ("ed", 4),
        ("ly", 4),
        ("ment", 5),
        ("ness", 4),
    ] {
        if let Some(s) = strip(&singular, suffix, min) {
            return s;
        }
    }
    singular
}

/// Single letters and one- or two-digit numbers carry no topic.
fn meaningful(word: &str) -> bool {
    let len = word.chars().count();
    len > 1 && (len > 2 || !word.chars().all(|c| c.is_ascii_digit()))
}

/// Lower-cases, splits, drops stop words, maps synonyms and stems.
pub fn terms(text: &str) -> Vec<String> {
    let lowered = text
        .to_lowercase()
        .replace("401(k)", "401k")
        .replace("403(b)", "403b");
    lowered
        .split(|c: char| !(c.is_alphanumeric() || c == '&' || c == '/' || c == '\'' || c == '-'))
        .flat_map(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            let mut out = vec![w.to_owned()];
            if w.contains('-') || w.contains('/') && !w.contains("50/30/20") {
                out.extend(w.split(['-', '/']).map(str::to_owned));
            }
            out
        })
        .filter(|w| meaningful(w) && !STOPWORDS.contains(&w.as_str()))
        .map(|w| {
            let mapped = SYNONYMS
                .iter()
                .find(|(from, _)| *from == w)
                .map_or(w.as_str(), |(_, to)| *to);
            stem(mapped)
        })
        .collect()
}

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// How much more a match in the title or keywords counts than one in the body.
const HEAD_WEIGHT: f64 = 2.0;
const PHRASE_BONUS: f64 = 2.0;

/// One field's bag of terms.
#[derive(Default)]
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
        let n = fields.clone().count().max(1) as f64;
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
            avg_length: (total / n).max(1.0),
        }
    }

    fn score(&self, field: &Field, query: &HashMap<String, f64>) -> f64 {
        let norm = K1 * (1.0 - B + B * field.length / self.avg_length);
        query
            .iter()
            .filter_map(|(term, weight)| {
                let tf = *field.tf.get(term)?;
                let idf = self.idf.get(term).copied().unwrap_or(0.0);
                Some(weight * idf * tf * (K1 + 1.0) / (tf + norm))
            })
            .sum()
    }
}

struct IndexedTopic {
    topic: Topic,
    /// Title, slug and keywords: what the topic is about.
    head: Field,
    body: Field,
    /// Multi-word keyword phrases, lower-cased.
    phrases: Vec<String>,
}

pub struct KnowledgeBase {
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
    pub fn new(topics: Vec<Topic>) -> Self {
        let mut indexed: Vec<IndexedTopic> = topics
            .into_iter()
            .map(|topic| {
                let slug = topic.slug.replace('-', " ");
                let keywords = topic.keywords.join(", ");
                let head = Field::new(&[&topic.title, &slug, &keywords]);
                let body = Field::new(&[&topic.paragraphs.join("\n")]);
                let phrases = topic
                    .keywords
                    .iter()
                    .chain(std::iter::once(&topic.title.to_lowercase()))
                    .filter(|k| k.contains(' '))
                    .cloned()
                    .collect();
                IndexedTopic {
                    topic,
                    head,
                    body,
                    phrases,
                }
            })
            .collect();
        indexed.sort_by(|a, b| a.topic.slug.cmp(&b.topic.slug));
        let head_stats = FieldStats::new(indexed.iter().map(|t| &t.head));
        let body_stats = FieldStats::new(indexed.iter().map(|t| &t.body));
        Self {
            topics: indexed,
            head_stats,
            body_stats,
        }
    }

    /// The knowledge base embedded in the binary.
    pub fn embedded() -> &'static KnowledgeBase {
        static KB: OnceLock<KnowledgeBase> = OnceLock::new();
        KB.get_or_init(|| {
            let topics = embedded::KNOWLEDGE_FILES
                .iter()
                .filter_map(|(slug, text)| match parse_topic(slug, text) {
                    Ok(topic) => Some(topic),
                    Err(e) => {
                        tracing::error!(error = %e, "skipping a knowledge file");
                        None
                    }
                })
                .collect();
            KnowledgeBase::new(topics)
        })
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

    /// Scores every topic for `weighted_queries` (text, weight) and returns
    /// them best first, dropping topics that match nothing.
    pub fn rank(&self, weighted_queries: &[(&str, f64)]) -> Vec<Hit<'_>> {
        let mut query: HashMap<String, f64> = HashMap::new();
        for (text, weight) in weighted_queries {
            for t in terms(text) {
                let w = query.entry(t).or_default();
                *w = w.max(*weight);
            }
        }
        let lowered: Vec<(String, f64)> = weighted_queries
            .iter()
            .map(|(text, weight)| (text.to_lowercase(), *weight))
            .collect();
        let mut hits: Vec<Hit<'_>> = self
            .topics
            .iter()
            .map(|t| {
                let mut score = HEAD_WEIGHT * self.head_stats.score(&t.head, &query)
                    + self.body_stats.score(&t.body, &query);
                for (text, weight) in &lowered {
                    if t.phrases.iter().any(|p| text.contains(p.as_str())) {
                        score += PHRASE_BONUS * weight;
                    }
                }
                Hit {
                    topic: &t.topic,
                    score,
                }
            })
            .filter(|h| h.score > 0.0)
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.topic.slug.cmp(&b.topic.slug))
        });
        hits
    }

    pub fn search(&self, question: &str) -> Vec<Hit<'_>> {
        self.rank(&[(question, 1.0)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_folds_common_forms() {
        assert_eq!(terms("Investing investments"), vec!["invest", "invest"]);
        assert_eq!(terms("what about bonds?"), vec!["bond"]);
        assert_eq!(terms("Is Bitcoin safe"), vec!["crypto", "safe"]);
    }

    #[test]
    fn parses_front_matter_and_paragraphs() {
        let t = parse_topic(
            "x",
            "---\ntitle: X\nkeywords: a b, c\nsource: S | https://e.org/x\n---\nOne\nline.\n\nTwo.\n",
        )
        .unwrap();
        assert_eq!(t.title, "X");
        assert_eq!(t.keywords, vec!["a b", "c"]);
        assert_eq!(t.sources[0].url, "https://e.org/x");
        assert_eq!(t.paragraphs, vec!["One line.", "Two."]);
    }
}
