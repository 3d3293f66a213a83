//! Plans (`dry_run=true`): the AWS changes a job would make, read from what AWS has now, with
//! no change made. An attach's plan is a reconcile's view of the spoke as if it were attached
//! ([`reconcile::observe`]): what it would find missing is what the attach makes.

use std::collections::BTreeSet;

use super::context::{StepError, hub_call_cx, spoke_call_cx, spoke_tag, spoke_zone_vpc};
use super::reconcile::{self, Scope};
use super::zone_names::zone_names;
use crate::cloud::{Cloud, EndpointServiceType, RouteTarget};
use crate::domain::{PeeringId, ServiceName};
use crate::model::{DnsMode, DriftKind, Hub, PlannedChange, Spoke, SpokeStatus};

/// Changes in order and what the plan could not know.
#[derive(Debug, Default)]
pub struct Planned {
    pub changes: Vec<PlannedChange>,
    pub notes: Vec<String>,
}

fn change(
    op: &str,
    account: &crate::domain::AccountId,
    resource: String,
    reason: &str,
) -> PlannedChange {
    PlannedChange {
        operation: op.to_owned(),
        account_id: account.clone(),
        resource,
        reason: reason.to_owned(),
        depends_on: None,
    }
}

/// What attaching `spoke` (not yet stored) to `hub` would change. `others` are the hub's
/// other spokes (they hold prefix-list entries and zone associations).
pub async fn attach(
    cloud: &Cloud,
    hub: &Hub,
    others: &[Spoke],
    spoke: &Spoke,
) -> Result<Planned, StepError> {
    let mut out = Planned::default();
    let mut spoke = spoke.clone();
    spoke.status = SpokeStatus::Attached;
    if spoke.cidrs.is_empty() {
        let scx = spoke_call_cx(&spoke, None);
        match cloud.network.vpc_cidrs(&scx, &spoke.vpc_id).await {
            Ok(Some(cidrs)) => spoke.cidrs = cidrs,
            Ok(None) => out.notes.push(format!(
                "VPC {} is not found in account {}: the attach will fail",
                spoke.vpc_id, spoke.account_id
            )),
            Err(e) => out.notes.push(format!(
                "the spoke account {} could not be read ({e}): its CIDRs are read when the \
                 job runs",
                spoke.account_id
            )),
        }
    }
    let mut all: Vec<Spoke> = others.to_vec();
    all.push(spoke.clone());
    let findings = reconcile::observe(
        cloud,
        &Scope {
            hub,
            spokes: &all,
            only: Some(spoke.id),
            job_id: None,
        },
    )
    .await?;
    for f in findings {
        let d = f.difference;
        if d.kind == DriftKind::Unreadable || d.kind == DriftKind::Conflict {
            out.notes.push(d.detail);
            continue;
        }
        let Some(mut c) = d.repair else { continue };
        if c.operation == "CreateVpcPeeringConnection" {
            c.reason = "the spoke reaches the hub's endpoints through it".into();
            let mut accept = change(
                "AcceptVpcPeeringConnection",
                &spoke.account_id,
                format!("the peering from {}", hub.vpc_id),
                "accepted from the spoke account",
            );
            accept.depends_on = Some("the peering requested above".into());
            out.changes.push(c);
            out.changes.push(accept);
            continue;
        }
        if c.operation == "CreateTransitGatewayVpcAttachment" {
            c.reason = "the spoke reaches the hub's endpoints through the hub's gateway".into();
            if spoke.account_id != hub.account_id {
                out.changes.push(change(
                    "AssociateResourceShare",
                    &hub.account_id,
                    format!("the gateway's share + account {}", spoke.account_id),
                    "the gateway is shared with the spoke account (skipped if it is already)",
                ));
            }
            out.changes.push(c);
            for (op, reason) in [
                (
                    "AcceptTransitGatewayVpcAttachment",
                    "the gateway accepts no shared attachment by itself",
                ),
                (
                    "AssociateTransitGatewayRouteTable",
                    "the spokes' gateway route table routes the spoke to the hub only",
                ),
                (
                    "EnableTransitGatewayRouteTablePropagation",
                    "the hub's gateway route table learns the spoke's CIDRs",
                ),
            ] {
                let mut next = change(
                    op,
                    &hub.account_id,
                    format!("the attachment of {}", spoke.vpc_id),
                    reason,
                );
                next.depends_on = Some("the attachment made above".into());
                out.changes.push(next);
            }
            continue;
        }
        if !out.changes.contains(&c) {
            out.changes.push(c);
        }
    }
    Ok(out)
}

