//! Hubs, their endpoint services, and the CIDR claims that keep every hub's address plan free of
//! overlaps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{
    AccountId, EndpointId, ExternalId, HostedZoneId, HubName, Ipv4Cidr, PrefixListId, ProfileId,
    Region, RoleArn, RouteTableId, SecurityGroupId, ServiceName, SubnetId, TgwAttachmentId,
    TgwRouteTableId, TransitGatewayId, VpcId,
};
use crate::model::{
    DnsMode, Drift, Hub, HubService, HubStatus, HubTransit, HubZone, NetworkMode, ReconcileMode,
};

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
    pub reconcile_mode: ReconcileMode,
    pub dns_mode: DnsMode,
    pub network_mode: NetworkMode,
    /// `transit_gateway` mode: a gateway of the hub account given at registration.
    pub transit_gateway_id: Option<TransitGatewayId>,
}

/// A `hubs` row, decoded straight into the domain types.
struct HubRow {
    id: Uuid,
    name: HubName,
    account_id: AccountId,
    region: Region,
    vpc_id: VpcId,
    cidrs: Vec<Ipv4Cidr>,
    subnet_ids: Vec<SubnetId>,
    route_table_ids: Vec<RouteTableId>,
    role_arn: RoleArn,
    external_id: Option<ExternalId>,
    prefix_list_max_entries: i32,
    status: HubStatus,
    security_group_id: Option<SecurityGroupId>,
    prefix_list_id: Option<PrefixListId>,
    reconcile_mode: ReconcileMode,
    dns_mode: DnsMode,
    profile_id: Option<ProfileId>,
    profile_arn: Option<String>,
    share_arn: Option<String>,
    network_mode: NetworkMode,
    transit_gateway_id: Option<TransitGatewayId>,
    transit_gateway_given: bool,
    tgw_attachment_id: Option<TgwAttachmentId>,
    tgw_hub_route_table_id: Option<TgwRouteTableId>,
    tgw_spoke_route_table_id: Option<TgwRouteTableId>,
    tgw_share_arn: Option<String>,
    drift: Option<sqlx::types::Json<Drift>>,
    last_error: Option<String>,
    current_job_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `SELECT <every hubs column, typed> FROM hubs <tail>` as a compile-checked `query_as!`.
macro_rules! hub_rows {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            HubRow,
            r#"SELECT id, name AS "name: HubName", account_id AS "account_id: AccountId",
                region AS "region: Region", vpc_id AS "vpc_id: VpcId",
                cidrs AS "cidrs: Vec<Ipv4Cidr>", subnet_ids AS "subnet_ids: Vec<SubnetId>",
                route_table_ids AS "route_table_ids: Vec<RouteTableId>",
                role_arn AS "role_arn: RoleArn", external_id AS "external_id: ExternalId",
                prefix_list_max_entries, status AS "status: HubStatus",
                security_group_id AS "security_group_id: SecurityGroupId",
                prefix_list_id AS "prefix_list_id: PrefixListId",
                reconcile_mode AS "reconcile_mode: ReconcileMode",
                dns_mode AS "dns_mode: DnsMode", profile_id AS "profile_id: ProfileId",
                profile_arn, share_arn, network_mode AS "network_mode: NetworkMode",
                transit_gateway_id AS "transit_gateway_id: TransitGatewayId",
                transit_gateway_given,
                tgw_attachment_id AS "tgw_attachment_id: TgwAttachmentId",
                tgw_hub_route_table_id AS "tgw_hub_route_table_id: TgwRouteTableId",
                tgw_spoke_route_table_id AS "tgw_spoke_route_table_id: TgwRouteTableId",
                tgw_share_arn,
                drift AS "drift: sqlx::types::Json<Drift>", last_error, current_job_id,
                created_at, updated_at
            FROM hubs "# + $tail
            $(, $arg)*
        )
    };
}

