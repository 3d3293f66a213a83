//! The application layer: the use cases behind the API. Each mutation commits its state change,
//! its job and its audit row in one transaction. The HTTP layer calls only this module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{
    AccountId, ExternalId, HubName, Ipv4Cidr, Region, RoleArn, RoleName, RouteTableId, ServiceName,
    SubnetId, TransitGatewayId, VpcId, cidrs_disjoint,
};
use crate::model::{
    AuditEntry, CapacityUse, DnsMode, Hub, HubStatus, Job, JobKind, NetworkMode, Page, Principal,
    ReconcileMode, Spoke, SpokeStatus,
};
use crate::store::{self, audit::NewAudit, violated_constraint};
use crate::workflow;

mod console;
pub use live::Live;
pub use store::events::EventFilter;

pub mod cost;
mod error;
mod live;
mod metrics;
pub mod orphans;
mod plans;
pub mod prices;
mod reconcile;
pub use error::{AppError, FieldError};

pub use crate::model::Limits;
pub use cost::{CostQuery, CostReport};
pub use plans::Plan;
pub use reconcile::{ReconcileOptions, ReconcilePlan, Reconciled};

/// Shared state of the application layer.
#[derive(Clone)]
pub struct App {
    pub pool: PgPool,
    /// The cloud as the workers see it: plans (`dry_run`) and orphan listings read AWS through
    /// it, and never change anything from the API.
    pub cloud: crate::cloud::Cloud,
    pub limits: Limits,
    /// Role assumed in a spoke account when the enrolment names none.
    pub default_role_name: RoleName,
    /// How long an `Idempotency-Key` answers retries; an expired key is processed afresh.
    pub idempotency_ttl: std::time::Duration,
    /// The token cache and the event streams' wake-ups (one LISTEN connection per process).
    pub live: Live,
    /// The cost report's prices: the built-in table, with `EH_PRICES_FILE` over it.
    pub prices: std::sync::Arc<prices::PriceTable>,
}

/// Who is acting, and the request that carries the action.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    pub request_id: Option<String>,
}

/// `POST /v1/hubs`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubCreate {
    pub name: HubName,
    pub account_id: AccountId,
    pub region: Region,
    pub vpc_id: VpcId,
    /// The hub VPC's CIDR blocks (routes in spokes point at them).
    pub cidrs: Vec<Ipv4Cidr>,
    /// Subnets for the interface endpoints, one per availability zone.
    pub subnet_ids: Vec<SubnetId>,
    /// Route tables of the hub that get routes to the spokes.
    pub route_table_ids: Vec<RouteTableId>,
    /// Short names of the endpoint services (`sqs`, `ssm`, `ecr.api`, ...).
    pub services: Vec<ServiceName>,
    /// Role to assume in the hub account (give this or `role_name`).
    pub role_arn: Option<RoleArn>,
    /// Role name in the hub account (with an optional path).
    pub role_name: Option<RoleName>,
    pub external_id: Option<ExternalId>,
    /// Maximum entries of the prefix list admitting spoke CIDRs (default 60). The security
    /// group's rule count includes this number: AWS allows 60 inbound rules per group unless
    /// raised.
    #[schema(minimum = 1, maximum = 1000)]
    pub prefix_list_max_entries: Option<i32>,
    /// What a reconcile does with differences it finds: `repair` what is ours (the default)
    /// or `detect` only.
    pub reconcile_mode: Option<ReconcileMode>,
    /// How spoke VPCs resolve the hub's zones: `zones` (the default: each spoke VPC associated
    /// with every zone) or `profile` (the zones in one Route 53 Profile shared through AWS RAM;
    /// each spoke VPC associated with it once). Fixed once registered.
    pub dns_mode: Option<DnsMode>,
    /// How spoke VPCs reach the hub VPC: `peering` (the default: one VPC peering per spoke, at
    /// most 125) or `transit_gateway` (every VPC attached to one Transit Gateway of the hub
    /// account, shared with the spoke accounts through AWS RAM; up to 5,000 attachments).
    /// Fixed once registered.
    pub network_mode: Option<NetworkMode>,
    /// `transit_gateway` mode: an existing Transit Gateway of the hub account to use (it is
    /// never deleted). Left out, provisioning makes one (no shared attachment accepted by
    /// itself, no default route table association or propagation) and deletes it with the hub.
    pub transit_gateway_id: Option<TransitGatewayId>,
}

/// `PATCH /v1/hubs/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubUpdate {
    /// The complete new list of endpoint services.
    pub services: Vec<ServiceName>,
    /// `repair` or `detect`; unchanged when left out.
    pub reconcile_mode: Option<ReconcileMode>,
    /// Must be the hub's current mode when given: a live hub's DNS mode can't be changed.
    pub dns_mode: Option<DnsMode>,
    /// Must be the hub's current mode when given: a live hub's network mode can't be changed.
    pub network_mode: Option<NetworkMode>,
}

