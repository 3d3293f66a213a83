//! Observing: what AWS has for a hub and its spokes, compared with what the registrations
//! want, as [`Finding`]s. Only reads; the hub account's shared resources are read once per
//! observation, each spoke's route tables once in its own account.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::{Finding, Repair, Side};
use crate::cloud::{
    CallCx, Cloud, CloudErrorKind, PeeringInfo, PeeringStatus, RouteInfo, RouteTarget,
};
use crate::domain::{AccountId, Ipv4Cidr, PeeringId, RouteTableId, VpcId};
use crate::model::{
    Difference, DnsMode, DriftKind, DriftResource, Hub, PlannedChange, Spoke, SpokeStatus,
};
use crate::workflow::context::{
    StepError, hub_call_cx, hub_tag, service_tag, spoke_call_cx, spoke_tag, spoke_zone_vpc,
};
use crate::workflow::ops::{endpoint_dead, endpoint_gone};

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
    let mut o = Observer {
        cloud,
        scope,
        hcx,
        checked: scope.checked().collect(),
        f,
    };
    o.firewall().await?;
    let regional = o.endpoints().await?;
    o.zones(&regional).await?;
    o.profiles().await?;
    if hub.network_mode == crate::model::NetworkMode::TransitGateway {
        o.transit().await?;
    } else {
        o.peerings_and_routes().await?;
    }
    Ok(o.f.items)
}

/// One observation: what is read once and the findings so far.
struct Observer<'a> {
    cloud: &'a Cloud,
    scope: &'a Scope<'a>,
    hcx: CallCx,
    checked: Vec<&'a Spoke>,
    f: Findings,
}

/// Each endpoint's regional DNS name and its hosted zone, by service.
type Regional = BTreeMap<String, (String, String)>;