/// What detaching `spoke` would change: its zone associations, prefix-list entries, routes
/// through its peerings on both sides, and the peerings.
pub async fn detach(cloud: &Cloud, hub: &Hub, spoke: &Spoke) -> Result<Planned, StepError> {
    let mut out = Planned::default();
    let hcx = hub_call_cx(hub, None);
    let scx = spoke_call_cx(spoke, None);
    let vpc = spoke_zone_vpc(spoke);
    if hub.dns_mode == DnsMode::Profile {
        let own = match cloud
            .profiles
            .profile_vpcs(&scx, None, Some(&spoke.vpc_id))
            .await
        {
            Ok(own) => own,
            Err(e) => {
                out.notes.push(format!(
                    "the spoke account {} could not be read ({e}): its Profile association \
                     is removed if it can be read when the job runs",
                    spoke.account_id
                ));
                Vec::new()
            }
        };
        for a in own
            .iter()
            .filter(|a| Some(&a.profile_id) == hub.profile_id.as_ref())
        {
            out.changes.push(change(
                "DisassociateProfile",
                &spoke.account_id,
                format!("{} {}", a.profile_id, a.vpc_id),
                "the spoke no longer resolves the hub's endpoints",
            ));
        }
        if spoke.account_id != hub.account_id {
            out.notes.push(format!(
                "account {} leaves the share of the hub's Profile (DisassociateResourceShare) \
                 unless another of its VPCs is a spoke of the hub",
                spoke.account_id
            ));
        }
    }
    for z in hub
        .services
        .iter()
        .flat_map(|s| s.zone_ids())
        .filter(|_| hub.dns_mode == DnsMode::Zones)
    {
        if let Some(zone) = cloud.dns.zone_get(&hcx, z).await?
            && zone.vpcs.contains(&vpc)
        {
            out.changes.push(change(
                "DisassociateVPCFromHostedZone",
                &spoke.account_id,
                format!("{z} {}", spoke.vpc_id),
                "the spoke no longer resolves the hub's endpoints",
            ));
        }
    }
    if let Some(pl) = &hub.prefix_list_id
        && let Some(list) = cloud.firewall.prefix_list_get(&hcx, pl).await?
    {
        for c in spoke.cidrs.iter().filter(|c| list.entries.contains(c)) {
            out.changes.push(change(
                "ModifyManagedPrefixList",
                &hub.account_id,
                format!("{pl} remove {c}"),
                "the spoke's CIDR is no longer admitted",
            ));
        }
    }
    let peerings: Vec<PeeringId> = cloud
        .network
        .peering_find(&hcx, &spoke_tag(spoke.id))
        .await?
        .into_iter()
        .filter(|p| !p.status.is_dead())
        .map(|p| p.id)
        .collect();
    let mut ours: Vec<RouteTarget> = peerings
        .iter()
        .map(|p| RouteTarget::Peering(p.clone()))
        .collect();
    // `transit_gateway` mode: the spoke's routes to the hub CIDRs through the gateway, and its
    // attachment (deleted from the hub account).
    let tgw = hub
        .transit_gateway
        .as_ref()
        .and_then(|t| t.transit_gateway_id.clone());
    let mut attachments = Vec::new();
    if let Some(tgw) = &tgw {
        ours.push(RouteTarget::TransitGateway(tgw.clone()));
        attachments = cloud
            .transit
            .tgw_attachments(&hcx, Some(tgw), Some(&spoke.vpc_id))
            .await?;
    }
    let transit_route = |r: &crate::cloud::RouteInfo| {
        !matches!(r.target, RouteTarget::TransitGateway(_)) || hub.cidrs.contains(&r.destination)
    };
    match cloud.network.route_tables_list(&scx, &spoke.vpc_id).await {
        Ok(tables) => {
            for t in tables {
                for r in t
                    .routes
                    .iter()
                    .filter(|r| ours.contains(&r.target) && transit_route(r))
                {
                    out.changes.push(change(
                        "DeleteRoute",
                        &spoke.account_id,
                        format!("{} {}", t.id, r.destination),
                        "the route goes through the spoke's peering",
                    ));
                }
            }
        }
        Err(e) => out.notes.push(format!(
            "the spoke account {} could not be read ({e}): its routes through the peering are \
             deleted if it can be read when the job runs",
            spoke.account_id
        )),
    }
    for t in cloud
        .network
        .route_tables_list(&hcx, &hub.vpc_id)
        .await?
        .into_iter()
        .filter(|t| hub.route_table_ids.contains(&t.id))
    {
        for r in t.routes.iter().filter(|r| {
            ours.contains(&r.target) && !matches!(r.target, RouteTarget::TransitGateway(_))
        }) {
            out.changes.push(change(
                "DeleteRoute",
                &hub.account_id,
                format!("{} {}", t.id, r.destination),
                "the route goes through the spoke's peering",
            ));
        }
    }
    for p in peerings {
        out.changes.push(change(
            "DeleteVpcPeeringConnection",
            &hub.account_id,
            p.to_string(),
            "the spoke's peering",
        ));
    }
    for a in attachments.iter().filter(|a| !a.is_dead()) {
        out.changes.push(change(
            "DeleteTransitGatewayVpcAttachment",
            &hub.account_id,
            a.id.to_string(),
            "the spoke's attachment to the hub's gateway",
        ));
    }
    if tgw.is_some() && spoke.account_id != hub.account_id {
        out.notes.push(format!(
            "account {} leaves the share of the hub's gateway (DisassociateResourceShare) \
             unless another of its VPCs is a spoke of the hub",
            spoke.account_id
        ));
    }
    Ok(out)
}

