//! The steps of every workflow. Each step is idempotent: it finds before it creates (everything
//! created is tagged with its owner), reads before it writes, takes "already there with the same
//! target" as done and "there with another target" as a permanent conflict.
//!
//! A step's output goes into the job's `state` (checkpointed by the runner) or into the hub and
//! spoke rows; later steps learn about earlier ones only from there.

use std::collections::BTreeSet;

use serde::{Serialize, de::DeserializeOwned};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use super::runner::Engine;
use crate::cloud::{
    AliasRecord, CallCx, Cloud, CloudError, CloudErrorKind, EndpointRequest, PeeringInfo,
    PeeringRequest, PeeringStatus, RouteTarget, ZoneVpc,
};
use crate::domain::{Ipv4Cidr, PeeringId, RouteTableId};
use crate::model::{Hub, HubService, HubStatus, JobKind, Spoke, SpokeStatus};
use crate::store;

/// Why a step did not finish.
#[derive(Debug)]
pub enum StepError {
    /// Not ready yet (a peering still pending): look again shortly, not counted as a failure.
    Wait(String),
    /// A transient failure (5xx, a race): retry with backoff.
    Retry(String),
    /// Throttled by AWS even after the SDK's retries: retry with backoff, with a larger budget
    /// (a throttling storm slows jobs down, it should not fail them).
    Throttled(String),
    /// A permanent failure, with a message a platform engineer can act on.
    Fail(String),
    /// The runner no longer holds the job (found while saving progress).
    LeaseLost,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StepError {
    fn from(e: sqlx::Error) -> Self {
        StepError::Db(e)
    }
}

impl From<CloudError> for StepError {
    fn from(e: CloudError) -> Self {
        if e.is(CloudErrorKind::Throttled) {
            StepError::Throttled(e.to_string())
        } else if e.is_retryable() {
            StepError::Retry(e.to_string())
        } else {
            StepError::Fail(e.to_string())
        }
    }
}

type StepResult = Result<(), StepError>;

fn fail<T>(msg: impl Into<String>) -> Result<T, StepError> {
    Err(StepError::Fail(msg.into()))
}

/// What a step sees: the job, fresh copies of its hub and spoke, and the checkpointed state.
pub struct StepCx<'a> {
    pub pool: &'a PgPool,
    pub cloud: &'a Cloud,
    pub job_id: Uuid,
    pub limits: &'a crate::model::Limits,
    runner: Uuid,
    pub hub: Hub,
    pub spoke: Option<Spoke>,
    state: &'a mut serde_json::Value,
}

