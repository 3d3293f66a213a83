//! Spokes: VPCs enrolled into a hub, with their CIDR claims and their current job's progress.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::{
    AccountId, ExternalId, Ipv4Cidr, PeeringId, Region, RoleArn, RouteTableId, SubnetId,
    TgwAttachmentId, VpcId,
};
use crate::model::{Drift, JobKind, JobProgress, JobStatus, Spoke, SpokeStatus};

#[derive(Debug, Clone)]
pub struct NewSpoke {
    pub id: Uuid,
    pub hub_id: Uuid,
    pub account_id: AccountId,
    pub region: Region,
    pub vpc_id: VpcId,
    /// Empty when the registration left them out (read from AWS at attach).
    pub cidrs: Vec<Ipv4Cidr>,
    pub route_table_ids: Option<Vec<RouteTableId>>,
    pub transit_subnet_ids: Option<Vec<SubnetId>>,
    pub role_arn: RoleArn,
    pub external_id: Option<ExternalId>,
    pub labels: BTreeMap<String, String>,
}

/// A spoke row with its current job's progress, decoded straight into the domain types (by
/// `query_as!` in [`spoke_get`], through `FromRow` in the dynamic [`spoke_list`]).
#[derive(sqlx::FromRow)]
struct SpokeRow {
    id: Uuid,
    hub_id: Uuid,
    account_id: AccountId,
    region: Region,
    vpc_id: VpcId,
    cidrs: Vec<Ipv4Cidr>,
    route_table_ids: Option<Vec<RouteTableId>>,
    role_arn: RoleArn,
    external_id: Option<ExternalId>,
    labels: sqlx::types::Json<BTreeMap<String, String>>,
    status: SpokeStatus,
    peering_id: Option<PeeringId>,
    tgw_attachment_id: Option<TgwAttachmentId>,
    transit_subnet_ids: Option<Vec<SubnetId>>,
    drift: Option<sqlx::types::Json<Drift>>,
    last_error: Option<String>,
    current_job_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    job_kind: Option<JobKind>,
    job_status: Option<JobStatus>,
    job_steps: Option<Vec<String>>,
    job_next_step: Option<i32>,
    job_last_error: Option<String>,
}

