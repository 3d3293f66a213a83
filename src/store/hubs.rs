//! Hubs, their endpoint services, and the CIDR claims that keep every hub's address plan free of
//! overlaps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{cidrs_from_db, cidrs_to_db, parse_all, parse_col};
use crate::domain::{
    AccountId, ExternalId, HubName, Ipv4Cidr, Region, RoleArn, RouteTableId, ServiceName, SubnetId,
    VpcId,
};
use crate::model::{Hub, HubService, HubStatus};

/// A hub as registered, before any provisioning.
#[derive(Debug, Clone)]
pub struct NewHub {
    pub id: Uuid,
    pub name: HubName,
    pub account_id: AccountId,
    pub region: Region,
    pub vpc_id: VpcId,
    pub cidrs: Vec<Ipv4Cidr>,
    pub subnet_ids: Vec<SubnetId>,
    pub route_table_ids: Vec<RouteTableId>,
    pub services: Vec<ServiceName>,
    pub role_arn: RoleArn,
    pub external_id: Option<ExternalId>,
    pub prefix_list_max_entries: i32,
}

#[derive(sqlx::FromRow)]
struct HubRow {
    id: Uuid,
    name: String,
    account_id: String,
    region: String,
    vpc_id: String,
    cidrs: Vec<ipnet::IpNet>,
    subnet_ids: Vec<String>,
    route_table_ids: Vec<String>,
    role_arn: String,
    external_id: Option<String>,
    prefix_list_max_entries: i32,
    status: String,
    security_group_id: Option<String>,
    prefix_list_id: Option<String>,
    last_error: Option<String>,
    current_job_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    hub_id: Uuid,
    service: String,
    generation: Uuid,
    state: String,
    endpoint_id: Option<String>,
    zone_id: Option<String>,
    zone_name: Option<String>,
}

impl ServiceRow {
    fn into_model(self) -> Result<HubService, sqlx::Error> {
        Ok(HubService {
            name: parse_col("service", &self.service)?,
            state: self.state,
            endpoint_id: self
                .endpoint_id
                .map(|v| parse_col("endpoint_id", &v))
                .transpose()?,
            zone_id: self.zone_id.map(|v| parse_col("zone_id", &v)).transpose()?,
            zone_name: self.zone_name,
            generation: self.generation,
        })
    }
}

impl HubRow {
    fn into_model(self, services: Vec<HubService>) -> Result<Hub, sqlx::Error> {
        Ok(Hub {
            id: self.id,
            name: parse_col("name", &self.name)?,
            account_id: parse_col("account_id", &self.account_id)?,
            region: parse_col("region", &self.region)?,
            vpc_id: parse_col("vpc_id", &self.vpc_id)?,
            cidrs: cidrs_from_db(&self.cidrs)?,
            subnet_ids: parse_all("subnet_ids", &self.subnet_ids)?,
            route_table_ids: parse_all("route_table_ids", &self.route_table_ids)?,
            services,
            role_arn: parse_col("role_arn", &self.role_arn)?,
            external_id: self
                .external_id
                .map(|v| parse_col("external_id", &v))
                .transpose()?,
            prefix_list_max_entries: self.prefix_list_max_entries,
            status: parse_col("status", &self.status)?,
            security_group_id: self
                .security_group_id
                .map(|v| parse_col("security_group_id", &v))
                .transpose()?,
            prefix_list_id: self
                .prefix_list_id
                .map(|v| parse_col("prefix_list_id", &v))
                .transpose()?,
            last_error: self.last_error,
            current_job_id: self.current_job_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const HUB_COLUMNS: &str = "id, name, account_id, region, vpc_id, cidrs, subnet_ids, \
    route_table_ids, role_arn, external_id, prefix_list_max_entries, status, security_group_id, \
    prefix_list_id, last_error, current_job_id, created_at, updated_at";

async fn hubs_with_services(
    conn: &mut PgConnection,
    rows: Vec<HubRow>,
) -> Result<Vec<Hub>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let services: Vec<ServiceRow> = sqlx::query_as(
        "SELECT hub_id, service, generation, state, endpoint_id, zone_id, zone_name FROM hub_services \
         WHERE hub_id = ANY($1) ORDER BY service",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_hub: HashMap<Uuid, Vec<HubService>> = HashMap::new();
    for s in services {
        by_hub.entry(s.hub_id).or_default().push(s.into_model()?);
    }
    rows.into_iter()
        .map(|r| {
            let services = by_hub.remove(&r.id).unwrap_or_default();
            r.into_model(services)
        })
        .collect()
}

/// Inserts a hub, its services and its CIDR claims. Fails with a unique violation on a live hub
/// of the same name or VPC, and an exclusion violation when the hub's CIDRs overlap each other.
pub async fn hub_insert(conn: &mut PgConnection, hub: &NewHub) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO hubs (id, name, account_id, region, vpc_id, cidrs, subnet_ids, \
         route_table_ids, role_arn, external_id, prefix_list_max_entries, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(hub.id)
    .bind(&hub.name)
    .bind(&hub.account_id)
    .bind(&hub.region)
    .bind(&hub.vpc_id)
    .bind(cidrs_to_db(&hub.cidrs))
    .bind(&hub.subnet_ids)
    .bind(&hub.route_table_ids)
    .bind(&hub.role_arn)
    .bind(&hub.external_id)
    .bind(hub.prefix_list_max_entries)
    .bind(HubStatus::Provisioning.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO hub_services (hub_id, service) SELECT $1, unnest($2::text[])")
        .bind(hub.id)
        .bind(&hub.services)
        .execute(&mut *conn)
        .await?;
    cidr_claims_insert(conn, hub.id, "hub", hub.id, &hub.cidrs).await
}

pub async fn hub_get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Hub>, sqlx::Error> {
    let rows: Vec<HubRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HUB_COLUMNS} FROM hubs WHERE id = $1"
    )))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(hubs_with_services(conn, rows).await?.pop())
}

/// Locks a hub's row for the rest of the transaction (serialises changes to one hub).
pub async fn hub_lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Hub>, sqlx::Error> {
    let rows: Vec<HubRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HUB_COLUMNS} FROM hubs WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(hubs_with_services(conn, rows).await?.pop())
}

