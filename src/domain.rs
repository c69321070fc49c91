//! Validated input values. A value of these types has passed the contract's
//! rules, so the service layer never re-checks them.

mod rating;
mod role;
mod status;
mod text_enum;

pub use rating::Rating;
pub use role::Role;
pub use status::MessageStatus;

use unicode_general_category::{get_general_category, GeneralCategory};
use unicode_normalization::UnicodeNormalization;

use crate::error::{AppError, FieldError};

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 256;
pub const NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 254;
pub const TITLE_MAX_CHARS: usize = 200;
pub const CONTENT_MAX_CHARS: usize = 8_000;
pub const FEEDBACK_COMMENT_MAX_CHARS: usize = 2_000;

/// Collects every broken rule of one request so the client sees them all at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// `Ok(())` when nothing was broken, else the 422.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}

/// NFKC (compatibility) normalisation folds characters that only look
/// different — fullwidth `ＡＮＮ`, ligatures, superscripts — into one form, so
/// two strings that read the same compare equal.
fn nfkc(raw: &str) -> String {
    raw.nfkc().collect()
}

/// Format characters (Unicode category Cf: zero-width spaces and joiners,
/// direction overrides such as U+202E, soft hyphens …) are invisible: text that
/// holds them looks like text that does not, or displays in another order.
fn has_format_characters(text: &str) -> bool {
    text.chars()
        .any(|c| get_general_category(c) == GeneralCategory::Format)
}

/// Letters of the Latin script beyond ASCII (Latin-1 Supplement, Extended-A
/// and -B, Extended Additional): `é`, `ß`, `ø`, `ł` … Greek and Cyrillic
/// letters are left out on purpose: many of them look exactly like Latin ones.
fn is_latin_letter(c: char) -> bool {
    matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
        && c != '\u{00D7}'
        && c != '\u{00F7}'
        && c.is_alphabetic()
}

/// A trimmed, lower-cased email address of a plausible shape, in NFKC form.
///
/// Lookalikes are one address or none: compatibility forms are folded (so
/// `ＡＮＮ@example.com` is `ann@example.com`), format characters are refused,
/// the domain is ASCII (an internationalised domain in its `xn--` form), and
/// the local part holds ASCII or Latin letters only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The form an email is stored and looked up in: NFKC, trimmed, lower-cased.
    pub fn normalise(raw: &str) -> String {
        nfkc(nfkc(raw).trim()).to_lowercase()
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = Self::normalise(raw);
        let bad = |msg: &str| Err(FieldError::new("email", msg));
        if email.is_empty() {
            return bad("must not be blank");
        }
        if email.chars().count() > EMAIL_MAX_CHARS {
            return bad("must be at most 254 characters");
        }
        if has_format_characters(&email) {
            return bad("must not contain invisible formatting characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return bad("must be a valid email address");
        };
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local.chars().all(|c| c.is_ascii() || is_latin_letter(c));
        let valid_domain = domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        let printable = email.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if valid_local && valid_domain && printable {
            Ok(Self(email))
        } else {
            bad("must be a valid email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8–256 characters. Every character counts: hashing pre-hashes
/// it so bcrypt's 72-byte limit cannot truncate it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub fn parse(raw: String) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(FieldError::new("password", "must be at least 8 characters"))
        } else if chars > PASSWORD_MAX_CHARS {
            Err(FieldError::new(
                "password",
                "must be at most 256 characters",
            ))
        } else {
            Ok(Self(raw))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Trims `raw` and checks it is 1..=max characters without control characters
/// (newlines and tabs allowed only where `multiline`).
fn bounded_text(field: &str, raw: &str, max: usize, multiline: bool) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    if text.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
    if !text.chars().all(allowed) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

/// A one-line label people read (a name, a title): NFKC-normalised, then
/// [`bounded_text`], and free of format characters, so two labels that look
/// the same are the same and none displays differently from what it holds.
fn display_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let text = bounded_text(field, &nfkc(raw), max, false)?;
    if has_format_characters(&text) {
        return Err(FieldError::new(
            field,
            "must not contain invisible formatting characters",
        ));
    }
    Ok(text)
}

/// A person's display name: 1–100 characters after trimming.
#[derive(Debug, Clone)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        display_text("name", raw, NAME_MAX_CHARS).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session title: 1–200 characters after trimming.
#[derive(Debug, Clone)]
pub struct SessionTitle(String);

impl SessionTitle {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        display_text("title", raw, TITLE_MAX_CHARS).map(Self)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What a user asks: 1–8,000 characters after trimming.
#[derive(Debug, Clone)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("content", raw, CONTENT_MAX_CHARS, true).map(Self)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A comment on a rating: at most 2,000 characters after trimming; a blank
/// comment is no comment.
#[derive(Debug, Clone)]
pub struct FeedbackComment(String);

impl FeedbackComment {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, FieldError> {
        match raw.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(text) => bounded_text("comment", text, FEEDBACK_COMMENT_MAX_CHARS, true)
                .map(|t| Some(Self(t))),
        }
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn implausible_emails_are_rejected() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a nn@example.com",
            "ann@exa mple.com",
            "ann@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn lookalike_emails_fold_into_one_or_are_refused() {
        // Fullwidth letters are the ASCII address.
        assert_eq!(
            Email::parse("ＡＮＮ@ｅｘａｍｐｌｅ.com").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "\u{200B}ann@example.com",
            "ann\u{200D}@example.com",
            "ann@example.com\u{202E}",
            "ann@ex\u{00AD}ample.com",
            "ann@ex\u{03B1}mple.com",    // Greek alpha
            "\u{0430}nn@example.com",    // Cyrillic a
            "ann@b\u{00FC}cher.example", // IDN not in xn-- form
            "ann\u{00D7}@example.com",   // ×
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        for good in [
            "jos\u{00E9}@example.com",
            "ann@xn--bcher-kva.example",
            "o'brien+tag@example.co.uk",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?} should be accepted");
        }
        assert_eq!(
            Email::parse("\u{0041}\u{030A}sa@example.com")
                .unwrap()
                .as_str(),
            "\u{00E5}sa@example.com",
            "composed"
        );
    }

    #[test]
    fn names_and_titles_are_normalised_and_free_of_format_characters() {
        assert_eq!(UserName::parse("Ａｎｎ").unwrap().as_str(), "Ann");
        for bad in ["\u{200B}", "Ann\u{202E}gnp.exe", "A\u{2060}nn", "\u{FEFF}"] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
            assert!(SessionTitle::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            SessionTitle::parse(" ﬁnance ").unwrap().into_inner(),
            "finance"
        );
        assert!(UserName::parse("Zoë Ólafsdóttir").is_ok());
        assert!(MessageContent::parse("keeps \u{200D} as sent").is_ok());
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        assert!(Password::parse("ééééééé".into()).is_err());
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("x".repeat(257)).is_err());
        assert!(Password::parse("x".repeat(256)).is_ok());
    }

    #[test]
    fn content_is_trimmed_and_bounded() {
        assert!(MessageContent::parse("   \n ").is_err());
        assert_eq!(MessageContent::parse("  hi\n ").unwrap().into_inner(), "hi");
        assert!(MessageContent::parse(&"a".repeat(8_001)).is_err());
        assert!(MessageContent::parse(&format!("  {}  ", "a".repeat(8_000))).is_ok());
    }
}
