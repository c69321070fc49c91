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
    let rest = text.strip_prefix("---\n").ok_or_else(|| err("missing front matter"))?;
    let (front, body) = rest.split_once("\n---").ok_or_else(|| err("unterminated front matter"))?;
    let mut title = None;
    let mut keywords = Vec::new();
    let mut sources = Vec::new();
    for line in front.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once(':').ok_or_else(|| err("front matter line without ':'"))?;
        let value = value.trim();
        match key.trim() {
            "title" => title = Some(value.to_owned()),
            "keywords" => keywords = value.split(',').map(|k| k.trim().to_lowercase()).filter(|k| !k.is_empty()).collect(),
            "source" => {
                let (t, url) = value.split_once('|').ok_or_else(|| err("source needs 'title | url'"))?;
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
    let title = title.filter(|t| !t.is_empty()).ok_or_else(|| err("missing title"))?;
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
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can", "could", "do",
    "does", "doing", "for", "from", "get", "got", "had", "has", "have", "how", "i", "i'm", "if", "in", "into",
    "is", "it", "it's", "its", "just", "know", "like", "me", "more", "much", "my", "need", "of", "on", "one",
    "or", "our", "please", "really", "should", "so", "some", "tell", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "thing", "things", "this", "to", "up", "us", "use", "want", "was", "we",
    "were", "what", "what's", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    "good", "best", "way", "ways", "explain", "mean", "means", "work", "works", "okay", "ok", "hi", "hello",
    "hey", "thanks", "thank", "also", "too", "very", "all", "there's", "im", "whats", "dont", "don't", "should",
    "ive", "i've", "go", "going",
];

/// Words people type, mapped to the vocabulary the topics use.
const SYNONYMS: &[(&str, &str)] = &[
    ("bitcoin", "crypto"), ("btc", "crypto"), ("ethereum", "crypto"), ("eth", "crypto"),
    ("cryptocurrency", "crypto"), ("cryptocurrencies", "crypto"), ("coin", "crypto"), ("coins", "crypto"),
    ("dogecoin", "crypto"), ("nft", "crypto"), ("shares", "stock"), ("share", "stock"), ("equities", "stock"),
    ("equity", "stock"), ("treasuries", "bond"), ("treasury", "bond"), ("fixed-income", "bond"),
    ("retire", "retirement"), ("retiring", "retirement"), ("pension", "retirement"), ("nest", "retirement"),
    ("401", "401k"), ("403b", "401k"), ("roth", "ira"), ("reit", "reits"), ("landlord", "real"),
    ("property", "real"), ("rental", "real"), ("house", "home"), ("houses", "home"), ("fico", "credit"),
    ("score", "credit"), ("calls", "options"), ("puts", "options"), ("option", "options"), ("crash", "volatility"),
    ("crashes", "volatility"), ("dip", "volatility"), ("downturn", "volatility"), ("bear", "volatility"),
    ("drop", "volatility"), ("dropping", "volatility"), ("recession", "volatility"), ("budget", "budgeting"),
    ("spending", "budgeting"), ("paycheck", "budgeting"), ("50/30/20", "budgeting"), ("robo", "robo-advisor"),
    ("betterment", "robo-advisor"), ("wealthfront", "robo-advisor"), ("vanguard", "index"), ("s&p", "index"),
    ("sp500", "index"), ("etf", "etf"), ("etfs", "etf"), ("commission", "fee"), ("commissions", "fee"),
    ("debts", "debt"), ("loan", "debt"), ("loans", "debt"), ("owe", "debt"), ("rainy", "emergency"),
    ("cushion", "emergency"), ("prices", "inflation"), ("cpi", "inflation"), ("dca", "dollar-cost"),
    ("hsa", "hsa"), ("medical", "health"), ("dividend", "dividend"), ("yield", "dividend"),
];

fn stem(word: &str) -> String {
    let w = word;
    let strip = |suffix: &str, min: usize| -> Option<&str> {
        w.strip_suffix(suffix).filter(|s| s.chars().count() >= min)
    };
    if let Some(s) = strip("ies", 3) {
        return format!("{s}y");
    }
    for (suffix, min) in [("ing", 4), ("edly", 4), ("ed", 4), ("ly", 4), ("ment", 5), ("ness", 4), ("es", 4), ("s", 3)] {
        if suffix == "s" && (w.ends_with("ss") || w.ends_with("us") || w.ends_with("is")) {
            continue;
        }
        if let Some(s) = strip(suffix, min) {
            return s.to_owned();
        }
    }
    w.to_owned()
}

/// Lower-cases, splits, drops stop words, maps synonyms and stems.
pub fn terms(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase().replace("401(k)", "401k").replace("403(b)", "403b");
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
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(&w.as_str()))
        .map(|w| {
            let mapped = SYNONYMS.iter().find(|(from, _)| *from == w).map_or(w.as_str(), |(_, to)| *to);
            stem(mapped)
        })
        .collect()
}

