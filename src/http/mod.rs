//! The HTTP API: routes, extractors, problem+json errors, and the middleware every request
//! passes through (request id, tracing, body limit, timeout, problem finishing and the audit of
//! refused mutations).
//!
//! Handlers are thin: extract and parse, call [`App`], map the answer. They never touch the
//! store.

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_swagger_ui::SwaggerUi;

use crate::app::{Accepted, App};

mod audit;
mod cost;
mod events;
mod extract;
mod health;
mod hubs;
mod jobs;
mod openapi;
mod orphans;
mod problem;
mod reconcile;
mod spokes;
mod topology;
mod ui;
mod whoami;

pub use problem::Problem;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted (413 above).
    pub body_limit_bytes: usize,
    /// Longest a request may take (503 problem after).
    pub request_timeout: Duration,
}

/// The OpenAPI document of the API (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::api_router().into_openapi()
}

/// The complete HTTP application: API routes, `/openapi.json`, Swagger UI, and the layers.
pub fn router(app: App, config: HttpConfig) -> Router {
    let (api, spec) = openapi::api_router().split_for_parts();
    let router = api
        .merge(SwaggerUi::new("/swagger-ui").url("/openapi.json", spec))
        .merge(ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .on_response(
                    // One access-log line per request, inside the request's span (its id and path).
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                )
                .make_span_with(|req: &Request| {
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %request_id,
                    )
                }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(observe))
        .layer(middleware::from_fn_with_state(app.clone(), finish))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes));
    router.layer(layers).with_state(app)
}

/// Serves until `shutdown` completes, then lets running requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `202 Accepted` with the resource, its job, and `Location: /v1/jobs/{job_id}`.
fn accepted_response<T: Serialize>(accepted: Accepted<T>) -> Response {
    let location = HeaderValue::from_str(&accepted.job_url).ok();
    let mut res = (StatusCode::ACCEPTED, Json(accepted)).into_response();
    if let Some(location) = location {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn method_not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// Counts the request and its duration by route template (`unmatched` when no route matched).
async fn observe(req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let res = next.run(req).await;
    crate::metrics::http_request(
        method.as_str(),
        &route,
        res.status().as_u16(),
        start.elapsed(),
    );
    res
}

/// The last word on every response: error responses become complete problems (with the
/// request path and id), and refused mutations under `/v1` get an audit row.
async fn finish(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let secret = extract::bearer_secret(req.headers()).map(str::to_owned);
    let slot = extract::PrincipalSlot::default();
    req.extensions_mut().insert(slot.clone());

    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, _body) = res.into_parts();
    let mut problem = parts
        .extensions
        .remove::<Problem>()
        .unwrap_or_else(|| Problem::from_status(status, method.as_str(), &path));
    problem.status = status.as_u16();
    problem.instance = Some(path.clone());
    problem.request_id = request_id.clone();

    let mutating = matches!(
        method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    if mutating && (path == "/v1" || path.starts_with("/v1/")) {
        // Refused before the handler authenticated (404, 405, 413, timeout): look the token up
        // here so the audit row still names who asked.
        let principal = match (slot.0.get(), secret) {
            (Some(name), _) => name.clone(),
            (None, Some(secret)) => match app.principal_from_token(&secret).await {
                Ok(Some(p)) => p.name,
                _ => "anonymous".to_owned(),
            },
            (None, None) => "anonymous".to_owned(),
        };
        let action = format!("{method} {}", route.as_deref().unwrap_or(&path));
        let outcome = format!("rejected: {} {}", problem.status, problem.title);
        if let Err(e) = app
            .audit_refused(&principal, &action, &path, request_id.as_deref(), &outcome)
            .await
        {
            tracing::error!(error = ?e, "cannot audit a refused request");
        }
    }

    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(problem::PROBLEM_JSON),
    );
    if status == StatusCode::UNAUTHORIZED {
        parts
            .headers
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}
