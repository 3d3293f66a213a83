//! `/v1/whoami`: the calling token's name and scopes, so a client (the console) can offer only
//! what the token may do.

use axum::Json;

use super::extract::{AnyScope, Auth, QueryParams};
use super::problem::{ApiError, Problem};
use crate::model::Whoami;

/// The calling token's name and scopes (any valid token).
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "tokens",
    operation_id = "whoami",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's name and scopes", body = Whoami),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn whoami(auth: Auth<AnyScope>, q: QueryParams) -> Result<Json<Whoami>, ApiError> {
    q.finish()?;
    let principal = auth.actor.principal;
    Ok(Json(Whoami {
        name: principal.name,
        // As the CLI and the docs spell them (`spokes:write`).
        scopes: principal
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
    }))
}