/// `POST /v1/spokes`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpokeEnroll {
    /// The hub's id or name.
    pub hub: String,
    pub account_id: AccountId,
    pub region: Region,
    pub vpc_id: VpcId,
    /// The spoke VPC's CIDR blocks; read from AWS at attach time when left out.
    pub cidrs: Option<Vec<Ipv4Cidr>>,
    /// Spoke route tables to route to the hub; every route table of the VPC when left out.
    pub route_table_ids: Option<Vec<RouteTableId>>,
    /// Hub in `transit_gateway` network mode: the spoke subnets its gateway attachment uses,
    /// one per availability zone (AWS suggests small dedicated ones); the lowest subnet id of
    /// each zone of the VPC when left out.
    #[serde(default)]
    pub transit_subnet_ids: Option<Vec<SubnetId>>,
    pub role_arn: Option<RoleArn>,
    pub role_name: Option<RoleName>,
    pub external_id: Option<ExternalId>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// The answer to an accepted asynchronous request: the resource and its job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted<T> {
    #[serde(flatten)]
    pub resource: T,
    pub job_id: Uuid,
    /// URL of the job that carries out the request (also in `Location`).
    pub job_url: String,
}

/// A stored or fresh answer to an idempotent request.
#[derive(Debug, Clone)]
pub struct Replayable {
    pub status: u16,
    pub body: serde_json::Value,
    pub location: Option<String>,
    /// True when this is the saved answer of an earlier request with the same key.
    pub replayed: bool,
}

pub fn job_url(id: Uuid) -> String {
    format!("/v1/jobs/{id}")
}

fn role_resolve(
    field_prefix: &str,
    account: &AccountId,
    role_arn: Option<RoleArn>,
    role_name: Option<RoleName>,
    default: Option<&RoleName>,
) -> Result<RoleArn, AppError> {
    match (role_arn, role_name) {
        (Some(_), Some(_)) => Err(AppError::invalid(
            &format!("{field_prefix}role_name"),
            "give role_arn or role_name, not both",
        )),
        (Some(arn), None) => {
            if arn.account() != *account {
                Err(AppError::invalid(
                    &format!("{field_prefix}role_arn"),
                    &format!(
                        "the role is in account {} but account_id is {account}",
                        arn.account()
                    ),
                ))
            } else {
                Ok(arn)
            }
        }
        (None, Some(name)) => Ok(RoleArn::for_account(account, &name)),
        (None, None) => match default {
            Some(name) => Ok(RoleArn::for_account(account, name)),
            None => Err(AppError::invalid(
                &format!("{field_prefix}role_arn"),
                "give role_arn or role_name",
            )),
        },
    }
}

fn services_check(services: &[ServiceName]) -> Result<(), AppError> {
    if services.is_empty() {
        return Err(AppError::invalid(
            "services",
            "at least one service is needed",
        ));
    }
    for (i, s) in services.iter().enumerate() {
        if services[..i].contains(s) {
            return Err(AppError::invalid(
                &format!("services[{i}]"),
                &format!("'{s}' is listed twice"),
            ));
        }
    }
    if services.len() > 50 {
        return Err(AppError::invalid(
            "services",
            "a VPC holds at most 50 interface endpoints",
        ));
    }
    Ok(())
}

fn list_nonempty_distinct<T: PartialEq + std::fmt::Display>(
    field: &str,
    items: &[T],
) -> Result<(), AppError> {
    if items.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    for (i, s) in items.iter().enumerate() {
        if items[..i].contains(s) {
            return Err(AppError::invalid(
                &format!("{field}[{i}]"),
                &format!("'{s}' is listed twice"),
            ));
        }
    }
    Ok(())
}

/// A non-empty list of CIDRs, none repeated or overlapping another.
fn cidrs_check(cidrs: &[Ipv4Cidr]) -> Result<(), AppError> {
    list_nonempty_distinct("cidrs", cidrs)?;
    cidrs_disjoint(cidrs).map_err(|e| AppError::invalid("cidrs", &e.0))
}

fn labels_check(labels: &BTreeMap<String, String>) -> Result<(), AppError> {
    if labels.len() > 50 {
        return Err(AppError::invalid("labels", "at most 50 labels"));
    }
    for (k, v) in labels {
        let key_ok = (1..=63).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b));
        if !key_ok {
            return Err(AppError::invalid(
                &format!("labels.{k}"),
                "label keys are 1-63 characters of a-z, 0-9, '-', '_', '.', '/'",
            ));
        }
        if v.len() > 255 || v.chars().any(|c| c.is_control()) {
            return Err(AppError::invalid(
                &format!("labels.{k}"),
                "label values are at most 255 printable characters",
            ));
        }
    }
    Ok(())
}

