//! `/v1/spokes`: enrol, list, read and detach spokes (`spokes:write`; reads also with `read`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::accepted_response;
use super::extract::{
    Auth, IdempotencyKey, JsonBody, PathId, QueryParams, SpokesReadScope, SpokesWriteScope,
    labels_parse,
};
use super::problem::{ApiError, Problem};
use crate::app::{Accepted, App, Plan, SpokeEnroll, SpokeListFilter};
use crate::domain::AccountId;
use crate::model::{Page, Spoke, SpokeStatus};

/// Enrol a spoke VPC with a hub; the attach runs as a job.
///
/// With an `Idempotency-Key`, a retry with the same key and body gets the first answer again
/// (with `Idempotent-Replayed: true`); the same key with another body is refused (422).
#[utoipa::path(
    post,
    path = "/v1/spokes",
    tag = "spokes",
    operation_id = "spoke_enroll",
    params(
        ("dry_run" = Option<bool>, Query, description = "Answer 200 with the plan: the request validated as for real and the AWS changes its attach would make; nothing stored, nothing changed"),
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, min_length = 1,
            description = "1-255 printable ASCII characters; makes the request safe to retry"),
    ),
    request_body(content = SpokeEnroll, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`dry_run=true`: the plan", body = Plan),
        (status = 202, description = "Accepted: the spoke is attaching", body = Accepted<Spoke>,
            headers(
                ("Location" = String, description = "URL of the attach job"),
                ("Idempotent-Replayed" = Option<String>, description = "`true` when this is the saved answer of an earlier request"),
            )),
        (status = 400, description = "Malformed JSON or a bad `Idempotency-Key`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The VPC is enrolled already, a CIDR overlaps another registration (see `existing`), the hub is being deleted, or a quota is exhausted", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an `Idempotency-Key` reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn spoke_enroll(
    State(app): State<App>,
    auth: Auth<SpokesWriteScope>,
    IdempotencyKey(key): IdempotencyKey,
    q: QueryParams,
    JsonBody(req): JsonBody<SpokeEnroll>,
) -> Result<Response, ApiError> {
    let mut q = q;
    let dry_run = q.flag("dry_run")?;
    q.finish()?;
    if dry_run {
        return Ok(Json(app.spoke_enroll_plan(&auth.actor, req).await?).into_response());
    }
    let answer = app.spoke_enroll(&auth.actor, req, key.as_deref()).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED);
    let mut res = (status, Json(answer.body)).into_response();
    if let Some(location) = answer.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    if answer.replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// List spokes, oldest first.
#[utoipa::path(
    get,
    path = "/v1/spokes",
    tag = "spokes",
    operation_id = "spoke_list",
    params(
        ("hub" = Option<String>, Query, description = "Hub id or name"),
        ("account_id" = Option<AccountId>, Query, description = "Spoke account"),
        ("status" = Option<SpokeStatus>, Query, description = "Spoke status"),
        ("label" = Option<Vec<String>>, Query, style = Form, explode,
            description = "`key=value`; repeat the parameter for several labels (all must match)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of spokes", body = Page<Spoke>),
        (status = 400, description = "Bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` or `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn spoke_list(
    State(app): State<App>,
    _auth: Auth<SpokesReadScope>,
    mut q: QueryParams,
) -> Result<Json<Page<Spoke>>, ApiError> {
    let filter = SpokeListFilter {
        hub: q.string("hub")?,
        account_id: q.parse::<AccountId>("account_id")?,
        status: q.parse::<SpokeStatus>("status")?,
        labels: labels_parse(q.all("label"))?,
    };
    let limit = q.limit()?;
    let cursor = q.uuid_cursor()?;
    q.finish()?;
    Ok(Json(app.spoke_list(filter, cursor, limit).await?))
}

/// Read a spoke with the progress of its current job.
#[utoipa::path(
    get,
    path = "/v1/spokes/{id}",
    tag = "spokes",
    operation_id = "spoke_get",
    params(("id" = uuid::Uuid, Path, description = "Spoke id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The spoke", body = Spoke),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` or `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such spoke", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn spoke_get(
    State(app): State<App>,
    _auth: Auth<SpokesReadScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Json<Spoke>, ApiError> {
    q.finish()?;
    Ok(Json(app.spoke_get(id).await?))
}

/// Detach a spoke; the detach runs as a job.
#[utoipa::path(
    delete,
    path = "/v1/spokes/{id}",
    tag = "spokes",
    operation_id = "spoke_detach",
    params(
        ("id" = uuid::Uuid, Path, description = "Spoke id"),
        ("dry_run" = Option<bool>, Query, description = "Answer 200 with the plan; nothing stored, nothing changed"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`dry_run=true`: the plan", body = Plan),
        (status = 202, description = "Accepted: the spoke is detaching", body = Accepted<Spoke>,
            headers(("Location" = String, description = "URL of the detach job"))),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such spoke", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The spoke is detached already", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn spoke_detach(
    State(app): State<App>,
    auth: Auth<SpokesWriteScope>,
    PathId(id): PathId,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let mut q = q;
    let dry_run = q.flag("dry_run")?;
    q.finish()?;
    if dry_run {
        return Ok(Json(app.spoke_detach_plan(&auth.actor, id).await?).into_response());
    }
    Ok(accepted_response(app.spoke_detach(&auth.actor, id).await?))
}
