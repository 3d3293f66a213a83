//! The OpenAPI document: every route is registered through `utoipa_axum::routes!`, so the
//! router and the spec come from the same handlers and cannot drift apart. The committed
//! `openapi/openapi.json` is checked against it by a test.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    audit, cost, events, health, hubs, jobs, orphans, reconcile, spokes, topology, whoami,
};
use crate::app::App;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "endpoint-hub",
        description = "Shares AWS VPC interface endpoints from one hub VPC with many spoke VPCs. \
            Errors are RFC 9457 problems (`application/problem+json`).",
    ),
    modifiers(&BearerAuth),
    components(schemas(super::problem::Problem, crate::app::FieldError)),
    tags(
        (name = "hubs", description = "Hub VPCs holding the shared endpoints"),
        (name = "spokes", description = "Spoke VPCs using the hub's endpoints"),
        (name = "jobs", description = "Background work carrying out changes"),
        (name = "orphans", description = "Resources tagged as endpoint-hub's whose owner is gone"),
        (name = "audit", description = "Append-only record of mutations"),
        (name = "tokens", description = "The calling API token"),
        (name = "health", description = "Probes"),
    )
)]
struct ApiDoc;

/// Adds the `bearer` security scheme the paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token: `Authorization: Bearer <secret>`. Scopes: `admin` (all), \
                         `read` (every GET under /v1), `spokes:write` (enrol, read and detach \
                         spokes, read jobs).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every API route with its documentation.
pub fn api_router() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(hubs::hub_create, hubs::hub_list))
        .routes(routes!(hubs::hub_get, hubs::hub_update, hubs::hub_delete))
        .routes(routes!(topology::hub_topology))
        .routes(routes!(cost::hub_cost))
        .routes(routes!(spokes::spoke_enroll, spokes::spoke_list))
        .routes(routes!(spokes::spoke_get, spokes::spoke_detach))
        .routes(routes!(reconcile::hub_reconcile))
        .routes(routes!(reconcile::spoke_reconcile))
        .routes(routes!(orphans::orphans_list))
        .routes(routes!(orphans::orphans_sweep))
        .routes(routes!(jobs::job_list))
        .routes(routes!(jobs::job_get))
        .routes(routes!(jobs::job_retry))
        .routes(routes!(events::events))
        .routes(routes!(audit::audit_list))
        .routes(routes!(whoami::whoami))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}
