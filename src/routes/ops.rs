//! Operations: health, readiness, metrics, and the request-metrics middleware.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::ContentType;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::examples;
use crate::error::{AppError, ErrorResponse};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The OpenAPI document as served at `/openapi.json`: serialised once at
/// start-up and shared by every worker. (Swagger UI's own handler kept a copy
/// of the document per worker — 9 MB of a 14 MB idle heap — and serialised
/// it again at every request.)
#[derive(Debug, Clone)]
pub struct SpecJson(Bytes);

impl SpecJson {
    pub fn new(document: &utoipa::openapi::OpenApi) -> serde_json::Result<Self> {
        Ok(Self(serde_json::to_vec(document)?.into()))
    }
}

/// `GET /openapi.json` (not itself an operation of the document).
pub async fn openapi_json(spec: web::Data<SpecJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(spec.0.clone())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
}

/// `ok`, or `unavailable` when a dependency (the database) does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

/// Liveness: 200 while the process is up.
#[utoipa::path(security(()), tag = "ops", responses((status = 200, description = "Up", body = Health, examples(("ok" = (summary = "Up", value = json!(examples::health())))))))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: HealthStatus::Ok,
    })
}

/// Readiness: 200 when the database answers, else 503.
#[utoipa::path(
    security(()),
    tag = "ops",
    responses(
        (status = 200, description = "Ready", body = Health, examples(("ready" = (summary = "The database answers", value = json!(examples::health()))))),
        (status = 503, description = "The database does not answer", body = Health),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(Health {
            status: HealthStatus::Ok,
        }),
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(Health {
                status: HealthStatus::Unavailable,
            })
        }
    }
}

/// Prometheus metrics (bearer `METRICS_TOKEN` when that is set).
#[utoipa::path(
    security((), ("bearer" = [])),
    tag = "ops",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String, examples(("metrics" = (summary = "One counter of the exposition", value = json!(examples::metrics()))))),
        (status = 401, description = "`METRICS_TOKEN` is set and was not presented", body = ErrorResponse),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if let Some(expected) = &state.settings.metrics_token {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if presented != Some(expected.expose_secret()) {
            return Err(AppError::Unauthorized("metrics token required".into()));
        }
    }
    state
        .metrics
        .replies_generating(state.chat.generating_now());
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}

/// Records every request by method, matched route pattern and status.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Client-chosen strings never become label values: unknown methods are
    // "OTHER" and unmatched paths are "unmatched".
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.http_request(
            method,
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