const K1: f64 = 1.2;
const B: f64 = 0.75;
const TITLE_WEIGHT: f64 = 3.0;
const KEYWORD_WEIGHT: f64 = 2.5;
const PHRASE_BONUS: f64 = 2.0;

struct IndexedTopic {
    topic: Topic,
    /// Weighted term frequency over title, keywords and body.
    tf: HashMap<String, f64>,
    length: f64,
    /// Multi-word keyword phrases, lower-cased.
    phrases: Vec<String>,
}

pub struct KnowledgeBase {
    topics: Vec<IndexedTopic>,
    idf: HashMap<String, f64>,
    avg_length: f64,
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
                let mut tf: HashMap<String, f64> = HashMap::new();
                let mut add = |text: &str, weight: f64| {
                    for t in terms(text) {
                        *tf.entry(t).or_default() += weight;
                    }
                };
                add(&topic.title, TITLE_WEIGHT);
                add(&topic.slug.replace('-', " "), TITLE_WEIGHT);
                add(&topic.keywords.join(", "), KEYWORD_WEIGHT);
                add(&topic.paragraphs.join("\n"), 1.0);
                let length = tf.values().sum();
                let phrases = topic
                    .keywords
                    .iter()
                    .chain(std::iter::once(&topic.title.to_lowercase()))
                    .filter(|k| k.contains(' '))
                    .cloned()
                    .collect();
                IndexedTopic { topic, tf, length, phrases }
            })
            .collect();
        indexed.sort_by(|a, b| a.topic.slug.cmp(&b.topic.slug));
        let n = indexed.len() as f64;
        let mut df: HashMap<String, f64> = HashMap::new();
        for t in &indexed {
            for term in t.tf.keys() {
                *df.entry(term.clone()).or_default() += 1.0;
            }
        }
        let idf = df
            .into_iter()
            .map(|(term, df)| (term, ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
            .collect();
        let avg_length = if indexed.is_empty() {
            1.0
        } else {
            indexed.iter().map(|t| t.length).sum::<f64>() / n
        };
        Self { topics: indexed, idf, avg_length }
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
            let ts = terms(text);
            for t in ts {
                let w = query.entry(t).or_default();
                *w = w.max(*weight);
            }
        }
        let mut hits: Vec<Hit<'_>> = self
            .topics
            .iter()
            .map(|t| {
                let norm = K1 * (1.0 - B + B * t.length / self.avg_length);
                let mut score: f64 = query
                    .iter()
                    .filter_map(|(term, qw)| {
                        let tf = *t.tf.get(term)?;
                        let idf = self.idf.get(term).copied().unwrap_or(0.0);
                        Some(qw * idf * tf * (K1 + 1.0) / (tf + norm))
                    })
                    .sum();
                for (text, weight) in weighted_queries {
                    let lowered = text.to_lowercase();
                    if t.phrases.iter().any(|p| lowered.contains(p.as_str())) {
                        score += PHRASE_BONUS * weight;
                    }
                }
                Hit { topic: &t.topic, score }
            })
            .filter(|h| h.score > 0.0)
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.topic.slug.cmp(&b.topic.slug)));
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
