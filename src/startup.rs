//! Builds the application: state, routes, middleware, and the bound server.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpResponse, HttpServer, Resource};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::{JwtSecretSource, Settings};
use crate::db::{Database, DbSetupError};
use crate::error::AppError;
use crate::llm::Assistant;
use crate::metrics::Metrics;
use crate::openapi::ApiDoc;
use crate::routes::extract::{path_config, query_config};
use crate::routes::{admin, auth, body_deadline, messages, ops, sessions};
use crate::security_headers::add_security_headers;
use crate::service::rate_limit::RateLimiter;

/// What every handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Database,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    pub assistant: Arc<Assistant>,
    pub metrics: Arc<Metrics>,
    pub limiter: RateLimiter,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] crate::config::ConfigError),
}

/// The JWT signing key: `JWT_SECRET`, or a random key generated once and kept
/// (mode 0600) beside the database so tokens survive restarts.
pub fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, crate::config::ConfigError> {
    match &settings.jwt_secret {
        JwtSecretSource::Env(secret) => Ok(secret.expose().as_bytes().to_vec()),
        JwtSecretSource::File(path) => {
            load_or_create_secret(path).map_err(|source| crate::config::ConfigError::SecretFile {
                path: path.display().to_string(),
                source,
            })
        }
    }
}

fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            tracing::warn!(path = %path.display(), "JWT_SECRET is not set: signing tokens with the key stored in this file; set JWT_SECRET in production (the same value on every replica)");
            return Ok(existing.as_bytes().to_vec());
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let secret = crate::auth::new_refresh_secret() + &crate::auth::new_refresh_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(secret.as_bytes())?;
    tracing::warn!(path = %path.display(), "JWT_SECRET is not set: generated a signing key and stored it in this file; set JWT_SECRET in production (and the same value on every replica)");
    Ok(secret.into_bytes())
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Opens the database, runs migrations, binds `settings.bind` (port 0
    /// picks a free port) and prepares the server.
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = Database::connect(&settings.database_url, settings.db_pool_size)?;
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        let secret = jwt_secret(&settings)?;
        let metrics = Arc::new(Metrics::default());
        let assistant = Arc::new(Assistant::from_settings(
            &settings.llm,
            Arc::clone(&metrics),
        ));
        if assistant.has_provider() {
            tracing::info!(base_url = %settings.llm.base_url, model = %settings.llm.model, "answering with the model provider");
        } else {
            tracing::warn!(
                "OPENAI_API_KEY is not set: the offline assistant answers every message"
            );
        }
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
            assistant,
            metrics,
            db,
            settings: Arc::new(settings),
        });
        let listener =
            TcpListener::bind(&state.settings.bind).map_err(|source| StartupError::Bind {
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
        let openapi = ApiDoc::openapi();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(query_config())
                .app_data(path_config())
                .wrap(from_fn(body_deadline::guard_body))
                .wrap(Condition::new(
                    !state.settings.cors_allowed_origins.is_empty(),
                    cors(&state.settings.cors_allowed_origins),
                ))
                .wrap(from_fn(add_security_headers))
                .wrap(from_fn(ops::record_metrics))
                .wrap(TracingLogger::default())
                .configure(routes)
                .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/openapi.json", openapi.clone()))
                .default_service(web::to(not_found))
        })
        .shutdown_timeout(30)
        .on_connect(body_deadline::remember_socket)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: "listener".into(),
            source,
        })?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Cross-origin access for browser front ends on other origins. Bearer
/// tokens (not cookies) carry authentication, so no credentials mode.
fn cors(allowed: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
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

/// A resource whose other methods answer 405 with `Allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut response = actix_web::ResponseError::error_response(&AppError::MethodNotAllowed);
        if let Ok(value) = header::HeaderValue::from_str(allow) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }))
}

async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound("no such route".into()))
}

async fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, to))
        .finish()
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/register", "POST").route(web::post().to(auth::register)))
        .service(resource("/auth/token", "POST").route(web::post().to(auth::issue_token)))
        .service(resource("/auth/refresh", "POST").route(web::post().to(auth::refresh_token)))
        .service(resource("/auth/me", "GET").route(web::get().to(auth::get_me)))
        .service(
            resource("/sessions", "GET, POST")
                .route(web::get().to(sessions::list_sessions))
                .route(web::post().to(sessions::create_session)),
        )
        .service(
            resource("/sessions/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(sessions::get_session))
                .route(web::patch().to(sessions::rename_session))
                .route(web::delete().to(sessions::delete_session)),
        )
        .service(
            resource("/sessions/{id}/messages", "GET, POST")
                .route(web::get().to(messages::list_messages))
                .route(web::post().to(messages::send_message)),
        )
        .service(resource("/admin/stats", "GET").route(web::get().to(admin::get_stats)))
        .service(resource("/admin/users", "GET").route(web::get().to(admin::list_users)))
        .service(resource("/admin/users/{id}", "PATCH").route(web::patch().to(admin::update_user)))
        .service(resource("/admin/sessions", "GET").route(web::get().to(admin::list_all_sessions)))
        .service(
            resource("/admin/sessions/{id}/messages", "GET")
                .route(web::get().to(admin::list_session_messages)),
        )
        .service(resource("/admin/", "GET").route(web::get().to(admin::admin_page)))
        .service(resource("/admin", "GET").route(web::get().to(|| redirect("/admin/"))))
        .service(resource("/swagger-ui", "GET").route(web::get().to(|| redirect("/swagger-ui/"))))
        .service(resource("/healthz", "GET").route(web::get().to(ops::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(ops::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(ops::metrics)));
}
