//! The model's citation markers, renumbered.
//!
//! The model cites passages as `[2]` or `[1, 3]`. A marker whose numbers
//! all name a passage given is rewritten so that passages are numbered in
//! the order the reply first cites them: the first passage cited becomes
//! `[1]`, and the reply's sources are the cited passages in that order, so
//! `[n]` in the stored text is the n-th stored source. Anything else in
//! brackets (`[2024]`, `[see above]`, a number no passage has) is left as
//! it is.
//!
//! The rewriting works on pieces as they stream: text that might be the
//! start of a marker is held back until the marker closes or cannot be one.
//! The result does not depend on how the text is cut into pieces, so the
//! streamed pieces concatenate to exactly the text the reply stores.

use super::Passage;
use crate::llm::Source;

/// Longer bracketed text is not a marker.
const MAX_MARKER_CHARS: usize = 24;

/// Renumbers the markers of one reply.
#[derive(Debug)]
pub struct Citations {
    given: usize,
    /// Passage indices (0-based) in the order first cited.
    cited: Vec<usize>,
    pending: String,
}

/// What the text after an opening bracket is.
enum Marker {
    /// A marker ending at this byte offset (after `]`), with its numbers.
    Complete(usize, Vec<usize>),
    /// Could still become a marker: wait for more text.
    Open,
    /// Not a marker.
    Not,
}

impl Citations {
    /// For a reply that was given `given` passages.
    pub fn new(given: usize) -> Self {
        Self {
            given,
            cited: Vec::new(),
            pending: String::new(),
        }
    }

    /// Takes the next piece of the reply; returns the text that can be sent
    /// on (possibly empty while a marker is open).
    pub fn push(&mut self, piece: &str) -> String {
        self.pending.push_str(piece);
        let text = std::mem::take(&mut self.pending);
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(open) = rest.find('[') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match self.marker(after) {
                Marker::Complete(end, numbers) => {
                    out.push_str(&self.renumber(&numbers));
                    rest = &after[end..];
                }
                Marker::Open => {
                    self.pending = rest[open..].to_owned();
                    return out;
                }
                Marker::Not => {
                    out.push('[');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The end of the reply: returns what was still held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// The reply's sources: the cited passages in their new order, or every
    /// passage given when none was cited.
    pub fn sources(&self, passages: &[Passage]) -> Vec<Source> {
        if self.cited.is_empty() {
            passages.iter().map(Passage::source).collect()
        } else {
            self.cited
                .iter()
                .filter_map(|&i| passages.get(i))
                .map(Passage::source)
                .collect()
        }
    }

    /// Reads what follows a `[`.
    fn marker(&self, after: &str) -> Marker {
        for (i, c) in after.char_indices() {
            if i >= MAX_MARKER_CHARS {
                return Marker::Not;
            }
            match c {
                ']' => {
                    let numbers: Option<Vec<usize>> = after[..i]
                        .split(',')
                        .map(|n| n.trim().parse::<usize>().ok())
                        .collect();
                    return match numbers {
                        Some(numbers) if numbers.iter().all(|&n| (1..=self.given).contains(&n)) => {
                            Marker::Complete(i + 1, numbers)
                        }
                        _ => Marker::Not,
                    };
                }
                '0'..='9' | ',' | ' ' => {}
                _ => return Marker::Not,
            }
        }
        Marker::Open
    }

    fn renumber(&mut self, numbers: &[usize]) -> String {
        let renumbered: Vec<String> = numbers
            .iter()
            .map(|&n| {
                let index = n - 1;
                let position = match self.cited.iter().position(|&c| c == index) {
                    Some(p) => p,
                    None => {
                        self.cited.push(index);
                        self.cited.len() - 1
                    }
                };
                (position + 1).to_string()
            })
            .collect();
        format!("[{}]", renumbered.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(given: usize, text: &str) -> (String, Vec<usize>) {
        let mut c = Citations::new(given);
        let mut out = c.push(text);
        out.push_str(&c.finish());
        (out, c.cited)
    }

    #[test]
    fn markers_are_renumbered_in_order_of_first_citation() {
        let (text, cited) = whole(3, "Keep cash [3]. Also [1,3] and [3].");
        assert_eq!(text, "Keep cash [1]. Also [2, 1] and [1].");
        assert_eq!(cited, vec![2, 0]);
    }

    #[test]
    fn brackets_that_are_not_markers_stay_as_they_are() {
        let text = "In [2024] see [notes], [4], [], [ ], [1 2] and a [ at the end";
        assert_eq!(whole(3, text), (text.to_owned(), vec![]));
        assert_eq!(whole(0, "cite [1]"), ("cite [1]".to_owned(), vec![]));
    }

    #[test]
    fn any_cut_into_pieces_gives_the_same_text() {
        let text = "Start [2] then [[1]] and [1, 2], [12345678901234567890123456] [2";
        let (expected, cited) = whole(2, text);
        assert_eq!(
            expected,
            "Start [1] then [[2]] and [2, 1], [12345678901234567890123456] [2"
        );
        let chars: Vec<char> = text.chars().collect();
        for size in 1..8 {
            let mut c = Citations::new(2);
            let mut out = String::new();
            for piece in chars.chunks(size) {
                out.push_str(&c.push(&piece.iter().collect::<String>()));
            }
            out.push_str(&c.finish());
            assert_eq!(out, expected, "pieces of {size}");
            assert_eq!(c.cited, cited);
        }
    }

    #[test]
    fn sources_are_the_cited_passages_or_all_of_them() {
        let passages: Vec<Passage> = ["A", "B", "C"]
            .iter()
            .map(|t| Passage {
                title: (*t).into(),
                url: format!("https://e.org/{t}"),
                text: format!("text {t}"),
            })
            .collect();
        let mut c = Citations::new(3);
        c.push("no markers");
        let all: Vec<String> = c.sources(&passages).into_iter().map(|s| s.title).collect();
        assert_eq!(all, ["A", "B", "C"]);
        c.push(" but [3] then [2]");
        let cited: Vec<String> = c.sources(&passages).into_iter().map(|s| s.title).collect();
        assert_eq!(cited, ["C", "B"]);
    }
}
