//! What kind of message the offline responder is answering.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Greeting,
    Thanks,
    Question,
}

const GREETING_WORDS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "good",
    "morning",
    "afternoon",
    "evening",
    "there",
    "howdy",
    "greetings",
    "sup",
];
const THANKS_WORDS: &[&str] = &[
    "thanks", "thank", "you", "thx", "ty", "so", "much", "great", "cool", "awesome", "ok", "okay",
    "perfect", "helpful", "that's", "that", "was", "very", "a", "lot", "cheers",
];
/// Words that make a message a thank-you; the rest of [`THANKS_WORDS`] may
/// only accompany them ("great, thanks").
const THANKING: &[&str] = &["thanks", "thank", "thx", "ty", "cheers"];

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A message made only of greeting words is a greeting, one made only of
/// thank-you words (with at least one thanks) is thanks; anything else is a
/// question.
pub fn intent(message: &str) -> Intent {
    let words = words(message);
    let all_in =
        |set: &[&str]| !words.is_empty() && words.iter().all(|w| set.contains(&w.as_str()));
    if all_in(GREETING_WORDS) {
        Intent::Greeting
    } else if all_in(THANKS_WORDS) && words.iter().any(|w| THANKING.contains(&w.as_str())) {
        Intent::Thanks
    } else {
        Intent::Question
    }
}

/// "Should I buy …?": the reply says it cannot tell them what to buy.
pub fn asks_for_personal_advice(question: &str) -> bool {
    let q = question.to_lowercase();
    [
        "should i buy",
        "should i sell",
        "should i invest",
        "what should i invest",
        "what should i buy",
        "which stock",
        "what stock",
        "tell me what to buy",
        "is it a good time to",
    ]
    .iter()
    .any(|p| q.contains(p))
}

/// "Tell me more", "can you elaborate?": the reply gives the whole guide.
pub fn asks_for_more(question: &str) -> bool {
    words(question)
        .iter()
        .any(|w| matches!(w.as_str(), "more" | "elaborate" | "detail" | "details"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_and_thanks_are_recognised() {
        assert_eq!(intent("Hello!"), Intent::Greeting);
        assert_eq!(intent("good morning"), Intent::Greeting);
        assert_eq!(intent("thanks, that was helpful"), Intent::Thanks);
        assert_eq!(intent("great, cool"), Intent::Question);
        assert_eq!(intent("hello, what is an ETF?"), Intent::Question);
    }

    #[test]
    fn requests_for_more_are_recognised() {
        assert!(asks_for_more("tell me more"));
        assert!(asks_for_more("Can you go into more detail?"));
        assert!(!asks_for_more("what about bonds?"));
    }
}
