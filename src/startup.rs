//! Builds the application: state, routes, middleware, and the bound server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpResponse, HttpServer};
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::{JwtSecretSource, Settings};
use crate::db::{Database, DbSetupError};
use crate::error::AppError;
use crate::llm::knowledge::{FolderError, KnowledgeBase};
use crate::llm::Assistant;
use crate::metrics::Metrics;
use crate::routes::extract::{path_config, query_config};
use crate::routes::fallback::{fallback, RouteTable};
use crate::routes::{self, body_deadline, console, ops};
use crate::security_headers::add_security_headers;
use crate::service::chat::{Chat, ContextLimits};
use crate::service::rate_limit::RateLimiter;
use crate::service::retention::Retention;
use crate::service::signing_keys;
use crate::service::usage::Quota;
use crate::state::AppState;
use crate::telemetry::{add_request_id, X_REQUEST_ID};

/// Paths served outside the API document, with their methods: the console's
/// page and files, and redirects to the console and to Swagger UI.
const PAGES: &[(&str, &[&str])] = &[
    (console::PAGE_PATH, &["GET"]),
    (console::ASSET_PATH, &["GET"]),
    ("/admin", &["GET"]),
    ("/swagger-ui", &["GET"]),
    (SPEC_PATH, &["GET"]),
];

