//! The OpenAPI 3.1 document, generated from the handlers and types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorResponse, FieldError};
use crate::routes::{admin, auth, console, messages, ops, sessions};

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

/// `POST /sessions` may have no body at all (utoipa has no attribute for it).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/sessions")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(utoipa::openapi::Required::False);
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
        license(name = "MIT"),
    ),
    paths(
        auth::register, auth::issue_token, auth::refresh_token, auth::get_me,
        sessions::create_session, sessions::list_sessions, sessions::get_session,
        sessions::rename_session, sessions::delete_session,
        messages::list_messages, messages::send_message,
        admin::get_stats, admin::list_users, admin::update_user, admin::list_all_sessions,
        admin::list_session_messages, console::admin_page,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(ErrorResponse, ErrorBody, FieldError, messages::Delta)),
    modifiers(&SecurityAddon, &OptionalBodies),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "sessions", description = "The caller's chat sessions"),
        (name = "messages", description = "Asking the assistant; history"),
        (name = "admin", description = "Administrators only"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json` and committed at `openapi/openapi.json`.
pub fn spec_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
