//! The knowledge base: the built-in `knowledge/*.md` topics (embedded at
//! build time) and, optionally, an operator's folder of topics in the same
//! format (`KNOWLEDGE_DIR`, read once at start), indexed for retrieval.
//!
//! - `parse`: one file's text → a [`Topic`], or a [`ParseError`] naming the
//!   file and the problem (`build.rs` runs the same parser, so a malformed
//!   built-in file fails the build; `folder` runs it over an operator's
//!   folder, so a malformed file there fails the start);
//! - `folder`: reading and checking an operator's folder;
//! - `terms`: the text analysis shared by topics and questions (stop words,
//!   a synonym table for the words people type, Snowball English stemming);
//! - `index`: BM25 over title+keywords and body, and ranking.

mod folder;
mod index;
mod parse;
mod terms;

use std::path::Path;
use std::sync::{Arc, OnceLock};

pub use folder::{check_folder, FolderError, FolderReport};
pub use index::{blend, Hit, KnowledgeBase, Query};
pub use parse::{parse_topic, Link, ParseError, Problem, Topic};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/knowledge_files.rs"));
}

/// How an operator's folder combines with the built-in topics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KnowledgeMode {
    /// The folder's topics are added to the built-in ones; a file named like
    /// a built-in topic (e.g. `fees.md`) replaces it.
    #[default]
    Extend,
    /// Only the folder's topics are used.
    Replace,
}

impl std::str::FromStr for KnowledgeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "extend" => Ok(Self::Extend),
            "replace" => Ok(Self::Replace),
            _ => Err("expected extend or replace".to_owned()),
        }
    }
}

impl KnowledgeBase {
    /// The knowledge base embedded in the binary. `build.rs` has checked every
    /// file with the same parser, so none is skipped here in practice.
    pub fn embedded() -> &'static KnowledgeBase {
        Self::embedded_shared().as_ref()
    }

    /// The embedded knowledge base, shareable with the assistant.
    pub fn embedded_shared() -> &'static Arc<KnowledgeBase> {
        static KB: OnceLock<Arc<KnowledgeBase>> = OnceLock::new();
        KB.get_or_init(|| Arc::new(KnowledgeBase::new(builtin_topics())))
    }

    /// The built-in topics, extended or replaced by those of `folder`. Every
    /// `.md` file of the folder must parse: the error names each file that
    /// does not, and why.
    pub fn load(
        folder: Option<&Path>,
        mode: KnowledgeMode,
    ) -> Result<Arc<KnowledgeBase>, FolderError> {
        let Some(folder) = folder else {
            return Ok(Arc::clone(Self::embedded_shared()));
        };
        let report = check_folder(folder)?;
        let added = report.into_topics()?;
        let mut topics = match mode {
            KnowledgeMode::Extend => builtin_topics(),
            KnowledgeMode::Replace => Vec::new(),
        };
        for topic in added {
            if let Some(builtin) = topics.iter_mut().find(|t| t.slug == topic.slug) {
                tracing::info!(slug = %topic.slug, "a KNOWLEDGE_DIR topic replaces the built-in one");
                *builtin = topic;
            } else {
                topics.push(topic);
            }
        }
        Ok(Arc::new(KnowledgeBase::new(topics)))
    }
}

fn builtin_topics() -> Vec<Topic> {
    embedded::KNOWLEDGE_FILES
        .iter()
        .filter_map(|(file, text)| match parse_topic(file, text) {
            Ok(topic) => Some(topic),
            Err(e) => {
                tracing::error!(error = %e, "skipping a knowledge file");
                None
            }
        })
        .collect()
}
