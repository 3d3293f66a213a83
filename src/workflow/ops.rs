//! Steps and operations several workflows share. Each is idempotent: it finds before it
//! creates (everything created is tagged with its owner), reads before it writes, takes
//! "already there with the same target" as done and "there with another target" as a
//! permanent conflict. Changes to rows are returned as effects (`cx.effect`), never written.

use std::collections::{BTreeMap, BTreeSet};

use crate::cloud::{
    AliasRecord, CallCx, Cloud, CloudError, CloudErrorKind, EndpointInfo, EndpointRequest,
    EndpointServiceInfo, EndpointServiceType, PeeringInfo, PeeringRequest, PeeringStatus,
    RouteTableInfo, RouteTarget, SubnetInfo, VpcInfo, ZoneInfo, ZoneVpc,
};
use crate::domain::{
    HostedZoneId, Ipv4Cidr, PeeringId, PrefixListId, RouteTableId, SecurityGroupId, SubnetId,
};
use crate::model::{Hub, HubService, HubStatus, HubZone, Spoke};
use crate::store::effects::{Effect, ZonePlan};

use super::context::{StepCx, StepError, StepResult, WaitFor, fail, spoke_tag, wait};
use super::zone_names::{zone_caller_reference, zone_names};

// ---------------------------------------------------------------------------------------------
// Hub steps (provision, service update, delete)
// ---------------------------------------------------------------------------------------------

pub async fn verify_hub<S>(cx: &mut StepCx<S>) -> StepResult {
    let hcx = cx.hub_cx();
    cx.cloud.credentials.caller_account(&hcx).await?;
    let Some(vpc) = cx.cloud.network.vpc_get(&hcx, &cx.hub.vpc_id).await? else {
        return fail(format!(
            "VPC {} not found in account {} ({})",
            cx.hub.vpc_id, cx.hub.account_id, cx.hub.region
        ));
    };
    if vpc.state != "available" {
        return wait(
            WaitFor::Resource,
            format!("VPC {} is {}", vpc.id, vpc.state),
        );
    }
    dns_prerequisites(&vpc, "hub")?;
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
    // An interface endpoint takes one subnet per availability zone (AWS refuses two with
    // `DuplicateSubnetsInSameZone`), and the endpoints use the hub's subnets. Checked here, not
    // when the hub is registered: the API would have to call AWS (`DescribeSubnets` in the hub
    // account) to learn the subnets' zones.
    let mut by_zone: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in subnets.iter().filter(|s| cx.hub.subnet_ids.contains(&s.id)) {
        let ids = by_zone.entry(s.availability_zone.as_str()).or_default();
        if !ids.contains(&s.id.as_str()) {
            ids.push(s.id.as_str());
        }
    }
    let doubled: Vec<String> = by_zone
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(zone, ids)| format!("{} are all in {zone}", ids.join(", ")))
        .collect();
    if !doubled.is_empty() {
        return fail(format!(
            "the hub needs one subnet per availability zone (an interface endpoint takes one \
             subnet per zone): {}",
            doubled.join("; ")
        ));
    }
    let tables = cx
        .cloud
        .network
        .route_tables_list(&hcx, &cx.hub.vpc_id)
        .await?;
    tables_usable(&tables, &cx.hub.route_table_ids, &cx.hub.vpc_id)?;
    Ok(())
}

