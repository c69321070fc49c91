//! Validated input values. A value of these types has passed the contract's
//! rules, so the service layer never re-checks them.

mod role;
mod status;

pub use role::Role;
pub use status::MessageStatus;

use crate::error::{AppError, FieldError};

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 256;
pub const NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 254;
pub const TITLE_MAX_CHARS: usize = 200;
pub const CONTENT_MAX_CHARS: usize = 8_000;

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

/// A trimmed, lower-cased email address of a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let bad = |msg: &str| Err(FieldError::new("email", msg));
        if email.is_empty() {
            return bad("must not be blank");
        }
        if email.chars().count() > EMAIL_MAX_CHARS {
            return bad("must be at most 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return bad("must be a valid email address");
        };
        let valid_local = !local.is_empty() && local.len() <= 64 && !local.contains('@');
        let valid_domain = domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
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

/// A person's display name: 1–100 characters after trimming.
#[derive(Debug, Clone)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("name", raw, NAME_MAX_CHARS, false).map(Self)
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
        bounded_text("title", raw, TITLE_MAX_CHARS, false).map(Self)
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
