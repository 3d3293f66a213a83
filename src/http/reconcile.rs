//! `POST /v1/hubs/{id}/reconcile` and `POST /v1/spokes/{id}/reconcile`: compare what AWS has
//! with what the registrations want and repair what is endpoint-hub's (a job), or with
//! `dry_run=true` answer what a reconcile would find and change, changing nothing.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::accepted_response;
use super::extract::{AdminScope, Auth, PathId, QueryParams, SpokesWriteScope};
use super::problem::{ApiError, Problem};
use crate::app::{Accepted, App, ReconcileOptions, ReconcilePlan, Reconciled};
use crate::model::{Hub, Spoke};

fn options(mut q: QueryParams) -> Result<ReconcileOptions, ApiError> {
    let opts = ReconcileOptions {
        dry_run: q.flag("dry_run")?,
        detect_only: q.flag("detect_only")?,
    };
    q.finish()?;
    Ok(opts)
}

fn answer<T: serde::Serialize>(r: Reconciled<T>) -> Response {
    match r {
        Reconciled::Planned(plan) => Json(plan).into_response(),
        Reconciled::Accepted(a) => accepted_response(a),
    }
}

/// Reconcile a hub and every attached spoke: find drift, repair what is ours.
///
/// Differences found and repairs made are job events and audit rows; the hub's and spokes'
/// `drift` show what is still open. A route, zone name or peering held by something that is
/// not endpoint-hub's is reported as a conflict and left alone. A reconcile already queued or
/// running is answered instead of a new one.
#[utoipa::path(
    post,
    path = "/v1/hubs/{id}/reconcile",
    tag = "hubs",
    operation_id = "hub_reconcile",
    params(("id" = uuid::Uuid, Path, description = "Hub id"), ReconcileOptions),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`dry_run=true`: what a reconcile would find and change now", body = ReconcilePlan),
        (status = 202, description = "Accepted: the reconcile runs as a job", body = Accepted<Hub>,
            headers(("Location" = String, description = "URL of the reconcile job"))),
        (status = 400, description = "`id` is not a UUID, or a bad flag", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The hub is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`dry_run`: AWS could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_reconcile(
    State(app): State<App>,
    auth: Auth<AdminScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let opts = options(q)?;
    Ok(answer(app.hub_reconcile(&auth.actor, id, opts).await?))
}

/// Reconcile one attached spoke: its peering, routes both ways, prefix-list entries and zone
/// associations.
#[utoipa::path(
    post,
    path = "/v1/spokes/{id}/reconcile",
    tag = "spokes",
    operation_id = "spoke_reconcile",
    params(("id" = uuid::Uuid, Path, description = "Spoke id"), ReconcileOptions),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`dry_run=true`: what a reconcile would find and change now", body = ReconcilePlan),
        (status = 202, description = "Accepted: the reconcile runs as a job", body = Accepted<Spoke>,
            headers(("Location" = String, description = "URL of the reconcile job"))),
        (status = 400, description = "`id` is not a UUID, or a bad flag", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such spoke", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The spoke is not attached, or its hub is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`dry_run`: AWS could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn spoke_reconcile(
    State(app): State<App>,
    auth: Auth<SpokesWriteScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let opts = options(q)?;
    Ok(answer(app.spoke_reconcile(&auth.actor, id, opts).await?))
}
