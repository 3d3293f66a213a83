//! `GET /v1/hubs/{id}/cost`: what a hub's shared endpoints cost per month against endpoints in
//! every attached spoke VPC, and the saving (`read`).

use axum::Json;
use axum::extract::State;

use super::extract::{Auth, PathId, QueryParams, ReadScope};
use super::problem::{ApiError, Problem};
use crate::app::{App, CostQuery, CostReport};

/// Availability Zones a spoke may be assumed to use (AWS Regions have at most six today).
pub const MAX_SPOKE_AZS: i64 = 10;
/// The largest `gb_per_spoke_month` taken (10 PB).
pub const MAX_GB_PER_SPOKE_MONTH: f64 = 10_000_000.0;

/// What the hub's endpoints cost per month against the same services as endpoints in every
/// attached spoke VPC, and the monthly saving.
///
/// Hub: interface endpoints (services x the hub's AZs x the endpoint-hour price x 730 hours),
/// its private hosted zones (the first 25 at the first tier), in `profile` DNS mode the Route
/// 53 Profiles charge, in `transit_gateway` network mode an attachment per spoke and the hub's.
/// Alternative: each attached spoke with its own endpoints for the same services (services x
/// AZs per spoke x price x 730; their private DNS is free). AZs per spoke default to the hub's:
/// endpoint-hub does not know them. With `gb_per_spoke_month`, data processing and data
/// crossing AZs are added as lines marked `estimate`. Prices per Region come from the
/// repository's table (`prices/aws-prices.json`, its sources and dates in the answer) or from
/// `EH_PRICES_FILE`; a price no source confirms for the Region is listed in
/// `prices.unconfirmed`. The saving is negative when the hub costs more (few spokes, a
/// Profile, a Transit Gateway); `break_even_spokes` says from how many spokes it pays.
#[utoipa::path(
    get,
    path = "/v1/hubs/{id}/cost",
    tag = "hubs",
    operation_id = "hub_cost",
    params(
        ("id" = uuid::Uuid, Path, description = "Hub id"),
        ("spoke_azs" = Option<i64>, Query, minimum = 1, maximum = 10,
            description = "Availability Zones each spoke's own endpoints would use in the alternative (default: the hub's AZ count)"),
        ("gb_per_spoke_month" = Option<f64>, Query, minimum = 0, maximum = 10000000,
            description = "Estimated GB each spoke sends and receives through the endpoints per month (default 0: no data-processing estimate)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cost report", body = CostReport),
        (status = 400, description = "`id` is not a UUID, a bad `spoke_azs` or `gb_per_spoke_month`, or an unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The price table has no prices for the hub's Region (`prices-missing`: add them with `EH_PRICES_FILE`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hub_cost(
    State(app): State<App>,
    _auth: Auth<ReadScope>,
    PathId(id): PathId,
    mut q: QueryParams,
) -> Result<Json<CostReport>, ApiError> {
    let query = CostQuery {
        spoke_azs: spoke_azs(&mut q)?,
        gb_per_spoke_month: gb_per_spoke_month(&mut q)?,
    };
    q.finish()?;
    Ok(Json(app.hub_cost(id, query).await?))
}

fn spoke_azs(q: &mut QueryParams) -> Result<Option<i64>, ApiError> {
    let Some(v) = q.string("spoke_azs")? else {
        return Ok(None);
    };
    match v.parse::<i64>() {
        Ok(n) if (1..=MAX_SPOKE_AZS).contains(&n) => Ok(Some(n)),
        _ => Err(Problem::bad_request(
            "spoke_azs",
            format!("'{v}' is not a whole number of Availability Zones from 1 to {MAX_SPOKE_AZS}"),
        )
        .into()),
    }
}

fn gb_per_spoke_month(q: &mut QueryParams) -> Result<Option<f64>, ApiError> {
    let Some(v) = q.string("gb_per_spoke_month")? else {
        return Ok(None);
    };
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=MAX_GB_PER_SPOKE_MONTH).contains(&x) => Ok(Some(x)),
        _ => Err(Problem::bad_request(
            "gb_per_spoke_month",
            format!("'{v}' is not a number of GB from 0 to {MAX_GB_PER_SPOKE_MONTH}"),
        )
        .into()),
    }
}
