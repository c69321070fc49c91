//! Parses one knowledge file into a [`Topic`].
//!
//! A topic file is Markdown with front matter:
//!
//! ```text
//! ---
//! title: Emergency fund
//! keywords: rainy day fund, job loss, 3 to 6 months of expenses
//! source: Building an emergency fund | https://www.consumerfinance.gov/…
//! ---
//! First paragraph.
//!
//! Second paragraph.
//! ```
//!
//! `title` (once) and at least one `source: title | https://url` are
//! required, `keywords` (at most once) is optional; paragraphs are separated
//! by blank lines. The same rules serve the embedded topics (checked by
//! `build.rs`, so a malformed file fails the build) and, later, folders an
//! operator supplies at run time. That is why this file depends on `std`
//! only: `build.rs` includes it with `#[path]`.

use std::fmt;

/// A document a topic cites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// One parsed knowledge file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The file name without `.md`.
    pub slug: String,
    pub title: String,
    /// Lower-cased; a keyword may be a phrase.
    pub keywords: Vec<String>,
    pub sources: Vec<Link>,
    /// Each with its whitespace collapsed to single spaces.
    pub paragraphs: Vec<String>,
}

/// What is wrong with a knowledge file. Line numbers count from 1, over the
/// whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NotMarkdownFile,
    MissingFrontMatter,
    UnterminatedFrontMatter,
    NotKeyValue { line: usize },
    UnknownKey { line: usize, key: String },
    RepeatedKey { line: usize, key: &'static str },
    EmptyValue { line: usize, key: &'static str },
    SourceWithoutUrl { line: usize },
    SourceUrlNotHttps { line: usize, url: String },
    MissingTitle,
    MissingSource,
    EmptyBody,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMarkdownFile => write!(f, "the file name must end in .md"),
            Self::MissingFrontMatter => {
                write!(f, "the file must start with a '---' front matter line")
            }
            Self::UnterminatedFrontMatter => {
                write!(f, "the front matter has no closing '---' line")
            }
            Self::NotKeyValue { line } => {
                write!(f, "line {line}: expected 'key: value' in the front matter")
            }
            Self::UnknownKey { line, key } => write!(
                f,
                "line {line}: unknown key {key:?} (expected title, keywords or source)"
            ),
            Self::RepeatedKey { line, key } => {
                write!(f, "line {line}: {key} is given more than once")
            }
            Self::EmptyValue { line, key } => write!(f, "line {line}: {key} is empty"),
            Self::SourceWithoutUrl { line } => {
                write!(f, "line {line}: a source must read 'title | https://url'")
            }
            Self::SourceUrlNotHttps { line, url } => {
                write!(
                    f,
                    "line {line}: source URL {url:?} must start with https://"
                )
            }
            Self::MissingTitle => write!(f, "the front matter has no title"),
            Self::MissingSource => write!(f, "the front matter has no source"),
            Self::EmptyBody => write!(f, "there is no text after the front matter"),
        }
    }
}

/// A knowledge file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file name as given to [`parse_topic`].
    pub file: String,
    pub problem: Problem,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "knowledge file {}: {}", self.file, self.problem)
    }
}

impl std::error::Error for ParseError {}

const FENCE: &str = "---";

/// Parses the knowledge file `file_name` (e.g. `emergency-fund.md`; its
/// stem becomes the slug) whose contents are `text`.
pub fn parse_topic(file_name: &str, text: &str) -> Result<Topic, ParseError> {
    parse(file_name, text).map_err(|problem| ParseError {
        file: file_name.to_owned(),
        problem,
    })
}

fn parse(file_name: &str, text: &str) -> Result<Topic, Problem> {
    let slug = file_name
        .rsplit(['/', '\\'])
        .next()
        .and_then(|name| name.strip_suffix(".md"))
        .filter(|stem| !stem.is_empty())
        .ok_or(Problem::NotMarkdownFile)?;
    // Editors on some systems save UTF-8 with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    if lines.next().is_none_or(|(_, first)| first != FENCE) {
        return Err(Problem::MissingFrontMatter);
    }

    let mut title = None;
    let mut keywords = None;
    let mut sources = Vec::new();
    let mut closed = false;
    for (line, content) in lines.by_ref() {
        if content == FENCE {
            closed = true;
            break;
        }
        if content.trim().is_empty() {
            continue;
        }
        let (key, value) = content
            .split_once(':')
            .ok_or(Problem::NotKeyValue { line })?;
        let value = value.trim();
        match key.trim() {
            "title" => {
                let key = "title";
                if title.is_some() {
                    return Err(Problem::RepeatedKey { line, key });
                }
                if value.is_empty() {
                    return Err(Problem::EmptyValue { line, key });
                }
                title = Some(value.to_owned());
            }
            "keywords" => {
                if keywords.is_some() {
                    return Err(Problem::RepeatedKey {
                        line,
                        key: "keywords",
                    });
                }
                keywords = Some(
                    value
                        .split(',')
                        .map(|k| k.trim().to_lowercase())
                        .filter(|k| !k.is_empty())
                        .collect(),
                );
            }
            "source" => sources.push(parse_source(line, value)?),
            other => {
                return Err(Problem::UnknownKey {
                    line,
                    key: other.to_owned(),
                })
            }
        }
    }
    if !closed {
        return Err(Problem::UnterminatedFrontMatter);
    }
    let title = title.ok_or(Problem::MissingTitle)?;
    if sources.is_empty() {
        return Err(Problem::MissingSource);
    }
    let paragraphs = paragraphs(lines.map(|(_, l)| l));
    if paragraphs.is_empty() {
        return Err(Problem::EmptyBody);
    }
    Ok(Topic {
        slug: slug.to_owned(),
        title,
        keywords: keywords.unwrap_or_default(),
        sources,
        paragraphs,
    })
}

