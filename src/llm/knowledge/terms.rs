//! Text to index terms: the same analysis for topics and questions, so that
//! "Investing", "investments" and "invest" meet on one term.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Words that say nothing about the topic of a finance question.
const STOPWORDS: &[&str] = &[
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "best",
    "but", "by", "can", "could", "do", "does", "doing", "dont", "don't", "explain", "for", "from",
    "get", "go", "going", "good", "got", "had", "has", "have", "hello", "hey", "hi", "how", "i",
    "i'm", "i've", "if", "im", "in", "into", "is", "it", "it's", "its", "ive", "just", "know",
    "like", "many", "me", "mean", "means", "more", "much", "my", "need", "of", "ok", "okay", "on",
    "one", "or", "our", "please", "really", "should", "so", "some", "tell", "than", "thank",
    "thanks", "that", "the", "their", "them", "then", "there", "there's", "these", "they", "thing",
    "things", "this", "to", "too", "up", "us", "use", "very", "want", "was", "way", "ways", "we",
    "were", "what", "what's", "whats", "when", "where", "which", "who", "why", "will", "with",
    "work", "works", "would", "you", "your",
];

/// Words people type, mapped to the vocabulary the topics use. Matched on
/// the word as typed (so "puts" maps but "put" does not); the target is
/// stemmed like any other word.
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
    ("pension", "retirement"),
    ("nest", "retirement"),
    ("401", "401k"),
    ("403b", "401k"),
    ("roth", "ira"),
    ("landlord", "real"),
    ("property", "real"),
    ("rental", "real"),
    ("house", "home"),
    ("houses", "home"),
    ("fico", "credit"),
    ("score", "credit"),
    ("calls", "options"),
    ("puts", "options"),
    ("crash", "volatility"),
    ("crashes", "volatility"),
    ("dip", "volatility"),
    ("downturn", "volatility"),
    ("bear", "volatility"),
    ("drop", "volatility"),
    ("dropping", "volatility"),
    ("recession", "volatility"),
    ("spending", "budgeting"),
    ("paycheck", "budgeting"),
    ("50/30/20", "budgeting"),
    ("robo", "robo-advisor"),
    ("betterment", "robo-advisor"),
    ("wealthfront", "robo-advisor"),
    ("vanguard", "index"),
    ("s&p", "index"),
    ("sp500", "index"),
    ("commission", "fee"),
    ("commissions", "fee"),
    ("loan", "debt"),
    ("loans", "debt"),
    ("owe", "debt"),
    ("rainy", "emergency"),
    ("cushion", "emergency"),
    ("prices", "inflation"),
    ("cpi", "inflation"),
    ("dca", "dollar-cost"),
    ("medical", "health"),
    ("yield", "dividend"),
];

struct Analyzer {
    stemmer: Stemmer,
    stopwords: HashSet<&'static str>,
    synonyms: HashMap<&'static str, &'static str>,
}

impl Analyzer {
    fn new() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
            stopwords: STOPWORDS.iter().copied().collect(),
            synonyms: SYNONYMS.iter().copied().collect(),
        }
    }

    fn term(&self, word: &str) -> String {
        let word = self.synonyms.get(word).copied().unwrap_or(word);
        self.stemmer.stem(word).into_owned()
    }
}

static ANALYZER: LazyLock<Analyzer> = LazyLock::new(Analyzer::new);

/// Single letters and one- or two-digit numbers carry no topic.
fn meaningful(word: &str) -> bool {
    let len = word.chars().count();
    len > 1 && (len > 2 || !word.chars().all(|c| c.is_ascii_digit()))
}

/// Lower-cases, splits into words (a hyphenated or slashed word also counts
/// as its parts), drops stop words, stems (Snowball English) and maps
/// synonyms.
pub fn terms(text: &str) -> Vec<String> {
    let analyzer = &*ANALYZER;
    let lowered = text
        .to_lowercase()
        .replace("401(k)", "401k")
        .replace("403(b)", "403b");
    lowered
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '&' | '/' | '\'' | '-')))
        .flat_map(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            let parts = (w.contains(['-', '/']) && w != "50/30/20")
                .then(|| w.split(['-', '/']))
                .into_iter()
                .flatten();
            std::iter::once(w).chain(parts)
        })
        .filter(|w| meaningful(w) && !analyzer.stopwords.contains(w))
        .map(|w| analyzer.term(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_folds_common_forms() {
        assert_eq!(terms("Investing investments"), vec!["invest", "invest"]);
        assert_eq!(terms("what about bonds?"), vec!["bond"]);
        assert_eq!(terms("Is Bitcoin safe"), vec!["crypto", "safe"]);
        assert_eq!(
            terms("retire retiring retirement"),
            terms("retirement ".repeat(3).as_str())
        );
    }

    #[test]
    fn synonyms_map_typed_words_and_hyphenated_words_count_as_parts() {
        assert_eq!(terms("coins"), terms("crypto"));
        assert_eq!(terms("puts"), vec!["option"]);
        assert_eq!(terms("put it"), vec!["put"]);
        assert_eq!(
            terms("robo-advisors"),
            vec!["robo-advisor", "robo-advisor", "advisor"]
        );
        assert_eq!(terms("the 50/30/20 rule"), vec!["budget", "rule"]);
    }

    #[test]
    fn the_stop_word_list_has_no_duplicates() {
        let unique: HashSet<_> = STOPWORDS.iter().collect();
        assert_eq!(unique.len(), STOPWORDS.len());
    }
}