impl SpokeRow {
    fn into_model(self) -> Spoke {
        let job = match (self.current_job_id, self.job_kind, self.job_status) {
            (Some(id), Some(kind), Some(status)) => {
                let steps = self.job_steps.unwrap_or_default();
                let next = self.job_next_step.unwrap_or(0);
                Some(JobProgress {
                    id,
                    kind,
                    current_step: match status {
                        JobStatus::Succeeded => None,
                        _ => steps.get(next as usize).cloned(),
                    },
                    status,
                    steps_done: next,
                    steps_total: steps.len() as i32,
                    last_error: self.job_last_error,
                })
            }
            _ => None,
        };
        Spoke {
            id: self.id,
            hub_id: self.hub_id,
            account_id: self.account_id,
            region: self.region,
            vpc_id: self.vpc_id,
            cidrs: self.cidrs,
            route_table_ids: self.route_table_ids,
            role_arn: self.role_arn,
            external_id: self.external_id,
            labels: self.labels.0,
            status: self.status,
            peering_id: self.peering_id,
            tgw_attachment_id: self.tgw_attachment_id,
            transit_subnet_ids: self.transit_subnet_ids,
            drift: self.drift.map(|d| d.0),
            last_error: self.last_error,
            current_job_id: self.current_job_id,
            job,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The spoke's CIDRs are those it claims in the hub (the claims are the source of truth).
/// For the dynamic [`spoke_list`]; [`spoke_get`] spells out the same SELECT, with its types.
const SPOKE_SELECT: &str = "SELECT s.id, s.hub_id, s.account_id, s.region, s.vpc_id, \
    COALESCE((SELECT array_agg(c.cidr ORDER BY c.cidr) FROM cidr_claims c WHERE c.owner_id = s.id), \
             s.cidrs_seen) AS cidrs, \
    s.route_table_ids, s.role_arn, s.external_id, s.labels, s.status, s.peering_id, s.tgw_attachment_id, \
    s.transit_subnet_ids, \
    s.drift, \
    s.last_error, s.current_job_id, s.created_at, s.updated_at, j.kind AS job_kind, j.status AS job_status, \
    j.steps AS job_steps, j.next_step AS job_next_step, j.last_error AS job_last_error \
    FROM spokes s LEFT JOIN jobs j ON j.id = s.current_job_id";

/// Inserts a spoke (status `pending`) and claims its CIDRs when given. A unique violation on
/// `spokes_vpc_live` means the VPC is already enrolled; an exclusion violation means an overlap.
pub async fn spoke_insert(conn: &mut PgConnection, spoke: &NewSpoke) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO spokes (id, hub_id, account_id, region, vpc_id, cidrs_given, route_table_ids, \
         role_arn, external_id, labels, status, cidrs_seen, transit_subnet_ids) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        spoke.id,
        spoke.hub_id,
        spoke.account_id.as_str(),
        spoke.region.as_str(),
        spoke.vpc_id.as_str(),
        !spoke.cidrs.is_empty(),
        spoke.route_table_ids.as_deref() as Option<&[RouteTableId]>,
        spoke.role_arn.as_str(),
        spoke.external_id.as_ref().map(ExternalId::as_str),
        sqlx::types::Json(&spoke.labels) as _,
        SpokeStatus::Pending.as_str(),
        &spoke.cidrs as &[Ipv4Cidr],
        spoke.transit_subnet_ids.as_deref() as Option<&[SubnetId]>,
    )
    .execute(&mut *conn)
    .await?;
    if !spoke.cidrs.is_empty() {
        super::hubs::cidr_claims_insert(conn, spoke.hub_id, "spoke", spoke.id, &spoke.cidrs)
            .await?;
    }
    Ok(())
}

pub async fn spoke_get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Spoke>, sqlx::Error> {
    let row = sqlx::query_as!(
        SpokeRow,
        r#"SELECT s.id, s.hub_id, s.account_id AS "account_id: AccountId",
            s.region AS "region: Region", s.vpc_id AS "vpc_id: VpcId",
            COALESCE((SELECT array_agg(c.cidr ORDER BY c.cidr) FROM cidr_claims c
                      WHERE c.owner_id = s.id), s.cidrs_seen) AS "cidrs!: Vec<Ipv4Cidr>",
            s.route_table_ids AS "route_table_ids: Vec<RouteTableId>",
            s.role_arn AS "role_arn: RoleArn", s.external_id AS "external_id: ExternalId",
            s.labels AS "labels: sqlx::types::Json<BTreeMap<String, String>>",
            s.status AS "status: SpokeStatus", s.peering_id AS "peering_id: PeeringId",
            s.tgw_attachment_id AS "tgw_attachment_id: TgwAttachmentId",
            s.transit_subnet_ids AS "transit_subnet_ids: Vec<SubnetId>",
            s.drift AS "drift: sqlx::types::Json<Drift>", s.last_error, s.current_job_id, s.created_at, s.updated_at,
            j.kind AS "job_kind?: JobKind", j.status AS "job_status?: JobStatus",
            j.steps AS "job_steps?", j.next_step AS "job_next_step?",
            j.last_error AS "job_last_error?"
        FROM spokes s LEFT JOIN jobs j ON j.id = s.current_job_id
        WHERE s.id = $1"#,
        id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(SpokeRow::into_model))
}

/// The live (not detached) spoke holding this VPC.
pub async fn spoke_find_live(
    conn: &mut PgConnection,
    account_id: &AccountId,
    region: &Region,
    vpc_id: &VpcId,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM spokes WHERE account_id = $1 AND region = $2 AND vpc_id = $3 \
         AND status <> 'detached'",
        account_id.as_str(),
        region.as_str(),
        vpc_id.as_str(),
    )
    .fetch_optional(conn)
    .await
}

/// Filters of `GET /v1/spokes`.
#[derive(Debug, Clone, Default)]
pub struct SpokeFilter {
    pub hub_id: Option<Uuid>,
    pub account_id: Option<AccountId>,
    pub status: Option<SpokeStatus>,
    /// `key=value` pairs that must all match.
    pub labels: BTreeMap<String, String>,
}