impl HubRow {
    fn into_model(self, services: Vec<HubService>) -> Hub {
        Hub {
            id: self.id,
            name: self.name,
            account_id: self.account_id,
            region: self.region,
            vpc_id: self.vpc_id,
            cidrs: self.cidrs,
            subnet_ids: self.subnet_ids,
            route_table_ids: self.route_table_ids,
            services,
            role_arn: self.role_arn,
            external_id: self.external_id,
            prefix_list_max_entries: self.prefix_list_max_entries,
            status: self.status,
            security_group_id: self.security_group_id,
            prefix_list_id: self.prefix_list_id,
            reconcile_mode: self.reconcile_mode,
            dns_mode: self.dns_mode,
            profile_id: self.profile_id,
            profile_arn: self.profile_arn,
            share_arn: self.share_arn,
            network_mode: self.network_mode,
            transit_gateway: (self.network_mode == NetworkMode::TransitGateway).then_some(
                HubTransit {
                    transit_gateway_id: self.transit_gateway_id,
                    given: self.transit_gateway_given,
                    hub_attachment_id: self.tgw_attachment_id,
                    hub_route_table_id: self.tgw_hub_route_table_id,
                    spoke_route_table_id: self.tgw_spoke_route_table_id,
                    share_arn: self.tgw_share_arn,
                },
            ),
            capacity: Vec::new(),
            spoke_counts: None,
            drift: self.drift.map(|d| d.0),
            last_error: self.last_error,
            current_job_id: self.current_job_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

async fn hubs_with_services(
    conn: &mut PgConnection,
    rows: Vec<HubRow>,
) -> Result<Vec<Hub>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let services = sqlx::query!(
        r#"SELECT hub_id, service AS "service: ServiceName", generation, state,
            endpoint_id AS "endpoint_id: EndpointId"
        FROM hub_services WHERE hub_id = ANY($1) ORDER BY service"#,
        &ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    let zones = sqlx::query!(
        r#"SELECT hub_id, service, zone_name, zone_id AS "zone_id: HostedZoneId", caller_reference
        FROM hub_service_zones WHERE hub_id = ANY($1) ORDER BY service, position, zone_name"#,
        &ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut zones_by_service: HashMap<(Uuid, String), Vec<HubZone>> = HashMap::new();
    for z in zones {
        zones_by_service
            .entry((z.hub_id, z.service))
            .or_default()
            .push(HubZone {
                name: z.zone_name,
                id: z.zone_id,
                caller_reference: z.caller_reference,
            });
    }
    let mut by_hub: HashMap<Uuid, Vec<HubService>> = HashMap::new();
    for s in services {
        let (ports, ports_note) = HubService::ports_of(&s.service);
        let zones = zones_by_service
            .remove(&(s.hub_id, s.service.as_str().to_owned()))
            .unwrap_or_default();
        let first = zones.first();
        by_hub.entry(s.hub_id).or_default().push(HubService {
            ports,
            ports_note,
            name: s.service,
            state: s.state,
            endpoint_id: s.endpoint_id,
            zone_id: first.and_then(|z| z.id.clone()),
            zone_name: first.map(|z| z.name.clone()),
            zones,
            generation: s.generation,
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let services = by_hub.remove(&r.id).unwrap_or_default();
            r.into_model(services)
        })
        .collect())
}

/// Inserts a hub, its services and its CIDR claims. Fails with a unique violation on a live hub
/// of the same name or VPC, and an exclusion violation when the hub's CIDRs overlap each other.
pub async fn hub_insert(conn: &mut PgConnection, hub: &NewHub) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO hubs (id, name, account_id, region, vpc_id, cidrs, subnet_ids, \
         route_table_ids, role_arn, external_id, prefix_list_max_entries, status, reconcile_mode, \
         dns_mode, network_mode, transit_gateway_id, transit_gateway_given) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        hub.id,
        hub.name.as_str(),
        hub.account_id.as_str(),
        hub.region.as_str(),
        hub.vpc_id.as_str(),
        &hub.cidrs as &[Ipv4Cidr],
        &hub.subnet_ids as &[SubnetId],
        &hub.route_table_ids as &[RouteTableId],
        hub.role_arn.as_str(),
        hub.external_id.as_ref().map(ExternalId::as_str),
        hub.prefix_list_max_entries,
        HubStatus::Provisioning.as_str(),
        hub.reconcile_mode.as_str(),
        hub.dns_mode.as_str(),
        hub.network_mode.as_str(),
        hub.transit_gateway_id
            .as_ref()
            .map(TransitGatewayId::as_str),
        hub.transit_gateway_id.is_some(),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO hub_services (hub_id, service) SELECT $1, unnest($2::text[])",
        hub.id,
        &hub.services as &[ServiceName],
    )
    .execute(&mut *conn)
    .await?;
    cidr_claims_insert(conn, hub.id, "hub", hub.id, &hub.cidrs).await
}

pub async fn hub_get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Hub>, sqlx::Error> {
    let rows = hub_rows!("WHERE id = $1", id).fetch_all(&mut *conn).await?;
    Ok(hubs_with_services(conn, rows).await?.pop())
}

/// Records the hub's Route 53 Profile (`profile` mode).
pub async fn hub_profile_set(
    conn: &mut PgConnection,
    id: Uuid,
    profile_id: &ProfileId,
    profile_arn: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hubs SET profile_id = $2, profile_arn = $3, updated_at = now() WHERE id = $1",
        id,
        profile_id.as_str(),
        profile_arn,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records (or forgets, with `None`) the RAM share of the hub's Profile.
pub async fn hub_share_set(
    conn: &mut PgConnection,
    id: Uuid,
    share_arn: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hubs SET share_arn = $2, updated_at = now() WHERE id = $1",
        id,
        share_arn,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records what the hub uses and made in `transit_gateway` mode (every column at once).
pub async fn hub_transit_set(
    conn: &mut PgConnection,
    id: Uuid,
    t: &HubTransit,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hubs SET transit_gateway_id = $2, tgw_attachment_id = $3, \
         tgw_hub_route_table_id = $4, tgw_spoke_route_table_id = $5, tgw_share_arn = $6, \
         updated_at = now() WHERE id = $1",
        id,
        t.transit_gateway_id.as_ref().map(TransitGatewayId::as_str),
        t.hub_attachment_id.as_ref().map(TgwAttachmentId::as_str),
        t.hub_route_table_id.as_ref().map(TgwRouteTableId::as_str),
        t.spoke_route_table_id.as_ref().map(TgwRouteTableId::as_str),
        t.share_arn.as_deref(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets the hub's Profile (deleted with the hub).
pub async fn hub_profile_clear(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hubs SET profile_id = NULL, profile_arn = NULL, updated_at = now() WHERE id = $1",
        id,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Other spokes of the hub in `account` that need the share of the hub's Profile: every spoke
/// not being detached or detached, `except` the one asking. (Two spokes of one account detached
/// at once both remove the account, which is idempotent; neither keeps it for the other.)
pub async fn hub_account_spokes_other(
    conn: &mut PgConnection,
    hub_id: Uuid,
    account: &AccountId,
    except: Uuid,
) -> Result<i64, sqlx::Error> {
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM spokes
        WHERE hub_id = $1 AND account_id = $2 AND id <> $3
            AND status NOT IN ('detaching', 'detached')"#,
        hub_id,
        account.as_str(),
        except,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

pub async fn hub_reconcile_mode_set(
    conn: &mut PgConnection,
    id: Uuid,
    mode: ReconcileMode,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hubs SET reconcile_mode = $2, updated_at = now() WHERE id = $1",
        id,
        mode.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks a hub's row for the rest of the transaction (serialises changes to one hub).
pub async fn hub_lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Hub>, sqlx::Error> {
    let rows = hub_rows!("WHERE id = $1 FOR UPDATE", id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(hubs_with_services(conn, rows).await?.pop())
}

/// The live (not deleted) hub with that name.
pub async fn hub_id_by_name(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM hubs WHERE name = $1 AND status <> 'deleted'",
        name
    )
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
    let rows = hub_rows!(
        "WHERE status <> 'deleted' AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        after,
        limit,
    )
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
    sqlx::query!(
        "UPDATE hubs SET status = $2, last_error = $3, updated_at = now() WHERE id = $1",
        id,
        status.as_str(),
        last_error,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn hub_current_job_set(
    conn: &mut PgConnection,
    id: Uuid,
    job_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hubs SET current_job_id = $2, updated_at = now() WHERE id = $1",
        id,
        job_id,
    )
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
    sqlx::query!(
        "UPDATE hubs SET security_group_id = $2, prefix_list_id = $3, updated_at = now() \
         WHERE id = $1",
        id,
        security_group_id,
        prefix_list_id,
    )
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
    sqlx::query!(
        "INSERT INTO hub_services (hub_id, service) SELECT $1, unnest($2::text[]) \
         ON CONFLICT (hub_id, service) DO UPDATE SET state = 'present'",
        id,
        services as &[ServiceName],
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE hub_services SET state = 'removing' WHERE hub_id = $1 AND NOT (service = ANY($2))",
        id,
        services as &[ServiceName],
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the endpoint made for one service.
pub async fn hub_service_endpoint_set(
    conn: &mut PgConnection,
    id: Uuid,
    service: &ServiceName,
    endpoint_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hub_services SET endpoint_id = $3 WHERE hub_id = $1 AND service = $2",
        id,
        service.as_str(),
        endpoint_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the zones a service needs (name and caller reference each, in the service's order).
/// A zone already recorded keeps its caller reference and id (zones recorded before the
/// upgrade keep theirs).
pub async fn hub_service_zones_plan(
    conn: &mut PgConnection,
    id: Uuid,
    service: &ServiceName,
    names: &[String],
    references: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO hub_service_zones \
           (hub_id, service, generation, zone_name, position, caller_reference) \
         SELECT s.hub_id, s.service, s.generation, z.name, (z.n - 1)::int, z.reference \
         FROM hub_services s, \
           unnest($3::text[], $4::text[]) WITH ORDINALITY AS z(name, reference, n) \
         WHERE s.hub_id = $1 AND s.service = $2 \
         ON CONFLICT (hub_id, service, zone_name) DO UPDATE SET position = EXCLUDED.position",
        id,
        service.as_str(),
        names,
        references,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the id of a service's zone once it is made (or found).
pub async fn hub_service_zone_id_set(
    conn: &mut PgConnection,
    id: Uuid,
    service: &ServiceName,
    zone_name: &str,
    zone_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hub_service_zones SET zone_id = $4 \
         WHERE hub_id = $1 AND service = $2 AND zone_name = $3",
        id,
        service.as_str(),
        zone_name,
        zone_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn hub_service_delete(
    conn: &mut PgConnection,
    id: Uuid,
    service: &ServiceName,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM hub_services WHERE hub_id = $1 AND service = $2 AND state = 'removing'",
        id,
        service.as_str(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Releases a deleted hub's CIDR claims.
pub async fn hub_claims_release(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM cidr_claims WHERE hub_id = $1", id)
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
    sqlx::query!(
        "INSERT INTO cidr_claims (hub_id, cidr, owner_kind, owner_id) \
         SELECT $1, unnest($2::cidr[]), $3, $4",
        hub_id,
        cidrs as &[Ipv4Cidr],
        owner_kind,
        owner_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Releases every claim of one owner (a detached spoke).
pub async fn cidr_claims_release(
    conn: &mut PgConnection,
    owner_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM cidr_claims WHERE owner_id = $1", owner_id)
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
        let found = sqlx::query_as!(
            CidrConflict,
            "SELECT cidr, owner_kind, owner_id FROM cidr_claims \
             WHERE hub_id = $1 AND cidr::inet && $2::cidr::inet \
             AND ($3::uuid IS NULL OR owner_id <> $3) LIMIT 1",
            hub_id,
            c as &Ipv4Cidr,
            except_owner,
        )
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
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM spokes WHERE hub_id = $1 AND status <> 'detached'"#,
        hub_id
    )
    .fetch_one(conn)
    .await
}

/// [`hub_spoke_cidr_count`] of each of `hub_ids`, in one `GROUP BY`; a hub whose spokes claim
/// nothing is absent from the map.
pub async fn hub_spoke_cidr_counts(
    conn: &mut PgConnection,
    hub_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, i64>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT hub_id, count(*) AS "n!" FROM cidr_claims
        WHERE hub_id = ANY($1) AND owner_kind = 'spoke' GROUP BY hub_id"#,
        hub_ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.hub_id, r.n)).collect())
}

/// Total CIDRs claimed by the hub's live spokes (entries its prefix list must hold).
pub async fn hub_spoke_cidr_count(
    conn: &mut PgConnection,
    hub_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM cidr_claims WHERE hub_id = $1 AND owner_kind = 'spoke'"#,
        hub_id
    )
    .fetch_one(conn)
    .await
}

/// Every ready hub and its reconcile mode (a background reconcile pass covers them).
pub async fn hub_ids_ready(
    conn: &mut PgConnection,
) -> Result<Vec<(Uuid, ReconcileMode)>, sqlx::Error> {
    Ok(sqlx::query!(
        r#"SELECT id, reconcile_mode AS "mode: ReconcileMode" FROM hubs
           WHERE status = 'ready' ORDER BY id"#
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.mode))
    .collect())
}
