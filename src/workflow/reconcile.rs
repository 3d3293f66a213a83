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
    StepCx, StepError, StepResult, WaitFor, hub_call_cx, hub_tag, need, service_tag, spoke_call_cx,
    spoke_tag, spoke_zone_vpc, wait,
};
use super::definition::{Step, Workflow};
use super::ops::{
    self, Association, endpoint_dead, endpoint_gone, prefix_list_change, routes_ensure,
    zone_associate,
};
use crate::cloud::{
    CallCx, Cloud, CloudErrorKind, PeeringInfo, PeeringStatus, RouteInfo, RouteTarget, ZoneVpc,
};
use crate::domain::{AccountId, HostedZoneId, Ipv4Cidr, PeeringId, Region, RouteTableId, VpcId};
use crate::model::{
    Difference, DriftKind, DriftResource, Hub, HubStatus, JobKind, PlannedChange, Spoke,
    SpokeStatus,
};
use crate::store;
use crate::store::effects::Effect;

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
    repair_zones,
    repair_peerings,
    repair_routes,
    repair_prefix_entries,
    repair_zone_associations,
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
// Observing
// ---------------------------------------------------------------------------------------------

/// How long one read of a reconcile keeps trying while AWS throttles it.
const READ_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Awaits a read, waiting and trying again while AWS throttles it (up to [`READ_PATIENCE`],
/// backing off to 5 s): a throttled read must not throw away the reads of the pass before it,
/// which would spend the account's budget again on every retry of the step.
macro_rules! patiently {
    ($call:expr) => {{
        let started = std::time::Instant::now();
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match $call.await {
                Err(e) if e.is(CloudErrorKind::Throttled) && started.elapsed() < READ_PATIENCE => {
                    tokio::time::sleep(delay.mul_f64(0.5 + fastrand::f64() / 2.0)).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
                other => break other,
            }
        }
    }};
}

/// What to compare: the hub (its own resources too unless `only` names one spoke), and its
/// spokes (every one that is not detached: they may hold prefix-list entries and zone
/// associations; only attached ones are checked).
pub struct Scope<'a> {
    pub hub: &'a Hub,
    pub spokes: &'a [Spoke],
    pub only: Option<Uuid>,
    /// The job reading (recorded with mutating calls; none for a plan).
    pub job_id: Option<Uuid>,
}

impl Scope<'_> {
    /// The spokes checked.
    pub fn checked(&self) -> impl Iterator<Item = &Spoke> {
        self.spokes.iter().filter(move |s| {
            s.status == SpokeStatus::Attached && self.only.is_none_or(|o| o == s.id)
        })
    }
}

struct Findings {
    items: Vec<Finding>,
}

/// One AWS change, for a plan.
fn change(operation: &str, account: &AccountId, resource: String, reason: &str) -> PlannedChange {
    PlannedChange {
        operation: operation.to_owned(),
        account_id: account.clone(),
        resource,
        reason: reason.to_owned(),
        depends_on: None,
    }
}

impl Findings {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: DriftKind,
        resource: DriftResource,
        spoke: Option<Uuid>,
        key: String,
        detail: String,
        repair: Option<(Repair, PlannedChange)>,
    ) {
        let (repair, planned) = match repair {
            Some((r, p)) => (Some(r), Some(p)),
            None => (None, None),
        };
        self.items.push(Finding {
            difference: Difference {
                kind,
                resource,
                spoke_id: spoke,
                key,
                detail,
                repair: planned,
            },
            repair,
        });
    }
}

