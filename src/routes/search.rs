//! `/search`: full-text search over the caller's messages.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

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
    /// Words to find, 1–200 characters. Every word must match (in any
    /// form: "invest" finds "investing"; case does not matter). Quotes,
    /// operators and other punctuation are read as text, never as syntax.
    #[param(min_length = 1, max_length = 200, example = "index funds")]
    pub q: Option<String>,
}

/// A message that matches a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    #[schema(format = Uuid)]
    pub session_id: String,
    /// The title of the message's session (`null` while it has none).
    #[schema(required = true, example = "Saving for retirement")]
    pub session_title: Option<String>,
    pub message: Message,
    /// At most 300 characters of the message around the match, with every
    /// match wrapped in `«` and `»` (a `«` or `»` in the text itself shows
    /// as `‹` or `›` here); `…` marks where the text was cut.
    #[schema(example = "…a low-cost «index» «fund» spreads your money over…")]
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
        (status = 200, description = "A page of matches, best first", body = Page<SearchHit>),
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
