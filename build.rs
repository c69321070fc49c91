//! Checks the knowledge base (`knowledge/*.md`) and embeds it in the binary.
//!
//! Every file goes through the same parser the service uses, so a malformed
//! topic fails `cargo build` with the file and the problem named, instead of
//! being skipped with a warning at start-up.

use std::fmt::Write as _;
use std::path::Path;

// Shared with the library: the parser depends on std only. The build script
// only checks files, so most of what the parser returns goes unread here.
#[allow(dead_code)]
#[path = "src/llm/knowledge/parse.rs"]
mod parse;

fn main() {
    println!("cargo::rerun-if-changed=knowledge");
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-changed=src/llm/knowledge/parse.rs");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "md"))
            .collect(),
        Err(e) => return fail(&format!("cannot read {}: {e}", dir.display())),
    };
    files.sort();
    let mut errors = Vec::new();
    let mut out = String::from(
        "/// `(file name, contents)` of every knowledge-base topic.\n\
         pub static KNOWLEDGE_FILES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if let Err(e) = parse::parse_topic(&format!("knowledge/{name}"), &text) {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(format!("cannot read {}: {e}", path.display())),
        }
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    // No files is not an error here: the Dockerfile builds dependencies with
    // an empty folder, and the retrieval tests require the real topics.
    out.push_str("];\n");
    if !errors.is_empty() {
        return fail(&errors.join("\n"));
    }
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    if let Err(e) = std::fs::write(Path::new(&out_dir).join("knowledge_files.rs"), out) {
        fail(&format!("cannot write knowledge_files.rs: {e}"));
    }
}

/// Fails the build with `message` shown as cargo's own error. `cargo::error`
/// fails the build by itself (Cargo 1.84+); exiting with a failure status
/// as well would only add a dump of this script's output.
fn fail(message: &str) {
    for line in message.lines() {
        println!("cargo::error={line}");
    }
}
