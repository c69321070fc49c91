//! `/search`: full-text search over the caller's messages.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use super::messages::Message;
use super::responses::{BadRequest, Unauthorized};
use super::PageQuery;
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::service::pagination::Page;
use crate::service::search::{self, Hit, SearchQuery};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(search_messages);
}

/// What to look for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find (described by [`Q_DESCRIPTION`]).
    #[param(schema_with = search_terms)]
    pub q: Option<String>,
}

/// The schema of `q`, with its description: utoipa leaves out the doc
/// comment of a parameter whose schema is given by a function, and a
/// function is how a parameter gets `examples` (3.1) instead of `example`.
fn search_terms() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(Q_DESCRIPTION))
        .min_length(Some(1))
        .max_length(Some(200))
        .examples([examples::search_terms()])
        .build()
}

const Q_DESCRIPTION: &str = "Words to find, 1–200 characters. Every word must match (in any \
form: \"invest\" finds \"investing\"; case does not matter). Quotes, operators and other \
punctuation are read as text, never as syntax.";

/// A message that matches a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    #[schema(format = Uuid)]
    pub session_id: String,
    /// The title of the message's session (`null` while it has none).
    #[schema(required = true, examples("Emergency fund"))]
    pub session_title: Option<String>,
    pub message: Message,
    /// At most 300 characters of the message around the match, with every
    /// match wrapped in `«` and `»` (a `«` or `»` in the text itself shows
    /// as `‹` or `›` here); `…` marks where the text was cut.
    #[schema(examples("…keep it in an easy-access «savings» «account»."))]
    pub snippet: String,
}

impl From<&Hit> for SearchHit {
    fn from(hit: &Hit) -> Self {
        Self {
            session_id: hit.message.message.session_id.clone(),
            session_title: hit.session_title.clone(),
            message: Message::from(&hit.message),
            snippet: hit.snippet.clone(),
        }
    }
}

/// Search the caller's messages (both roles; superseded ones are not part of
/// the conversation and are not found), best match first.
#[utoipa::path(
    tag = "search",
    security(("bearer" = [])),
    params(SearchParams, PageQuery),
    responses(
        (status = 200, description = "A page of matches, best first", body = Page<SearchHit>,
            examples(("hits" = (summary = "q=savings account: two replies, best match first", value = json!(examples::search_page()))))),
        BadRequest,
        Unauthorized,
    )
)]
#[get("/search")]
pub async fn search_messages(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<SearchParams>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let query = SearchQuery::parse(params.q.as_deref())?;
    let page = page.page()?;
    let found = state
        .db
        .run(move |conn| search::search(conn, &user.id, &query, &page))
        .await?;
    state.metrics.search();
    Ok(HttpResponse::Ok().json(found.map(|hit| SearchHit::from(&hit))))
}
