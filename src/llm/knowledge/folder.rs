//! An operator's folder of topics (`KNOWLEDGE_DIR`): every `.md` file in it
//! (not in subfolders) is a topic in the built-in format. Nothing is skipped
//! silently: a `.md` file that does not parse is a problem, and other files
//! are listed as ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use super::parse::{parse_topic, Topic};

/// What a folder holds, file by file.
#[derive(Debug, Default)]
pub struct FolderReport {
    /// Topics that parse, with their file, in file-name order.
    pub topics: Vec<(PathBuf, Topic)>,
    /// One line per `.md` file that cannot be used, naming it and the problem.
    pub problems: Vec<String>,
    /// Entries that are not `.md` files (subfolders included).
    pub ignored: Vec<PathBuf>,
}

/// A folder that cannot be used as knowledge.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("cannot read the knowledge folder {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("the knowledge folder {0} holds no .md topic files")]
    Empty(String),
    #[error("{}", Lines(.0))]
    Invalid(Vec<String>),
}

/// Problems one per line.
struct Lines<'a>(&'a [String]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

/// Reads and parses every `.md` file of `folder`.
pub fn check_folder(folder: &Path) -> Result<FolderReport, FolderError> {
    let unreadable = |source| FolderError::Unreadable {
        path: folder.display().to_string(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    paths.sort();
    let mut report = FolderReport::default();
    for path in paths {
        let is_topic = path.is_file() && path.extension().is_some_and(|ext| ext == "md");
        if !is_topic {
            report.ignored.push(path);
            continue;
        }
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_topic(&name, &text) {
                Ok(topic) => report.topics.push((path, topic)),
                Err(e) => report.problems.push(e.to_string()),
            },
            Err(e) => report
                .problems
                .push(format!("knowledge file {name}: cannot be read: {e}")),
        }
    }
    if report.topics.is_empty() && report.problems.is_empty() {
        return Err(FolderError::Empty(folder.display().to_string()));
    }
    Ok(report)
}

impl FolderReport {
    /// The topics, or every problem when there is one.
    pub fn into_topics(self) -> Result<Vec<Topic>, FolderError> {
        if self.problems.is_empty() {
            Ok(self.topics.into_iter().map(|(_, t)| t).collect())
        } else {
            Err(FolderError::Invalid(self.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "---\ntitle: Fee schedule\nkeywords: account fee\nsource: Fees | https://example.com/fees\n---\nOur fees.\n";

    #[test]
    fn a_folder_reports_topics_problems_and_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fees.md"), TOPIC).unwrap();
        std::fs::write(dir.path().join("broken.md"), "title: no front matter\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let report = check_folder(dir.path()).unwrap();
        assert_eq!(report.topics.len(), 1);
        assert_eq!(report.topics[0].1.slug, "fees");
        assert_eq!(report.problems.len(), 1);
        assert!(
            report.problems[0].contains("broken.md"),
            "{:?}",
            report.problems
        );
        assert_eq!(report.ignored.len(), 1);
        let err = report.into_topics().unwrap_err().to_string();
        assert!(
            err.contains("broken.md") && err.contains("front matter"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_or_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            check_folder(dir.path()),
            Err(FolderError::Empty(_))
        ));
        let missing = dir.path().join("nope");
        let err = check_folder(&missing).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
