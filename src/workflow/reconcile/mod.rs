//! Reconcile: reads what AWS has for a hub and its attached spokes, compares it with what the
//! registrations want, and repairs what is endpoint-hub's.
//!
//! [`observe`] reads and compares, giving [`Finding`]s: a typed [`Difference`] (missing,
//! extra, wrong target, conflict, unreadable) and the [`Repair`] that would fix it, if any. A
//! conflict (the destination or name is held by something that is not ours) has no repair: it
//! is reported and left alone. The same function answers plans (`dry_run`): it only reads.
//!
//! Two job kinds share one step table: `reconcile_hub` (a hub-level job: the hub's own
//! resources and every attached spoke, running alone in the hub's job order like every
//! hub-level job) and `reconcile_spoke` (one spoke, beside the hub's other spoke jobs). Each
//! repair step does nothing unless `observe` found something for it, so a pass without drift
//! makes no mutating call; each repair is one of the idempotent operations attach and
//! provisioning use (find before create, read before write). `verify` reads again after a
//! repair and records what is still open on the hub and each spoke.
//!
//! Reads are few on purpose: the hub account's route tables (with their routes), prefix list,
//! peerings and zones are read once per pass, not once per spoke; a spoke costs one
//! `DescribeRouteTables` in its own account. Route 53 reads go through the deployment's shared
//! pacing like every Route 53 call, so a pass never takes an attach's budget.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::{
    StepCx, StepError, StepResult, WaitFor, need, spoke_call_cx, spoke_tag, spoke_zone_vpc, wait,
};
use super::definition::{Step, Workflow};
use super::ops::{self, Association, prefix_list_change, routes_ensure, zone_associate};
use super::profile;
use super::transit;
use super::zone_names::zone_caller_reference;
use crate::cloud::{CallCx, CloudErrorKind, PeeringStatus, RouteTarget, ZoneVpc};
use crate::domain::{AccountId, HostedZoneId, Ipv4Cidr, PeeringId, Region, RouteTableId, VpcId};
use crate::model::{Difference, DriftKind, DriftResource, HubStatus, JobKind, Spoke, SpokeStatus};
use crate::store;
use crate::store::effects::Effect;

mod observe;
pub use observe::{Scope, observe};

/// A hub and every attached spoke.
pub struct ReconcileHub;
/// One spoke.
pub struct ReconcileSpoke;

/// Which account's route table a route is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Hub,
    Spoke,
}

/// What fixes a difference; each is idempotent and re-reads before it writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Repair {
    /// The hub's own resources: its provisioning steps run again (security group, prefix list
    /// and its rules, endpoints, zones and their records), each finding before it makes.
    HubResources,
    /// A live tagged peering for the spoke (requested anew when gone), accepted and active.
    Peering {
        spoke: Uuid,
    },
    /// A route to `destination` through the spoke's live peering; `through` is the peering of
    /// ours the route goes through now (replaced only while it still does).
    Route {
        spoke: Uuid,
        side: Side,
        table: RouteTableId,
        destination: Ipv4Cidr,
        through: Option<PeeringId>,
    },
    PrefixListAdd {
        cidr: Ipv4Cidr,
    },
    PrefixListRemove {
        cidr: Ipv4Cidr,
    },
    ZoneAssociate {
        spoke: Uuid,
        zone: HostedZoneId,
        service: String,
    },
    ZoneAssociateHub {
        zone: HostedZoneId,
    },
    /// A zone deleted by hand: planned again with a new caller reference, made by the
    /// provisioning step, then associated with every spoke the job checks.
    ZoneRemake {
        service: String,
        zone_name: String,
    },
    ZoneDisassociate {
        zone: HostedZoneId,
        vpc: VpcId,
        region: Region,
    },
    AuthorizationDelete {
        zone: HostedZoneId,
        vpc: VpcId,
        region: Region,
    },
    /// `profile` mode: the hub's Profile, its share and the zones it holds (the provisioning
    /// steps run again, each finding before it makes).
    ProfileHub,
    /// `profile` mode: the spoke's account a principal of the share, the invitation accepted,
    /// the spoke VPC associated with the hub's Profile.
    ProfileAssociate {
        spoke: Uuid,
    },
    /// `profile` mode: an account no spoke needs any more removed from the share.
    SharePrincipalRemove {
        account: AccountId,
    },
    /// `transit_gateway` mode: the hub's gateway, route tables, attachment, share and hub
    /// routes (the provisioning steps run again, each finding before it makes).
    TransitHub,
    /// `transit_gateway` mode: the spoke's account in the share, its VPC attached, accepted,
    /// associated and propagated, its routes to the hub through the gateway.
    TransitSpoke {
        spoke: Uuid,
    },
}

