//! Session titles: asked of the provider when one is healthy, else derived
//! from the first user message.

pub const TITLE_PROMPT: &str = "Write a short title, at most 6 words, for a conversation that \
starts with the user's message below. Answer with the title only: no quotes, no trailing \
punctuation.";

pub const TITLE_MAX_CHARS: usize = 60;
const MODEL_TITLE_MAX_WORDS: usize = 6;

/// Trims `text` to at most `max` characters, at a word boundary when possible.
fn truncate_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let trimmed = match cut.rfind(' ') {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", trimmed.trim_end_matches([' ', ',', ';', ':', '-']))
}

/// A title from the first message: the matched topic's title when there is
/// one, else the message's first words (at most 60 characters).
pub fn heuristic_title(first_message: &str, topic_title: Option<&str>) -> String {
    if let Some(title) = topic_title {
        return truncate_words(title, TITLE_MAX_CHARS);
    }
    let words = first_message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let words = words.trim_end_matches(['?', '!', '.', ' ']);
    let mut chars = words.chars();
    let capitalised: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "New conversation".to_owned(),
    };
    truncate_words(&capitalised, TITLE_MAX_CHARS)
}

/// Cleans what a model answered to a title request: first line, no quotes or
/// trailing punctuation, at most 6 words and 60 characters.
pub fn clean_model_title(raw: &str) -> Option<String> {
    // A model's output obeys the rules a user's title does: no control or
    // invisible format characters (zero-width spaces, bidi overrides).
    let visible: String = raw
        .chars()
        .filter(|&c| {
            c == '\n'
                || !(c.is_control()
                    || unicode_general_category::get_general_category(c)
                        == unicode_general_category::GeneralCategory::Format)
        })
        .collect();
    let line = visible.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_start_matches(|c: char| c == '#' || c == '*' || c.is_whitespace())
        .trim_start_matches("Title:")
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '“' | '”' | '*' | '`'))
        .trim_end_matches(['.', '!', '?', ':'])
        .trim();
    let words: Vec<&str> = line
        .split_whitespace()
        .take(MODEL_TITLE_MAX_WORDS)
        .collect();
    let title = truncate_words(&words.join(" "), TITLE_MAX_CHARS);
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_titles_lose_invisible_characters() {
        assert_eq!(
            clean_model_title("Bud\u{200B}get\u{202E} plan").as_deref(),
            Some("Budget plan")
        );
    }

    #[test]
    fn heuristic_prefers_the_topic() {
        assert_eq!(
            heuristic_title("is bitcoin safe?", Some("Crypto risk")),
            "Crypto risk"
        );
        assert_eq!(
            heuristic_title("  where do i   begin?", None),
            "Where do i begin"
        );
        let long = heuristic_title(&"word ".repeat(40), None);
        assert!(long.chars().count() <= TITLE_MAX_CHARS + 1, "{long}");
    }

    #[test]
    fn model_titles_are_cleaned() {
        assert_eq!(
            clean_model_title("\"Saving For Retirement Early.\"\n").as_deref(),
            Some("Saving For Retirement Early")
        );
        assert_eq!(
            clean_model_title("Title: one two three four five six seven").as_deref(),
            Some("one two three four five six")
        );
        assert_eq!(clean_model_title("   \n "), None);
    }
}
