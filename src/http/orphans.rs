//! `GET /v1/orphans` and `POST /v1/orphans/sweep`: AWS resources tagged as endpoint-hub's
//! whose owner has no live registration, and their deletion (see `app::orphans`).

use axum::Json;
use axum::extract::State;

use super::extract::{AdminScope, Auth, QueryParams, ReadScope};
use super::problem::{ApiError, Problem};
use crate::app::App;
use crate::app::orphans::{OrphanList, SweepReport};

/// List orphans: resources tagged `endpoint-hub:owner` (and hosted zones with an
/// `endpoint-hub:` caller reference) in every hub account the service knows, whose owner has
/// no live registration.
///
/// An orphan's hub is missing or deleted, its spoke is missing or detached, its endpoint's
/// service is no longer on the hub or has another generation now, or no zone of a live hub has
/// its caller reference. Deleted and deleting peerings and endpoints are not listed. Reads AWS,
/// changes nothing. Accounts that could not be read are listed in `unreachable`.
#[utoipa::path(
    get,
    path = "/v1/orphans",
    tag = "orphans",
    operation_id = "orphans_list",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The orphans, in the order a sweep deletes them", body = OrphanList),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn orphans_list(
    State(app): State<App>,
    _auth: Auth<ReadScope>,
    q: QueryParams,
) -> Result<Json<OrphanList>, ApiError> {
    q.finish()?;
    Ok(Json(app.orphans_list().await?))
}

/// Delete orphans: hosted zones (other VPCs disassociated, authorizations and records
/// deleted), then endpoints, then peerings (with the hub VPC's routes through them), then
/// security groups, then prefix lists.
///
/// Each item says what became of it: `deleted`, `deleting` (an endpoint, gone once its network
/// interfaces are), `in_use: retry later` (a security group or prefix list still held by
/// endpoints being deleted: sweep again later), or `error: ...`. Each deletion is an audit
/// record (`orphan.delete`). With `dry_run=true`, answers what would be deleted, in order
/// (`would delete`), and changes nothing. A second sweep finds nothing, or only what is still
/// being deleted.
#[utoipa::path(
    post,
    path = "/v1/orphans/sweep",
    tag = "orphans",
    operation_id = "orphans_sweep",
    params(
        ("dry_run" = Option<bool>, Query, description = "Answer what would be deleted; delete nothing"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each orphan and what became of it", body = SweepReport),
        (status = 400, description = "A bad flag or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn orphans_sweep(
    State(app): State<App>,
    auth: Auth<AdminScope>,
    mut q: QueryParams,
) -> Result<Json<SweepReport>, ApiError> {
    let dry_run = q.flag("dry_run")?;
    q.finish()?;
    Ok(Json(app.orphans_sweep(&auth.actor, dry_run).await?))
}
