//! `/v1/hubs/{id}/topology`: every live spoke of a hub at once, compact, for the console's
//! picture (the paged, filterable list stays `GET /v1/spokes`).

use axum::Json;
use axum::extract::State;

use super::extract::{Auth, PathId, QueryParams, ReadScope};
use super::problem::{ApiError, Problem};
use crate::app::App;
use crate::model::Topology;

/// A hub's live spokes (id, account, VPC, CIDRs, status, drift and conflict marks, last error)
/// and its spokes counted by status, from one query.
#[utoipa::path(
    get,
    path = "/v1/hubs/{id}/topology",
    tag = "hubs",
    operation_id = "hub_topology",
    params(("id" = uuid::Uuid, Path, description = "Hub id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The hub's spokes, compact", body = Topology),
        (status = 400, description = "`id` is not a UUID, or an unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_topology(
    State(app): State<App>,
    _auth: Auth<ReadScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Json<Topology>, ApiError> {
    q.finish()?;
    Ok(Json(app.hub_topology(id).await?))
}
