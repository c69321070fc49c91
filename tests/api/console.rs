//! The admin console's page and files (`/admin/`, `/admin/<file>`).

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use reqwest::{Method, StatusCode, Url};

use crate::helpers::{assert_error, spawn_app};

const STRICT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

#[tokio::test]
async fn the_console_page_carries_one_strict_content_security_policy() {
    let app = spawn_app().await;

    let page = app.request(Method::GET, "/admin/", None, None).await;

    assert_eq!(page.status(), StatusCode::OK);
    let policies: Vec<_> = page
        .headers()
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(policies, [STRICT_CSP]);
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http-equiv"),
        "no second policy in a meta tag"
    );
    assert!(!html.contains("<style"), "no inline style element");
    assert!(!html.contains("style="), "no style attribute");
    assert!(
        tags(&html, "<script").all(|tag| tag.contains(" src=")),
        "no inline script"
    );
    let handlers: Vec<_> = tags(&html, "<")
        .filter(|tag| {
            tag.split_whitespace().any(|word| {
                let word = word.to_ascii_lowercase();
                word.starts_with("on") && word.contains('=')
            })
        })
        .collect();
    assert!(handlers.is_empty(), "inline event handlers: {handlers:?}");
}

#[tokio::test]
async fn every_file_the_console_page_loads_is_served_with_its_type() {
    let app = spawn_app().await;
    let page_url = Url::parse(&app.url("/admin/")).unwrap();
    let html = app
        .request(Method::GET, "/admin/", None, None)
        .await
        .text()
        .await
        .unwrap();

    // The page's script and stylesheet, then every module the scripts import.
    let mut queue: VecDeque<Url> = attribute_values(&html, "src=\"")
        .chain(attribute_values(&html, "href=\""))
        .filter(|link| !link.starts_with("data:"))
        .map(|link| page_url.join(link).unwrap())
        .collect();
    let mut served = BTreeSet::new();
    while let Some(url) = queue.pop_front() {
        let path = url.path().to_owned();
        if !served.insert(path.clone()) {
            continue;
        }
        let response = app.client.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        let expected = match path.rsplit_once('.').map(|(_, ext)| ext) {
            Some("css") => "text/css",
            Some("js") => "text/javascript",
            _ => panic!("the page loads {path}, neither a stylesheet nor a script"),
        };
        assert!(
            content_type.starts_with(expected) && content_type.contains("charset=utf-8"),
            "GET {path}: content-type {content_type}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let body = response.text().await.unwrap();
        if expected == "text/javascript" {
            for specifier in import_specifiers(&body) {
                queue.push_back(url.join(specifier).unwrap());
            }
        }
    }

    // Each file in assets/admin/ is one the page loads, and the walk found them all.
    let on_disk: BTreeSet<String> =
        files_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/admin"))
            .into_iter()
            .filter(|path| path != "index.html")
            .map(|path| format!("/admin/{path}"))
            .collect();
    assert_eq!(served, on_disk);
}

/// Paths (with `/`) of the files under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            found.extend(
                files_under(&path)
                    .into_iter()
                    .map(|p| format!("{name}/{p}")),
            );
        } else {
            found.push(name);
        }
    }
    found
}

#[tokio::test]
async fn an_unknown_console_file_is_not_found() {
    let app = spawn_app().await;

    for path in [
        "/admin/nope.js",
        "/admin/js/views/nope.js",
        "/admin/nope.css",
    ] {
        let response = app.request(Method::GET, path, None, None).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let post = app
        .request(Method::POST, "/admin/admin.css", None, None)
        .await;
    assert_eq!(post.headers()["allow"], "GET");
    assert_error(post, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

/// The opening tags starting with `start` (e.g. `<script`), up to their `>`.
fn tags<'a>(html: &'a str, start: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    html.match_indices(start).filter_map(move |(i, _)| {
        let rest = &html[i..];
        rest.find('>').map(|end| &rest[..end])
    })
}

/// The values of every `name"…"` attribute (name including `="`).
fn attribute_values<'a>(html: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    html.match_indices(name).filter_map(move |(i, _)| {
        let rest = &html[i + name.len()..];
        rest.find('"').map(|end| &rest[..end])
    })
}

/// The module specifiers of a script's static `import … from '…'` and
/// `import '…'` statements (and `export … from '…'`).
fn import_specifiers(script: &str) -> Vec<&str> {
    script
        .lines()
        .map(str::trim_start)
        .filter(|line| {
            line.starts_with("import ") || line.starts_with("export ") || line.starts_with('}')
        })
        .filter_map(|line| {
            let after = line
                .split_once(" from ")
                .map(|(_, rest)| rest)
                .or_else(|| line.strip_prefix("import "))?
                .trim_start();
            let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            after[1..].split(quote).next()
        })
        .collect()
}
