//! Replies being written by this process, for followers on this process: a
//! speed-up, never the truth. A follower that finds no entry here (the reply
//! is written by another process) follows the stored text instead, and both
//! give the same characters, because the text only grows and positions are
//! counted in characters of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::messages::MessageWithSources;

/// The text a writer has produced so far, piece by piece.
#[derive(Debug, Default)]
pub struct LiveText {
    text: String,
    /// Where each piece ends: (characters, bytes).
    ends: Vec<(usize, usize)>,
    chars: usize,
    /// The writer is done with the reply (its final state is stored).
    pub finished: bool,
    /// The reply as the writer stored it when it completed it (`None` when
    /// it was stopped, handed over or lost): followers here answer with it
    /// instead of reading it back.
    pub stored: Option<Arc<MessageWithSources>>,
}

impl LiveText {
    fn push(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.text.push_str(piece);
        self.chars += piece.chars().count();
        self.ends.push((self.chars, self.text.len()));
    }

    /// The pieces after character `from`, each as it was written (the first
    /// cut at `from` when it falls inside it).
    pub fn pieces_after(&self, from: usize) -> Vec<String> {
        let mut out = Vec::new();
        let (mut start_chars, mut start_bytes) = (0, 0);
        for &(end_chars, end_bytes) in &self.ends {
            if end_chars > from {
                let from_byte = if from <= start_chars {
                    start_bytes
                } else {
                    self.text[start_bytes..end_bytes]
                        .char_indices()
                        .nth(from - start_chars)
                        .map_or(end_bytes, |(i, _)| start_bytes + i)
                };
                out.push(self.text[from_byte..end_bytes].to_owned());
            }
            (start_chars, start_bytes) = (end_chars, end_bytes);
        }
        out
    }
}

/// Reply id → its live text.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<String, watch::Receiver<LiveText>>>>);

impl Registry {
    fn map(&self) -> MutexGuard<'_, HashMap<String, watch::Receiver<LiveText>>> {
        // A panic elsewhere cannot leave the map half-updated: use it anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Announces that this process writes `id`, starting from `prefix`.
    pub fn open(&self, id: &str, prefix: &str) -> LiveWriter {
        let mut text = LiveText::default();
        text.push(prefix);
        let (sender, receiver) = watch::channel(text);
        self.map().insert(id.to_owned(), receiver);
        LiveWriter {
            sender,
            registry: self.clone(),
            id: id.to_owned(),
        }
    }

    pub fn subscribe(&self, id: &str) -> Option<watch::Receiver<LiveText>> {
        self.map().get(id).cloned()
    }
}

/// The writer's side. Dropping it marks the text finished and removes the
/// entry, so followers go to the stored reply for its final state.
pub struct LiveWriter {
    sender: watch::Sender<LiveText>,
    registry: Registry,
    id: String,
}

impl LiveWriter {
    pub fn push(&self, piece: &str) {
        self.sender.send_modify(|t| t.push(piece));
    }

    /// Ends the text with the reply as stored, complete.
    pub fn complete(self, stored: MessageWithSources) {
        self.sender.send_modify(|t| {
            t.stored = Some(Arc::new(stored));
            t.finished = true;
        });
    }
}

impl Drop for LiveWriter {
    fn drop(&mut self) {
        self.registry.map().remove(&self.id);
        self.sender.send_modify(|t| t.finished = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_after_a_position_cut_the_first_piece_at_it() {
        let mut t = LiveText::default();
        for p in ["héllo ", "wörld", "!"] {
            t.push(p);
        }
        assert_eq!(t.pieces_after(0), vec!["héllo ", "wörld", "!"]);
        assert_eq!(t.pieces_after(8), vec!["rld", "!"]);
        assert_eq!(t.pieces_after(6), vec!["wörld", "!"]);
        assert!(t.pieces_after(12).is_empty());
    }
}
