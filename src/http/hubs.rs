//! `/v1/hubs`: register, list, read, change and deprovision hubs (admin; reads with `read`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::accepted_response;
use super::extract::{AdminScope, Auth, JsonBody, PathId, QueryParams, ReadScope};
use super::problem::{ApiError, Problem};
use crate::app::{Accepted, App, HubCreate, HubUpdate, Plan};
use crate::model::{Hub, Page};

/// Register a hub; provisioning runs as a job.
#[utoipa::path(
    post,
    path = "/v1/hubs",
    tag = "hubs",
    operation_id = "hub_create",
    request_body(content = HubCreate, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted: the hub is provisioning", body = Accepted<Hub>,
            headers(("Location" = String, description = "URL of the provisioning job"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name or the VPC is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_create(
    State(app): State<App>,
    auth: Auth<AdminScope>,
    q: QueryParams,
    JsonBody(req): JsonBody<HubCreate>,
) -> Result<Response, ApiError> {
    q.finish()?;
    Ok(accepted_response(app.hub_create(&auth.actor, req).await?))
}

/// List hubs, oldest first.
#[utoipa::path(
    get,
    path = "/v1/hubs",
    tag = "hubs",
    operation_id = "hub_list",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of hubs", body = Page<Hub>),
        (status = 400, description = "Bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_list(
    State(app): State<App>,
    _auth: Auth<ReadScope>,
    mut q: QueryParams,
) -> Result<Json<Page<Hub>>, ApiError> {
    let limit = q.limit()?;
    let cursor = q.uuid_cursor()?;
    q.finish()?;
    Ok(Json(app.hub_list(cursor, limit).await?))
}

/// Read a hub.
#[utoipa::path(
    get,
    path = "/v1/hubs/{id}",
    tag = "hubs",
    operation_id = "hub_get",
    params(("id" = uuid::Uuid, Path, description = "Hub id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The hub", body = Hub),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_get(
    State(app): State<App>,
    _auth: Auth<ReadScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Json<Hub>, ApiError> {
    q.finish()?;
    Ok(Json(app.hub_get(id).await?))
}

/// Change a hub's endpoint services; the change runs as a job.
#[utoipa::path(
    patch,
    path = "/v1/hubs/{id}",
    tag = "hubs",
    operation_id = "hub_update",
    params(
        ("id" = uuid::Uuid, Path, description = "Hub id"),
        ("dry_run" = Option<bool>, Query, description = "Answer 200 with the plan: the request validated as for real and the AWS changes its job would make; nothing stored, nothing changed"),
    ),
    request_body(content = HubUpdate, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`dry_run=true`: the plan", body = Plan),
        (status = 200, description = "`dry_run=true`: the plan", body = Plan),
        (status = 202, description = "Accepted: the hub is updating", body = Accepted<Hub>,
            headers(("Location" = String, description = "URL of the update job"))),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The hub is being deleted", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_update(
    State(app): State<App>,
    auth: Auth<AdminScope>,
    PathId(id): PathId,
    q: QueryParams,
    JsonBody(req): JsonBody<HubUpdate>,
) -> Result<Response, ApiError> {
    let mut q = q;
    let dry_run = q.flag("dry_run")?;
    q.finish()?;
    if dry_run {
        return Ok(Json(app.hub_update_plan(&auth.actor, id, req).await?).into_response());
    }
    Ok(accepted_response(
        app.hub_update(&auth.actor, id, req).await?,
    ))
}

/// Deprovision a hub; refused while spokes are enrolled.
#[utoipa::path(
    delete,
    path = "/v1/hubs/{id}",
    tag = "hubs",
    operation_id = "hub_delete",
    params(
        ("id" = uuid::Uuid, Path, description = "Hub id"),
        ("dry_run" = Option<bool>, Query, description = "Answer 200 with the plan: the request validated as for real and the AWS changes its job would make; nothing stored, nothing changed"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`dry_run=true`: the plan", body = Plan),
        (status = 202, description = "Accepted: the hub is being deleted", body = Accepted<Hub>,
            headers(("Location" = String, description = "URL of the delete job"))),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Spokes are still enrolled, or the hub is already being deleted", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_delete(
    State(app): State<App>,
    auth: Auth<AdminScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let mut q = q;
    let dry_run = q.flag("dry_run")?;
    q.finish()?;
    if dry_run {
        return Ok(Json(app.hub_delete_plan(&auth.actor, id).await?).into_response());
    }
    Ok(accepted_response(app.hub_delete(&auth.actor, id).await?))
}