/// What changing a hub's services from `before` to `wanted` would change, with `attached` the
/// spokes whose VPCs get (or lose) the zones.
pub async fn services_change(
    cloud: &Cloud,
    before: &Hub,
    wanted: &[ServiceName],
    attached: &[Spoke],
) -> Result<Planned, StepError> {
    let mut out = Planned::default();
    let hcx = hub_call_cx(before, None);
    let present: Vec<&ServiceName> = before
        .services
        .iter()
        .filter(|s| s.state == "present")
        .map(|s| &s.name)
        .collect();
    let added: Vec<&ServiceName> = wanted.iter().filter(|s| !present.contains(s)).collect();
    let removed: Vec<_> = before
        .services
        .iter()
        .filter(|s| s.state == "present" && !wanted.contains(&s.name))
        .collect();
    let ports_kept: BTreeSet<u16> = wanted
        .iter()
        .flat_map(|s| s.ports().0.iter().copied())
        .collect();
    let ports_before: BTreeSet<u16> = before
        .services
        .iter()
        .filter(|s| s.state == "present")
        .flat_map(|s| s.ports.iter().copied())
        .collect();
    let sg = before
        .security_group_id
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "the hub's security group".into());
    for port in ports_kept.difference(&ports_before) {
        out.changes.push(change(
            "AuthorizeSecurityGroupIngress",
            &before.account_id,
            format!("{sg} tcp/{port}"),
            "a new service is used on this port",
        ));
    }
    for svc in added {
        let full = svc.endpoint_service(&before.region);
        out.changes.push(change(
            "CreateVpcEndpoint",
            &before.account_id,
            full.clone(),
            "the service is added",
        ));
        let names = match cloud.endpoints.endpoint_services_get(&hcx, &full).await {
            Ok(entries) => match entries
                .into_iter()
                .find(|e| e.service_type == EndpointServiceType::Interface)
            {
                Some(info) => zone_names(svc.as_str(), &before.region, &info.private_dns_names)
                    .unwrap_or_default(),
                None => {
                    out.notes.push(format!(
                        "{full} is not offered as an interface endpoint in {}: the job will fail",
                        before.region
                    ));
                    Vec::new()
                }
            },
            Err(e) => {
                out.notes.push(format!(
                    "{full} could not be read ({e}): its zone names are read when the job runs"
                ));
                Vec::new()
            }
        };
        for name in names {
            out.changes.push(change(
                "CreateHostedZone",
                &before.account_id,
                name.clone(),
                "a private zone per private DNS name of the service",
            ));
            out.changes.push(change(
                "ChangeResourceRecordSets",
                &before.account_id,
                format!("{name} and *.{name} alias to the endpoint"),
                "the names resolve to the hub's endpoint",
            ));
            if before.dns_mode == DnsMode::Profile {
                let mut c = change(
                    "AssociateResourceToProfile",
                    &before.account_id,
                    format!(
                        "{} {name}",
                        before
                            .profile_id
                            .as_ref()
                            .map(|p| p.as_str())
                            .unwrap_or("the Profile")
                    ),
                    "every attached spoke resolves the new service through the Profile",
                );
                c.depends_on = Some(format!("the zone {name} made above"));
                out.changes.push(c);
            }
            for s in attached
                .iter()
                .filter(|_| before.dns_mode == DnsMode::Zones)
            {
                let mut c = change(
                    "AssociateVPCWithHostedZone",
                    &s.account_id,
                    format!("{name} {}", s.vpc_id),
                    "every attached spoke resolves the new service",
                );
                c.depends_on = Some(format!("the zone {name} made above"));
                out.changes.push(c);
            }
        }
    }
    for svc in removed {
        for z in svc.zone_ids() {
            if let Some(p) = &before.profile_id {
                out.changes.push(change(
                    "DisassociateResourceFromProfile",
                    &before.account_id,
                    format!("{p} {z}"),
                    "the service is removed",
                ));
            }
            for s in attached
                .iter()
                .filter(|_| before.dns_mode == DnsMode::Zones)
            {
                out.changes.push(change(
                    "DisassociateVPCFromHostedZone",
                    &before.account_id,
                    format!("{z} {}", s.vpc_id),
                    "the service is removed",
                ));
            }
            out.changes.push(change(
                "DeleteHostedZone",
                &before.account_id,
                z.to_string(),
                "the service is removed",
            ));
        }
        if let Some(e) = &svc.endpoint_id {
            out.changes.push(change(
                "DeleteVpcEndpoint",
                &before.account_id,
                e.to_string(),
                "the service is removed",
            ));
        }
    }
    for port in ports_before.difference(&ports_kept) {
        out.changes.push(change(
            "RevokeSecurityGroupIngress",
            &before.account_id,
            format!("{sg} tcp/{port}"),
            "no service is used on this port any more",
        ));
    }
    Ok(out)
}