/// Reads the scope's resources and compares them with what the registrations want. Only
/// reads. An account whose role cannot be assumed gives an `unreadable` difference (the rest
/// is still read); other failures (throttling, 5xx) are errors, retried as a step's are.
pub async fn observe(cloud: &Cloud, scope: &Scope<'_>) -> Result<Vec<Finding>, StepError> {
    let hub = scope.hub;
    let hcx = hub_call_cx(hub, scope.job_id);
    let mut f = Findings { items: Vec::new() };
    let hub_level = scope.only.is_none();
    if let Err(e) = patiently!(cloud.credentials.caller_account(&hcx)) {
        if e.is(CloudErrorKind::AccessDenied) {
            f.add(
                DriftKind::Unreadable,
                DriftResource::Account,
                scope.only,
                format!("account:{}", hub.account_id),
                format!(
                    "access_denied: the hub account {} cannot be read: {e}",
                    hub.account_id
                ),
                None,
            );
            return Ok(f.items);
        }
        return Err(e.into());
    }
    let checked: Vec<&Spoke> = scope.checked().collect();

    // The prefix list and, for the hub, its security group rules.
    let wanted_ports: BTreeSet<u16> = hub
        .services
        .iter()
        .filter(|s| s.state == "present")
        .flat_map(|s| s.ports.iter().copied())
        .collect();
    if hub_level {
        let sg = patiently!(
            cloud
                .firewall
                .security_group_find(&hcx, &hub.vpc_id, &hub_tag(hub))
        )?;
        match (&sg, &hub.prefix_list_id) {
            (None, _) => f.add(
                DriftKind::Missing,
                DriftResource::SecurityGroup,
                None,
                "security_group".into(),
                format!(
                    "the endpoints' security group of hub {} (tag {}) is gone",
                    hub.name,
                    hub_tag(hub)
                ),
                Some((
                    Repair::HubResources,
                    change(
                        "CreateSecurityGroup",
                        &hub.account_id,
                        format!("endpoint-hub-{} in {}", hub.name, hub.vpc_id),
                        "the endpoints' security group is gone",
                    ),
                )),
            ),
            (Some(sg), Some(pl)) => {
                for port in &wanted_ports {
                    if !sg.admits(*port, pl) {
                        f.add(
                            DriftKind::Missing,
                            DriftResource::IngressRule,
                            None,
                            format!("ingress:{port}"),
                            format!(
                                "security group {} does not admit TCP {port} from {pl}",
                                sg.id
                            ),
                            Some((
                                Repair::HubResources,
                                change(
                                    "AuthorizeSecurityGroupIngress",
                                    &hub.account_id,
                                    format!("{} tcp/{port} from {pl}", sg.id),
                                    "the spokes reach the endpoints on this port",
                                ),
                            )),
                        );
                    }
                }
            }
            (Some(_), None) => {}
        }
    }
    let entries: Option<BTreeSet<Ipv4Cidr>> = match &hub.prefix_list_id {
        None => None,
        Some(id) => match patiently!(cloud.firewall.prefix_list_get(&hcx, id))? {
            Some(pl) => Some(pl.entries.into_iter().collect()),
            None => {
                if hub_level {
                    f.add(
                        DriftKind::Missing,
                        DriftResource::PrefixList,
                        None,
                        format!("prefix_list:{id}"),
                        format!("prefix list {id} of hub {} is gone", hub.name),
                        Some((
                            Repair::HubResources,
                            change(
                                "CreateManagedPrefixList",
                                &hub.account_id,
                                format!("endpoint-hub-{}-spokes", hub.name),
                                "the spokes' CIDRs are admitted through it",
                            ),
                        )),
                    );
                }
                Some(BTreeSet::new())
            }
        },
    };
    if let Some(entries) = &entries {
        let pl = hub
            .prefix_list_id
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        for spoke in &checked {
            for cidr in &spoke.cidrs {
                if !entries.contains(cidr) {
                    f.add(
                        DriftKind::Missing,
                        DriftResource::PrefixListEntry,
                        Some(spoke.id),
                        format!("prefix_list_entry:{cidr}"),
                        format!(
                            "prefix list {pl} does not admit {cidr} of spoke {}",
                            spoke.id
                        ),
                        Some((
                            Repair::PrefixListAdd { cidr: *cidr },
                            change(
                                "ModifyManagedPrefixList",
                                &hub.account_id,
                                format!("{pl} add {cidr}"),
                                "the spoke's CIDR reaches the endpoints through it",
                            ),
                        )),
                    );
                }
            }
        }
        if hub_level {
            // An entry no registration of the hub claims (any spoke not detached may hold
            // its entries: one attaching or failed part-way too).
            let claimed: BTreeSet<Ipv4Cidr> = scope
                .spokes
                .iter()
                .flat_map(|s| s.cidrs.iter().copied())
                .collect();
            for cidr in entries.difference(&claimed) {
                f.add(
                    DriftKind::Extra,
                    DriftResource::PrefixListEntry,
                    None,
                    format!("prefix_list_entry:{cidr}"),
                    format!("prefix list {pl} admits {cidr}, which no spoke of the hub claims"),
                    Some((
                        Repair::PrefixListRemove { cidr: *cidr },
                        change(
                            "ModifyManagedPrefixList",
                            &hub.account_id,
                            format!("{pl} remove {cidr}"),
                            "no registration wants it",
                        ),
                    )),
                );
            }
        }
    }

    // Endpoints (the hub's own) and zones.
    let mut regional: BTreeMap<String, (String, String)> = BTreeMap::new();
    for svc in hub.services.iter().filter(|s| s.state == "present") {
        if !hub_level {
            break;
        }
        let found = patiently!(cloud.endpoints.endpoints_find(
            &hcx,
            &hub.vpc_id,
            &service_tag(hub, svc)
        ))?;
        let live = found
            .iter()
            .find(|e| !endpoint_gone(&e.state) && !endpoint_dead(&e.state));
        match live {
            None => f.add(
                DriftKind::Missing,
                DriftResource::Endpoint,
                None,
                format!("endpoint:{}", svc.name),
                format!(
                    "no live endpoint for {} in {}{}",
                    svc.name,
                    hub.vpc_id,
                    svc.endpoint_id
                        .as_ref()
                        .map(|e| format!(" (the recorded {e} is gone or failed)"))
                        .unwrap_or_default()
                ),
                Some((
                    Repair::HubResources,
                    change(
                        "CreateVpcEndpoint",
                        &hub.account_id,
                        svc.name.endpoint_service(&hub.region),
                        "the service's endpoint is gone",
                    ),
                )),
            ),
            Some(e) => {
                if svc.endpoint_id.as_ref() != Some(&e.id) {
                    f.add(
                        DriftKind::WrongTarget,
                        DriftResource::Endpoint,
                        None,
                        format!("endpoint:{}", svc.name),
                        format!(
                            "the endpoint of {} is {}, the hub records {}",
                            svc.name,
                            e.id,
                            svc.endpoint_id
                                .as_ref()
                                .map(|e| e.to_string())
                                .unwrap_or_else(|| "none".into())
                        ),
                        Some((
                            Repair::HubResources,
                            change(
                                "none",
                                &hub.account_id,
                                e.id.to_string(),
                                "recorded as the service's endpoint",
                            ),
                        )),
                    );
                }
                if e.state.eq_ignore_ascii_case("available")
                    && let Some(d) = e.dns_entries.first()
                {
                    regional.insert(
                        svc.name.to_string(),
                        (
                            d.dns_name.trim_end_matches('.').to_owned(),
                            d.hosted_zone_id.clone(),
                        ),
                    );
                }
            }
        }
    }
    let hub_vpc = super::context::hub_zone_vpc(hub);
    let allowed_vpcs: BTreeSet<(String, String)> = scope
        .spokes
        .iter()
        .map(|s| (s.vpc_id.to_string(), s.region.to_string()))
        .chain([(hub.vpc_id.to_string(), hub.region.to_string())])
        .collect();
    for svc in hub.services.iter().filter(|s| s.state == "present") {
        for hz in &svc.zones {
            let Some(zone_id) = &hz.id else { continue };
            let Some(zone) = patiently!(cloud.dns.zone_get(&hcx, zone_id))? else {
                f.add(
                    DriftKind::Missing,
                    DriftResource::Zone,
                    scope.only,
                    format!("zone:{zone_id}"),
                    format!(
                        "zone {zone_id} ({}) of {} is gone; reconcile does not remake a zone \
                         (its caller reference is spent): remove the service and add it again",
                        hz.name, svc.name
                    ),
                    None,
                );
                continue;
            };
            if hub_level {
                if !zone.vpcs.contains(&hub_vpc) {
                    f.add(
                        DriftKind::Missing,
                        DriftResource::ZoneAssociation,
                        None,
                        format!("zone_association:{zone_id}:{}", hub.vpc_id),
                        format!(
                            "zone {zone_id} ({}) is not associated with the hub VPC",
                            hz.name
                        ),
                        Some((
                            Repair::ZoneAssociateHub {
                                zone: zone_id.clone(),
                            },
                            change(
                                "AssociateVPCWithHostedZone",
                                &hub.account_id,
                                format!("{zone_id} {}", hub.vpc_id),
                                "the hub VPC resolves the service through the zone",
                            ),
                        )),
                    );
                }
                if let Some((target, target_zone)) = regional.get(svc.name.as_str()) {
                    let records = patiently!(cloud.dns.alias_records_list(&hcx, zone_id))?;
                    for name in [hz.name.clone(), format!("*.{}", hz.name)] {
                        let found = records
                            .iter()
                            .find(|r| r.name.trim_end_matches('.').eq_ignore_ascii_case(&name));
                        let (kind, detail) = match found {
                            None => (
                                DriftKind::Missing,
                                format!("zone {zone_id} has no alias record {name}"),
                            ),
                            Some(r) if r.target_dns_name.trim_end_matches('.') != target => (
                                DriftKind::WrongTarget,
                                format!(
                                    "alias record {name} in zone {zone_id} points at {}, not the \
                                     endpoint's {target}",
                                    r.target_dns_name
                                ),
                            ),
                            Some(_) => continue,
                        };
                        f.add(
                            kind,
                            DriftResource::AliasRecord,
                            None,
                            format!("alias:{zone_id}:{name}"),
                            detail,
                            Some((
                                Repair::HubResources,
                                change(
                                    "ChangeResourceRecordSets",
                                    &hub.account_id,
                                    format!(
                                        "{zone_id} UPSERT {name} A alias {target} ({target_zone})"
                                    ),
                                    "the name resolves to the hub's endpoint",
                                ),
                            )),
                        );
                    }
                }
                for vpc in zone.vpcs.iter().filter(|v| {
                    !allowed_vpcs.contains(&(v.vpc_id.to_string(), v.region.to_string()))
                }) {
                    f.add(
                        DriftKind::Extra,
                        DriftResource::ZoneAssociation,
                        None,
                        format!("zone_association:{zone_id}:{}", vpc.vpc_id),
                        format!(
                            "zone {zone_id} ({}) is associated with {} ({}), which is neither \
                             the hub's VPC nor an enrolled spoke's",
                            hz.name, vpc.vpc_id, vpc.region
                        ),
                        Some((
                            Repair::ZoneDisassociate {
                                zone: zone_id.clone(),
                                vpc: vpc.vpc_id.clone(),
                                region: vpc.region.clone(),
                            },
                            change(
                                "DisassociateVPCFromHostedZone",
                                &hub.account_id,
                                format!("{zone_id} {}", vpc.vpc_id),
                                "no registration wants the association",
                            ),
                        )),
                    );
                }
            }
            for spoke in &checked {
                let vpc = spoke_zone_vpc(spoke);
                if !zone.vpcs.contains(&vpc) {
                    f.add(
                        DriftKind::Missing,
                        DriftResource::ZoneAssociation,
                        Some(spoke.id),
                        format!("zone_association:{zone_id}:{}", spoke.vpc_id),
                        format!(
                            "zone {zone_id} ({}) is not associated with the spoke VPC {}",
                            hz.name, spoke.vpc_id
                        ),
                        Some((
                            Repair::ZoneAssociate {
                                spoke: spoke.id,
                                zone: zone_id.clone(),
                                service: svc.name.to_string(),
                            },
                            change(
                                "AssociateVPCWithHostedZone",
                                &spoke.account_id,
                                format!("{zone_id} {}", spoke.vpc_id),
                                "the spoke resolves the service to the hub's endpoint \
                                 (authorized by the hub account for the call, the \
                                 authorization deleted after)",
                            ),
                        )),
                    );
                }
            }
            // Authorizations left behind (an attach interrupted between associating and
            // deleting its authorization leaves one; the spoke job checks its own VPC's).
            let auths = patiently!(cloud.dns.association_authorizations_list(&hcx, zone_id))?;
            for auth in auths
                .iter()
                .filter(|a| hub_level || checked.iter().any(|s| s.vpc_id == a.vpc_id))
            {
                f.add(
                    DriftKind::Extra,
                    DriftResource::ZoneAuthorization,
                    checked
                        .iter()
                        .find(|s| s.vpc_id == auth.vpc_id)
                        .map(|s| s.id),
                    format!("zone_authorization:{zone_id}:{}", auth.vpc_id),
                    format!(
                        "zone {zone_id} still authorizes {} to associate (left by an \
                         interrupted attach)",
                        auth.vpc_id
                    ),
                    Some((
                        Repair::AuthorizationDelete {
                            zone: zone_id.clone(),
                            vpc: auth.vpc_id.clone(),
                            region: auth.region.clone(),
                        },
                        change(
                            "DeleteVPCAssociationAuthorization",
                            &hub.account_id,
                            format!("{zone_id} {}", auth.vpc_id),
                            "an authorization is needed only during an association",
                        ),
                    )),
                );
            }
        }
    }

    // Peerings and routes, both sides.
    let peerings: Vec<PeeringInfo> = if hub_level {
        patiently!(cloud.network.peering_list_for_vpc(&hcx, &hub.vpc_id))?
    } else {
        let mut all = Vec::new();
        for s in &checked {
            all.extend(patiently!(
                cloud.network.peering_find(&hcx, &spoke_tag(s.id))
            )?);
        }
        all
    };
    let mut ours: BTreeSet<PeeringId> = peerings
        .iter()
        .filter(|p| {
            p.owner_tag
                .as_deref()
                .is_some_and(|t| t.starts_with("spoke:"))
        })
        .map(|p| p.id.clone())
        .collect();
    ours.extend(scope.spokes.iter().filter_map(|s| s.peering_id.clone()));
    let hub_tables: Vec<(RouteTableId, Vec<RouteInfo>)> = if checked.is_empty() {
        Vec::new()
    } else {
        patiently!(cloud.network.route_tables_list(&hcx, &hub.vpc_id))?
            .into_iter()
            .filter(|t| hub.route_table_ids.contains(&t.id))
            .map(|t| (t.id, t.routes))
            .collect()
    };
    for spoke in &checked {
        let tag = spoke_tag(spoke.id);
        let live = peerings
            .iter()
            .find(|p| p.owner_tag.as_deref() == Some(tag.as_str()) && !p.status.is_dead());
        let current = match live {
            Some(p) if p.status == PeeringStatus::Active => Some(p.id.clone()),
            Some(p) => {
                f.add(
                    DriftKind::Missing,
                    DriftResource::Peering,
                    Some(spoke.id),
                    format!("peering:{}", spoke.id),
                    format!(
                        "peering {} of spoke {} is {:?}, not active",
                        p.id, spoke.id, p.status
                    ),
                    Some((
                        Repair::Peering { spoke: spoke.id },
                        change(
                            "AcceptVpcPeeringConnection",
                            &spoke.account_id,
                            p.id.to_string(),
                            "the spoke reaches the hub through it",
                        ),
                    )),
                );
                None
            }
            None => {
                let foreign = peerings.iter().find(|p| {
                    !p.status.is_dead()
                        && p.owner_tag.as_deref() != Some(tag.as_str())
                        && ((p.requester_vpc == hub.vpc_id && p.accepter_vpc == spoke.vpc_id)
                            || (p.requester_vpc == spoke.vpc_id && p.accepter_vpc == hub.vpc_id))
                });
                match foreign {
                    Some(p) => f.add(
                        DriftKind::Conflict,
                        DriftResource::Peering,
                        Some(spoke.id),
                        format!("peering:{}", spoke.id),
                        format!(
                            "the spoke's peering is gone and {} (not endpoint-hub's) already \
                             connects {} and {}: left alone",
                            p.id, hub.vpc_id, spoke.vpc_id
                        ),
                        None,
                    ),
                    None => {
                        let mut planned = change(
                            "CreateVpcPeeringConnection",
                            &hub.account_id,
                            format!("{} -> {} ({})", hub.vpc_id, spoke.vpc_id, spoke.account_id),
                            "the spoke's peering is gone",
                        );
                        planned.depends_on = None;
                        f.add(
                            DriftKind::Missing,
                            DriftResource::Peering,
                            Some(spoke.id),
                            format!("peering:{}", spoke.id),
                            format!(
                                "spoke {} has no live peering with the hub{}",
                                spoke.id,
                                spoke
                                    .peering_id
                                    .as_ref()
                                    .map(|p| format!(" ({p} is gone)"))
                                    .unwrap_or_default()
                            ),
                            Some((Repair::Peering { spoke: spoke.id }, planned)),
                        );
                    }
                }
                None
            }
        };
        for (table, routes) in &hub_tables {
            for cidr in &spoke.cidrs {
                route_compare(
                    &mut f,
                    spoke,
                    Side::Hub,
                    table,
                    routes,
                    cidr,
                    &current,
                    &ours,
                    &hub.account_id,
                );
            }
        }
        let scx = spoke_call_cx(spoke, scope.job_id);
        let tables = match patiently!(cloud.network.route_tables_list(&scx, &spoke.vpc_id)) {
            Ok(t) => t,
            Err(e) if e.is(CloudErrorKind::AccessDenied) => {
                f.add(
                    DriftKind::Unreadable,
                    DriftResource::Account,
                    Some(spoke.id),
                    format!("account:{}", spoke.account_id),
                    format!(
                        "access_denied: the spoke account {} cannot be read: {e}",
                        spoke.account_id
                    ),
                    None,
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for t in tables {
            let wanted = match &spoke.route_table_ids {
                Some(given) => given.contains(&t.id),
                None => t.routes_subnets(),
            };
            if !wanted {
                continue;
            }
            for cidr in &hub.cidrs {
                route_compare(
                    &mut f,
                    spoke,
                    Side::Spoke,
                    &t.id,
                    &t.routes,
                    cidr,
                    &current,
                    &ours,
                    &spoke.account_id,
                );
            }
        }
    }
    Ok(f.items)
}

/// Compares one wanted route (`destination` through the spoke's live peering) with a table.
#[allow(clippy::too_many_arguments)]
fn route_compare(
    f: &mut Findings,
    spoke: &Spoke,
    side: Side,
    table: &RouteTableId,
    routes: &[RouteInfo],
    destination: &Ipv4Cidr,
    current: &Option<PeeringId>,
    ours: &BTreeSet<PeeringId>,
    account: &AccountId,
) {
    let side_word = match side {
        Side::Hub => "hub",
        Side::Spoke => "spoke",
    };
    let key = format!("route:{side_word}:{}:{table}:{destination}", spoke.id);
    let via = current
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "the spoke's new peering".into());
    let planned = |op: &str, reason: &str| {
        let mut c = change(
            op,
            account,
            format!("{table} {destination} -> {via}"),
            reason,
        );
        if current.is_none() {
            c.depends_on = Some("the spoke's peering, requested and accepted above".into());
        }
        c
    };
    match routes.iter().find(|r| &r.destination == destination) {
        None => {
            let p = planned("CreateRoute", "the route to the other side is gone");
            f.add(
                DriftKind::Missing,
                DriftResource::Route,
                Some(spoke.id),
                key,
                format!("{side_word} route table {table} has no route to {destination}"),
                Some((
                    Repair::Route {
                        spoke: spoke.id,
                        side,
                        table: table.clone(),
                        destination: *destination,
                        through: None,
                    },
                    p,
                )),
            );
        }
        Some(r) => match &r.target {
            RouteTarget::Peering(p) if Some(p) == current.as_ref() => {}
            RouteTarget::Peering(p) if ours.contains(p) => {
                let c = planned(
                    "ReplaceRoute",
                    "the route goes through a peering of ours that is not the spoke's live one",
                );
                f.add(
                    DriftKind::WrongTarget,
                    DriftResource::Route,
                    Some(spoke.id),
                    key,
                    format!(
                        "{side_word} route table {table} routes {destination} through {p} ({}), \
                         not the spoke's live peering",
                        r.state
                    ),
                    Some((
                        Repair::Route {
                            spoke: spoke.id,
                            side,
                            table: table.clone(),
                            destination: *destination,
                            through: Some(p.clone()),
                        },
                        c,
                    )),
                );
            }
            other => {
                let target = match other {
                    RouteTarget::Peering(p) => p.to_string(),
                    RouteTarget::Other(o) => o.clone(),
                };
                f.add(
                    DriftKind::Conflict,
                    DriftResource::Route,
                    Some(spoke.id),
                    key,
                    format!(
                        "{side_word} route table {table} routes {destination} through {target}, \
                         which is not endpoint-hub's: left alone"
                    ),
                    None,
                );
            }
        },
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

async fn repair_zones(cx: &mut Cx) -> StepResult {
    if hub_repair(cx)? {
        ops::zones(cx).await?;
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
            &peering,
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
                let scx = spoke_call_cx(s, Some(cx.job.id));
                let vpc = spoke_zone_vpc(s);
                if let Association::Conflict(why) =
                    zone_associate(&cx.cloud, &hcx, &scx, &zone, &service, &vpc).await?
                {
                    cx.state.repair_conflicts.push(Difference {
                        kind: DriftKind::Conflict,
                        resource: DriftResource::ZoneAssociation,
                        spoke_id: Some(spoke),
                        key: format!("zone_association:{zone}:{}", s.vpc_id),
                        detail: format!("{why}: left alone"),
                        repair: None,
                    });
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