impl Observer<'_> {
    /// The security group's rules (a hub pass) and the prefix list's entries.
    async fn firewall(&mut self) -> Result<(), StepError> {
        let (cloud, scope, hub) = (self.cloud, self.scope, self.scope.hub);
        let hub_level = scope.only.is_none();
        let hcx = &self.hcx;
        let checked: &Vec<&Spoke> = &self.checked;
        let f = &mut self.f;
        // The prefix list and, for the hub, its security group rules.
        let wanted_ports: BTreeSet<u16> = hub
            .services
            .iter()
            .filter(|s| s.state == "present")
            .flat_map(|s| s.ports.iter().copied())
            .collect();
        if hub_level {
            let sg = patiently!(cloud.firewall.security_group_find(
                hcx,
                &hub.vpc_id,
                &hub_tag(hub)
            ))?;
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
            Some(id) => match patiently!(cloud.firewall.prefix_list_get(hcx, id))? {
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
            for spoke in checked {
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

        Ok(())
    }

    /// Each present service's live endpoint (a hub pass only).
    async fn endpoints(&mut self) -> Result<Regional, StepError> {
        let (cloud, scope, hub) = (self.cloud, self.scope, self.scope.hub);
        let hub_level = scope.only.is_none();
        let hcx = &self.hcx;
        let f = &mut self.f;
        let mut regional: BTreeMap<String, (String, String)> = BTreeMap::new();
        if !hub_level {
            return Ok(regional);
        }
        for svc in hub.services.iter().filter(|s| s.state == "present") {
            let found = patiently!(cloud.endpoints.endpoints_find(
                hcx,
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
        Ok(regional)
    }

    /// Each zone: its associations (hub and spokes), records and authorizations left behind.
    async fn zones(&mut self, regional: &Regional) -> Result<(), StepError> {
        let (cloud, scope, hub) = (self.cloud, self.scope, self.scope.hub);
        let hub_level = scope.only.is_none();
        let hcx = &self.hcx;
        let checked: &Vec<&Spoke> = &self.checked;
        let f = &mut self.f;
        let hub_vpc = crate::workflow::context::hub_zone_vpc(hub);
        let allowed_vpcs: BTreeSet<(String, String)> = scope
            .spokes
            .iter()
            .map(|s| (s.vpc_id.to_string(), s.region.to_string()))
            .chain([(hub.vpc_id.to_string(), hub.region.to_string())])
            .collect();
        for svc in hub.services.iter().filter(|s| s.state == "present") {
            for hz in &svc.zones {
                let Some(zone_id) = &hz.id else { continue };
                let Some(zone) = patiently!(cloud.dns.zone_get(hcx, zone_id))? else {
                    f.add(
                        DriftKind::Missing,
                        DriftResource::Zone,
                        scope.only,
                        format!("zone:{zone_id}"),
                        if hub_level {
                            format!("zone {zone_id} ({}) of {} is gone", hz.name, svc.name)
                        } else {
                            format!(
                                "zone {zone_id} ({}) of {} is gone: a reconcile of the hub \
                                 remakes it",
                                hz.name, svc.name
                            )
                        },
                        hub_level.then(|| {
                            (
                                Repair::ZoneRemake {
                                    service: svc.name.to_string(),
                                    zone_name: hz.name.clone(),
                                },
                                PlannedChange {
                                    operation: "CreateHostedZone".into(),
                                    account_id: hub.account_id.clone(),
                                    resource: hz.name.clone(),
                                    reason: "the zone is gone: made again with a new caller \
                                             reference (Route 53 never takes one twice), its \
                                             records and every attached spoke's association \
                                             follow"
                                        .into(),
                                    depends_on: None,
                                },
                            )
                        }),
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
                        let records = patiently!(cloud.dns.alias_records_list(hcx, zone_id))?;
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
                // In `profile` mode the spokes see the zones through the Profile (`profiles`).
                let direct = hub.dns_mode == crate::model::DnsMode::Zones;
                for spoke in checked.iter().filter(|_| direct) {
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
                let auths = patiently!(cloud.dns.association_authorizations_list(hcx, zone_id))?;
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

        Ok(())
    }

    /// `profile` mode: the hub's Profile (it exists, holds every zone), its RAM share (each
    /// checked spoke's account a principal, no account no spoke needs), and each checked spoke
    /// VPC associated with it (another Profile on the VPC is a conflict, left alone).
    async fn profiles(&mut self) -> Result<(), StepError> {
        let (cloud, scope, hub) = (self.cloud, self.scope, self.scope.hub);
        if hub.dns_mode != DnsMode::Profile {
            return Ok(());
        }
        let hub_level = scope.only.is_none();
        let hcx = &self.hcx;
        let f = &mut self.f;
        let remake = |what: &str| {
            hub_level.then(|| {
                (
                    Repair::ProfileHub,
                    change(
                        "CreateProfile",
                        &hub.account_id,
                        format!("endpoint-hub-{}", hub.id),
                        what,
                    ),
                )
            })
        };
        let present = match &hub.profile_id {
            Some(id) => patiently!(cloud.profiles.profile_get(hcx, id))?,
            None => None,
        };
        let Some(profile) = present else {
            f.add(
                DriftKind::Missing,
                DriftResource::Profile,
                scope.only,
                format!("profile:{}", hub.id),
                format!(
                    "the hub's Route 53 Profile {} is gone: its spokes resolve none of the \
                     hub's names",
                    hub.profile_id
                        .as_ref()
                        .map(|p| p.as_str())
                        .unwrap_or("(none recorded)")
                ),
                remake(
                    "the Profile is gone: made again, shared, its zones and every spoke's \
                     association follow",
                ),
            );
            return Ok(());
        };
        if hub_level {
            let held: BTreeSet<String> =
                patiently!(cloud.profiles.profile_resources(hcx, &profile.id))?
                    .into_iter()
                    .filter_map(|r| r.zone.map(|z| z.to_string()))
                    .collect();
            for svc in hub.services.iter().filter(|s| s.state == "present") {
                for z in &svc.zones {
                    let Some(zone) = &z.id else { continue };
                    if held.contains(zone.as_str()) {
                        continue;
                    }
                    f.add(
                        DriftKind::Missing,
                        DriftResource::ProfileZone,
                        None,
                        format!("profile_zone:{}:{zone}", profile.id),
                        format!(
                            "Route 53 Profile {} does not hold zone {zone} ({}) of {}",
                            profile.id, z.name, svc.name
                        ),
                        Some((
                            Repair::ProfileHub,
                            change(
                                "AssociateResourceToProfile",
                                &hub.account_id,
                                format!("{} {zone}", profile.id),
                                "the spokes resolve the service through the Profile",
                            ),
                        )),
                    );
                }
            }
        }
        let principals = match &hub.share_arn {
            Some(arn) => match patiently!(cloud.sharing.share_principals(hcx, arn)) {
                Ok(p) => Some(p),
                Err(e) if e.is(CloudErrorKind::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let Some(principals) = principals else {
            f.add(
                DriftKind::Missing,
                DriftResource::SharePrincipal,
                scope.only,
                format!("share:{}", hub.id),
                "the RAM share of the hub's Profile is gone: no spoke account sees it".into(),
                remake("the share is gone: made again and every spoke's account added"),
            );
            return Ok(());
        };
        let associated: Vec<(VpcId, AccountId)> = if hub_level {
            patiently!(cloud.profiles.profile_vpcs(hcx, Some(&profile.id), None))?
                .into_iter()
                .map(|a| (a.vpc_id, a.owner))
                .collect()
        } else {
            Vec::new()
        };
        let checked: Vec<&Spoke> = self.checked.clone();
        for spoke in checked {
            let live = spoke.account_id == hub.account_id
                || principals
                    .iter()
                    .any(|p| p.account == spoke.account_id && p.status.is_live());
            if !live {
                f.add(
                    DriftKind::Missing,
                    DriftResource::SharePrincipal,
                    Some(spoke.id),
                    format!("share_principal:{}", spoke.account_id),
                    format!(
                        "account {} is not a principal of the share of Route 53 Profile {}",
                        spoke.account_id, profile.id
                    ),
                    Some((
                        Repair::ProfileAssociate { spoke: spoke.id },
                        change(
                            "AssociateResourceShare",
                            &hub.account_id,
                            format!(
                                "{} {}",
                                hub.share_arn.as_deref().unwrap_or(""),
                                spoke.account_id
                            ),
                            "the spoke's account sees the Profile (it accepts the RAM \
                             invitation, AcceptResourceShareInvitation, unless the accounts \
                             share within one organization)",
                        ),
                    )),
                );
            }
            if hub_level && associated.iter().any(|(v, _)| v == &spoke.vpc_id) {
                continue;
            }
            let scx = spoke_call_cx(spoke, scope.job_id);
            let own = match patiently!(cloud.profiles.profile_vpcs(&scx, None, Some(&spoke.vpc_id)))
            {
                Ok(own) => own,
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
            match own.iter().find(|a| a.vpc_id == spoke.vpc_id) {
                Some(a) if a.profile_id == profile.id => {}
                Some(a) => f.add(
                    DriftKind::Conflict,
                    DriftResource::ProfileAssociation,
                    Some(spoke.id),
                    format!("profile_association:{}", spoke.vpc_id),
                    format!(
                        "VPC {} is associated with Route 53 Profile {}, not the hub's {} (a VPC \
                         has one Profile): left alone",
                        spoke.vpc_id, a.profile_id, profile.id
                    ),
                    None,
                ),
                None => {
                    let mut c = change(
                        "AssociateProfile",
                        &spoke.account_id,
                        format!("{} {}", profile.id, spoke.vpc_id),
                        "the spoke resolves every hub service through the Profile",
                    );
                    if !live {
                        c.depends_on = Some("the account added to the share above".into());
                    }
                    f.add(
                        DriftKind::Missing,
                        DriftResource::ProfileAssociation,
                        Some(spoke.id),
                        format!("profile_association:{}", spoke.vpc_id),
                        format!(
                            "VPC {} is not associated with the hub's Route 53 Profile {}",
                            spoke.vpc_id, profile.id
                        ),
                        Some((Repair::ProfileAssociate { spoke: spoke.id }, c)),
                    );
                }
            }
        }
        if hub_level {
            for (vpc, owner) in associated
                .iter()
                .filter(|(v, _)| !scope.spokes.iter().any(|s| &s.vpc_id == v))
            {
                f.add(
                    DriftKind::Extra,
                    DriftResource::ProfileAssociation,
                    None,
                    format!("profile_association:{vpc}"),
                    format!(
                        "VPC {vpc} of account {owner} is associated with the hub's Route 53 \
                         Profile {} but is not an enrolled spoke: only its owner can \
                         disassociate it",
                        profile.id
                    ),
                    None,
                );
            }
            for p in principals.iter().filter(|p| {
                p.status.is_live() && !scope.spokes.iter().any(|s| s.account_id == p.account)
            }) {
                f.add(
                    DriftKind::Extra,
                    DriftResource::SharePrincipal,
                    None,
                    format!("share_principal:{}", p.account),
                    format!(
                        "account {} is a principal of the share of Route 53 Profile {} but no \
                         spoke of the hub is in it",
                        p.account, profile.id
                    ),
                    Some((
                        Repair::SharePrincipalRemove {
                            account: p.account.clone(),
                        },
                        change(
                            "DisassociateResourceShare",
                            &hub.account_id,
                            format!("{} {}", hub.share_arn.as_deref().unwrap_or(""), p.account),
                            "no spoke of the account needs the Profile",
                        ),
                    )),
                );
            }
        }
        Ok(())
    }

    /// Each checked spoke's peering and the routes both ways.
    async fn peerings_and_routes(&mut self) -> Result<(), StepError> {
        let (cloud, scope, hub) = (self.cloud, self.scope, self.scope.hub);
        let hub_level = scope.only.is_none();
        let hcx = &self.hcx;
        let checked: &Vec<&Spoke> = &self.checked;
        let f = &mut self.f;
        let peerings: Vec<PeeringInfo> = if hub_level {
            patiently!(cloud.network.peering_list_for_vpc(hcx, &hub.vpc_id))?
        } else {
            let mut all = Vec::new();
            for s in checked {
                all.extend(patiently!(
                    cloud.network.peering_find(hcx, &spoke_tag(s.id))
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
            patiently!(cloud.network.route_tables_list(hcx, &hub.vpc_id))?
                .into_iter()
                .filter(|t| hub.route_table_ids.contains(&t.id))
                .map(|t| (t.id, t.routes))
                .collect()
        };
        for spoke in checked {
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
                                || (p.requester_vpc == spoke.vpc_id
                                    && p.accepter_vpc == hub.vpc_id))
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
                                format!(
                                    "{} -> {} ({})",
                                    hub.vpc_id, spoke.vpc_id, spoke.account_id
                                ),
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
                        f,
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
            let Some(tables) = spoke_tables(cloud, f, spoke, scope.job_id).await? else {
                continue;
            };
            for t in tables {
                for cidr in &hub.cidrs {
                    route_compare(
                        f,
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
        Ok(())
    }
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
                let target = other.to_string();
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

impl Observer<'_> {
    /// `transit_gateway` mode: the gateway, the hub VPC's attachment and the hub tables' route
    /// to the prefix list (a hub pass); each checked spoke's attachment (available, associated
    /// with the spokes' table, propagating into the hub's) and its routes to the hub CIDRs
    /// through the gateway; attachments of VPCs that are neither the hub nor a spoke.
    async fn transit(&mut self) -> Result<(), StepError> {
        let (cloud, scope, hub) = (self.cloud, self.scope, self.scope.hub);
        let hub_level = scope.only.is_none();
        let hcx = &self.hcx;
        let checked: &Vec<&Spoke> = &self.checked;
        let f = &mut self.f;
        let t = hub.transit_gateway.clone().unwrap_or_default();
        let (Some(tgw), Some(hub_rt), Some(spoke_rt)) = (
            t.transit_gateway_id.clone(),
            t.hub_route_table_id.clone(),
            t.spoke_route_table_id.clone(),
        ) else {
            return Ok(());
        };
        let hub_repair = |operation: &str, resource: String, reason: &str| {
            Some((
                Repair::TransitHub,
                change(operation, &hub.account_id, resource, reason),
            ))
        };
        if patiently!(cloud.transit.tgw_get(hcx, &tgw))?.is_none() {
            f.add(
                DriftKind::Missing,
                DriftResource::TransitGateway,
                None,
                format!("transit_gateway:{tgw}"),
                format!("Transit Gateway {tgw} of hub {} is gone", hub.name),
                if t.given {
                    None
                } else {
                    hub_repair(
                        "CreateTransitGateway",
                        format!("endpoint-hub {}", hub.name),
                        "every spoke reaches the hub through it",
                    )
                },
            );
            return Ok(());
        }
        let attachments = patiently!(cloud.transit.tgw_attachments(hcx, Some(&tgw), None))?;
        let hub_props = patiently!(cloud.transit.tgw_propagations(hcx, &hub_rt))?;
        if hub_level {
            let spoke_props = patiently!(cloud.transit.tgw_propagations(hcx, &spoke_rt))?;
            let ok = attachments.iter().any(|a| {
                a.vpc == hub.vpc_id
                    && a.state == "available"
                    && a.association.as_ref().map(|x| &x.0) == Some(&hub_rt)
                    && spoke_props.contains(&a.id)
            });
            if !ok {
                f.add(
                    DriftKind::Missing,
                    DriftResource::TgwAttachment,
                    None,
                    format!("tgw_attachment:{}", hub.vpc_id),
                    format!(
                        "the hub VPC {} is not attached to {tgw}, associated with {hub_rt} and \
                         propagating into {spoke_rt}",
                        hub.vpc_id
                    ),
                    hub_repair(
                        "CreateTransitGatewayVpcAttachment",
                        format!("{} -> {tgw}", hub.vpc_id),
                        "the spokes reach the hub VPC through it",
                    ),
                );
            }
            if let Some(pl) = &hub.prefix_list_id {
                let ours = RouteTarget::TransitGateway(tgw.clone());
                for table in &hub.route_table_ids {
                    let routes = patiently!(cloud.network.prefix_list_routes(hcx, table))?;
                    match routes.iter().find(|r| &r.prefix_list == pl) {
                        Some(r) if r.target == ours => {}
                        Some(r) => f.add(
                            DriftKind::Conflict,
                            DriftResource::Route,
                            None,
                            format!("route:{table}:{pl}"),
                            format!(
                                "hub table {table} routes prefix list {pl} to {}, not {tgw}: \
                                 left alone",
                                r.target
                            ),
                            None,
                        ),
                        None => f.add(
                            DriftKind::Missing,
                            DriftResource::Route,
                            None,
                            format!("route:{table}:{pl}"),
                            format!("hub table {table} does not route prefix list {pl} to {tgw}"),
                            hub_repair(
                                "CreateRoute",
                                format!("{table} {pl} -> {tgw}"),
                                "the hub reaches every spoke through it",
                            ),
                        ),
                    }
                }
            }
            for a in attachments.iter().filter(|a| {
                !a.is_dead()
                    && a.vpc != hub.vpc_id
                    && !scope.spokes.iter().any(|s| s.vpc_id == a.vpc)
            }) {
                f.add(
                    DriftKind::Extra,
                    DriftResource::TgwAttachment,
                    None,
                    format!("tgw_attachment:{}", a.vpc),
                    format!(
                        "{} attaches VPC {} of account {} to the hub's gateway {tgw}, and it is \
                         no spoke: left alone",
                        a.id, a.vpc, a.vpc_owner
                    ),
                    None,
                );
            }
        }
        let ours = RouteTarget::TransitGateway(tgw.clone());
        for spoke in checked {
            let repair = |operation: &str, account: &AccountId, resource: String, reason: &str| {
                Some((
                    Repair::TransitSpoke { spoke: spoke.id },
                    change(operation, account, resource, reason),
                ))
            };
            let mine = attachments
                .iter()
                .find(|a| a.vpc == spoke.vpc_id && !a.is_dead());
            match mine {
                None => f.add(
                    DriftKind::Missing,
                    DriftResource::TgwAttachment,
                    Some(spoke.id),
                    format!("tgw_attachment:{}", spoke.vpc_id),
                    format!("spoke VPC {} is not attached to {tgw}", spoke.vpc_id),
                    repair(
                        "CreateTransitGatewayVpcAttachment",
                        &spoke.account_id,
                        format!("{} -> {tgw}", spoke.vpc_id),
                        "the spoke reaches the hub through it",
                    ),
                ),
                Some(a)
                    if a.state != "available"
                        || a.association.as_ref().map(|x| &x.0) != Some(&spoke_rt)
                        || !hub_props.contains(&a.id) =>
                {
                    f.add(
                        DriftKind::Missing,
                        DriftResource::TgwAttachment,
                        Some(spoke.id),
                        format!("tgw_attachment:{}", spoke.vpc_id),
                        format!(
                            "attachment {} of spoke VPC {} is {}, associated with {:?} and \
                             {}propagating into {hub_rt}",
                            a.id,
                            spoke.vpc_id,
                            a.state,
                            a.association.as_ref().map(|x| x.0.to_string()),
                            if hub_props.contains(&a.id) {
                                ""
                            } else {
                                "not "
                            }
                        ),
                        repair(
                            "AssociateTransitGatewayRouteTable",
                            &hub.account_id,
                            format!("{} {spoke_rt}", a.id),
                            "the spoke's traffic is routed to the hub by the spokes' table",
                        ),
                    );
                }
                Some(_) => {}
            }
            let Some(tables) = spoke_tables(cloud, f, spoke, scope.job_id).await? else {
                continue;
            };
            for table in tables {
                for cidr in &hub.cidrs {
                    let key = format!("route:{}:{cidr}", table.id);
                    match table.routes.iter().find(|r| &r.destination == cidr) {
                        Some(r) if r.target == ours => {}
                        Some(r) => f.add(
                            DriftKind::Conflict,
                            DriftResource::Route,
                            Some(spoke.id),
                            key,
                            format!(
                                "spoke table {} routes {cidr} to {}, not {tgw}: left alone",
                                table.id, r.target
                            ),
                            None,
                        ),
                        None => f.add(
                            DriftKind::Missing,
                            DriftResource::Route,
                            Some(spoke.id),
                            key,
                            format!("spoke table {} has no route to {cidr} via {tgw}", table.id),
                            repair(
                                "CreateRoute",
                                &spoke.account_id,
                                format!("{} {cidr} -> {tgw}", table.id),
                                "the spoke reaches the hub through it",
                            ),
                        ),
                    }
                }
            }
        }
        Ok(())
    }
}

/// The spoke's route tables that route to the hub (those given at enrolment, or those its
/// subnets use); `None`, with an `unreadable` finding, when the spoke account can't be read.
async fn spoke_tables(
    cloud: &Cloud,
    f: &mut Findings,
    spoke: &Spoke,
    job_id: Option<Uuid>,
) -> Result<Option<Vec<crate::cloud::RouteTableInfo>>, StepError> {
    let scx = spoke_call_cx(spoke, job_id);
    match patiently!(cloud.network.route_tables_list(&scx, &spoke.vpc_id)) {
        Ok(tables) => Ok(Some(
            tables
                .into_iter()
                .filter(|t| match &spoke.route_table_ids {
                    Some(given) => given.contains(&t.id),
                    None => t.routes_subnets(),
                })
                .collect(),
        )),
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
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