/// What deleting a hub (with no spoke left) would change.
pub fn hub_delete(hub: &Hub) -> Planned {
    let mut out = Planned::default();
    if let Some(t) = &hub.transit_gateway {
        if let (Some(pl), Some(tgw)) = (&hub.prefix_list_id, &t.transit_gateway_id) {
            for table in &hub.route_table_ids {
                out.changes.push(change(
                    "DeleteRoute",
                    &hub.account_id,
                    format!("{table} {pl} -> {tgw}"),
                    "the hub is deleted",
                ));
            }
        }
        if let Some(share) = &t.share_arn {
            out.changes.push(change(
                "DeleteResourceShare",
                &hub.account_id,
                share.clone(),
                "the hub is deleted",
            ));
        }
        if let Some(a) = &t.hub_attachment_id {
            out.changes.push(change(
                "DeleteTransitGatewayVpcAttachment",
                &hub.account_id,
                a.to_string(),
                "the hub is deleted",
            ));
        }
        for table in [&t.hub_route_table_id, &t.spoke_route_table_id]
            .into_iter()
            .flatten()
        {
            out.changes.push(change(
                "DeleteTransitGatewayRouteTable",
                &hub.account_id,
                table.to_string(),
                "the hub is deleted",
            ));
        }
        match (&t.transit_gateway_id, t.given) {
            (Some(tgw), false) => out.changes.push(change(
                "DeleteTransitGateway",
                &hub.account_id,
                tgw.to_string(),
                "the hub is deleted (it made the gateway)",
            )),
            (Some(tgw), true) => out.notes.push(format!(
                "Transit Gateway {tgw} was given at registration: it is kept"
            )),
            _ => {}
        }
    }
    if let Some(share) = &hub.share_arn {
        out.changes.push(change(
            "DeleteResourceShare",
            &hub.account_id,
            share.clone(),
            "the hub is deleted",
        ));
    }
    if let Some(p) = &hub.profile_id {
        out.changes.push(change(
            "DeleteProfile",
            &hub.account_id,
            p.to_string(),
            "the hub is deleted (its zones disassociated from it first)",
        ));
    }
    for svc in &hub.services {
        for z in svc.zone_ids() {
            out.changes.push(change(
                "DeleteHostedZone",
                &hub.account_id,
                z.to_string(),
                "the hub is deleted",
            ));
        }
        if let Some(e) = &svc.endpoint_id {
            out.changes.push(change(
                "DeleteVpcEndpoint",
                &hub.account_id,
                e.to_string(),
                "the hub is deleted",
            ));
        }
    }
    if let Some(sg) = &hub.security_group_id {
        out.changes.push(change(
            "DeleteSecurityGroup",
            &hub.account_id,
            sg.to_string(),
            "the hub is deleted (once its endpoints are gone)",
        ));
    }
    if let Some(pl) = &hub.prefix_list_id {
        out.changes.push(change(
            "DeleteManagedPrefixList",
            &hub.account_id,
            pl.to_string(),
            "the hub is deleted",
        ));
    }
    out.notes.push(
        "endpoints and zones not recorded on the hub but tagged for it (a crashed run) are \
         deleted too"
            .into(),
    );
    out
}
