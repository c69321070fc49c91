//! What answers when no route matched: 405 with `Allow` when the path exists
//! with other methods, 404 otherwise — both in the contract's error shape.
//! The methods of each path come from the OpenAPI document, which is built
//! from the same registrations as the router, so `Allow` cannot drift.

use actix_web::dev::ResourceDef;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use utoipa::openapi::OpenApi;

use crate::error::AppError;

/// Every known path with the methods it answers.
pub struct RouteTable {
    routes: Vec<(ResourceDef, String)>,
}

impl RouteTable {
    /// The document's paths, plus `pages` (paths served outside the API
    /// document, with their methods).
    pub fn new(document: &OpenApi, pages: &[(&str, &[&str])]) -> Self {
        let mut routes: Vec<(ResourceDef, String)> = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allow: Vec<&str> = methods
                    .iter()
                    .filter(|(_, present)| *present)
                    .map(|(m, _)| *m)
                    .collect();
                (ResourceDef::new(path.as_str()), allow.join(", "))
            })
            .collect();
        routes.extend(
            pages
                .iter()
                .map(|(path, methods)| (ResourceDef::new(*path), methods.join(", "))),
        );
        Self { routes }
    }

    /// The `Allow` value for `path`, when some route has that path.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, allow)| allow.as_str())
    }
}

/// The default service of the application.
pub async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let Some(allow) = table.allow(req.path()) else {
        return AppError::NotFound("no such route".into()).error_response();
    };
    let mut response = AppError::MethodNotAllowed.error_response();
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