/// Checks route tables given at registration: each is in the VPC and is not a gateway route
/// table (an edge association with an internet or virtual private gateway accepts no peering
/// route, so the attach would fail there).
pub fn tables_usable(
    tables: &[RouteTableInfo],
    given: &[RouteTableId],
    vpc: &crate::domain::VpcId,
) -> StepResult {
    for t in given {
        match tables.iter().find(|i| &i.id == t) {
            None => return fail(format!("route table {t} is not in VPC {vpc}")),
            Some(RouteTableInfo {
                gateway: Some(gw), ..
            }) => {
                return fail(format!(
                    "route table {t} of VPC {vpc} has an edge association with {gw}: a gateway \
                     route table accepts no route to a peering; leave it out of route_table_ids"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub async fn security_group<S>(cx: &mut StepCx<S>) -> StepResult {
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
            match cx
                .cloud
                .firewall
                .security_group_create(&hcx, &cx.hub.vpc_id, &name, &tag)
                .await
            {
                Ok(sg) => sg,
                // Made by an earlier run whose response or checkpoint was lost, and not yet
                // visible by its tag (EC2 is eventually consistent): find it again shortly.
                // A group of that name that is not ours stays invisible to the tag search,
                // and the wait's deadline then fails the job with this message.
                Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                    return wait(
                        WaitFor::Resource,
                        format!(
                            "a security group named {name} exists in VPC {} but is not found by \
                             its tag {tag} yet; if it is not endpoint-hub's, rename or delete it",
                            cx.hub.vpc_id
                        ),
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    cx.effect(Effect::HubSecurityGroup(sg.id));
    Ok(())
}

pub async fn prefix_list<S>(cx: &mut StepCx<S>) -> StepResult {
    let hcx = cx.hub_cx();
    let tag = cx.hub_tag();
    let Some(sg) = cx.hub.security_group_id.clone() else {
        return fail("the hub has no security group yet (step security_group records it)");
    };
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
    ingress_ensure(cx, &sg, &pl.id).await?;
    cx.effect(Effect::HubPrefixList(pl.id));
    Ok(())
}

/// The endpoints' security group admits, from the spokes' prefix list, the TCP ports of every
/// present service (443, or the ports AWS documents for it, see `ServiceName::ports`), and no
/// longer those only services being removed use.
pub async fn ingress_ports<S>(cx: &mut StepCx<S>) -> StepResult {
    let (Some(sg), Some(pl)) = (
        cx.hub.security_group_id.clone(),
        cx.hub.prefix_list_id.clone(),
    ) else {
        return fail("the hub has no security group or prefix list yet (provisioning makes them)");
    };
    ingress_ensure(cx, &sg, &pl).await
}

async fn ingress_ensure<S>(
    cx: &mut StepCx<S>,
    sg: &SecurityGroupId,
    pl: &PrefixListId,
) -> StepResult {
    let hcx = cx.hub_cx();
    let ports_of = |state: &str| -> BTreeSet<u16> {
        cx.hub
            .services
            .iter()
            .filter(|s| s.state == state)
            .flat_map(|s| s.ports.iter().copied())
            .collect()
    };
    let wanted = ports_of("present");
    let unwanted: Vec<u16> = ports_of("removing").difference(&wanted).copied().collect();
    // Read before writing: ports the group already admits from the list are skipped. A group
    // just made may not be found yet (EC2 is eventually consistent): then every port is
    // authorized, "already there" being success.
    let found = cx
        .cloud
        .firewall
        .security_group_find(&hcx, &cx.hub.vpc_id, &cx.hub_tag())
        .await?
        .filter(|g| &g.id == sg);
    let admitted = |port: u16| found.as_ref().is_some_and(|g| g.admits(port, pl));
    for port in wanted.into_iter().filter(|p| !admitted(*p)) {
        match cx
            .cloud
            .firewall
            .security_group_allow(&hcx, sg, pl, port)
            .await
        {
            Ok(()) => {}
            // Both were just made: EC2 is eventually consistent.
            Err(e) if e.is(CloudErrorKind::NotFound) => {
                return wait(
                    WaitFor::Resource,
                    format!("security group {sg} or prefix list {pl} not visible yet: {e}"),
                );
            }
            Err(e) if e.is(CloudErrorKind::LimitExceeded) => {
                return fail(format!(
                    "security group {sg} cannot admit TCP {port} from prefix list {pl}: {e}; \
                     each port's rule counts as the list's MaxEntries (raise the quota \
                     'Inbound or outbound rules per security group', then \
                     EH_SG_INBOUND_RULES_QUOTA, or use fewer services or prefix-list entries)"
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for port in unwanted
        .into_iter()
        .filter(|p| found.is_none() || admitted(*p))
    {
        cx.cloud
            .firewall
            .security_group_revoke(&hcx, sg, pl, port)
            .await?;
    }
    Ok(())
}

/// Failed endpoints of one service after which provisioning stops making new ones.
const ENDPOINT_FAILURES_MAX: usize = 2;

/// An endpoint in this state will never become available (`failed`, `rejected`).
pub(crate) fn endpoint_dead(state: &str) -> bool {
    state.eq_ignore_ascii_case("failed") || state.eq_ignore_ascii_case("rejected")
}

/// An endpoint in this state is gone or going (`deleting`, `deleted`).
pub(crate) fn endpoint_gone(state: &str) -> bool {
    state.eq_ignore_ascii_case("deleting") || state.eq_ignore_ascii_case("deleted")
}

fn endpoints_described(endpoints: &[EndpointInfo]) -> String {
    endpoints
        .iter()
        .map(|e| match &e.last_error {
            Some(why) => format!("{} ({why})", e.id),
            None => format!("{} ({})", e.id, e.state),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The hub subnets an endpoint of `service` goes in: one per zone the service is offered in
/// (a subnet elsewhere is refused with `InvalidParameter`), in the hub's order.
fn endpoint_subnets(
    hub: &Hub,
    service: &EndpointServiceInfo,
    subnets: &[SubnetInfo],
) -> Result<Vec<SubnetId>, StepError> {
    let mut zones: Vec<&str> = Vec::new();
    let mut chosen = Vec::new();
    for id in &hub.subnet_ids {
        let Some(subnet) = subnets.iter().find(|s| &s.id == id) else {
            return fail(format!("subnet {id} of the hub has disappeared"));
        };
        let zone = subnet.availability_zone.as_str();
        if !zones.contains(&zone) {
            zones.push(zone);
            if service.availability_zones.iter().any(|z| z == zone) {
                chosen.push(id.clone());
            }
        }
    }
    if chosen.is_empty() {
        zones.sort_unstable();
        return fail(format!(
            "service {} is offered in {} only, and the hub's subnets are in {}: add a hub \
             subnet in one of the service's zones",
            service.service_name,
            service.availability_zones.join(", "),
            zones.join(", ")
        ));
    }
    Ok(chosen)
}

/// Finds or creates each present service's endpoint, in the hub subnets of the zones the
/// service is offered in, and waits until every one is `available`. A `failed` or `rejected`
/// endpoint is never adopted: a new one is made (the failed one is left, as AWS keeps it
/// listed, and reported in the job's events; deleting the hub or the service deletes it);
/// after [`ENDPOINT_FAILURES_MAX`] failures the job fails naming them.
pub async fn endpoints<S>(cx: &mut StepCx<S>) -> StepResult {
    let hcx = cx.hub_cx();
    let Some(sg) = cx.hub.security_group_id.clone() else {
        return fail("the hub has no security group yet (step security_group records it)");
    };
    let subnets = cx
        .cloud
        .network
        .subnets_get(&hcx, &cx.hub.subnet_ids)
        .await?;
    let mut pending = Vec::new();
    for svc in cx.present_services() {
        let full = svc.name.endpoint_service(&cx.hub.region);
        let Some(info) = cx
            .cloud
            .endpoints
            .endpoint_services_get(&hcx, &full)
            .await?
            .into_iter()
            // S3 and DynamoDB are listed as a Gateway service first (no private DNS name).
            .find(|e| e.service_type == EndpointServiceType::Interface)
        else {
            return fail(format!(
                "service {full} is not offered as an interface endpoint in {}",
                cx.hub.region
            ));
        };
        let names = match zone_names(svc.name.as_str(), &cx.hub.region, &info.private_dns_names) {
            Ok(names) if names.is_empty() => {
                return fail(format!(
                    "service {full} has no private DNS name to make a zone for"
                ));
            }
            Ok(names) => names,
            Err(why) => return fail(format!("service {full}: {why}")),
        };
        let in_subnets = endpoint_subnets(&cx.hub, &info, &subnets)?;
        let tag = cx.service_tag(&svc);
        let found = cx
            .cloud
            .endpoints
            .endpoints_find(&hcx, &cx.hub.vpc_id, &tag)
            .await?;
        let (dead, live): (Vec<EndpointInfo>, Vec<EndpointInfo>) = found
            .into_iter()
            .filter(|e| !endpoint_gone(&e.state))
            .partition(|e| endpoint_dead(&e.state));
        let endpoint = match live.into_iter().next() {
            Some(e) => e,
            None if dead.len() >= ENDPOINT_FAILURES_MAX => {
                return fail(format!(
                    "{} endpoints for {full} failed: {}; delete them, then retry the job",
                    dead.len(),
                    endpoints_described(&dead)
                ));
            }
            None => {
                let created = cx
                    .cloud
                    .endpoints
                    .endpoint_create(
                        &hcx,
                        &EndpointRequest {
                            vpc: cx.hub.vpc_id.clone(),
                            service_name: full.clone(),
                            subnets: in_subnets,
                            security_group: sg.clone(),
                            owner_tag: tag,
                            supersedes: dead.iter().map(|e| e.id.clone()).collect(),
                        },
                    )
                    .await?;
                if !dead.is_empty() {
                    cx.effect(Effect::JobNote(format!(
                        "endpoint {} for {full} replaces the failed {} (left in place)",
                        created.id,
                        endpoints_described(&dead)
                    )));
                }
                created
            }
        };
        if endpoint.service_name != full {
            return fail(format!(
                "endpoint {} tagged for {} serves {}",
                endpoint.id, svc.name, endpoint.service_name
            ));
        }
        if !endpoint.state.eq_ignore_ascii_case("available") {
            pending.push(format!(
                "{} ({}) is {}",
                endpoint.id, svc.name, endpoint.state
            ));
        }
        cx.effect(Effect::HubServiceEndpoint {
            service: svc.name.clone(),
            endpoint_id: endpoint.id,
        });
        let zones = names
            .into_iter()
            .map(|name| ZonePlan {
                caller_reference: svc
                    .zones
                    .iter()
                    .find(|z| z.name == name)
                    .map(|z| z.caller_reference.clone())
                    .unwrap_or_else(|| zone_caller_reference(cx.hub.id, svc.generation, &name)),
                name,
            })
            .collect();
        cx.effect(Effect::HubServiceZonesPlanned {
            service: svc.name.clone(),
            zones,
        });
    }
    if !pending.is_empty() {
        return wait(
            WaitFor::Endpoint,
            format!("endpoints not available yet: {}", pending.join(", ")),
        );
    }
    Ok(())
}

/// Makes each present service's zones (one per private DNS name, as the `endpoints` step
/// planned them), each found by its caller reference before one is made, and gives every zone
/// two alias records to the endpoint's regional DNS name: its apex and `*.` under it. A
/// private zone answers for every name under it in the VPCs it is associated with, so both
/// are made whatever the listed name: the apex of a wildcard name (`dkr.ecr.<region>...` for
/// `*.dkr.ecr...`) would otherwise be an empty answer instead of the public one, and `*.` under
/// a plain name keeps what zones held before a service could have several.
pub async fn zones<S>(cx: &mut StepCx<S>) -> StepResult {
    let hcx = cx.hub_cx();
    for svc in cx.present_services() {
        let Some(endpoint_id) = &svc.endpoint_id else {
            return fail(format!(
                "service {} has no endpoint yet (step endpoints records it)",
                svc.name
            ));
        };
        if svc.zones.is_empty() {
            return fail(format!(
                "service {} has no zones planned yet (step endpoints plans them)",
                svc.name
            ));
        }
        let mut made = Vec::new();
        for planned in &svc.zones {
            let zone = zone_ensure(cx, &svc, planned).await?;
            cx.effect(Effect::HubServiceZone {
                service: svc.name.clone(),
                zone_name: planned.name.clone(),
                zone_id: zone.id.clone(),
            });
            made.push(zone);
        }
        let Some(endpoint) = cx.cloud.endpoints.endpoint_get(&hcx, endpoint_id).await? else {
            return fail(format!(
                "endpoint {endpoint_id} of {} has disappeared",
                svc.name
            ));
        };
        if !endpoint.state.eq_ignore_ascii_case("available") {
            if endpoint_dead(&endpoint.state) || endpoint_gone(&endpoint.state) {
                return fail(format!(
                    "endpoint {endpoint_id} of {} is {}: {}",
                    svc.name,
                    endpoint.state,
                    endpoint.last_error.as_deref().unwrap_or("no reason given")
                ));
            }
            return wait(
                WaitFor::Endpoint,
                format!(
                    "endpoint {endpoint_id} of {} is {}",
                    svc.name, endpoint.state
                ),
            );
        }
        let Some(regional) = endpoint.dns_entries.first() else {
            return wait(
                WaitFor::Endpoint,
                format!("endpoint {endpoint_id} has no DNS name yet"),
            );
        };
        let target = regional.dns_name.trim_end_matches('.').to_owned();
        for zone in made {
            let zone_name = zone.name.trim_end_matches('.').to_ascii_lowercase();
            let wanted = [zone_name.clone(), format!("*.{zone_name}")]
                .into_iter()
                .map(|name| AliasRecord {
                    name,
                    target_dns_name: target.clone(),
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
        }
    }
    Ok(())
}

/// Finds one planned zone of a service by its caller reference, or makes it with the hub VPC.
async fn zone_ensure<S>(
    cx: &StepCx<S>,
    svc: &HubService,
    planned: &HubZone,
) -> Result<ZoneInfo, StepError> {
    let hcx = cx.hub_cx();
    let reference = &planned.caller_reference;
    let zone = match cx.cloud.dns.zone_find(&hcx, reference).await? {
        Some(z) => z,
        None => match cx
            .cloud
            .dns
            .zone_create(&hcx, &planned.name, &cx.hub_zone_vpc(), reference)
            .await
        {
            Ok(z) => z,
            // Our caller reference: made by a request whose response was lost (the SDK sent
            // it again). Adopt it.
            Err(e) if e.code.eq_ignore_ascii_case("HostedZoneAlreadyExists") => {
                match cx.cloud.dns.zone_find(&hcx, reference).await? {
                    Some(z) => z,
                    None => return Err(StepError::Retry(e.to_string())),
                }
            }
            Err(e) => return Err(e.into()),
        },
    };
    if !zone
        .name
        .trim_end_matches('.')
        .eq_ignore_ascii_case(&planned.name)
    {
        return fail(format!(
            "zone {} made for {} is named {}, expected {}",
            zone.id, svc.name, zone.name, planned.name
        ));
    }
    Ok(zone)
}

/// Tears down the endpoint and every zone of each service marked `removing`, after
/// disassociating every spoke VPC from each zone (the zone owner may disassociate any VPC).
pub async fn remove_services<S>(cx: &mut StepCx<S>) -> StepResult {
    let hcx = cx.hub_cx();
    let removing: Vec<_> = cx
        .hub
        .services
        .iter()
        .filter(|s| s.state == "removing")
        .cloned()
        .collect();
    let _lock = cx.hub_lock().await?;
    let mut deleting = Vec::new();
    for svc in removing {
        for planned in &svc.zones {
            let zone = match &planned.id {
                Some(id) => cx.cloud.dns.zone_get(&hcx, id).await?,
                None => {
                    cx.cloud
                        .dns
                        .zone_find(&hcx, &planned.caller_reference)
                        .await?
                }
            };
            let Some(zone) = zone else { continue };
            super::profile::profile_zone_forget(cx, &zone.id).await?;
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
        // The recorded endpoint and any other tagged for the service (failed ones included).
        let mut endpoints = cx
            .cloud
            .endpoints
            .endpoints_find(&hcx, &cx.hub.vpc_id, &cx.service_tag(&svc))
            .await?;
        if let Some(id) = &svc.endpoint_id
            && !endpoints.iter().any(|e| &e.id == id)
            && let Some(e) = cx.cloud.endpoints.endpoint_get(&hcx, id).await?
        {
            endpoints.push(e);
        }
        let mut going = Vec::new();
        for e in endpoints {
            if e.state.eq_ignore_ascii_case("deleted") {
                continue;
            }
            if !e.state.eq_ignore_ascii_case("deleting") {
                cx.cloud.endpoints.endpoint_delete(&hcx, &e.id).await?;
            }
            // Deleted once its network interfaces are gone; until then the security group
            // is still in use.
            if let Some(now) = cx.cloud.endpoints.endpoint_get(&hcx, &e.id).await?
                && !now.state.eq_ignore_ascii_case("deleted")
            {
                going.push(format!("{} ({}) is {}", now.id, svc.name, now.state));
            }
        }
        if !going.is_empty() {
            deleting.extend(going);
            continue;
        }
        cx.effect(Effect::HubServiceRemoved(svc.name.clone()));
    }
    if !deleting.is_empty() {
        return wait(
            WaitFor::Endpoint,
            format!("endpoints still deleting: {}", deleting.join(", ")),
        );
    }
    Ok(())
}

pub async fn finish_hub<S>(cx: &mut StepCx<S>) -> StepResult {
    cx.effect(Effect::HubStatus {
        status: HubStatus::Ready,
        error: None,
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Spoke operations (attach, detach, service update)
// ---------------------------------------------------------------------------------------------

/// Makes sure each table routes each destination through `ours` (the peering or the Transit
/// Gateway): reads the table first, creates what is missing, and refuses a destination routed
/// elsewhere.
pub async fn routes_ensure(
    cloud: &Cloud,
    ccx: &CallCx,
    tables: &[RouteTableId],
    destinations: &[Ipv4Cidr],
    ours: &RouteTarget,
) -> StepResult {
    let ours = ours.clone();
    for table in tables {
        let routes = cloud.network.routes_list(ccx, table).await?;
        for dest in destinations {
            match routes.iter().find(|r| &r.destination == dest) {
                Some(r) if r.target == ours => continue,
                Some(r) => return route_conflict(table, dest, &r.target),
                None => {}
            }
            match cloud.network.route_create(ccx, table, dest, &ours).await {
                Ok(()) => {}
                Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                    let now = cloud.network.routes_list(ccx, table).await?;
                    match now.iter().find(|r| &r.destination == dest) {
                        Some(r) if r.target == ours => {}
                        Some(r) => return route_conflict(table, dest, &r.target),
                        None => return Err(StepError::Retry(e.to_string())),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn route_conflict(table: &RouteTableId, dest: &Ipv4Cidr, target: &RouteTarget) -> StepResult {
    fail(format!(
        "route table {table} already routes {dest} to {target}"
    ))
}

/// The live peering tagged for `spoke` in the hub account, or a new one requested from the hub
/// VPC to the spoke VPC. A peering tagged for the spoke that connects other VPCs is a conflict.
pub async fn peering_ensure(
    cloud: &Cloud,
    hcx: &CallCx,
    hub: &Hub,
    spoke: &Spoke,
) -> Result<PeeringInfo, StepError> {
    let tag = spoke_tag(spoke.id);
    let found = cloud.network.peering_find(hcx, &tag).await?;
    match found.iter().find(|p| !p.status.is_dead()) {
        Some(p) => {
            if p.accepter_vpc != spoke.vpc_id || p.requester_vpc != hub.vpc_id {
                return fail(format!(
                    "peering {} tagged for this spoke connects {} to {}, not {} to {}",
                    p.id, p.requester_vpc, p.accepter_vpc, hub.vpc_id, spoke.vpc_id
                ));
            }
            Ok(p.clone())
        }
        None => {
            let made = cloud
                .network
                .peering_create(
                    hcx,
                    &PeeringRequest {
                        vpc: hub.vpc_id.clone(),
                        peer_vpc: spoke.vpc_id.clone(),
                        peer_owner: spoke.account_id.clone(),
                        peer_region: spoke.region.clone(),
                        owner_tag: tag.clone(),
                    },
                )
                .await?;
            // CreateVpcPeeringConnection has no client token: a request whose response was
            // lost and that the SDK sent again leaves a second pending peering. Keep the one
            // we were answered with, delete the others.
            for other in cloud.network.peering_find(hcx, &tag).await? {
                if other.id != made.id && other.status == PeeringStatus::PendingAcceptance {
                    cloud.network.peering_delete(hcx, &other.id).await?;
                }
            }
            Ok(made)
        }
    }
}

/// Deletes the routes of `tables` that go through one of `peerings`.
pub async fn routes_delete_via(
    cloud: &Cloud,
    ccx: &CallCx,
    tables: &[RouteTableId],
    peerings: &[PeeringId],
) -> StepResult {
    let targets: Vec<RouteTarget> = peerings
        .iter()
        .map(|p| RouteTarget::Peering(p.clone()))
        .collect();
    routes_delete_matching(cloud, ccx, tables, |r| targets.contains(&r.target)).await
}

/// Deletes the routes of `tables` that `doomed` picks (a missing table is skipped).
pub async fn routes_delete_matching(
    cloud: &Cloud,
    ccx: &CallCx,
    tables: &[RouteTableId],
    doomed: impl Fn(&crate::cloud::RouteInfo) -> bool,
) -> StepResult {
    for table in tables {
        let routes = match cloud.network.routes_list(ccx, table).await {
            Ok(r) => r,
            Err(e) if e.is(CloudErrorKind::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        for r in routes {
            if doomed(&r) {
                cloud
                    .network
                    .route_delete(ccx, table, &r.destination)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Applies a change to the hub's prefix list under the hub lock, re-reading on a version race.
pub async fn prefix_list_change<S>(
    cx: &StepCx<S>,
    add: &[Ipv4Cidr],
    remove: &[Ipv4Cidr],
) -> StepResult {
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

/// How associating a zone with a spoke VPC ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Association {
    Done,
    /// Another private zone of the same name already holds the VPC (the spoke's own endpoint
    /// with private DNS on, or its own zone): the spoke's problem, said in the message.
    Conflict(String),
}

/// Associates one zone with a spoke VPC: authorize (hub), associate (spoke), delete the
/// authorization (hub): two hub-account Route 53 calls per zone. "Already associated"
/// (`ConflictingDomainExists`) is checked against the zone itself: our zone holding the VPC is
/// done, another zone of the same name holding it is a conflict. The authorization is deleted
/// in every case, so a run interrupted after associating leaves none behind.
///
/// No hub lock: authorizations are per (zone, VPC), so spokes never contend for them.
pub async fn zone_associate(
    cloud: &Cloud,
    hcx: &CallCx,
    scx: &CallCx,
    zone_id: &HostedZoneId,
    service: &str,
    vpc: &ZoneVpc,
) -> Result<Association, StepError> {
    cloud.dns.association_authorize(hcx, zone_id, vpc).await?;
    match cloud.dns.vpc_associate(scx, zone_id, vpc).await {
        Ok(()) => {}
        Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
            let ours = cloud.dns.zone_get(hcx, zone_id).await?;
            if !ours.is_some_and(|z| z.vpcs.contains(vpc)) {
                cloud.dns.association_deauthorize(hcx, zone_id, vpc).await?;
                return Ok(Association::Conflict(format!(
                    "VPC {} is already associated with another private zone for {service} \
                     (its own endpoint with private DNS on, or its own zone): {}",
                    vpc.vpc_id, e.message
                )));
            }
        }
        Err(e) if e.is(CloudErrorKind::LimitExceeded) => {
            cloud.dns.association_deauthorize(hcx, zone_id, vpc).await?;
            return fail(format!(
                "zone {zone_id} for {service} cannot take another VPC (AWS allows 300): {}",
                e.message
            ));
        }
        Err(e) => return Err(e.into()),
    }
    cloud.dns.association_deauthorize(hcx, zone_id, vpc).await?;
    Ok(Association::Done)
}

/// A zone to associate with spoke VPCs, and the service it is for.
pub struct ZoneTarget {
    pub service: String,
    pub zone_id: HostedZoneId,
}

/// Every zone of the hub's present services. A service added to the hub but whose zones are
/// not all made yet is skipped when `pending_ok` (an attach: the hub-level job adding the
/// service runs after the attach and associates its zones with every attached spoke), an
/// error otherwise.
pub fn present_zones<S>(cx: &StepCx<S>, pending_ok: bool) -> Result<Vec<ZoneTarget>, StepError> {
    let mut zones = Vec::new();
    for s in cx.present_services() {
        let complete = !s.zones.is_empty() && s.zones.iter().all(|z| z.id.is_some());
        if !complete {
            if pending_ok {
                continue;
            }
            return fail(format!(
                "hub {} has no zones for {} yet",
                cx.hub.name, s.name
            ));
        }
        zones.extend(s.zone_ids().map(|zone_id| ZoneTarget {
            service: s.name.to_string(),
            zone_id: zone_id.clone(),
        }));
    }
    Ok(zones)
}

/// `DependencyViolation` while endpoints' interfaces are still going away: try again later.
pub fn dependency_wait(e: CloudError) -> StepError {
    if e.code.eq_ignore_ascii_case("DependencyViolation") {
        StepError::Retry(e.to_string())
    } else {
        e.into()
    }
}

/// Private hosted zones resolve in a VPC only with `enableDnsSupport` and `enableDnsHostnames`
/// on: without them the hub's endpoints would be wired but never used. Fails naming the fix.
pub fn dns_prerequisites(vpc: &VpcInfo, whose: &str) -> StepResult {
    let off: Vec<&str> = [
        (vpc.dns_support, "enableDnsSupport"),
        (vpc.dns_hostnames, "enableDnsHostnames"),
    ]
    .into_iter()
    .filter(|(on, _)| !on)
    .map(|(_, name)| name)
    .collect();
    if off.is_empty() {
        return Ok(());
    }
    let fix: Vec<String> = off
        .iter()
        .map(|name| {
            let flag = if *name == "enableDnsSupport" {
                "--enable-dns-support"
            } else {
                "--enable-dns-hostnames"
            };
            format!(
                "aws ec2 modify-vpc-attribute --vpc-id {} {flag} '{{\"Value\":true}}'",
                vpc.id
            )
        })
        .collect();
    fail(format!(
        "the {whose} VPC {} has {} off: private hosted zones do not resolve there; turn it on \
         (as the VPC's owner: {}), then retry this job",
        vpc.id,
        off.join(" and "),
        fix.join("; ")
    ))
}

pub fn join(cidrs: &[Ipv4Cidr]) -> String {
    if cidrs.is_empty() {
        return "none".into();
    }
    cidrs
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
