//! Grounding a provider's reply in the knowledge base.
//!
//! Before the provider is asked, the message is matched against the
//! knowledge base with the offline responder's retrieval (so follow-ups
//! borrow the earlier subject the same way); the best passages, within a
//! character budget, go into the system message as numbered reference
//! material (`select`). The model is asked to cite them as `[n]`; its
//! markers are renumbered to the order of first citation and the reply's
//! sources become the cited passages in that order, or every passage given
//! when it cites none (`cite`).

mod cite;
mod select;

pub use cite::Citations;
pub use select::{select, MAX_PASSAGES, RELATED_SHARE};

use super::Source;

/// A part of one topic given to the model as reference material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The topic's title.
    pub title: String,
    /// The topic's first (primary) source.
    pub url: String,
    /// The paragraphs given, in the topic's order, separated by blank lines.
    pub text: String,
}

impl Passage {
    /// The passage as a reply's source: the guide's title, its reference
    /// URL, and the text the model was given as the snippet.
    pub fn source(&self) -> Source {
        Source {
            title: self.title.clone(),
            url: self.url.clone(),
            snippet: self.text.clone(),
        }
    }
}

/// The passages as the model sees them: `[n] Title`, then the text; the
/// budget counts the characters of exactly this.
pub fn render(passages: &[Passage]) -> String {
    passages
        .iter()
        .enumerate()
        .map(|(i, p)| format!("[{}] {}\n{}", i + 1, p.title, p.text))
        .collect::<Vec<_>>()
        .join("\n\n")
}