/// The live (not deleted) hub with that name.
pub async fn hub_id_by_name(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM hubs WHERE name = $1 AND status <> 'deleted'")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
}

/// Live (not deleted) hubs, by creation order.
pub async fn hub_list(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Hub>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let rows: Vec<HubRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HUB_COLUMNS} FROM hubs WHERE status <> 'deleted' AND ($1::uuid IS NULL OR id > $1) \
         ORDER BY id LIMIT $2"
    )))
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    hubs_with_services(&mut conn, rows).await
}

pub async fn hub_status_set(
    conn: &mut PgConnection,
    id: Uuid,
    status: HubStatus,
    last_error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE hubs SET status = $2, last_error = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(last_error)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn hub_current_job_set(
    conn: &mut PgConnection,
    id: Uuid,
    job_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE hubs SET current_job_id = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(job_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the hub-wide resources provisioning found or created.
pub async fn hub_resources_set(
    conn: &mut PgConnection,
    id: Uuid,
    security_group_id: Option<&str>,
    prefix_list_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE hubs SET security_group_id = $2, prefix_list_id = $3, updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(security_group_id)
    .bind(prefix_list_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the wanted services: new ones are added as `present`, missing ones marked `removing`.
pub async fn hub_services_want(
    conn: &mut PgConnection,
    id: Uuid,
    services: &[ServiceName],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO hub_services (hub_id, service) SELECT $1, unnest($2::text[]) \
         ON CONFLICT (hub_id, service) DO UPDATE SET state = 'present'",
    )
    .bind(id)
    .bind(services)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE hub_services SET state = 'removing' WHERE hub_id = $1 AND NOT (service = ANY($2))",
    )
    .bind(id)
    .bind(services)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the endpoint and zone made for one service.
pub async fn hub_service_resources_set(
    conn: &mut PgConnection,
    id: Uuid,
    service: &ServiceName,
    endpoint_id: Option<&str>,
    zone_id: Option<&str>,
    zone_name: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE hub_services SET endpoint_id = $3, zone_id = $4, zone_name = $5 \
         WHERE hub_id = $1 AND service = $2",
    )
    .bind(id)
    .bind(service)
    .bind(endpoint_id)
    .bind(zone_id)
    .bind(zone_name)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn hub_service_delete(
    conn: &mut PgConnection,
    id: Uuid,
    service: &ServiceName,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM hub_services WHERE hub_id = $1 AND service = $2 AND state = 'removing'",
    )
    .bind(id)
    .bind(service)
    .execute(conn)
    .await?;
    Ok(())
}

/// Releases a deleted hub's CIDR claims.
pub async fn hub_claims_release(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cidr_claims WHERE hub_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims CIDRs inside a hub's address plan; an exclusion violation (`23P01`) means an overlap.
pub async fn cidr_claims_insert(
    conn: &mut PgConnection,
    hub_id: Uuid,
    owner_kind: &str,
    owner_id: Uuid,
    cidrs: &[Ipv4Cidr],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cidr_claims (hub_id, cidr, owner_kind, owner_id) \
         SELECT $1, unnest($2::cidr[]), $3, $4",
    )
    .bind(hub_id)
    .bind(cidrs_to_db(cidrs))
    .bind(owner_kind)
    .bind(owner_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Releases every claim of one owner (a detached spoke).
pub async fn cidr_claims_release(
    conn: &mut PgConnection,
    owner_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cidr_claims WHERE owner_id = $1")
        .bind(owner_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A claim that overlaps one of `cidrs` in the hub, other than `except_owner`'s.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CidrConflict {
    pub cidr: ipnet::IpNet,
    pub owner_kind: String,
    pub owner_id: Uuid,
}

pub async fn cidr_conflict_find(
    conn: &mut PgConnection,
    hub_id: Uuid,
    cidrs: &[Ipv4Cidr],
    except_owner: Option<Uuid>,
) -> Result<Option<(Ipv4Cidr, CidrConflict)>, sqlx::Error> {
    for c in cidrs {
        let found: Option<CidrConflict> = sqlx::query_as(
            "SELECT cidr, owner_kind, owner_id FROM cidr_claims \
             WHERE hub_id = $1 AND cidr::inet && $2::cidr::inet \
             AND ($3::uuid IS NULL OR owner_id <> $3) LIMIT 1",
        )
        .bind(hub_id)
        .bind(ipnet::IpNet::from(*c))
        .bind(except_owner)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(f) = found {
            return Ok(Some((*c, f)));
        }
    }
    Ok(None)
}

/// Counts a hub's spokes that hold or are getting a peering (not detached).
pub async fn hub_live_spokes(conn: &mut PgConnection, hub_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM spokes WHERE hub_id = $1 AND status <> 'detached'")
        .bind(hub_id)
        .fetch_one(conn)
        .await
}

/// Total CIDRs claimed by the hub's live spokes (entries its prefix list must hold).
pub async fn hub_spoke_cidr_count(
    conn: &mut PgConnection,
    hub_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM cidr_claims WHERE hub_id = $1 AND owner_kind = 'spoke'",
    )
    .bind(hub_id)
    .fetch_one(conn)
    .await
}