impl<'a> StepCx<'a> {
    pub async fn load(
        engine: &'a Engine,
        runner: Uuid,
        job_id: Uuid,
        hub_id: Uuid,
        spoke_id: Option<Uuid>,
        state: &'a mut serde_json::Value,
    ) -> Result<StepCx<'a>, sqlx::Error> {
        let mut conn = engine.pool.acquire().await?;
        let hub = store::hubs::hub_get(&mut conn, hub_id)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound)?;
        let spoke = match spoke_id {
            Some(id) => Some(
                store::spokes::spoke_get(&mut conn, id)
                    .await?
                    .ok_or_else(|| sqlx::Error::RowNotFound)?,
            ),
            None => None,
        };
        Ok(StepCx {
            pool: &engine.pool,
            cloud: &engine.cloud,
            job_id,
            limits: &engine.config.limits,
            runner,
            hub,
            spoke,
            state,
        })
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.state
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    fn set<T: Serialize>(&mut self, key: &str, value: &T) {
        if let Some(map) = self.state.as_object_mut() {
            map.insert(
                key.to_owned(),
                serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
            );
        }
    }

    /// Persists the state now, mid-step, so that a long step resumes where it was (fenced on
    /// the lease like every checkpoint).
    async fn save(&mut self) -> StepResult {
        let mut conn = self.pool.acquire().await?;
        if store::jobs::job_state_set(&mut conn, self.job_id, self.runner, self.state).await? {
            Ok(())
        } else {
            Err(StepError::LeaseLost)
        }
    }

    fn hub_cx(&self) -> CallCx {
        CallCx {
            account: self.hub.account_id.clone(),
            region: self.hub.region.clone(),
            role: self.hub.role_arn.clone(),
            external_id: self.hub.external_id.clone(),
            job_id: Some(self.job_id),
        }
    }

    fn spoke(&self) -> &Spoke {
        self.spoke.as_ref().expect("spoke job without a spoke")
    }

    fn spoke_cx(&self) -> CallCx {
        let s = self.spoke();
        CallCx {
            account: s.account_id.clone(),
            region: s.region.clone(),
            role: s.role_arn.clone(),
            external_id: s.external_id.clone(),
            job_id: Some(self.job_id),
        }
    }

    fn hub_tag(&self) -> String {
        format!("hub:{}", self.hub.id)
    }

    fn service_tag(&self, service: &HubService) -> String {
        format!(
            "hub:{}:service:{}:{}",
            self.hub.id,
            service.name,
            service.generation.simple()
        )
    }

    fn spoke_tag(&self) -> String {
        format!("spoke:{}", self.spoke().id)
    }

    fn hub_zone_vpc(&self) -> ZoneVpc {
        ZoneVpc {
            vpc_id: self.hub.vpc_id.clone(),
            region: self.hub.region.clone(),
        }
    }

    fn spoke_zone_vpc(&self) -> ZoneVpc {
        ZoneVpc {
            vpc_id: self.spoke().vpc_id.clone(),
            region: self.spoke().region.clone(),
        }
    }

    /// Takes the hub's lock for steps that change its shared resources (the prefix list, the
    /// zones' associations). A session advisory lock on a connection that is closed when
    /// dropped: a crashed or cancelled step releases it.
    async fn hub_lock(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        conn.close_on_drop();
        let key = self.hub.id.as_u64_pair().0 as i64;
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
            if got {
                return Ok(conn);
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// Runs the named step of a job kind.
pub async fn run(kind: JobKind, step: &str, cx: &mut StepCx<'_>) -> StepResult {
    match (kind, step) {
        (_, "verify_hub") => verify_hub(cx).await,
        (_, "security_group") => security_group(cx).await,
        (_, "prefix_list") => prefix_list(cx).await,
        (_, "endpoints") => endpoints(cx).await,
        (_, "zones") => zones(cx).await,
        (_, "associate_spokes") => associate_spokes(cx).await,
        (_, "mark_services_removing") => mark_services_removing(cx).await,
        (_, "remove_services") => remove_services(cx).await,
        (_, "finish_hub") => finish_hub(cx).await,
        (_, "delete_security_group") => delete_security_group(cx).await,
        (_, "delete_prefix_list") => delete_prefix_list(cx).await,
        (_, "finish_hub_delete") => finish_hub_delete(cx).await,
        (_, "verify_hub_ready") => verify_hub_ready(cx).await,
        (_, "verify_spoke") => verify_spoke(cx).await,
        (_, "check_quotas") => check_quotas(cx).await,
        (_, "request_peering") => request_peering(cx).await,
        (_, "accept_peering") => accept_peering(cx).await,
        (_, "wait_peering") => wait_peering(cx).await,
        (_, "hub_routes") => hub_routes(cx).await,
        (_, "spoke_routes") => spoke_routes(cx).await,
        (_, "admit_cidrs") => admit_cidrs(cx).await,
        (_, "associate_zones") => associate_zones(cx).await,
        (_, "finish_attach") => finish_attach(cx).await,
        (_, "disassociate_zones") => disassociate_zones(cx).await,
        (_, "remove_cidrs") => remove_cidrs(cx).await,
        (_, "spoke_routes_delete") => spoke_routes_delete(cx).await,
        (_, "hub_routes_delete") => hub_routes_delete(cx).await,
        (_, "delete_peering") => delete_peering(cx).await,
        (_, "finish_detach") => finish_detach(cx).await,
        (kind, other) => fail(format!("unknown step '{other}' of a {kind} job")),
    }
}

// ---------------------------------------------------------------------------------------------
// Hub
// ---------------------------------------------------------------------------------------------

async fn verify_hub(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    cx.cloud.credentials.caller_account(&hcx).await?;
    let Some(vpc) = cx.cloud.network.vpc_get(&hcx, &cx.hub.vpc_id).await? else {
        return fail(format!(
            "VPC {} not found in account {} ({})",
            cx.hub.vpc_id, cx.hub.account_id, cx.hub.region
        ));
    };
    if vpc.state != "available" {
        return Err(StepError::Wait(format!("VPC {} is {}", vpc.id, vpc.state)));
    }
    for c in &cx.hub.cidrs {
        if !vpc.cidrs.contains(c) {
            return fail(format!(
                "{c} is not a CIDR block of VPC {} (it has {})",
                vpc.id,
                join(&vpc.cidrs)
            ));
        }
    }
    let subnets = cx
        .cloud
        .network
        .subnets_get(&hcx, &cx.hub.subnet_ids)
        .await?;
    for id in &cx.hub.subnet_ids {
        match subnets.iter().find(|s| &s.id == id) {
            None => {
                return fail(format!(
                    "subnet {id} not found in account {}",
                    cx.hub.account_id
                ));
            }
            Some(s) if s.vpc_id != cx.hub.vpc_id => {
                return fail(format!(
                    "subnet {id} is in {}, not in the hub VPC {}",
                    s.vpc_id, cx.hub.vpc_id
                ));
            }
            Some(_) => {}
        }
    }
    let tables = cx
        .cloud
        .network
        .route_tables_list(&hcx, &cx.hub.vpc_id)
        .await?;
    for t in &cx.hub.route_table_ids {
        if !tables.contains(t) {
            return fail(format!(
                "route table {t} is not in the hub VPC {}",
                cx.hub.vpc_id
            ));
        }
    }
    Ok(())
}

async fn security_group(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let tag = cx.hub_tag();
    let sg = match cx
        .cloud
        .firewall
        .security_group_find(&hcx, &cx.hub.vpc_id, &tag)
        .await?
    {
        Some(sg) => sg,
        None => {
            let name = format!("endpoint-hub-{}", cx.hub.name);
            cx.cloud
                .firewall
                .security_group_create(&hcx, &cx.hub.vpc_id, &name, &tag)
                .await?
        }
    };
    let mut conn = cx.pool.acquire().await?;
    store::hubs::hub_resources_set(
        &mut conn,
        cx.hub.id,
        Some(sg.id.as_str()),
        cx.hub.prefix_list_id.as_ref().map(|p| p.as_str()),
    )
    .await?;
    Ok(())
}

async fn prefix_list(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let tag = cx.hub_tag();
    let pl = match cx.cloud.firewall.prefix_list_find(&hcx, &tag).await? {
        Some(pl) => pl,
        None => {
            let name = format!("endpoint-hub-{}-spokes", cx.hub.name);
            cx.cloud
                .firewall
                .prefix_list_create(&hcx, &name, cx.hub.prefix_list_max_entries, &tag)
                .await?
        }
    };
    let Some(sg) = cx.hub.security_group_id.clone() else {
        return fail("the hub has no security group yet");
    };
    cx.cloud
        .firewall
        .security_group_allow_https(&hcx, &sg, &pl.id)
        .await?;
    let mut conn = cx.pool.acquire().await?;
    store::hubs::hub_resources_set(
        &mut conn,
        cx.hub.id,
        Some(sg.as_str()),
        Some(pl.id.as_str()),
    )
    .await?;
    Ok(())
}

async fn endpoints(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let Some(sg) = cx.hub.security_group_id.clone() else {
        return fail("the hub has no security group yet");
    };
    let services: Vec<_> = cx
        .hub
        .services
        .iter()
        .filter(|s| s.state == "present")
        .cloned()
        .collect();
    for svc in services {
        let full = svc.name.endpoint_service(&cx.hub.region);
        let Some(info) = cx.cloud.endpoints.endpoint_service_get(&hcx, &full).await? else {
            return fail(format!(
                "service {full} is not offered in {}",
                cx.hub.region
            ));
        };
        let Some(dns) = info.private_dns_names.first() else {
            return fail(format!("service {full} has no private DNS name"));
        };
        let zone_name = dns
            .trim_start_matches("*.")
            .trim_end_matches('.')
            .to_owned();
        let tag = cx.service_tag(&svc);
        let endpoint = match cx
            .cloud
            .endpoints
            .endpoint_find(&hcx, &cx.hub.vpc_id, &tag)
            .await?
        {
            Some(e) => e,
            None => {
                cx.cloud
                    .endpoints
                    .endpoint_create(
                        &hcx,
                        &EndpointRequest {
                            vpc: cx.hub.vpc_id.clone(),
                            service_name: full.clone(),
                            subnets: cx.hub.subnet_ids.clone(),
                            security_group: sg.clone(),
                            owner_tag: tag,
                        },
                    )
                    .await?
            }
        };
        if endpoint.service_name != full {
            return fail(format!(
                "endpoint {} tagged for {} serves {}",
                endpoint.id, svc.name, endpoint.service_name
            ));
        }
        let mut conn = cx.pool.acquire().await?;
        store::hubs::hub_service_resources_set(
            &mut conn,
            cx.hub.id,
            &svc.name,
            Some(endpoint.id.as_str()),
            svc.zone_id.as_ref().map(|z| z.as_str()),
            Some(&zone_name),
        )
        .await?;
    }
    Ok(())
}

/// The zone's `CallerReference`: Route 53 never accepts one twice, even after the zone is
/// deleted, hence the generation.
fn zone_reference(hub: &Hub, service: &HubService) -> String {
    format!(
        "endpoint-hub:{}:{}",
        hub.id.simple(),
        service.generation.simple()
    )
}

async fn zones(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let services: Vec<_> = cx
        .hub
        .services
        .iter()
        .filter(|s| s.state == "present")
        .cloned()
        .collect();
    for svc in services {
        let (Some(endpoint_id), Some(zone_name)) = (&svc.endpoint_id, &svc.zone_name) else {
            return fail(format!("service {} has no endpoint yet", svc.name));
        };
        let reference = zone_reference(&cx.hub, &svc);
        let zone = match cx.cloud.dns.zone_find(&hcx, &reference).await? {
            Some(z) => z,
            None => {
                cx.cloud
                    .dns
                    .zone_create(&hcx, zone_name, &cx.hub_zone_vpc(), &reference)
                    .await?
            }
        };
        if zone.name.trim_end_matches('.') != zone_name {
            return fail(format!(
                "zone {} made for {} is named {}, expected {zone_name}",
                zone.id, svc.name, zone.name
            ));
        }
        let Some(endpoint) = cx.cloud.endpoints.endpoint_get(&hcx, endpoint_id).await? else {
            return fail(format!(
                "endpoint {endpoint_id} of {} has disappeared",
                svc.name
            ));
        };
        let Some(regional) = endpoint.dns_entries.first() else {
            return Err(StepError::Wait(format!(
                "endpoint {endpoint_id} has no DNS name yet"
            )));
        };
        let wanted = [zone_name.clone(), format!("*.{zone_name}")]
            .into_iter()
            .map(|name| AliasRecord {
                name,
                target_dns_name: regional.dns_name.trim_end_matches('.').to_owned(),
                target_zone_id: regional.hosted_zone_id.clone(),
            })
            .collect::<Vec<_>>();
        let existing = cx.cloud.dns.alias_records_list(&hcx, &zone.id).await?;
        let missing: Vec<AliasRecord> = wanted
            .into_iter()
            .filter(|w| {
                !existing.iter().any(|e| {
                    e.name.trim_end_matches('.') == w.name
                        && e.target_dns_name.trim_end_matches('.') == w.target_dns_name
                })
            })
            .collect();
        if !missing.is_empty() {
            cx.cloud
                .dns
                .alias_records_upsert(&hcx, &zone.id, &missing)
                .await?;
        }
        let mut conn = cx.pool.acquire().await?;
        store::hubs::hub_service_resources_set(
            &mut conn,
            cx.hub.id,
            &svc.name,
            Some(endpoint_id.as_str()),
            Some(zone.id.as_str()),
            Some(zone_name),
        )
        .await?;
    }
    Ok(())
}

/// Associates every present zone with every attached spoke (a service added to the hub).
async fn associate_spokes(cx: &mut StepCx<'_>) -> StepResult {
    let mut conn = cx.pool.acquire().await?;
    let spokes = store::spokes::spoke_ids_attached(&mut conn, cx.hub.id).await?;
    drop(conn);
    for id in spokes {
        let mut conn = cx.pool.acquire().await?;
        let Some(spoke) = store::spokes::spoke_get(&mut conn, id).await? else {
            continue;
        };
        drop(conn);
        cx.spoke = Some(spoke);
        associate_zones(cx).await?;
    }
    cx.spoke = None;
    Ok(())
}

async fn mark_services_removing(cx: &mut StepCx<'_>) -> StepResult {
    let mut conn = cx.pool.acquire().await?;
    store::hubs::hub_services_want(&mut conn, cx.hub.id, &[]).await?;
    Ok(())
}

/// Tears down the endpoint and zone of each service marked `removing`, after disassociating
/// every spoke VPC from the zone (the zone owner may disassociate any VPC).
async fn remove_services(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let removing: Vec<_> = cx
        .hub
        .services
        .iter()
        .filter(|s| s.state == "removing")
        .cloned()
        .collect();
    let _lock = cx.hub_lock().await?;
    for svc in removing {
        let zone = match &svc.zone_id {
            Some(id) => cx.cloud.dns.zone_get(&hcx, id).await?,
            None => {
                cx.cloud
                    .dns
                    .zone_find(&hcx, &zone_reference(&cx.hub, &svc))
                    .await?
            }
        };
        if let Some(zone) = zone {
            for vpc in zone.vpcs.iter().filter(|v| v.vpc_id != cx.hub.vpc_id) {
                cx.cloud.dns.vpc_disassociate(&hcx, &zone.id, vpc).await?;
            }
            for auth in cx
                .cloud
                .dns
                .association_authorizations_list(&hcx, &zone.id)
                .await?
            {
                cx.cloud
                    .dns
                    .association_deauthorize(&hcx, &zone.id, &auth)
                    .await?;
            }
            cx.cloud.dns.zone_delete(&hcx, &zone.id).await?;
        }
        let endpoint = match &svc.endpoint_id {
            Some(id) => cx.cloud.endpoints.endpoint_get(&hcx, id).await?,
            None => {
                cx.cloud
                    .endpoints
                    .endpoint_find(&hcx, &cx.hub.vpc_id, &cx.service_tag(&svc))
                    .await?
            }
        };
        if let Some(e) = endpoint
            && !matches!(e.state.as_str(), "deleted" | "deleting")
        {
            cx.cloud.endpoints.endpoint_delete(&hcx, &e.id).await?;
        }
        let mut conn = cx.pool.acquire().await?;
        store::hubs::hub_service_delete(&mut conn, cx.hub.id, &svc.name).await?;
    }
    Ok(())
}

async fn finish_hub(cx: &mut StepCx<'_>) -> StepResult {
    let mut conn = cx.pool.acquire().await?;
    store::hubs::hub_status_set(&mut conn, cx.hub.id, HubStatus::Ready, None).await?;
    Ok(())
}

/// `DependencyViolation` while endpoints' interfaces are still going away: try again later.
fn dependency_wait(e: CloudError) -> StepError {
    if e.code.eq_ignore_ascii_case("DependencyViolation") {
        StepError::Retry(e.to_string())
    } else {
        e.into()
    }
}

async fn delete_security_group(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let found = match &cx.hub.security_group_id {
        Some(id) => Some(id.clone()),
        None => cx
            .cloud
            .firewall
            .security_group_find(&hcx, &cx.hub.vpc_id, &cx.hub_tag())
            .await?
            .map(|s| s.id),
    };
    if let Some(id) = found {
        cx.cloud
            .firewall
            .security_group_delete(&hcx, &id)
            .await
            .map_err(dependency_wait)?;
    }
    Ok(())
}

async fn delete_prefix_list(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let found = match &cx.hub.prefix_list_id {
        Some(id) => Some(id.clone()),
        None => cx
            .cloud
            .firewall
            .prefix_list_find(&hcx, &cx.hub_tag())
            .await?
            .map(|p| p.id),
    };
    if let Some(id) = found {
        cx.cloud
            .firewall
            .prefix_list_delete(&hcx, &id)
            .await
            .map_err(dependency_wait)?;
    }
    Ok(())
}

async fn finish_hub_delete(cx: &mut StepCx<'_>) -> StepResult {
    let mut tx = cx.pool.begin().await?;
    store::hubs::hub_status_set(&mut tx, cx.hub.id, HubStatus::Deleted, None).await?;
    store::hubs::hub_claims_release(&mut tx, cx.hub.id).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Attach a spoke
// ---------------------------------------------------------------------------------------------

async fn verify_hub_ready(cx: &mut StepCx<'_>) -> StepResult {
    match cx.hub.status {
        HubStatus::Ready => {}
        HubStatus::Provisioning | HubStatus::Updating => {
            return Err(StepError::Wait(format!(
                "hub {} is {}",
                cx.hub.name, cx.hub.status
            )));
        }
        HubStatus::Failed => {
            return fail(format!(
                "hub {} failed to provision: {}; retry the hub's job, then this one",
                cx.hub.name,
                cx.hub.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        HubStatus::Deleting | HubStatus::Deleted => {
            return fail(format!("hub {} is being deleted", cx.hub.name));
        }
    }
    let mut conn = cx.pool.acquire().await?;
    store::spokes::spoke_status_advance(
        &mut conn,
        cx.spoke().id,
        SpokeStatus::Attaching,
        SpokeStatus::ATTACH_PHASES,
    )
    .await?;
    Ok(())
}

async fn verify_spoke(cx: &mut StepCx<'_>) -> StepResult {
    let scx = cx.spoke_cx();
    let spoke = cx.spoke().clone();
    cx.cloud.credentials.caller_account(&scx).await?;
    let Some(vpc) = cx.cloud.network.vpc_get(&scx, &spoke.vpc_id).await? else {
        return fail(format!(
            "VPC {} not found in account {} ({})",
            spoke.vpc_id, spoke.account_id, spoke.region
        ));
    };
    if vpc.state != "available" {
        return Err(StepError::Wait(format!("VPC {} is {}", vpc.id, vpc.state)));
    }
    let cidrs = if spoke.cidrs.is_empty() {
        if vpc.cidrs.is_empty() {
            return fail(format!("VPC {} has no IPv4 CIDR block", vpc.id));
        }
        let mut tx = cx.pool.begin().await?;
        let _hub = store::hubs::hub_lock(&mut tx, cx.hub.id).await?;
        if let Some((mine, other)) =
            store::hubs::cidr_conflict_find(&mut tx, cx.hub.id, &vpc.cidrs, Some(spoke.id)).await?
        {
            return fail(format!(
                "the VPC's CIDR {mine} overlaps {} of {} {}",
                other.cidr, other.owner_kind, other.owner_id
            ));
        }
        let used = store::hubs::hub_spoke_cidr_count(&mut tx, cx.hub.id).await?;
        if used + vpc.cidrs.len() as i64 > i64::from(cx.hub.prefix_list_max_entries) {
            return fail(format!(
                "the hub's prefix list holds at most {} entries and {used} are taken; the VPC's {} CIDRs do not fit",
                cx.hub.prefix_list_max_entries,
                vpc.cidrs.len()
            ));
        }
        store::spokes::spoke_cidrs_claim(&mut tx, cx.hub.id, spoke.id, &vpc.cidrs).await?;
        tx.commit().await?;
        vpc.cidrs.clone()
    } else {
        for c in &spoke.cidrs {
            if !vpc.cidrs.contains(c) {
                return fail(format!(
                    "{c} is not a CIDR block of VPC {} (it has {})",
                    vpc.id,
                    join(&vpc.cidrs)
                ));
            }
        }
        spoke.cidrs.clone()
    };
    let tables = cx
        .cloud
        .network
        .route_tables_list(&scx, &spoke.vpc_id)
        .await?;
    let chosen = match &spoke.route_table_ids {
        Some(given) => {
            for t in given {
                if !tables.contains(t) {
                    return fail(format!("route table {t} is not in VPC {}", spoke.vpc_id));
                }
            }
            given.clone()
        }
        None => tables,
    };
    cx.set("spoke_cidrs", &cidrs);
    cx.set("spoke_route_tables", &chosen);
    Ok(())
}

async fn check_quotas(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let tag = cx.spoke_tag();
    let live: Vec<PeeringInfo> = cx
        .cloud
        .network
        .peering_list_for_vpc(&hcx, &cx.hub.vpc_id)
        .await?
        .into_iter()
        .filter(|p| !p.status.is_dead() && p.owner_tag.as_deref() != Some(tag.as_str()))
        .collect();
    let max = cx.limits.peerings_per_vpc;
    if live.len() as i64 >= max {
        return fail(format!(
            "hub VPC {} already has {} peering connections: at most {max} per VPC",
            cx.hub.vpc_id,
            live.len()
        ));
    }
    Ok(())
}

/// The live peering tagged for this spoke, or a new one. Saved in the state and on the spoke.
async fn peering_ensure(cx: &mut StepCx<'_>) -> Result<PeeringInfo, StepError> {
    let hcx = cx.hub_cx();
    let spoke = cx.spoke().clone();
    let tag = cx.spoke_tag();
    let found = cx.cloud.network.peering_find(&hcx, &tag).await?;
    let peering = match found.iter().find(|p| !p.status.is_dead()) {
        Some(p) => {
            if p.accepter_vpc != spoke.vpc_id || p.requester_vpc != cx.hub.vpc_id {
                return fail(format!(
                    "peering {} tagged for this spoke connects {} to {}, not {} to {}",
                    p.id, p.requester_vpc, p.accepter_vpc, cx.hub.vpc_id, spoke.vpc_id
                ));
            }
            p.clone()
        }
        None => {
            cx.cloud
                .network
                .peering_create(
                    &hcx,
                    &PeeringRequest {
                        vpc: cx.hub.vpc_id.clone(),
                        peer_vpc: spoke.vpc_id.clone(),
                        peer_owner: spoke.account_id.clone(),
                        peer_region: spoke.region.clone(),
                        owner_tag: tag,
                    },
                )
                .await?
        }
    };
    cx.set("peering_id", &peering.id);
    let mut conn = cx.pool.acquire().await?;
    store::spokes::spoke_peering_set(&mut conn, spoke.id, Some(peering.id.as_str())).await?;
    Ok(peering)
}

async fn request_peering(cx: &mut StepCx<'_>) -> StepResult {
    peering_ensure(cx).await.map(|_| ())
}

fn status_word(s: PeeringStatus) -> &'static str {
    match s {
        PeeringStatus::Failed => "failed",
        PeeringStatus::Rejected => "was rejected",
        PeeringStatus::Expired => "expired",
        PeeringStatus::Deleted | PeeringStatus::Deleting => "was deleted",
        _ => "is not usable",
    }
}

fn peering_id(cx: &StepCx<'_>) -> Result<PeeringId, StepError> {
    cx.get("peering_id")
        .ok_or_else(|| StepError::Fail("no peering recorded for this job".into()))
}

/// The job's peering as `ccx`'s account sees it. A dead peering fails the job with its reason;
/// when the job is retried after that, a new peering is requested (the cause may be fixed).
async fn peering_current(cx: &mut StepCx<'_>, ccx: &CallCx) -> Result<PeeringInfo, StepError> {
    let id = peering_id(cx)?;
    let Some(p) = cx.cloud.network.peering_get(ccx, &id).await? else {
        // Not yet visible to the accepter account (eventual consistency).
        return Err(StepError::Wait(format!("peering {id} is not visible yet")));
    };
    if !p.status.is_dead() {
        return Ok(p);
    }
    if cx.get::<PeeringId>("reported_dead_peering").as_ref() == Some(&id) {
        let fresh = peering_ensure(cx).await?;
        return Ok(fresh);
    }
    cx.set("reported_dead_peering", &id);
    fail(format!(
        "peering {id} {}: {}",
        status_word(p.status),
        p.message.as_deref().unwrap_or("no reason given")
    ))
}

async fn accept_peering(cx: &mut StepCx<'_>) -> StepResult {
    let scx = cx.spoke_cx();
    let p = peering_current(cx, &scx).await?;
    match p.status {
        PeeringStatus::PendingAcceptance => {
            cx.cloud.network.peering_accept(&scx, &p.id).await?;
            Ok(())
        }
        PeeringStatus::InitiatingRequest => Err(StepError::Wait(format!(
            "peering {} is still being requested",
            p.id
        ))),
        _ => Ok(()),
    }
}

async fn wait_peering(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let p = peering_current(cx, &hcx).await?;
    match p.status {
        PeeringStatus::Active => Ok(()),
        PeeringStatus::PendingAcceptance => {
            // A peering made anew after a failure: accept it here too.
            let scx = cx.spoke_cx();
            cx.cloud.network.peering_accept(&scx, &p.id).await?;
            Err(StepError::Wait(format!(
                "peering {} accepted, not active yet",
                p.id
            )))
        }
        _ => Err(StepError::Wait(format!(
            "peering {} is not active yet",
            p.id
        ))),
    }
}

/// Makes sure each table routes each destination through the peering: reads the table first,
/// creates what is missing, and refuses a destination routed elsewhere.
async fn routes_ensure(
    cloud: &Cloud,
    ccx: &CallCx,
    tables: &[RouteTableId],
    destinations: &[Ipv4Cidr],
    peering: &PeeringId,
) -> StepResult {
    for table in tables {
        let routes = cloud.network.routes_list(ccx, table).await?;
        for dest in destinations {
            match routes.iter().find(|r| &r.destination == dest) {
                Some(r) if r.target == RouteTarget::Peering(peering.clone()) => continue,
                Some(r) => {
                    return fail(format!(
                        "route table {table} already routes {dest} to {}",
                        target_name(&r.target)
                    ));
                }
                None => {}
            }
            match cloud.network.route_create(ccx, table, dest, peering).await {
                Ok(()) => {}
                Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                    let now = cloud.network.routes_list(ccx, table).await?;
                    match now.iter().find(|r| &r.destination == dest) {
                        Some(r) if r.target == RouteTarget::Peering(peering.clone()) => {}
                        Some(r) => {
                            return fail(format!(
                                "route table {table} already routes {dest} to {}",
                                target_name(&r.target)
                            ));
                        }
                        None => return Err(StepError::Retry(e.to_string())),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn target_name(t: &RouteTarget) -> String {
    match t {
        RouteTarget::Peering(p) => p.to_string(),
        RouteTarget::Other(o) => o.clone(),
    }
}

async fn hub_routes(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let id = peering_id(cx)?;
    let cidrs: Vec<Ipv4Cidr> = cx.get("spoke_cidrs").unwrap_or_default();
    routes_ensure(cx.cloud, &hcx, &cx.hub.route_table_ids, &cidrs, &id).await
}

async fn spoke_routes(cx: &mut StepCx<'_>) -> StepResult {
    let scx = cx.spoke_cx();
    let id = peering_id(cx)?;
    let tables: Vec<RouteTableId> = cx.get("spoke_route_tables").unwrap_or_default();
    routes_ensure(cx.cloud, &scx, &tables, &cx.hub.cidrs, &id).await
}

/// Applies a change to the hub's prefix list under the hub lock, re-reading on a version race.
async fn prefix_list_change(cx: &StepCx<'_>, add: &[Ipv4Cidr], remove: &[Ipv4Cidr]) -> StepResult {
    let hcx = cx.hub_cx();
    let Some(pl_id) = cx.hub.prefix_list_id.clone() else {
        return fail(format!("hub {} has no prefix list", cx.hub.name));
    };
    let _lock = cx.hub_lock().await?;
    for _ in 0..5 {
        let Some(pl) = cx.cloud.firewall.prefix_list_get(&hcx, &pl_id).await? else {
            return fail(format!(
                "prefix list {pl_id} of hub {} has disappeared",
                cx.hub.name
            ));
        };
        let have: BTreeSet<Ipv4Cidr> = pl.entries.iter().copied().collect();
        let to_add: Vec<Ipv4Cidr> = add.iter().filter(|c| !have.contains(c)).copied().collect();
        let to_remove: Vec<Ipv4Cidr> = remove
            .iter()
            .filter(|c| have.contains(c))
            .copied()
            .collect();
        if to_add.is_empty() && to_remove.is_empty() {
            return Ok(());
        }
        if have.len() + to_add.len() - to_remove.len() > pl.max_entries as usize {
            return fail(format!(
                "prefix list {pl_id} holds at most {} entries; {} are used and {} more are needed",
                pl.max_entries,
                have.len(),
                to_add.len()
            ));
        }
        match cx
            .cloud
            .firewall
            .prefix_list_modify(&hcx, &pl_id, pl.version, &to_add, &to_remove)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e)
                if e.code.eq_ignore_ascii_case("PrefixListVersionMismatch")
                    || e.code.eq_ignore_ascii_case("IncorrectState") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StepError::Retry(format!(
        "prefix list {pl_id} kept changing under us"
    )))
}

async fn admit_cidrs(cx: &mut StepCx<'_>) -> StepResult {
    let cidrs: Vec<Ipv4Cidr> = cx.get("spoke_cidrs").unwrap_or_default();
    prefix_list_change(cx, &cidrs, &[]).await
}

/// Per zone: authorize (hub), associate (spoke), delete the authorization (hub): two hub-account
/// Route 53 calls per zone, which matters at 5 requests/second per account. "Already associated"
/// (`ConflictingDomainExists`) is checked against the zone itself: our zone holding the VPC is
/// done, another zone of the same name holding it is a conflict. The authorization is deleted
/// in every case, so a run interrupted after associating leaves none behind.
///
/// No hub lock: authorizations are per (zone, VPC), so spokes never contend for them.
async fn associate_zones(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let scx = cx.spoke_cx();
    let vpc = cx.spoke_zone_vpc();
    let zones: Vec<_> = cx
        .hub
        .services
        .iter()
        .filter(|s| s.state == "present")
        .map(|s| (s.name.clone(), s.zone_id.clone()))
        .collect();
    // Zones done so far, saved after each one: at 5 Route 53 requests per second per account a
    // hub with many services takes a while, and a crash should not start it over.
    let done_key = format!("zones_associated:{}", cx.spoke().id);
    let mut done: Vec<String> = cx.get(&done_key).unwrap_or_default();
    for (service, zone_id) in zones {
        let Some(zone_id) = zone_id else {
            return fail(format!("hub {} has no zone for {service} yet", cx.hub.name));
        };
        if done.iter().any(|z| z == zone_id.as_str()) {
            continue;
        }
        cx.cloud
            .dns
            .association_authorize(&hcx, &zone_id, &vpc)
            .await?;
        match cx.cloud.dns.vpc_associate(&scx, &zone_id, &vpc).await {
            Ok(()) => {}
            Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                let ours = cx.cloud.dns.zone_get(&hcx, &zone_id).await?;
                if !ours.is_some_and(|z| z.vpcs.contains(&vpc)) {
                    cx.cloud
                        .dns
                        .association_deauthorize(&hcx, &zone_id, &vpc)
                        .await?;
                    return fail(format!(
                        "VPC {} is already associated with another private zone for {service}: {}",
                        vpc.vpc_id, e.message
                    ));
                }
            }
            Err(e) if e.is(CloudErrorKind::LimitExceeded) => {
                cx.cloud
                    .dns
                    .association_deauthorize(&hcx, &zone_id, &vpc)
                    .await?;
                return fail(format!(
                    "zone {zone_id} for {service} cannot take another VPC (AWS allows 300): {}",
                    e.message
                ));
            }
            Err(e) => return Err(e.into()),
        }
        cx.cloud
            .dns
            .association_deauthorize(&hcx, &zone_id, &vpc)
            .await?;
        done.push(zone_id.to_string());
        cx.set(&done_key, &done);
        cx.save().await?;
    }
    Ok(())
}

async fn finish_attach(cx: &mut StepCx<'_>) -> StepResult {
    let mut conn = cx.pool.acquire().await?;
    store::spokes::spoke_status_advance(
        &mut conn,
        cx.spoke().id,
        SpokeStatus::Attached,
        SpokeStatus::ATTACH_PHASES,
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Detach a spoke: the reverse, tolerant of anything already gone
// ---------------------------------------------------------------------------------------------

/// Disassociates the spoke VPC from every zone of the hub as the zone owner (which works even
/// when the spoke account is gone) and removes any authorization an interrupted attach left.
async fn disassociate_zones(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let vpc = cx.spoke_zone_vpc();
    let zones: Vec<_> = cx
        .hub
        .services
        .iter()
        .filter_map(|s| s.zone_id.clone())
        .collect();
    for zone_id in zones {
        for result in [
            cx.cloud.dns.vpc_disassociate(&hcx, &zone_id, &vpc).await,
            cx.cloud
                .dns
                .association_deauthorize(&hcx, &zone_id, &vpc)
                .await,
        ] {
            match result {
                Ok(()) => {}
                Err(e) if e.is(CloudErrorKind::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// The spoke's CIDRs as claimed (or as last seen).
fn spoke_cidrs(cx: &StepCx<'_>) -> Vec<Ipv4Cidr> {
    cx.spoke().cidrs.clone()
}

async fn remove_cidrs(cx: &mut StepCx<'_>) -> StepResult {
    let cidrs = spoke_cidrs(cx);
    if cx.hub.prefix_list_id.is_none() {
        return Ok(());
    }
    prefix_list_change(cx, &[], &cidrs).await
}

/// Every peering of this spoke (any state but deleted), found by its tag from the hub side.
async fn spoke_peerings(cx: &StepCx<'_>) -> Result<Vec<PeeringId>, StepError> {
    let hcx = cx.hub_cx();
    let mut ids: Vec<PeeringId> = cx
        .cloud
        .network
        .peering_find(&hcx, &cx.spoke_tag())
        .await?
        .into_iter()
        .filter(|p| p.status != PeeringStatus::Deleted)
        .map(|p| p.id)
        .collect();
    if let Some(p) = &cx.spoke().peering_id
        && !ids.contains(p)
    {
        ids.push(p.clone());
    }
    Ok(ids)
}

async fn routes_delete_via(
    cloud: &Cloud,
    ccx: &CallCx,
    tables: &[RouteTableId],
    peerings: &[PeeringId],
) -> StepResult {
    for table in tables {
        let routes = match cloud.network.routes_list(ccx, table).await {
            Ok(r) => r,
            Err(e) if e.is(CloudErrorKind::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        for r in routes {
            if let RouteTarget::Peering(p) = &r.target
                && peerings.contains(p)
            {
                cloud
                    .network
                    .route_delete(ccx, table, &r.destination)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn spoke_routes_delete(cx: &mut StepCx<'_>) -> StepResult {
    let scx = cx.spoke_cx();
    let peerings = spoke_peerings(cx).await?;
    if peerings.is_empty() {
        return Ok(());
    }
    let tables = match cx
        .cloud
        .network
        .route_tables_list(&scx, &cx.spoke().vpc_id)
        .await
    {
        Ok(t) => t,
        Err(e) if e.is(CloudErrorKind::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    routes_delete_via(cx.cloud, &scx, &tables, &peerings).await
}

async fn hub_routes_delete(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    let peerings = spoke_peerings(cx).await?;
    if peerings.is_empty() {
        return Ok(());
    }
    routes_delete_via(cx.cloud, &hcx, &cx.hub.route_table_ids, &peerings).await
}

async fn delete_peering(cx: &mut StepCx<'_>) -> StepResult {
    let hcx = cx.hub_cx();
    for id in spoke_peerings(cx).await? {
        match cx.cloud.network.peering_get(&hcx, &id).await? {
            Some(p) if !p.status.is_dead() || p.status == PeeringStatus::Failed => {
                cx.cloud.network.peering_delete(&hcx, &id).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn finish_detach(cx: &mut StepCx<'_>) -> StepResult {
    let id = cx.spoke().id;
    let mut tx = cx.pool.begin().await?;
    store::hubs::cidr_claims_release(&mut tx, id).await?;
    store::spokes::spoke_peering_set(&mut tx, id, None).await?;
    store::spokes::spoke_status_set(&mut tx, id, SpokeStatus::Detached, None).await?;
    tx.commit().await?;
    Ok(())
}

fn join(cidrs: &[Ipv4Cidr]) -> String {
    if cidrs.is_empty() {
        return "none".into();
    }
    cidrs
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