/// A difference and its repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub difference: Difference,
    pub repair: Option<Repair>,
}

/// What the steps of a reconcile learn and later steps need.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReconcileState {
    /// Report only: the hub's `reconcile_mode` is `detect`, or the request said so.
    #[serde(default)]
    pub detect_only: bool,
    /// The background pass that enqueued the job, if any.
    #[serde(default)]
    pub pass_id: Option<Uuid>,
    /// What `observe` found.
    #[serde(default)]
    pub findings: Option<Vec<Finding>>,
    /// The spokes the job checked (their drift is recorded by `verify`).
    #[serde(default)]
    pub spokes: Vec<Uuid>,
    /// Conflicts met while repairing (a zone name held by another zone, a route taken
    /// meanwhile): reported with the rest.
    #[serde(default)]
    pub repair_conflicts: Vec<Difference>,
}

type Cx = StepCx<ReconcileState>;

const STEPS: &[Step<ReconcileState>] = crate::steps![ReconcileState:
    observe_drift,
    repair_security_group,
    repair_prefix_list,
    repair_endpoints,
    replan_zones,
    repair_zones,
    repair_peerings,
    repair_routes,
    repair_prefix_entries,
    repair_zone_associations,
    repair_profile,
    repair_profile_members,
    repair_transit,
    repair_transit_members,
    verify_drift,
];

impl Workflow for ReconcileHub {
    const KIND: JobKind = JobKind::ReconcileHub;
    type State = ReconcileState;
    const STEPS: &'static [Step<ReconcileState>] = STEPS;

    /// A reconcile that fails leaves the hub's status alone and records why on its drift.
    fn on_failure(message: &str) -> Vec<Effect> {
        vec![Effect::DriftFailed(message.to_owned())]
    }

    fn on_retry() -> Vec<Effect> {
        vec![]
    }
}

impl Workflow for ReconcileSpoke {
    const KIND: JobKind = JobKind::ReconcileSpoke;
    type State = ReconcileState;
    const STEPS: &'static [Step<ReconcileState>] = STEPS;

    fn on_failure(message: &str) -> Vec<Effect> {
        vec![Effect::DriftFailed(message.to_owned())]
    }

