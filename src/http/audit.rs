//! `/v1/audit`: the append-only record of every mutation, accepted or refused.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};

use super::extract::{Auth, QueryParams, ReadScope};
use super::problem::{ApiError, Problem};
use crate::app::App;
use crate::model::{AuditEntry, Page};
use crate::store::audit::AuditFilter;

/// List audit records, newest first.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "audit_list",
    params(
        ("target" = Option<String>, Query, description = "Target, e.g. `spoke:<id>` or a request path"),
        ("principal" = Option<String>, Query, description = "Token name, `system` or `anonymous`"),
        ("action" = Option<String>, Query, description = "Action, e.g. `spoke.enroll` or `POST /v1/spokes`"),
        ("since" = Option<DateTime<Utc>>, Query, description = "RFC 3339 time; records at or after it"),
        ("until" = Option<DateTime<Utc>>, Query, description = "RFC 3339 time; records before it"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page (a record id)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of audit records", body = Page<AuditEntry>),
        (status = 400, description = "Bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn audit_list(
    State(app): State<App>,
    _auth: Auth<ReadScope>,
    mut q: QueryParams,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let filter = AuditFilter {
        target: q.string("target")?,
        principal: q.string("principal")?,
        action: q.string("action")?,
        since: time_param(&mut q, "since")?,
        until: time_param(&mut q, "until")?,
    };
    let limit = q.limit()?;
    let cursor = match q.string("cursor")? {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(Problem::bad_request(
                    "cursor",
                    format!("'{v}' is not a cursor of this list"),
                )
                .into());
            }
        },
    };
    q.finish()?;
    Ok(Json(app.audit_list(filter, cursor, limit).await?))
}

fn time_param(q: &mut QueryParams, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.string(name)?
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(name, format!("'{v}' is not an RFC 3339 time: {e}"))
                })
        })
        .transpose()
}
