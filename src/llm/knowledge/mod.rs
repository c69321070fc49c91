//! The built-in knowledge base: `knowledge/*.md` topics, embedded at build
//! time and indexed for retrieval.
//!
//! - `parse`: one file's text → a [`Topic`], or a [`ParseError`] naming the
//!   file and the problem (`build.rs` runs the same parser, so a malformed
//!   file fails the build);
//! - `terms`: the text analysis shared by topics and questions (stop words,
//!   a synonym table for the words people type, Snowball English stemming);
//! - `index`: BM25 over title+keywords and body, and ranking.

mod index;
mod parse;
mod terms;

use std::sync::OnceLock;

pub use index::{blend, Hit, KnowledgeBase, Query};
pub use parse::{parse_topic, Link, ParseError, Problem, Topic};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/knowledge_files.rs"));
}

impl KnowledgeBase {
    /// The knowledge base embedded in the binary. `build.rs` has checked every
    /// file with the same parser, so none is skipped here in practice.
    pub fn embedded() -> &'static KnowledgeBase {
        static KB: OnceLock<KnowledgeBase> = OnceLock::new();
        KB.get_or_init(|| {
            let topics = embedded::KNOWLEDGE_FILES
                .iter()
                .filter_map(|(file, text)| match parse_topic(file, text) {
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
}