    fn on_retry() -> Vec<Effect> {
        vec![]
    }
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

/// The spokes a job looks at, fresh from the store.
async fn spokes(cx: &Cx) -> Result<Vec<Spoke>, StepError> {
    Ok(store::spokes::spokes_of_hub(&cx.pool, cx.hub.id).await?)
}

async fn observe_drift(cx: &mut Cx) -> StepResult {
    if cx.hub.status != HubStatus::Ready {
        return super::context::fail(format!(
            "hub {} is {}: a reconcile needs a ready hub",
            cx.hub.name, cx.hub.status
        ));
    }
    if let Some(spoke) = &cx.spoke
        && spoke.status != SpokeStatus::Attached
    {
        return super::context::fail(format!(
            "spoke {} is {}: a reconcile needs an attached spoke",
            spoke.id, spoke.status
        ));
    }
    let all = spokes(cx).await?;
    let scope = Scope {
        hub: &cx.hub,
        spokes: &all,
        only: cx.job.spoke_id,
        job_id: Some(cx.job.id),
    };
    let findings = observe(&cx.cloud, &scope).await?;
    cx.state.spokes = scope.checked().map(|s| s.id).collect();
    if !findings.is_empty() {
        cx.effect(Effect::DriftFound(
            findings.iter().map(|f| f.difference.clone()).collect(),
        ));
    }
    cx.state.findings = Some(findings);
    Ok(())
}

/// The repairs `observe_drift` planned, unless the job only detects.
fn repairs(cx: &Cx) -> Result<Vec<Repair>, StepError> {
    if cx.state.detect_only {
        return Ok(Vec::new());
    }
    let findings = need(&cx.state.findings, "findings", "observe_drift")?;
    Ok(findings.into_iter().filter_map(|f| f.repair).collect())
}

fn hub_repair(cx: &Cx) -> Result<bool, StepError> {
    Ok(repairs(cx)?.contains(&Repair::HubResources))
}

async fn repair_security_group(cx: &mut Cx) -> StepResult {
    if hub_repair(cx)? {
        ops::security_group(cx).await?;
    }
    Ok(())
}

async fn repair_prefix_list(cx: &mut Cx) -> StepResult {
    if hub_repair(cx)? {
        ops::prefix_list(cx).await?;
    }
    Ok(())
}

async fn repair_endpoints(cx: &mut Cx) -> StepResult {
    if hub_repair(cx)? {
        ops::endpoints(cx).await?;
    }
    Ok(())
}

/// The zones to make again: `(service, zone name)`.
fn zones_to_remake(cx: &Cx) -> Result<Vec<(String, String)>, StepError> {
    Ok(repairs(cx)?
        .into_iter()
        .filter_map(|r| match r {
            Repair::ZoneRemake { service, zone_name } => Some((service, zone_name)),
            _ => None,
        })
        .collect())
}

/// Gives each zone deleted by hand a new caller reference (the job's, so that a rerun finds the
/// zone it made), for `repair_zones` to make it.
async fn replan_zones(cx: &mut Cx) -> StepResult {
    for (service, zone_name) in zones_to_remake(cx)? {
        let Some(svc) = cx
            .hub
            .services
            .iter()
            .find(|s| s.name.as_str() == service)
            .cloned()
        else {
            continue;
        };
        let job = cx.job.id.simple().to_string();
        let reference = zone_caller_reference(
            cx.hub.id,
            svc.generation,
            &format!("{}/{zone_name}", &job[20..]),
        );
        cx.effect(Effect::HubServiceZoneReplanned {
            service: svc.name.clone(),
            zone_name,
            caller_reference: reference,
        });
    }
    Ok(())
}

async fn repair_zones(cx: &mut Cx) -> StepResult {
    if hub_repair(cx)? || !zones_to_remake(cx)?.is_empty() {
        ops::zones(cx).await?;
    }
    Ok(())
}

fn profile_repair(cx: &Cx) -> Result<bool, StepError> {
    Ok(repairs(cx)?.contains(&Repair::ProfileHub))
}

/// `profile` mode: the hub's Profile found or made again (a new one gets a new id).
async fn repair_profile(cx: &mut Cx) -> StepResult {
    if profile_repair(cx)? {
        profile::profile(cx).await?;
    }
    Ok(())
}

/// `transit_gateway` mode: the hub's transit resources, found or made again (a gateway deleted
/// by hand is made anew unless it was given at registration).
async fn repair_transit(cx: &mut Cx) -> StepResult {
    if !repairs(cx)?.contains(&Repair::TransitHub) {
        return Ok(());
    }
    let t = cx.hub.transit_gateway.clone().unwrap_or_default();
    if let Some(id) = &t.transit_gateway_id
        && !t.given
    {
        let hcx = cx.hub_cx();
        if cx.cloud.transit.tgw_get(&hcx, id).await?.is_none() {
            transit::transit_set(
                cx,
                crate::model::HubTransit {
                    given: false,
                    ..Default::default()
                },
            );
        }
    }
    transit::transit_gateway(cx).await?;
    transit::transit_route_tables(cx).await?;
    transit::transit_hub_attachment(cx).await?;
    transit::transit_share(cx).await?;
    transit::transit_hub_routes(cx).await
}

/// `transit_gateway` mode: each spoke's account in the share, its VPC attached (accepted,
/// associated, propagated) and its routes to the hub through the gateway. A route held by
/// something else is a conflict, reported.
async fn repair_transit_members(cx: &mut Cx) -> StepResult {
    let wanted: Vec<Uuid> = repairs(cx)?
        .into_iter()
        .filter_map(|r| match r {
            Repair::TransitSpoke { spoke } => Some(spoke),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let all = spokes(cx).await?;
    let job_spoke = cx.spoke.take();
    let mut result = Ok(());
    for id in wanted {
        let s = spoke_by_id(&all, id)?.clone();
        cx.spoke = Some(s.clone());
        result = repair_transit_spoke(cx).await;
        if result.is_err() {
            break;
        }
    }
    cx.spoke = job_spoke;
    result
}

/// [`repair_transit_members`] for `cx.spoke()`.
async fn repair_transit_spoke(cx: &mut Cx) -> StepResult {
    let s = cx.spoke().clone();
    transit::transit_share_spoke(cx).await?;
    transit::transit_accept_share(cx).await?;
    let id = match transit::transit_attach(cx).await {
        Ok(Some(id)) => id,
        Ok(None) => return Ok(()),
        Err(StepError::Fail(why)) => {
            cx.state.repair_conflicts.push(Difference {
                kind: DriftKind::Conflict,
                resource: DriftResource::TgwAttachment,
                spoke_id: Some(s.id),
                key: format!("tgw_attachment:{}", s.vpc_id),
                detail: why,
                repair: None,
            });
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if s.tgw_attachment_id.as_ref() != Some(&id) {
        cx.effect(Effect::SpokeTgwAttachmentOf {
            spoke: s.id,
            attachment: id.clone(),
        });
    }
    transit::transit_accept(cx, &id).await?;
    let scx = cx.spoke_cx();
    let tables: Vec<RouteTableId> = cx
        .cloud
        .network
        .route_tables_list(&scx, &s.vpc_id)
        .await?
        .into_iter()
        .filter(|t| match &s.route_table_ids {
            Some(given) => given.contains(&t.id),
            None => t.routes_subnets(),
        })
        .map(|t| t.id)
        .collect();
    let target = RouteTarget::TransitGateway(transit::tgw_of(cx)?);
    match routes_ensure(&cx.cloud, &scx, &tables, &cx.hub.cidrs, &target).await {
        Ok(()) => Ok(()),
        Err(StepError::Fail(why)) => {
            cx.state.repair_conflicts.push(Difference {
                kind: DriftKind::Conflict,
                resource: DriftResource::Route,
                spoke_id: Some(s.id),
                key: format!("route:{}", s.vpc_id),
                detail: why,
                repair: None,
            });
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `profile` mode: the share, the zones in the Profile, each spoke's association (with its
/// account in the share) and accounts no spoke needs removed from the share.
async fn repair_profile_members(cx: &mut Cx) -> StepResult {
    let wanted = repairs(cx)?;
    if profile_repair(cx)? {
        profile::profile_share(cx).await?;
    }
    // A zone made again (or the hub's resources repaired) goes into the Profile too.
    if profile_repair(cx)? || hub_repair(cx)? || !zones_to_remake(cx)?.is_empty() {
        profile::profile_zones(cx).await?;
    }
    let mut all: Option<Vec<Spoke>> = None;
    for r in wanted {
        match r {
            Repair::ProfileAssociate { spoke } => {
                if all.is_none() {
                    all = Some(spokes(cx).await?);
                }
                let s = spoke_by_id(all.as_deref().unwrap_or_default(), spoke)?.clone();
                let job = Some(cx.job.id);
                profile::principal_ensure(&cx.cloud, &cx.hub, &s, job).await?;
                profile::invitation_accept(&cx.cloud, &cx.hub, &s, job).await?;
                if let Err(e) = profile::vpc_associate(&cx.cloud, &cx.hub, &s, job).await {
                    match e {
                        StepError::Fail(why) => cx.state.repair_conflicts.push(Difference {
                            kind: DriftKind::Conflict,
                            resource: DriftResource::ProfileAssociation,
                            spoke_id: Some(s.id),
                            key: format!("profile_association:{}", s.vpc_id),
                            detail: why,
                            repair: None,
                        }),
                        other => return Err(other),
                    }
                }
            }
            Repair::SharePrincipalRemove { account } => {
                if let Some(share) = cx.hub.share_arn.clone() {
                    let hcx = cx.hub_cx();
                    cx.cloud
                        .sharing
                        .share_principal_remove(&hcx, &share, &account)
                        .await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn spoke_by_id(all: &[Spoke], id: Uuid) -> Result<&Spoke, StepError> {
    all.iter()
        .find(|s| s.id == id)
        .ok_or_else(|| StepError::Fail(format!("spoke {id} is no longer enrolled in the hub")))
}

/// A live tagged peering for each spoke that lost its own, accepted from the spoke account;
/// waits until all are active.
async fn repair_peerings(cx: &mut Cx) -> StepResult {
    let wanted: BTreeSet<Uuid> = repairs(cx)?
        .into_iter()
        .filter_map(|r| match r {
            Repair::Peering { spoke } => Some(spoke),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let all = spokes(cx).await?;
    let hcx = cx.hub_cx();
    let mut pending = Vec::new();
    for id in wanted {
        let spoke = spoke_by_id(&all, id)?;
        let p = ops::peering_ensure(&cx.cloud, &hcx, &cx.hub, spoke).await?;
        cx.effect(Effect::SpokePeeringOf {
            spoke: id,
            peering: p.id.clone(),
        });
        match p.status {
            PeeringStatus::Active => {}
            PeeringStatus::PendingAcceptance => {
                let scx = spoke_call_cx(spoke, Some(cx.job.id));
                match cx.cloud.network.peering_accept(&scx, &p.id).await {
                    Ok(()) => {}
                    // Not visible to the accepter yet (EC2 is eventually consistent).
                    Err(e) if e.is(CloudErrorKind::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
                pending.push(p.id.to_string());
            }
            _ => pending.push(p.id.to_string()),
        }
    }
    if !pending.is_empty() {
        return wait(
            WaitFor::Peering,
            format!("peerings not active yet: {}", pending.join(", ")),
        );
    }
    Ok(())
}

/// The active peering tagged for a spoke.
async fn live_peering(cx: &Cx, hcx: &CallCx, spoke: Uuid) -> Result<PeeringId, StepError> {
    let found = cx
        .cloud
        .network
        .peering_find(hcx, &spoke_tag(spoke))
        .await?;
    match found.iter().find(|p| p.status == PeeringStatus::Active) {
        Some(p) => Ok(p.id.clone()),
        None => wait(
            WaitFor::Peering,
            format!("spoke {spoke} has no active peering yet"),
        ),
    }
}

async fn repair_routes(cx: &mut Cx) -> StepResult {
    let wanted: Vec<Repair> = repairs(cx)?
        .into_iter()
        .filter(|r| matches!(r, Repair::Route { .. }))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let all = spokes(cx).await?;
    let hcx = cx.hub_cx();
    let mut peerings: BTreeMap<Uuid, PeeringId> = BTreeMap::new();
    for r in wanted {
        let Repair::Route {
            spoke,
            side,
            table,
            destination,
            through,
        } = r
        else {
            continue;
        };
        let s = spoke_by_id(&all, spoke)?;
        let peering = match peerings.get(&spoke) {
            Some(p) => p.clone(),
            None => {
                let p = live_peering(cx, &hcx, spoke).await?;
                peerings.insert(spoke, p.clone());
                p
            }
        };
        let ccx = match side {
            Side::Hub => hcx.clone(),
            Side::Spoke => spoke_call_cx(s, Some(cx.job.id)),
        };
        if let Some(old) = &through {
            // Replaced only while it still goes through our old peering (read again first).
            let routes = cx.cloud.network.routes_list(&ccx, &table).await?;
            if routes.iter().any(|r| {
                r.destination == destination && r.target == RouteTarget::Peering(old.clone())
            }) {
                cx.cloud
                    .network
                    .route_delete(&ccx, &table, &destination)
                    .await?;
            }
        }
        match routes_ensure(
            &cx.cloud,
            &ccx,
            std::slice::from_ref(&table),
            &[destination],
            &RouteTarget::Peering(peering.clone()),
        )
        .await
        {
            Ok(()) => {}
            // Taken by something else meanwhile: reported, left alone.
            Err(StepError::Fail(why)) => cx.state.repair_conflicts.push(Difference {
                kind: DriftKind::Conflict,
                resource: DriftResource::Route,
                spoke_id: Some(spoke),
                key: format!(
                    "route:{}:{spoke}:{table}:{destination}",
                    if side == Side::Hub { "hub" } else { "spoke" }
                ),
                detail: format!("{why}: left alone"),
                repair: None,
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn repair_prefix_entries(cx: &mut Cx) -> StepResult {
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for r in repairs(cx)? {
        match r {
            Repair::PrefixListAdd { cidr } => add.push(cidr),
            Repair::PrefixListRemove { cidr } => remove.push(cidr),
            _ => {}
        }
    }
    if add.is_empty() && remove.is_empty() {
        return Ok(());
    }
    prefix_list_change(cx, &add, &remove).await
}

async fn repair_zone_associations(cx: &mut Cx) -> StepResult {
    let wanted: Vec<Repair> = repairs(cx)?
        .into_iter()
        .filter(|r| {
            matches!(
                r,
                Repair::ZoneAssociate { .. }
                    | Repair::ZoneAssociateHub { .. }
                    | Repair::ZoneRemake { .. }
                    | Repair::ZoneDisassociate { .. }
                    | Repair::AuthorizationDelete { .. }
            )
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let all = spokes(cx).await?;
    let hcx = cx.hub_cx();
    for r in wanted {
        match r {
            Repair::ZoneAssociate {
                spoke,
                zone,
                service,
            } => {
                let s = spoke_by_id(&all, spoke)?;
                associate_or_report(cx, s, &zone, &service).await?;
            }
            Repair::ZoneRemake { service, zone_name } => {
                // The zone made again: every spoke the job checked gets it.
                let Some(zone) = cx
                    .hub
                    .services
                    .iter()
                    .filter(|s| s.name.as_str() == service)
                    .flat_map(|s| s.zones.iter())
                    .find(|z| z.name == zone_name)
                    .and_then(|z| z.id.clone())
                else {
                    return super::context::fail(format!(
                        "zone {zone_name} of {service} was not made again (step repair_zones)"
                    ));
                };
                // In `profile` mode the spokes get it through the Profile
                // (`repair_profile_members`).
                if cx.hub.dns_mode == crate::model::DnsMode::Zones {
                    for id in cx.state.spokes.clone() {
                        associate_or_report(cx, spoke_by_id(&all, id)?, &zone, &service).await?;
                    }
                }
            }
            Repair::ZoneAssociateHub { zone } => {
                let vpc = cx.hub_zone_vpc();
                match cx.cloud.dns.vpc_associate(&hcx, &zone, &vpc).await {
                    Ok(()) => {}
                    Err(e) if e.is(CloudErrorKind::AlreadyExists) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Repair::ZoneDisassociate { zone, vpc, region } => {
                cx.cloud
                    .dns
                    .vpc_disassociate(
                        &hcx,
                        &zone,
                        &ZoneVpc {
                            vpc_id: vpc,
                            region,
                        },
                    )
                    .await?;
            }
            Repair::AuthorizationDelete { zone, vpc, region } => {
                cx.cloud
                    .dns
                    .association_deauthorize(
                        &hcx,
                        &zone,
                        &ZoneVpc {
                            vpc_id: vpc,
                            region,
                        },
                    )
                    .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Associates a zone with a spoke VPC; another zone of the same name holding the VPC is
/// reported as a conflict and left alone.
async fn associate_or_report(
    cx: &mut Cx,
    spoke: &Spoke,
    zone: &HostedZoneId,
    service: &str,
) -> StepResult {
    let hcx = cx.hub_cx();
    let scx = spoke_call_cx(spoke, Some(cx.job.id));
    let vpc = spoke_zone_vpc(spoke);
    if let Association::Conflict(why) =
        zone_associate(&cx.cloud, &hcx, &scx, zone, service, &vpc).await?
    {
        cx.state.repair_conflicts.push(Difference {
            kind: DriftKind::Conflict,
            resource: DriftResource::ZoneAssociation,
            spoke_id: Some(spoke.id),
            key: format!("zone_association:{zone}:{}", spoke.vpc_id),
            detail: format!("{why}: left alone"),
            repair: None,
        });
    }
    Ok(())
}

/// Reads again after a repair (not when nothing was repaired), records what was repaired and
/// what is still open on the hub and on each spoke checked.
async fn verify_drift(cx: &mut Cx) -> StepResult {
    let findings = need(&cx.state.findings, "findings", "observe_drift")?;
    let repaired_some = !repairs(cx)?.is_empty();
    let mut open: Vec<Difference> = if repaired_some {
        let all = spokes(cx).await?;
        let scope = Scope {
            hub: &cx.hub,
            spokes: &all,
            only: cx.job.spoke_id,
            job_id: Some(cx.job.id),
        };
        observe(&cx.cloud, &scope)
            .await?
            .into_iter()
            .map(|f| f.difference)
            .collect()
    } else {
        findings.iter().map(|f| f.difference.clone()).collect()
    };
    for c in &cx.state.repair_conflicts {
        if !open.iter().any(|d| d.key == c.key) {
            open.push(c.clone());
        }
    }
    let before: BTreeSet<&str> = findings.iter().map(|f| f.difference.key.as_str()).collect();
    let after: BTreeSet<&str> = open.iter().map(|d| d.key.as_str()).collect();
    let repaired: Vec<Difference> = findings
        .iter()
        .filter(|f| !after.contains(f.difference.key.as_str()))
        .map(|f| f.difference.clone())
        .collect();
    let new: Vec<Difference> = open
        .iter()
        .filter(|d| !before.contains(d.key.as_str()))
        .cloned()
        .collect();
    if !repaired.is_empty() {
        cx.effect(Effect::DriftRepaired(repaired));
    }
    if !new.is_empty() {
        cx.effect(Effect::DriftFound(new));
    }
    let checked_at = Utc::now();
    let drift_of = |spoke: Option<Uuid>| {
        let differences: Vec<Difference> = open
            .iter()
            .filter(|d| d.spoke_id == spoke)
            .cloned()
            .collect();
        let error = differences
            .iter()
            .find(|d| d.kind == DriftKind::Unreadable)
            .map(|d| d.detail.clone());
        crate::model::Drift {
            checked_at,
            differences,
            error,
        }
    };
    if cx.job.spoke_id.is_none() {
        let drift = drift_of(None);
        cx.effect(Effect::DriftRecorded { spoke: None, drift });
    }
    for id in cx.state.spokes.clone() {
        let drift = drift_of(Some(id));
        cx.effect(Effect::DriftRecorded {
            spoke: Some(id),
            drift,
        });
    }
    Ok(())
}