pub async fn spoke_list(
    pool: &PgPool,
    filter: &SpokeFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Spoke>, sqlx::Error> {
    let mut q = QueryBuilder::new(SPOKE_SELECT);
    q.push(" WHERE true");
    if let Some(h) = filter.hub_id {
        q.push(" AND s.hub_id = ").push_bind(h);
    }
    if let Some(a) = &filter.account_id {
        q.push(" AND s.account_id = ")
            .push_bind(a.as_str().to_owned());
    }
    if let Some(s) = filter.status {
        q.push(" AND s.status = ").push_bind(s.as_str());
    }
    if !filter.labels.is_empty() {
        q.push(" AND s.labels @> ")
            .push_bind(sqlx::types::Json(filter.labels.clone()));
    }
    if let Some(a) = after {
        q.push(" AND s.id > ").push_bind(a);
    }
    q.push(" ORDER BY s.id LIMIT ").push_bind(limit);
    let rows: Vec<SpokeRow> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(SpokeRow::into_model).collect())
}

pub async fn spoke_status_set(
    conn: &mut PgConnection,
    id: Uuid,
    status: SpokeStatus,
    last_error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE spokes SET status = $2, last_error = $3, updated_at = now() WHERE id = $1",
        id,
        status.as_str(),
        last_error,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a spoke to `status` only from one of `from` (an attach job finishing after a DELETE
/// must not turn a detaching spoke back into an attached one). False when it was elsewhere.
pub async fn spoke_status_advance(
    conn: &mut PgConnection,
    id: Uuid,
    status: SpokeStatus,
    from: &[SpokeStatus],
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE spokes SET status = $2, last_error = NULL, updated_at = now() \
         WHERE id = $1 AND status = ANY($3)",
        id,
        status.as_str(),
        from as &[SpokeStatus],
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Records the latest job error on the spoke, whatever its status.
pub async fn spoke_error_set(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE spokes SET last_error = $2, updated_at = now() WHERE id = $1",
        id,
        error,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn spoke_current_job_set(
    conn: &mut PgConnection,
    id: Uuid,
    job_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE spokes SET current_job_id = $2, updated_at = now() WHERE id = $1",
        id,
        job_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records (or forgets) the spoke VPC's Transit Gateway attachment.
pub async fn spoke_tgw_attachment_set(
    conn: &mut PgConnection,
    id: Uuid,
    attachment: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE spokes SET tgw_attachment_id = $2, updated_at = now() WHERE id = $1",
        id,
        attachment,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn spoke_peering_set(
    conn: &mut PgConnection,
    id: Uuid,
    peering_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE spokes SET peering_id = $2, updated_at = now() WHERE id = $1",
        id,
        peering_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the CIDRs read from AWS for a spoke registered without them, and claims them.
pub async fn spoke_cidrs_claim(
    conn: &mut PgConnection,
    hub_id: Uuid,
    id: Uuid,
    cidrs: &[Ipv4Cidr],
) -> Result<(), sqlx::Error> {
    super::hubs::cidr_claims_release(conn, id).await?;
    sqlx::query!(
        "UPDATE spokes SET cidrs_seen = $2, updated_at = now() WHERE id = $1",
        id,
        cidrs as &[Ipv4Cidr],
    )
    .execute(&mut *conn)
    .await?;
    super::hubs::cidr_claims_insert(conn, hub_id, "spoke", id, cidrs).await
}

/// Ids of a hub's attached spokes (for fanning out a service change).
pub async fn spoke_ids_attached(
    conn: &mut PgConnection,
    hub_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM spokes WHERE hub_id = $1 AND status = 'attached' ORDER BY id",
        hub_id
    )
    .fetch_all(conn)
    .await
}

/// Every spoke of a hub that is not detached (a reconcile's view of who may hold what).
pub async fn spokes_of_hub(pool: &PgPool, hub_id: Uuid) -> Result<Vec<Spoke>, sqlx::Error> {
    let mut q = QueryBuilder::new(SPOKE_SELECT);
    q.push(" WHERE s.hub_id = ")
        .push_bind(hub_id)
        .push(" AND s.status <> 'detached' ORDER BY s.id");
    let rows: Vec<SpokeRow> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(SpokeRow::into_model).collect())
}