/// Where the OpenAPI document is served (and Swagger UI reads it).
const SPEC_PATH: &str = "/openapi.json";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read or store the JWT signing key: {0}")]
    Secret(AppError),
    #[error("cannot set up the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the server must be built inside a tokio runtime: {0}")]
    Runtime(#[from] tokio::runtime::TryCurrentError),
    #[error("cannot serialise the OpenAPI document: {0}")]
    Spec(#[from] serde_json::Error),
    #[error("KNOWLEDGE_DIR cannot be used:\n{0}")]
    Knowledge(#[from] FolderError),
}

/// The JWT signing key: `JWT_SECRET`, or a random key generated once and
/// kept in the database, so that tokens survive restarts and every replica
/// on the database signs and checks with the same key. A SQLite deployment
/// that kept its key in a file beside the database (earlier versions) keeps
/// that key: the file's key is what gets stored.
pub fn jwt_secret(settings: &Settings, db: &Database) -> Result<Vec<u8>, AppError> {
    let import = match &settings.jwt_secret {
        JwtSecretSource::Env(secret) => return Ok(secret.expose_secret().as_bytes().to_vec()),
        JwtSecretSource::Database { import } => import.as_deref().and_then(read_key_file),
    };
    let candidate = import
        .unwrap_or_else(|| crate::auth::new_refresh_secret() + &crate::auth::new_refresh_secret());
    let mut conn = db.get()?;
    let secret = signing_keys::get_or_insert(&mut conn, JWT_KEY_NAME, &candidate)?;
    tracing::warn!("JWT_SECRET is not set: signing tokens with the key kept in the database; set JWT_SECRET in production (the same value on every replica)");
    Ok(secret.into_bytes())
}

/// The name of the JWT signing key in the database.
const JWT_KEY_NAME: &str = "jwt";

fn read_key_file(path: &Path) -> Option<String> {
    let key = std::fs::read_to_string(path).ok()?;
    let key = key.trim();
    (key.len() >= 32).then(|| key.to_owned())
}

pub struct Application {
    port: u16,
    server: Server,
    chat: Chat,
    shutdown_grace: Duration,
}

impl Application {
    /// Opens the database, runs migrations, binds `settings.bind` (port 0
    /// picks a free port) and prepares the server.
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = Database::connect_with(&settings.database_url, &settings.db_options())?;
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(applied, backend = ?db.backend(), "database migrations applied");
        }
        let secret = jwt_secret(&settings, &db).map_err(StartupError::Secret)?;
        let metrics = Arc::new(Metrics::new()?);
        let knowledge = KnowledgeBase::load(
            settings.llm.knowledge_dir.as_deref(),
            settings.llm.knowledge_mode,
        )?;
        if let Some(dir) = &settings.llm.knowledge_dir {
            tracing::info!(dir = %dir.display(), mode = ?settings.llm.knowledge_mode, topics = knowledge.len(), "knowledge base loaded");
        }
        let assistant = Arc::new(Assistant::from_settings(
            &settings.llm,
            knowledge,
            Arc::clone(&metrics),
        ));
        if assistant.has_provider() {
            tracing::info!(base_url = %settings.llm.base_url, model = %settings.llm.model, "answering with the model provider");
        } else {
            tracing::warn!(
                "OPENAI_API_KEY is not set: the offline assistant answers every message"
            );
        }
        let limits = ContextLimits {
            max_messages: settings.llm.context_max_messages,
            max_chars: settings.llm.context_max_chars,
        };
        // Replies are written on the runtime that builds the server (the
        // main one), which outlives the HTTP workers during a shutdown.
        let runtime = tokio::runtime::Handle::try_current()?;
        let chat = Chat::new(
            db.clone(),
            assistant,
            limits,
            Duration::from_secs(settings.reply_lease_secs),
            runtime.clone(),
        )
        .with_quota(Quota(settings.token_quota_per_day));
        runtime.spawn(chat.clone().run_background());
        let retention = Retention {
            days: settings.retention_days,
            every: Duration::from_secs(settings.retention_sweep_secs),
        };
        runtime.spawn(retention.run(db.clone(), Arc::clone(&metrics)));
        let shutdown_grace = Duration::from_secs(settings.shutdown_grace_secs);
        let state = web::Data::new(AppState {
            jwt: JwtKeys::new(&secret, settings.access_token_ttl_secs),
            hasher: PasswordHasher::new(settings.bcrypt_cost)
                .with_max_concurrent(settings.bcrypt_max_concurrent),
            limiter: RateLimiter::new(
                db.clone(),
                settings.rate_limit_auth_per_min,
                settings.rate_limit_messages_per_min,
                settings.rate_limit_register_per_min,
            ),
            chat: chat.clone(),
            metrics,
            db,
            settings: Arc::new(settings),
        });
        let listener =
            crate::listener::bind(&state.settings.bind).map_err(|source| StartupError::Bind {
                addr: state.settings.bind.clone(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: state.settings.bind.clone(),
                source,
            })?
            .port();
        let document = crate::openapi::document();
        let route_table = web::Data::new(RouteTable::new(&document, PAGES));
        let spec = web::Data::new(ops::SpecJson::new(&document)?);
        drop(document);
        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .configure(routes::configure)
                .split_for_parts();
            app.app_data(state.clone())
                .app_data(route_table.clone())
                .app_data(spec.clone())
                .app_data(query_config())
                .app_data(path_config())
                .wrap(from_fn(body_deadline::guard_body))
                .wrap(Condition::new(
                    !state.settings.cors_allowed_origins.is_empty(),
                    cors(&state.settings.cors_allowed_origins),
                ))
                .wrap(from_fn(add_security_headers))
                .wrap(from_fn(ops::record_metrics))
                .wrap(from_fn(add_request_id))
                .wrap(TracingLogger::default())
                .route("/admin", web::get().to(|| redirect("/admin/")))
                .route("/swagger-ui", web::get().to(|| redirect("/swagger-ui/")))
                .route(SPEC_PATH, web::get().to(ops::openapi_json))
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}").config(SwaggerConfig::new([SPEC_PATH])),
                )
                .default_service(web::to(fallback))
        })
        .shutdown_timeout(30)
        .on_connect(body_deadline::remember_socket)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: "listener".into(),
            source,
        })?
        .run();
        Ok(Self {
            port,
            server,
            chat,
            shutdown_grace,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGTERM, SIGINT), then lets the
    /// replies still being written finish or hands them over.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        self.chat.drain(self.shutdown_grace).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Cross-origin access for browser front ends on other origins. Bearer
/// tokens (not cookies) carry authentication, so no credentials mode.
fn cors(allowed: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("idempotent-replayed"),
            X_REQUEST_ID,
            // The file name of an export.
            header::CONTENT_DISPOSITION,
        ])
        .max_age(3600)
        // Other origins (the service's own pages included) are served as
        // usual, just without CORS headers.
        .block_on_origin_mismatch(false);
    if allowed.iter().any(|o| o == "*") {
        return cors.allow_any_origin();
    }
    allowed
        .iter()
        .fold(cors, |cors, origin| cors.allowed_origin(origin))
}

async fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, to))
        .finish()
}
