//! `/admin/`: the admin console, a static page with its stylesheet and
//! script modules, built into the binary. It holds no data: it signs in and
//! reads everything through the API like any other client.

use actix_web::http::header;
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::AppError;

/// The page's only Content-Security-Policy. Scripts and styles come from the
/// files below, so nothing inline is allowed: were user content ever to reach
/// the DOM as markup, no injected script, handler or style would apply.
/// `img-src data:` is for the page's empty `data:` favicon, which keeps
/// browsers from asking for a `/favicon.ico` the service does not have.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// A file served at `/admin/<path>`.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// An [`Asset`] read from `assets/admin/<path>` at build time.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../../assets/admin/", $path)),
        }
    };
}

const PAGE: &str = include_str!("../../assets/admin/index.html");

/// Everything the page loads; a file missing here answers 404 and the
/// console's API test names it.
const ASSETS: &[Asset] = &[
    asset!("admin.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/format.js", JS),
    asset!("js/markdown.js", JS),
    asset!("js/nav.js", JS),
    asset!("js/notice.js", JS),
    asset!("js/views/login.js", JS),
    asset!("js/views/stats.js", JS),
    asset!("js/views/users.js", JS),
    asset!("js/views/sessions.js", JS),
    asset!("js/views/feedback.js", JS),
    asset!("js/views/conversation.js", JS),
    asset!("js/views/message.js", JS),
];

/// Where the console's stylesheet and scripts are served. The pattern only
/// takes `.css` and `.js` names, so it can never shadow an `/admin/...` API
/// route, whichever is registered first.
pub const ASSET_PATH: &str = r"/admin/{file:[A-Za-z0-9_/-]+\.(?:css|js)}";

/// Registers the page and its files. They are not part of the API document
/// (an SDK has no use for an HTML page); their `405 Allow` comes from
/// [`PAGE_PATH`] and [`ASSET_PATH`] in the application's table of pages.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.map(|cfg| {
        cfg.service(
            web::resource(PAGE_PATH)
                .route(web::get().to(admin_page))
                .default_service(web::to(super::fallback::fallback)),
        )
        .service(
            web::resource(ASSET_PATH)
                .route(web::get().to(get_asset))
                .default_service(web::to(super::fallback::fallback)),
        )
    });
}

/// Where the console's page is served.
pub const PAGE_PATH: &str = "/admin/";

/// The admin console (HTML; holds no data, signs in through the API).
pub async fn admin_page() -> HttpResponse {
    static_file(HTML)
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .body(PAGE)
}

async fn get_asset(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.path == file.as_str())
        .ok_or_else(|| AppError::NotFound("no such file in the admin console".into()))?;
    Ok(static_file(asset.content_type).body(asset.body))
}

/// `no-cache` (revalidate every time) so a new release's page never runs
/// with an old release's scripts; `nosniff` so a file is only ever used as
/// the type it is served as.
fn static_file(content_type: &'static str) -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    response
}
