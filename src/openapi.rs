//! The OpenAPI 3.1 document. Its paths come from the same registration as
//! the router ([`crate::routes::configure`]); this module adds what is not
//! an operation: info, tags, the security scheme, shared schemas.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{ErrorBody, ErrorCode, ErrorResponse, FieldError};
use crate::routes::{self, messages};

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The `access_token` from `POST /auth/token`."))
                    .build(),
            ),
        );
    }
}

/// `POST /sessions` and a regenerate may have no body at all (utoipa has no
/// attribute for it).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in [
            "/sessions",
            "/sessions/{id}/messages/{message_id}/regenerate",
            "/sessions/{id}/messages/{message_id}/regenerate/stream",
        ] {
            let body = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.request_body.as_mut());
            if let Some(body) = body {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// Every operation may also answer an error not listed for it (a 500
/// `internal`, a 503 while the database is down, …): a `default` response
/// in the error shape, so generated clients type every error answer.
struct DefaultErrorResponse;

impl Modify for DefaultErrorResponse {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        let retry_after = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .description(Some(
                "Seconds to wait before trying again: on a 503 `service_unavailable`",
            ))
            .build();
        components.responses.insert(
            "Error".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "Any other error, in the error shape: `internal` on a 500, \
`service_unavailable` on a 503 (the database does not answer; retry after `Retry-After`)",
                    )
                    .header("Retry-After", retry_after)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorResponse")))
                            .build(),
                    )
                    .build(),
            ),
        );
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Error")));
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "RichesReach Chat API",
        description = "The chat backend of RichesReach: accounts, chat sessions, and an AI assistant for \
personal finance and investing education. Errors always have the shape \
`{\"error\": {\"code\": \"...\", \"message\": \"...\"}}`. Lists are paginated with `limit` (1–200) and an \
opaque `cursor`; responses carry `next_cursor`. Sign in with `POST /auth/token`, then use the \
Authorize button with the `access_token`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    components(schemas(ErrorResponse, ErrorBody, ErrorCode, FieldError, messages::Delta)),
    modifiers(&SecurityAddon),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "sessions", description = "The caller's chat sessions"),
        (name = "messages", description = "Asking the assistant; history"),
        (name = "search", description = "Full-text search over the caller's messages"),
        (name = "account", description = "The caller's own data: export it, delete it"),
        (name = "admin", description = "Administrators only"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The whole document: [`ApiDoc`] plus every registered operation.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    OptionalBodies.modify(&mut document);
    DefaultErrorResponse.modify(&mut document);
    document
}

/// The document as served at `/openapi.json` and committed at `openapi/openapi.json`.
pub fn spec_json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
