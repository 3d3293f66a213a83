//! What the orphan listing needs from the registrations: every hub and spoke (deleted and
//! detached ones included), the services and zones of live hubs, and the hub accounts.

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{AccountId, ExternalId, Region, RoleArn};
use crate::model::{HubStatus, SpokeStatus};

pub struct HubRef {
    pub id: Uuid,
    pub status: HubStatus,
    pub vpc_id: String,
    pub security_group_id: Option<String>,
    pub prefix_list_id: Option<String>,
    pub profile_id: Option<String>,
    pub share_arn: Option<String>,
}

pub async fn hubs_all(pool: &PgPool) -> Result<Vec<HubRef>, sqlx::Error> {
    sqlx::query_as!(
        HubRef,
        r#"SELECT id, status AS "status: HubStatus", vpc_id, security_group_id, prefix_list_id,
                  profile_id, share_arn
           FROM hubs"#
    )
    .fetch_all(pool)
    .await
}

pub struct SpokeRef {
    pub id: Uuid,
    pub status: SpokeStatus,
    pub peering_id: Option<String>,
}

pub async fn spokes_all(pool: &PgPool) -> Result<Vec<SpokeRef>, sqlx::Error> {
    sqlx::query_as!(
        SpokeRef,
        r#"SELECT id, status AS "status: SpokeStatus", peering_id FROM spokes"#
    )
    .fetch_all(pool)
    .await
}

pub struct ServiceRef {
    pub hub_id: Uuid,
    pub service: String,
    pub generation: Uuid,
    pub endpoint_id: Option<String>,
}

/// The services of hubs that are not deleted.
pub async fn services_of_live_hubs(pool: &PgPool) -> Result<Vec<ServiceRef>, sqlx::Error> {
    sqlx::query_as!(
        ServiceRef,
        "SELECT s.hub_id, s.service, s.generation, s.endpoint_id FROM hub_services s \
         JOIN hubs h ON h.id = s.hub_id WHERE h.status <> 'deleted'"
    )
    .fetch_all(pool)
    .await
}

pub struct ZoneRef {
    pub caller_reference: String,
    pub zone_id: Option<String>,
}

/// The zones of hubs that are not deleted.
pub async fn zones_of_live_hubs(pool: &PgPool) -> Result<Vec<ZoneRef>, sqlx::Error> {
    sqlx::query_as!(
        ZoneRef,
        "SELECT z.caller_reference, z.zone_id FROM hub_service_zones z \
         JOIN hubs h ON h.id = z.hub_id WHERE h.status <> 'deleted'"
    )
    .fetch_all(pool)
    .await
}

pub struct HubAccount {
    pub account_id: AccountId,
    pub region: Region,
    pub role_arn: RoleArn,
    pub external_id: Option<ExternalId>,
}

/// One role per hub account and region: a live hub's when there is one (a deleted hub's role
/// may be gone), the newest otherwise.
pub async fn hub_accounts(pool: &PgPool) -> Result<Vec<HubAccount>, sqlx::Error> {
    sqlx::query_as!(
        HubAccount,
        r#"SELECT DISTINCT ON (account_id, region) account_id AS "account_id: AccountId",
             region AS "region: Region", role_arn AS "role_arn: RoleArn",
             external_id AS "external_id: ExternalId"
           FROM hubs ORDER BY account_id, region, (status = 'deleted'), created_at DESC"#
    )
    .fetch_all(pool)
    .await
}
