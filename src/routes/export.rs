//! `/sessions/{id}/export`: one conversation as a file, JSON or Markdown.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::extract::resource_id;
use super::messages::Message;
use super::responses::{BadRequest, OwnedErrors};
use super::sessions::Session;
use crate::auth::AuthUser;
use crate::domain::{MessageStatus, Role};
use crate::error::AppError;
use crate::metrics::ExportKind;
use crate::service::export::{self, SessionWithMessages};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export_session);
}

/// A file format of an export.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Json,
    Markdown,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (the default) or `markdown`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
    /// Also the messages replaced by a regenerate or an edit, in order.
    #[param(default = false)]
    pub include_superseded: Option<bool>,
}

/// A session with its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionExport {
    pub session: Session,
    pub messages: Vec<Message>,
}

impl From<&SessionWithMessages> for SessionExport {
    fn from(e: &SessionWithMessages) -> Self {
        Self {
            session: Session::from(&e.session),
            messages: e.messages.iter().map(Message::from).collect(),
        }
    }
}

/// Download a conversation: JSON that reads back into the API's types, or
/// Markdown to read (a heading per message, the reply's details in one line,
/// sources as links).
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Session id"), ExportParams),
    responses(
        (status = 200, description = "The conversation as a file",
            content(
                (SessionExport = "application/json",
                    examples(("json" = (summary = "format=json (the default): reads back into the API's types", value = json!(examples::exported_session()))))),
                (String = "text/markdown; charset=utf-8",
                    examples(("markdown" = (summary = "format=markdown: to read", value = json!(examples::exported_markdown()))))),
            ),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"<title or session id>.<json|md>\"`: the title with every character outside `A–Z a–z 0–9 space . _ -` replaced by `_`, at most 100 characters"))),
        BadRequest,
        OwnedErrors,
    )
)]
#[get("/sessions/{id}/export")]
pub async fn export_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, AppError> {
    let id = resource_id(&id, "chat session")?;
    let format = params.format.unwrap_or_default();
    let include_superseded = params.include_superseded.unwrap_or(false);
    let exported = state
        .db
        .run(move |conn| export::session(conn, &user.id, &id, include_superseded))
        .await?;
    let stem = file_stem(exported.session.title.as_deref(), &exported.session.id);
    let body = SessionExport::from(&exported);
    let response = match format {
        ExportFormat::Json => {
            state.metrics.export(ExportKind::Json);
            HttpResponse::Ok()
                .insert_header(attachment(&format!("{stem}.json")))
                .json(body)
        }
        ExportFormat::Markdown => {
            state.metrics.export(ExportKind::Markdown);
            HttpResponse::Ok()
                .insert_header(attachment(&format!("{stem}.md")))
                .content_type("text/markdown; charset=utf-8")
                .body(markdown(&body, Utc::now()))
        }
    };
    Ok(response)
}

/// `Content-Disposition: attachment; filename="…"`.
pub fn attachment(filename: &str) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(filename.to_owned())],
    }
}

/// The file name without extension: the title with every character outside
/// `A–Z a–z 0–9 space . _ -` replaced by `_`, cut to 100 characters; the
/// session id when there is no title.
pub fn file_stem(title: Option<&str>, session_id: &str) -> String {
    match title {
        Some(title) if !title.is_empty() => title
            .chars()
            .take(100)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        _ => session_id.to_owned(),
    }
}

/// The conversation as a Markdown document for people: a title heading, a
/// heading per message, each reply's details in one line, sources as links.
pub fn markdown(export: &SessionExport, now: DateTime<Utc>) -> String {
    let session = &export.session;
    let title = session.title.as_deref().unwrap_or("Untitled conversation");
    let mut out = format!("# {}\n\n", escape_inline(title));
    out.push_str(&format!(
        "*Conversation started {}, last active {}; {} messages. Exported from RichesReach Chat on {}.*\n",
        human_time(&session.created_at),
        human_time(&session.updated_at),
        export.messages.len(),
        now.format("%Y-%m-%d %H:%M UTC"),
    ));
    for (n, message) in export.messages.iter().enumerate() {
        let who = match message.role {
            Role::User => "You",
            Role::Assistant => "Assistant",
        };
        let mut heading = format!("{}. {who} · {}", n + 1, human_time(&message.created_at));
        if message.superseded_by.is_some() {
            heading.push_str(" · superseded");
        }
        out.push_str(&format!("\n## {heading}\n\n"));
        let content = message.content.trim_end();
        if content.is_empty() {
            out.push_str("*(no text)*\n");
        } else {
            out.push_str(content);
            out.push('\n');
        }
        if message.role == Role::Assistant {
            out.push_str(&format!("\n*{}*\n", details(message)));
        }
        if !message.sources.is_empty() {
            out.push_str("\n**Sources**\n\n");
            for (i, source) in message.sources.iter().enumerate() {
                out.push_str(&format!(
                    "{}. [{}](<{}>)\n",
                    i + 1,
                    escape_inline(&source.title),
                    source.url.replace('<', "%3C").replace('>', "%3E"),
                ));
            }
        }
    }
    out
}

/// A reply's details in one line: model, confidence, tokens, latency, date.
fn details(message: &Message) -> String {
    let mut parts = Vec::new();
    match (&message.model, message.fallback) {
        (_, true) => parts.push("offline answer".to_owned()),
        (Some(model), false) => parts.push(escape_inline(model)),
        (None, false) => {}
    }
    if let Some(confidence) = message.confidence {
        parts.push(format!("confidence {confidence:.2}"));
    }
    if let Some(usage) = &message.usage {
        parts.push(format!(
            "{} tokens ({} in, {} out)",
            usage.prompt_tokens + usage.completion_tokens,
            usage.prompt_tokens,
            usage.completion_tokens
        ));
    }
    if let Some(ms) = message.latency_ms {
        parts.push(format!("{ms} ms"));
    }
    match message.status {
        MessageStatus::Complete => {}
        MessageStatus::Generating => parts.push("still being written".to_owned()),
        MessageStatus::Stopped => parts.push("stopped".to_owned()),
    }
    parts.push(human_time(&message.created_at));
    parts.join(" · ")
}

/// `2026-11-24 12:00 UTC` from an RFC 3339 time (as is when it is not one).
fn human_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |t| {
            t.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    )
}

/// Text placed in a heading, a link or an emphasised line: Markdown's
/// inline syntax characters are escaped so they show as typed (and `<` can
/// never open raw HTML in a viewer).
fn escape_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' | '~'
        ) {
            out.push('\\');
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_keep_safe_characters_only_and_at_most_100() {
        assert_eq!(
            file_stem(Some("Taxes 2026: \"Q&A\"/é"), "id"),
            "Taxes 2026_ _Q_A___"
        );
        assert_eq!(file_stem(Some(&"a".repeat(150)), "id").len(), 100);
        assert_eq!(file_stem(None, "0193-ab"), "0193-ab");
        assert_eq!(file_stem(Some("a.b_c-d e"), "id"), "a.b_c-d e");
    }

    #[test]
    fn inline_text_cannot_open_html_or_links() {
        assert_eq!(escape_inline("<b>[x](y)</b>"), r"\<b\>\[x\](y)\</b\>");
    }
}