fn parse_source(line: usize, value: &str) -> Result<Link, Problem> {
    let (title, url) = value
        .split_once('|')
        .ok_or(Problem::SourceWithoutUrl { line })?;
    let (title, url) = (title.trim(), url.trim());
    if title.is_empty() {
        return Err(Problem::EmptyValue {
            line,
            key: "source title",
        });
    }
    let host = url.strip_prefix("https://").unwrap_or_default();
    if host.is_empty() || url.contains(char::is_whitespace) {
        return Err(Problem::SourceUrlNotHttps {
            line,
            url: url.to_owned(),
        });
    }
    Ok(Link {
        title: title.to_owned(),
        url: url.to_owned(),
    })
}

/// Blank-line separated paragraphs, each collapsed to one line.
fn paragraphs<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in lines.chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.extend(line.split_whitespace());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "---\ntitle: X\nkeywords: a b, C\nsource: S | https://e.org/x\n---\nOne\nline.\n\n\nTwo.\n";

    fn problem(text: &str) -> Problem {
        parse_topic("x.md", text).map(|_| ()).unwrap_err().problem
    }

    #[test]
    fn parses_front_matter_and_paragraphs() {
        let t = parse_topic("dir/x.md", GOOD).unwrap();
        assert_eq!(t.slug, "x");
        assert_eq!(t.title, "X");
        assert_eq!(t.keywords, vec!["a b", "c"]);
        assert_eq!(
            t.sources,
            vec![Link {
                title: "S".into(),
                url: "https://e.org/x".into()
            }]
        );
        assert_eq!(t.paragraphs, vec!["One line.", "Two."]);
    }

    #[test]
    fn windows_line_endings_and_a_byte_order_mark_are_accepted() {
        let crlf = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        assert_eq!(
            parse_topic("x.md", &crlf).unwrap(),
            parse_topic("x.md", GOOD).unwrap()
        );
    }

    #[test]
    fn the_error_names_the_file_the_line_and_the_problem() {
        let err = parse_topic(
            "taxes.md",
            "---\ntitle: T\nsource: S https://e.org\n---\nBody.\n",
        )
        .unwrap_err();
        assert_eq!(err.problem, Problem::SourceWithoutUrl { line: 3 });
        assert_eq!(
            err.to_string(),
            "knowledge file taxes.md: line 3: a source must read 'title | https://url'"
        );
    }

    #[test]
    fn each_rule_has_its_problem() {
        let src = "source: S | https://e.org";
        assert_eq!(problem("title: T\n---\nBody"), Problem::MissingFrontMatter);
        assert_eq!(
            problem(&format!("---\ntitle: T\n{src}\n")),
            Problem::UnterminatedFrontMatter
        );
        assert_eq!(
            problem(&format!("---\ntitle T\n{src}\n---\nBody")),
            Problem::NotKeyValue { line: 2 }
        );
        assert_eq!(
            problem(&format!("---\ntitle: T\nkeyword: k\n{src}\n---\nBody")),
            Problem::UnknownKey {
                line: 3,
                key: "keyword".into()
            }
        );
        assert_eq!(
            problem(&format!("---\ntitle: T\ntitle: U\n{src}\n---\nBody")),
            Problem::RepeatedKey {
                line: 3,
                key: "title"
            }
        );
        assert_eq!(
            problem(&format!("---\ntitle:\n{src}\n---\nBody")),
            Problem::EmptyValue {
                line: 2,
                key: "title"
            }
        );
        assert_eq!(
            problem("---\ntitle: T\nsource: S | http://e.org\n---\nBody"),
            Problem::SourceUrlNotHttps {
                line: 3,
                url: "http://e.org".into()
            }
        );
        assert_eq!(
            problem(&format!("---\n{src}\n---\nBody")),
            Problem::MissingTitle
        );
        assert_eq!(problem("---\ntitle: T\n---\nBody"), Problem::MissingSource);
        assert_eq!(
            problem(&format!("---\ntitle: T\n{src}\n---\n\n  \n")),
            Problem::EmptyBody
        );
        assert_eq!(
            parse_topic("x.txt", GOOD).unwrap_err().problem,
            Problem::NotMarkdownFile
        );
    }
}
