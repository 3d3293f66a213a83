//! `/v1/jobs`: follow and retry the background jobs that carry out hub and spoke changes.

use axum::Json;
use axum::extract::State;

use super::extract::{AdminScope, Auth, PathId, QueryParams, SpokesReadScope};
use super::problem::{ApiError, Problem};
use crate::app::App;
use crate::model::{Job, JobKind, JobStatus, Page};
use crate::store::jobs::JobFilter;

/// List jobs, oldest first.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "job_list",
    params(
        ("status" = Option<JobStatus>, Query, description = "Job status"),
        ("kind" = Option<JobKind>, Query, description = "Job kind"),
        ("hub_id" = Option<uuid::Uuid>, Query, description = "Jobs of this hub"),
        ("spoke_id" = Option<uuid::Uuid>, Query, description = "Jobs of this spoke"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of jobs", body = Page<Job>),
        (status = 400, description = "Bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` or `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn job_list(
    State(app): State<App>,
    _auth: Auth<SpokesReadScope>,
    mut q: QueryParams,
) -> Result<Json<Page<Job>>, ApiError> {
    let filter = JobFilter {
        status: q.parse::<JobStatus>("status")?,
        kind: q.parse::<JobKind>("kind")?,
        hub_id: q.uuid("hub_id")?,
        spoke_id: q.uuid("spoke_id")?,
    };
    let limit = q.limit()?;
    let cursor = q.uuid_cursor()?;
    q.finish()?;
    Ok(Json(app.job_list(filter, cursor, limit).await?))
}

/// Read a job with its events.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    operation_id = "job_get",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job and its events", body = Job),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` or `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn job_get(
    State(app): State<App>,
    _auth: Auth<SpokesReadScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Json<Job>, ApiError> {
    q.finish()?;
    Ok(Json(app.job_get(id).await?))
}

/// Resume a failed job at its failed step.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/retry",
    tag = "jobs",
    operation_id = "job_retry",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job, queued again", body = Job),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not failed", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn job_retry(
    State(app): State<App>,
    auth: Auth<AdminScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Json<Job>, ApiError> {
    q.finish()?;
    Ok(Json(app.job_retry(&auth.actor, id).await?))
}