/// SHA-256 of the canonical JSON of a request (object keys sorted), for idempotency.
pub fn request_hash<T: Serialize>(body: &T) -> String {
    let value = serde_json::to_value(body).unwrap_or(serde_json::Value::Null);
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

impl App {
    async fn audit(
        conn: &mut PgConnection,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: Option<serde_json::Value>,
    ) -> Result<(), AppError> {
        store::audit::audit_insert(
            conn,
            &NewAudit {
                principal: &actor.principal.name,
                action,
                target: Some(target),
                request_id: actor.request_id.as_deref(),
                outcome: "accepted",
                detail,
            },
        )
        .await?;
        Ok(())
    }

    /// Records a refused or failed mutating request (outside any rolled-back transaction).
    pub async fn audit_refused(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        request_id: Option<&str>,
        outcome: &str,
    ) -> Result<(), AppError> {
        let mut conn = self.pool.acquire().await?;
        store::audit::audit_insert(
            &mut conn,
            &NewAudit {
                principal,
                action,
                target: Some(target),
                request_id,
                outcome,
                detail: None,
            },
        )
        .await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Hubs
    // -----------------------------------------------------------------------------------------

    pub async fn hub_create(
        &self,
        actor: &Actor,
        req: HubCreate,
    ) -> Result<Accepted<Hub>, AppError> {
        let role_arn = role_resolve("", &req.account_id, req.role_arn, req.role_name, None)?;
        cidrs_check(&req.cidrs)?;
        list_nonempty_distinct("subnet_ids", &req.subnet_ids)?;
        list_nonempty_distinct("route_table_ids", &req.route_table_ids)?;
        services_check(&req.services)?;
        let max_entries = req.prefix_list_max_entries.unwrap_or(60);
        if !(1..=1000).contains(&max_entries) {
            return Err(AppError::invalid(
                "prefix_list_max_entries",
                "must be between 1 and 1000",
            ));
        }
        self.ingress_rules_check("prefix_list_max_entries", &req.services, max_entries)?;
        let network_mode = req.network_mode.unwrap_or(NetworkMode::Peering);
        if req.transit_gateway_id.is_some() && network_mode != NetworkMode::TransitGateway {
            return Err(AppError::invalid(
                "transit_gateway_id",
                "is only for network_mode transit_gateway",
            ));
        }
        let hub = store::hubs::NewHub {
            id: Uuid::now_v7(),
            name: req.name,
            account_id: req.account_id,
            region: req.region,
            vpc_id: req.vpc_id,
            cidrs: req.cidrs,
            subnet_ids: req.subnet_ids,
            route_table_ids: req.route_table_ids,
            services: req.services,
            role_arn,
            external_id: req.external_id,
            prefix_list_max_entries: max_entries,
            reconcile_mode: req.reconcile_mode.unwrap_or(ReconcileMode::Repair),
            dns_mode: req.dns_mode.unwrap_or(DnsMode::Zones),
            network_mode,
            transit_gateway_id: req.transit_gateway_id,
        };
        let mut tx = self.pool.begin().await?;
        if let Err(e) = store::hubs::hub_insert(&mut tx, &hub).await {
            return Err(match violated_constraint(&e, "23505").as_deref() {
                Some("hubs_name_live") => {
                    AppError::conflict(format!("a hub named '{}' already exists", hub.name))
                }
                Some("hubs_vpc_live") => AppError::conflict(format!(
                    "VPC {} of account {} in {} is already a hub",
                    hub.vpc_id, hub.account_id, hub.region
                )),
                _ => e.into(),
            });
        }
        let job_id = workflow::enqueue(&mut tx, JobKind::ProvisionHub, hub.id, None).await?;
        store::hubs::hub_current_job_set(&mut tx, hub.id, job_id).await?;
        Self::audit(
            &mut tx,
            actor,
            "hub.create",
            &format!("hub:{}", hub.id),
            None,
        )
        .await?;
        let created = store::hubs::hub_get(&mut tx, hub.id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("hub vanished")))?;
        tx.commit().await?;
        Ok(Accepted {
            resource: created,
            job_id,
            job_url: job_url(job_id),
        })
    }

    /// The hub, with how much of each limit of its modes its spokes use.
    pub async fn hub_get(&self, id: Uuid) -> Result<Hub, AppError> {
        let mut conn = self.pool.acquire().await?;
        let hub = store::hubs::hub_get(&mut conn, id)
            .await?
            .filter(|h| h.status != HubStatus::Deleted)
            .ok_or(AppError::NotFound("hub"))?;
        drop(conn);
        let mut hubs = [hub];
        self.hubs_usage(&mut hubs).await?;
        let [hub] = hubs;
        Ok(hub)
    }

    /// Each AWS limit that binds a hub in its modes, against its live spokes (`spokes`) and the
    /// spoke CIDRs its prefix list holds (`cidrs`).
    pub(super) fn capacity(&self, hub: &Hub, spokes: i64, cidrs: i64) -> Vec<CapacityUse> {
        let zones = hub
            .services
            .iter()
            .map(|s| s.zones.len() as i64)
            .sum::<i64>();
        let mut out = vec![match hub.network_mode {
            NetworkMode::Peering => CapacityUse {
                dimension: "peerings_per_vpc".into(),
                used: spokes,
                limit: self.limits.peerings_per_vpc,
                detail: "one VPC peering per spoke on the hub VPC (AWS: 50 active peerings per \
                         VPC by default, 125 at most)"
                    .into(),
            },
            NetworkMode::TransitGateway => CapacityUse {
                dimension: "tgw_attachments".into(),
                used: spokes + 1,
                limit: self.limits.tgw_attachments,
                detail: "one attachment per spoke VPC and the hub VPC's on the hub's Transit \
                         Gateway (AWS: 5,000 per gateway)"
                    .into(),
            },
        }];
        if hub.network_mode == NetworkMode::TransitGateway {
            out.push(CapacityUse {
                dimension: "tgw_routes".into(),
                used: cidrs,
                limit: self.limits.tgw_routes_per_table,
                detail: "each spoke CIDR is a propagated route in the hub's Transit Gateway \
                         route table (AWS: 10,000 routes per table)"
                    .into(),
            });
        }
        match hub.dns_mode {
            DnsMode::Zones => out.push(CapacityUse {
                dimension: "vpcs_per_zone".into(),
                used: spokes + 1,
                limit: self.limits.vpcs_per_zone,
                detail: "every spoke VPC and the hub VPC are associated with each of the hub's \
                         private hosted zones (AWS: 300 VPCs per zone)"
                    .into(),
            }),
            DnsMode::Profile => {
                out.push(CapacityUse {
                    dimension: "vpcs_per_profile".into(),
                    used: spokes,
                    limit: self.limits.vpcs_per_profile,
                    detail: "every spoke VPC is associated with the hub's Route 53 Profile \
                             (AWS: 1,000 per Profile by default)"
                        .into(),
                });
                out.push(CapacityUse {
                    dimension: "zones_per_profile".into(),
                    used: zones,
                    limit: self.limits.zones_per_profile,
                    detail: "the hub's private hosted zones in its Profile (AWS: 5,000)".into(),
                });
            }
        }
        out.push(CapacityUse {
            dimension: "prefix_list_entries".into(),
            used: cidrs,
            limit: i64::from(hub.prefix_list_max_entries),
            detail: "one entry per spoke CIDR in the hub's managed prefix list (its \
                     MaxEntries, set at registration)"
                .into(),
        });
        out
    }

    pub async fn hub_list(&self, cursor: Option<Uuid>, limit: i64) -> Result<Page<Hub>, AppError> {
        let mut items = store::hubs::hub_list(&self.pool, cursor, limit + 1).await?;
        self.hubs_usage(&mut items).await?;
        Ok(page(items, limit, |h| h.id.to_string()))
    }

    /// Changes a hub's services; the job adds/removes endpoints and zones and fans the change out
    /// to every attached spoke.
    /// The endpoints' security group holds one inbound rule per port the services use, each
    /// referencing the prefix list, which AWS counts as its `MaxEntries` rules: refuses a set of
    /// services and a prefix-list size that together cannot fit the group's quota.
    fn ingress_rules_check(
        &self,
        field: &str,
        services: &[ServiceName],
        max_entries: i32,
    ) -> Result<(), AppError> {
        let ports: std::collections::BTreeSet<u16> = services
            .iter()
            .flat_map(|s| s.ports().0.iter().copied())
            .collect();
        let rules = ports.len() as i64 * i64::from(max_entries);
        if rules <= self.limits.sg_inbound_rules {
            return Ok(());
        }
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        Err(AppError::invalid(
            field,
            &format!(
                "does not fit: the services use TCP port(s) {}, one security-group rule each \
                 referencing the prefix list, which AWS counts as its {max_entries} entries: \
                 {rules} inbound rules, and the group may hold {} (AWS: 60 unless raised in \
                 Service Quotas; after raising it, set EH_SG_INBOUND_RULES_QUOTA); use fewer \
                 prefix-list entries or fewer services",
                ports.join(", "),
                self.limits.sg_inbound_rules
            ),
        ))
    }

    pub async fn hub_update(
        &self,
        actor: &Actor,
        id: Uuid,
        req: HubUpdate,
    ) -> Result<Accepted<Hub>, AppError> {
        let mut tx = self.pool.begin().await?;
        let (_, accepted) = self.hub_update_in(&mut tx, actor, id, req).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    /// The hub before the change, and the change accepted, in the caller's transaction.
    pub(crate) async fn hub_update_in(
        &self,
        tx: &mut PgConnection,
        actor: &Actor,
        id: Uuid,
        req: HubUpdate,
    ) -> Result<(Hub, Accepted<Hub>), AppError> {
        services_check(&req.services)?;
        let hub = store::hubs::hub_lock(&mut *tx, id)
            .await?
            .filter(|h| h.status != HubStatus::Deleted)
            .ok_or(AppError::NotFound("hub"))?;
        self.ingress_rules_check("services", &req.services, hub.prefix_list_max_entries)?;
        if let Some(mode) = req.dns_mode
            && mode != hub.dns_mode
        {
            return Err(AppError::conflict(format!(
                "hub {} is in DNS mode {}: a live hub's DNS mode can't be changed (register a \
                 new hub in {mode} mode and move the spokes)",
                hub.name, hub.dns_mode
            )));
        }
        if let Some(mode) = req.network_mode
            && mode != hub.network_mode
        {
            return Err(AppError::conflict(format!(
                "hub {} is in network mode {}: a live hub's network mode can't be changed \
                 (register a new hub in {mode} mode and move the spokes)",
                hub.name,
                hub.network_mode.as_str()
            )));
        }
        if hub.status == HubStatus::Deleting {
            return Err(AppError::conflict(format!(
                "hub {} is being deleted",
                hub.name
            )));
        }
        store::hubs::hub_services_want(&mut *tx, id, &req.services).await?;
        if let Some(mode) = req.reconcile_mode {
            store::hubs::hub_reconcile_mode_set(&mut *tx, id, mode).await?;
        }
        store::hubs::hub_status_set(&mut *tx, id, HubStatus::Updating, None).await?;
        let job_id = workflow::enqueue(&mut *tx, JobKind::UpdateHubServices, id, None).await?;
        store::hubs::hub_current_job_set(&mut *tx, id, job_id).await?;
        Self::audit(
            &mut *tx,
            actor,
            "hub.update",
            &format!("hub:{id}"),
            Some(serde_json::json!({
                "services": req.services,
                "reconcile_mode": req.reconcile_mode,
            })),
        )
        .await?;
        let updated = store::hubs::hub_get(&mut *tx, id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        Ok((
            hub,
            Accepted {
                resource: updated,
                job_id,
                job_url: job_url(job_id),
            },
        ))
    }

    /// Deprovisions a hub; refused while any spoke is enrolled.
    pub async fn hub_delete(&self, actor: &Actor, id: Uuid) -> Result<Accepted<Hub>, AppError> {
        let mut tx = self.pool.begin().await?;
        let accepted = self.hub_delete_in(&mut tx, actor, id).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    pub(crate) async fn hub_delete_in(
        &self,
        tx: &mut PgConnection,
        actor: &Actor,
        id: Uuid,
    ) -> Result<Accepted<Hub>, AppError> {
        let hub = store::hubs::hub_lock(&mut *tx, id)
            .await?
            .filter(|h| h.status != HubStatus::Deleted)
            .ok_or(AppError::NotFound("hub"))?;
        if hub.status == HubStatus::Deleting {
            return Err(AppError::conflict(format!(
                "hub {} is already being deleted",
                hub.name
            )));
        }
        let live = store::hubs::hub_live_spokes(&mut *tx, id).await?;
        if live > 0 {
            return Err(AppError::conflict(format!(
                "hub {} still has {live} spoke(s) enrolled; detach them first (DELETE /v1/spokes/{{id}})",
                hub.name
            )));
        }
        store::hubs::hub_status_set(&mut *tx, id, HubStatus::Deleting, None).await?;
        let job_id = workflow::enqueue(&mut *tx, JobKind::DeleteHub, id, None).await?;
        store::hubs::hub_current_job_set(&mut *tx, id, job_id).await?;
        Self::audit(&mut *tx, actor, "hub.delete", &format!("hub:{id}"), None).await?;
        let hub = store::hubs::hub_get(&mut *tx, id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        Ok(Accepted {
            resource: hub,
            job_id,
            job_url: job_url(job_id),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Spokes
    // -----------------------------------------------------------------------------------------

    async fn hub_resolve(conn: &mut PgConnection, hub: &str) -> Result<Uuid, AppError> {
        if let Ok(id) = hub.parse::<Uuid>() {
            return Ok(id);
        }
        store::hubs::hub_id_by_name(conn, hub)
            .await?
            .ok_or_else(|| AppError::invalid("hub", &format!("no hub has the id or name '{hub}'")))
    }

    /// Enrols a spoke and enqueues its attach job. With an idempotency key, a retry with the
    /// same body gets the first answer again; another body with the same key is refused.
    pub async fn spoke_enroll(
        &self,
        actor: &Actor,
        req: SpokeEnroll,
        idempotency_key: Option<&str>,
    ) -> Result<Replayable, AppError> {
        let hash = request_hash(&req);
        let mut tx = self.pool.begin().await?;
        if let Some(key) = idempotency_key {
            // The key may expire between the two steps below: then take it again.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let fresh = store::idempotency::idempotency_begin_ttl(
                    &mut tx,
                    &actor.principal.name,
                    key,
                    &hash,
                    self.idempotency_ttl,
                )
                .await?;
                if fresh {
                    break;
                }
                drop(tx);
                let mut conn = self.pool.acquire().await?;
                let saved =
                    store::idempotency::idempotency_get(&mut conn, &actor.principal.name, key)
                        .await?;
                drop(conn);
                match saved {
                    Some(saved) if saved.request_hash != hash => {
                        return Err(AppError::IdempotencyMismatch);
                    }
                    Some(saved) => {
                        return Ok(Replayable {
                            status: saved.status_code as u16,
                            body: saved.response.0,
                            location: saved.location,
                            replayed: true,
                        });
                    }
                    None if attempts < 3 => tx = self.pool.begin().await?,
                    None => {
                        return Err(AppError::Internal(anyhow::anyhow!(
                            "idempotency key vanished"
                        )));
                    }
                }
            }
        }
        let accepted = match self.spoke_enroll_in(&mut tx, actor, req).await {
            Ok(a) => a,
            Err(e) => {
                drop(tx);
                return Err(self.enroll_error_explain(e).await);
            }
        };
        let body =
            serde_json::to_value(&accepted).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
        let location = accepted.job_url.clone();
        if let Some(key) = idempotency_key {
            store::idempotency::idempotency_save(
                &mut tx,
                &actor.principal.name,
                key,
                202,
                &body,
                Some(&location),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Replayable {
            status: 202,
            body,
            location: Some(location),
            replayed: false,
        })
    }

    /// Turns an overlap found by the exclusion constraint (a concurrent enrolment) into a 409
    /// naming the registration that holds the CIDR.
    async fn enroll_error_explain(&self, e: AppError) -> AppError {
        match e {
            AppError::OverlapRace { hub_id, cidrs } => {
                let Ok(mut conn) = self.pool.acquire().await else {
                    return AppError::conflict("a CIDR overlaps another registration".into());
                };
                match store::hubs::cidr_conflict_find(&mut conn, hub_id, &cidrs, None).await {
                    Ok(Some((mine, other))) => overlap_error(mine, &other),
                    _ => AppError::conflict(
                        "a CIDR overlaps another registration of this hub".into(),
                    ),
                }
            }
            other => other,
        }
    }

    async fn spoke_enroll_in(
        &self,
        tx: &mut PgConnection,
        actor: &Actor,
        req: SpokeEnroll,
    ) -> Result<Accepted<Spoke>, AppError> {
        let role_arn = role_resolve(
            "",
            &req.account_id,
            req.role_arn,
            req.role_name,
            Some(&self.default_role_name),
        )?;
        let cidrs = req.cidrs.unwrap_or_default();
        if !cidrs.is_empty() {
            cidrs_check(&cidrs)?;
        }
        if let Some(tables) = &req.route_table_ids {
            list_nonempty_distinct("route_table_ids", tables)?;
        }
        if let Some(subnets) = &req.transit_subnet_ids {
            list_nonempty_distinct("transit_subnet_ids", subnets)?;
        }
        let labels = req.labels.unwrap_or_default();
        labels_check(&labels)?;

        let hub_id = Self::hub_resolve(tx, &req.hub).await?;
        let hub = store::hubs::hub_lock(tx, hub_id)
            .await?
            .filter(|h| h.status != HubStatus::Deleted)
            .ok_or_else(|| {
                AppError::invalid("hub", &format!("no hub has the id or name '{}'", req.hub))
            })?;
        if hub.status == HubStatus::Deleting {
            return Err(AppError::conflict(format!(
                "hub {} is being deleted",
                hub.name
            )));
        }
        if hub.account_id == req.account_id && hub.vpc_id == req.vpc_id {
            return Err(AppError::invalid("vpc_id", "this VPC is the hub itself"));
        }
        if hub.region != req.region {
            // The hub's zones are named for its region (sqs.<region>.amazonaws.com): SDKs in
            // another region resolve other names and would never reach the hub's endpoints.
            return Err(AppError::invalid(
                "region",
                &format!(
                    "the spoke is in {} but hub {} is in {}: a spoke must be in its hub's region                      (the hub's private zones are named for {}, so clients in {} would never use them)",
                    req.region, hub.name, hub.region, hub.region, req.region
                ),
            ));
        }
        if req.transit_subnet_ids.is_some() && hub.network_mode != NetworkMode::TransitGateway {
            return Err(AppError::invalid(
                "transit_subnet_ids",
                &format!(
                    "is only for a hub in network_mode transit_gateway; hub {} is in {}",
                    hub.name,
                    hub.network_mode.as_str()
                ),
            ));
        }
        if let Some(existing) =
            store::spokes::spoke_find_live(tx, &req.account_id, &req.region, &req.vpc_id).await?
        {
            return Err(AppError::Conflict {
                message: format!(
                    "VPC {} of account {} in {} is already enrolled as spoke {existing}",
                    req.vpc_id, req.account_id, req.region
                ),
                existing: Some(format!("/v1/spokes/{existing}")),
            });
        }
        let live = store::hubs::hub_live_spokes(tx, hub_id).await?;
        match hub.network_mode {
            NetworkMode::Peering if live >= self.limits.peerings_per_vpc => {
                return Err(AppError::quota(format!(
                    "hub {} already has {live} spokes: a VPC can have at most {} active peering connections; a hub in transit_gateway network mode takes up to {} spokes",
                    hub.name,
                    self.limits.peerings_per_vpc,
                    self.limits.tgw_attachments - 1
                )));
            }
            // The hub VPC's own attachment is one of the gateway's.
            NetworkMode::TransitGateway if live + 1 >= self.limits.tgw_attachments => {
                return Err(AppError::quota(format!(
                    "hub {} already has {live} spokes: a Transit Gateway takes at most {} attachments, the hub VPC's included",
                    hub.name, self.limits.tgw_attachments
                )));
            }
            _ => {}
        }
        match hub.dns_mode {
            DnsMode::Zones if live + 1 >= self.limits.vpcs_per_zone => {
                return Err(AppError::quota(format!(
                    "hub {} already has {live} spokes: a private hosted zone can be associated with at most {} VPCs (the hub's included); a hub in profile DNS mode takes up to {} spokes",
                    hub.name, self.limits.vpcs_per_zone, self.limits.vpcs_per_profile
                )));
            }
            DnsMode::Profile if live >= self.limits.vpcs_per_profile => {
                return Err(AppError::quota(format!(
                    "hub {} already has {live} spokes: a Route 53 Profile can be associated with at most {} VPCs",
                    hub.name, self.limits.vpcs_per_profile
                )));
            }
            _ => {}
        }
        let used = store::hubs::hub_spoke_cidr_count(tx, hub_id).await?;
        if hub.network_mode == NetworkMode::TransitGateway
            && used + cidrs.len() as i64 > self.limits.tgw_routes_per_table
        {
            return Err(AppError::quota(format!(
                "hub {}'s Transit Gateway route table holds {used} spoke CIDRs: at most {} routes per table",
                hub.name, self.limits.tgw_routes_per_table
            )));
        }
        if used + cidrs.len() as i64 > i64::from(hub.prefix_list_max_entries) {
            return Err(AppError::quota(format!(
                "hub {}'s prefix list holds at most {} entries and {used} are taken; {} more do not fit",
                hub.name,
                hub.prefix_list_max_entries,
                cidrs.len()
            )));
        }
        if let Some((mine, other)) =
            store::hubs::cidr_conflict_find(tx, hub_id, &cidrs, None).await?
        {
            return Err(overlap_error(mine, &other));
        }
        let spoke = store::spokes::NewSpoke {
            id: Uuid::now_v7(),
            hub_id,
            account_id: req.account_id,
            region: req.region,
            vpc_id: req.vpc_id,
            cidrs: cidrs.clone(),
            route_table_ids: req.route_table_ids,
            transit_subnet_ids: req.transit_subnet_ids,
            role_arn,
            external_id: req.external_id,
            labels,
        };
        if let Err(e) = store::spokes::spoke_insert(tx, &spoke).await {
            if violated_constraint(&e, "23P01").is_some() {
                return Err(AppError::OverlapRace { hub_id, cidrs });
            }
            if violated_constraint(&e, "23505").as_deref() == Some("spokes_vpc_live") {
                return Err(AppError::conflict(format!(
                    "VPC {} of account {} in {} is already enrolled",
                    spoke.vpc_id, spoke.account_id, spoke.region
                )));
            }
            return Err(e.into());
        }
        let job_id = workflow::enqueue(tx, JobKind::AttachSpoke, hub_id, Some(spoke.id)).await?;
        store::spokes::spoke_current_job_set(tx, spoke.id, job_id).await?;
        Self::audit(
            tx,
            actor,
            "spoke.enroll",
            &format!("spoke:{}", spoke.id),
            None,
        )
        .await?;
        let created = store::spokes::spoke_get(tx, spoke.id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        Ok(Accepted {
            resource: created,
            job_id,
            job_url: job_url(job_id),
        })
    }

    pub async fn spoke_get(&self, id: Uuid) -> Result<Spoke, AppError> {
        let mut conn = self.pool.acquire().await?;
        store::spokes::spoke_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))
    }

    pub async fn spoke_list(
        &self,
        filter: SpokeListFilter,
        cursor: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Spoke>, AppError> {
        let hub_id = match filter.hub {
            Some(h) => {
                let mut conn = self.pool.acquire().await?;
                match h.parse::<Uuid>() {
                    Ok(id) => Some(id),
                    Err(_) => match store::hubs::hub_id_by_name(&mut conn, &h).await? {
                        Some(id) => Some(id),
                        None => {
                            return Ok(Page {
                                items: vec![],
                                next_cursor: None,
                            });
                        }
                    },
                }
            }
            None => None,
        };
        let f = store::spokes::SpokeFilter {
            hub_id,
            account_id: filter.account_id,
            status: filter.status,
            labels: filter.labels,
        };
        let items = store::spokes::spoke_list(&self.pool, &f, cursor, limit + 1).await?;
        Ok(page(items, limit, |s| s.id.to_string()))
    }

    /// Enqueues the detach of a spoke. Detaching a detached spoke is refused (409); a second
    /// DELETE while detaching answers the running detach job.
    pub async fn spoke_detach(&self, actor: &Actor, id: Uuid) -> Result<Accepted<Spoke>, AppError> {
        let mut tx = self.pool.begin().await?;
        let accepted = self.spoke_detach_in(&mut tx, actor, id).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    pub(crate) async fn spoke_detach_in(
        &self,
        tx: &mut PgConnection,
        actor: &Actor,
        id: Uuid,
    ) -> Result<Accepted<Spoke>, AppError> {
        let spoke = store::spokes::spoke_get(&mut *tx, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        store::hubs::hub_lock(&mut *tx, spoke.hub_id).await?;
        let spoke = store::spokes::spoke_get(&mut *tx, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        match spoke.status {
            SpokeStatus::Detached => {
                return Err(AppError::conflict(format!(
                    "spoke {id} is already detached"
                )));
            }
            SpokeStatus::Detaching => {
                let job_id = spoke.current_job_id.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("detaching spoke without a job"))
                })?;
                return Ok(Accepted {
                    resource: spoke,
                    job_id,
                    job_url: job_url(job_id),
                });
            }
            _ => {}
        }
        // An attach that has not started yet is canceled rather than run and then undone.
        if let Some(attach) = spoke.current_job_id
            && spoke
                .job
                .as_ref()
                .is_some_and(|j| j.kind == JobKind::AttachSpoke)
        {
            store::jobs::job_cancel_unstarted(
                &mut *tx,
                attach,
                "canceled: the spoke was deleted before its attach started",
            )
            .await?;
        }
        // A reconcile of the spoke that has not started would only find it detached.
        if let Some(reconcile) =
            store::drift::reconcile_unfinished(&mut *tx, spoke.hub_id, Some(id)).await?
        {
            store::jobs::job_cancel_unstarted(
                &mut *tx,
                reconcile,
                "canceled: the spoke is being detached",
            )
            .await?;
        }
        let job_id =
            workflow::enqueue(&mut *tx, JobKind::DetachSpoke, spoke.hub_id, Some(id)).await?;
        store::spokes::spoke_status_set(&mut *tx, id, SpokeStatus::Detaching, None).await?;
        store::spokes::spoke_current_job_set(&mut *tx, id, job_id).await?;
        Self::audit(
            &mut *tx,
            actor,
            "spoke.detach",
            &format!("spoke:{id}"),
            None,
        )
        .await?;
        let spoke = store::spokes::spoke_get(&mut *tx, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        Ok(Accepted {
            resource: spoke,
            job_id,
            job_url: job_url(job_id),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Jobs and audit
    // -----------------------------------------------------------------------------------------

    pub async fn job_get(&self, id: Uuid) -> Result<Job, AppError> {
        let mut conn = self.pool.acquire().await?;
        store::jobs::job_get(&mut conn, id, true)
            .await?
            .ok_or(AppError::NotFound("job"))
    }

    pub async fn job_list(
        &self,
        filter: store::jobs::JobFilter,
        cursor: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Job>, AppError> {
        let items = store::jobs::job_list(&self.pool, &filter, cursor, limit + 1).await?;
        Ok(page(items, limit, |j| j.id.to_string()))
    }

    /// Resumes a failed job at its failed step.
    pub async fn job_retry(&self, actor: &Actor, id: Uuid) -> Result<Job, AppError> {
        let mut tx = self.pool.begin().await?;
        let job = store::jobs::job_get(&mut tx, id, false)
            .await?
            .ok_or(AppError::NotFound("job"))?;
        if !store::jobs::job_requeue(&mut tx, id).await? {
            return Err(AppError::conflict(format!(
                "job {id} is {}: only a failed job can be retried",
                job.status
            )));
        }
        workflow::on_retry(&mut tx, &job).await?;
        Self::audit(&mut tx, actor, "job.retry", &format!("job:{id}"), None).await?;
        let job = store::jobs::job_get(&mut tx, id, true)
            .await?
            .ok_or(AppError::NotFound("job"))?;
        tx.commit().await?;
        Ok(job)
    }

    pub async fn audit_list(
        &self,
        filter: store::audit::AuditFilter,
        cursor: Option<i64>,
        limit: i64,
    ) -> Result<Page<AuditEntry>, AppError> {
        let items = store::audit::audit_list(&self.pool, &filter, cursor, limit + 1).await?;
        Ok(page(items, limit, |a| a.id.to_string()))
    }

    pub async fn ready(&self) -> bool {
        store::ready(&self.pool).await
    }
}

/// Filters of `GET /v1/spokes` as the application sees them.
#[derive(Debug, Clone, Default)]
pub struct SpokeListFilter {
    pub hub: Option<String>,
    pub account_id: Option<AccountId>,
    pub status: Option<SpokeStatus>,
    pub labels: BTreeMap<String, String>,
}

fn overlap_error(mine: Ipv4Cidr, other: &store::hubs::CidrConflict) -> AppError {
    let what = if other.owner_kind == "hub" {
        format!("the hub's own CIDR {}", other.cidr)
    } else {
        format!("{} of spoke {}", other.cidr, other.owner_id)
    };
    AppError::Conflict {
        message: format!("{mine} overlaps {what}"),
        existing: Some(if other.owner_kind == "hub" {
            format!("/v1/hubs/{}", other.owner_id)
        } else {
            format!("/v1/spokes/{}", other.owner_id)
        }),
    }
}

fn page<T>(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next_cursor }
}
