//! Attaches a spoke: checks its VPC and claims its CIDRs, checks quotas, requests the peering
//! from the hub account and accepts it from the spoke account, routes both ways, admits the
//! spoke's CIDRs to the hub's prefix list, and associates every hub zone with the spoke VPC
//! (`zones` DNS mode) or, in `profile` mode, shares the hub's Route 53 Profile with the spoke's
//! account and associates the spoke VPC with it once.

use serde::{Deserialize, Serialize};

use super::context::{StepCx, StepResult, WaitFor, fail, need, spoke_zone_vpc, wait};
use super::definition::{Step, Workflow};
use super::ops::{
    Association, dns_prerequisites, join, prefix_list_change, present_zones, routes_ensure,
    tables_usable, zone_associate,
};
use super::profile::{accept_share, associate_profile, share_with_spoke};
use super::transit::{tgw_of, transit_accept_share, transit_mode, transit_share_spoke};
use crate::cloud::RouteTarget;
use crate::cloud::{PeeringInfo, PeeringStatus};
use crate::domain::{HostedZoneId, Ipv4Cidr, PeeringId, RouteTableId, TgwAttachmentId};
use crate::model::{HubStatus, JobKind, SpokeStatus};
use crate::store::effects::Effect;

pub struct AttachSpoke;

/// What the steps of an attach learn and later steps need.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttachState {
    /// The spoke's CIDRs (given at enrolment or read from AWS): `verify_spoke`.
    pub spoke_cidrs: Option<Vec<Ipv4Cidr>>,
    /// The spoke route tables to route to the hub: `verify_spoke`.
    pub spoke_route_tables: Option<Vec<RouteTableId>>,
    /// The peering: `request_peering` (or a new one after a dead one was reported).
    pub peering_id: Option<PeeringId>,
    /// A dead peering already reported by a failed run: a retry requests a new one.
    pub reported_dead_peering: Option<PeeringId>,
    /// Zones associated so far (saved after each zone).
    #[serde(default)]
    pub zones_associated: Vec<HostedZoneId>,
    /// `transit_gateway` mode: the spoke VPC's attachment (`transit_attach`).
    #[serde(default)]
    pub tgw_attachment_id: Option<TgwAttachmentId>,
}

type Cx = StepCx<AttachState>;

impl Workflow for AttachSpoke {
    const KIND: JobKind = JobKind::AttachSpoke;
    type State = AttachState;
    const STEPS: &'static [Step<AttachState>] = crate::steps![AttachState:
        verify_hub_ready,
        verify_spoke,
        check_quotas,
        request_peering,
        accept_peering,
        wait_peering,
        transit_share_spoke,
        transit_accept_share,
        transit_attach,
        transit_accept,
        hub_routes,
        spoke_routes,
        admit_cidrs,
        associate_zones,
        share_with_spoke,
        accept_share,
        associate_profile,
        finish_attach,
    ];

    /// A spoke being detached stays `detaching`: its detach job runs next.
    fn on_failure(message: &str) -> Vec<Effect> {
        vec![
            Effect::SpokeStatus {
                status: SpokeStatus::Failed,
                from: Some(SpokeStatus::ATTACH_PHASES),
                error: None,
            },
            Effect::SpokeError(message.to_owned()),
        ]
    }

    fn on_retry() -> Vec<Effect> {
        vec![Effect::SpokeStatus {
            status: SpokeStatus::Attaching,
            from: Some(SpokeStatus::ATTACH_PHASES),
            error: None,
        }]
    }
}

async fn verify_hub_ready(cx: &mut Cx) -> StepResult {
    match cx.hub.status {
        HubStatus::Ready => {}
        HubStatus::Provisioning | HubStatus::Updating => {
            return wait(
                WaitFor::Resource,
                format!("hub {} is {}", cx.hub.name, cx.hub.status),
            );
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
    cx.effect(Effect::SpokeStatus {
        status: SpokeStatus::Attaching,
        from: Some(SpokeStatus::ATTACH_PHASES),
        error: None,
    });
    Ok(())
}

async fn verify_spoke(cx: &mut Cx) -> StepResult {
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
        return wait(
            WaitFor::Resource,
            format!("VPC {} is {}", vpc.id, vpc.state),
        );
    }
    dns_prerequisites(&vpc, "spoke")?;
    // Every CIDR block of both VPCs counts, secondary ones too (registered or not): any
    // overlap makes the peering `failed`, visible to the hub account only.
    let hcx = cx.hub_cx();
    // Its CIDR blocks only: the hub's DNS attributes were checked when it was provisioned.
    let Some(hub_cidrs) = cx.cloud.network.vpc_cidrs(&hcx, &cx.hub.vpc_id).await? else {
        return fail(format!("the hub VPC {} is gone", cx.hub.vpc_id));
    };
    if let Some(pairs) = overlaps(&hub_cidrs, &vpc.cidrs) {
        return fail(format!(
            "the spoke VPC {} overlaps the hub VPC {} ({pairs}): the hub and its spokes need \
             disjoint CIDR blocks, secondary ones included",
            vpc.id, cx.hub.vpc_id
        ));
    }
    let cidrs = if spoke.cidrs.is_empty() {
        if vpc.cidrs.is_empty() {
            return fail(format!("VPC {} has no IPv4 CIDR block", vpc.id));
        }
        // Checked for overlaps and prefix-list room when it commits with the checkpoint.
        cx.effect(Effect::SpokeCidrsClaim(vpc.cidrs.clone()));
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
            tables_usable(&tables, given, &spoke.vpc_id)?;
            given.clone()
        }
        // The tables the VPC's subnets use: the main one and those with subnet associations,
        // never a gateway route table (it accepts no peering route).
        None => tables
            .into_iter()
            .filter(|t| t.routes_subnets())
            .map(|t| t.id)
            .collect(),
    };
    cx.state.spoke_cidrs = Some(cidrs);
    cx.state.spoke_route_tables = Some(chosen);
    Ok(())
}

async fn check_quotas(cx: &mut Cx) -> StepResult {
    // `transit_gateway` mode: the gateway's attachment quota is checked at enrolment and by
    // AWS (`transit_attach` reports it).
    if transit_mode(cx) {
        return Ok(());
    }
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
async fn peering_ensure(cx: &mut Cx) -> Result<PeeringInfo, super::context::StepError> {
    let hcx = cx.hub_cx();
    let peering = super::ops::peering_ensure(&cx.cloud, &hcx, &cx.hub, cx.spoke()).await?;
    cx.state.peering_id = Some(peering.id.clone());
    cx.effect(Effect::SpokePeering(Some(peering.id.clone())));
    Ok(peering)
}

async fn request_peering(cx: &mut Cx) -> StepResult {
    if transit_mode(cx) {
        return Ok(());
    }
    peering_ensure(cx).await.map(|_| ())
}

/// `transit_gateway` mode: the spoke VPC's attachment, made from the spoke account.
async fn transit_attach(cx: &mut Cx) -> StepResult {
    if let Some(id) = super::transit::transit_attach(cx).await? {
        cx.effect(Effect::SpokeTgwAttachment(Some(id.clone())));
        cx.state.tgw_attachment_id = Some(id);
    }
    Ok(())
}

/// `transit_gateway` mode: accepted, available, associated and propagated (hub account).
async fn transit_accept(cx: &mut Cx) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let id = need(
        &cx.state.tgw_attachment_id,
        "tgw_attachment_id",
        "transit_attach",
    )?;
    super::transit::transit_accept(cx, &id).await
}

/// The overlapping pairs of two VPCs' CIDR blocks, as `hub a overlaps spoke b, ...`.
fn overlaps(hub: &[Ipv4Cidr], spoke: &[Ipv4Cidr]) -> Option<String> {
    let pairs: Vec<String> = hub
        .iter()
        .flat_map(|h| {
            spoke
                .iter()
                .filter(|s| h.overlaps(s))
                .map(move |s| format!("hub {h} overlaps spoke {s}"))
        })
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(", "))
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

fn peering_id(cx: &Cx) -> Result<PeeringId, super::context::StepError> {
    need(&cx.state.peering_id, "peering_id", "request_peering")
}

/// The job's peering as `ccx`'s account sees it. A dead peering fails the job with its reason;
/// when the job is retried after that, a new peering is requested (the cause may be fixed).
async fn peering_current(
    cx: &mut Cx,
    ccx: &crate::cloud::CallCx,
) -> Result<PeeringInfo, super::context::StepError> {
    let id = peering_id(cx)?;
    let p = match cx.cloud.network.peering_get(ccx, &id).await? {
        Some(p) => p,
        None => {
            // The accepter never sees a `failed` peering (only the requester does, for about
            // two hours), and may not see a new one yet (eventual consistency): ask the hub.
            let hcx = cx.hub_cx();
            match cx.cloud.network.peering_get(&hcx, &id).await? {
                Some(p) if p.status.is_dead() => p,
                _ => {
                    return wait(
                        WaitFor::Peering,
                        format!("peering {id} is not visible to account {} yet", ccx.account),
                    );
                }
            }
        }
    };
    if !p.status.is_dead() {
        return Ok(p);
    }
    if cx.state.reported_dead_peering.as_ref() == Some(&id) {
        return peering_ensure(cx).await;
    }
    cx.state.reported_dead_peering = Some(id.clone());
    let mut hint = String::new();
    if p.status == PeeringStatus::Failed {
        let hcx = cx.hub_cx();
        let scx = cx.spoke_cx();
        let hub_vpc = cx.cloud.network.vpc_cidrs(&hcx, &cx.hub.vpc_id).await?;
        let spoke_vpc = cx.cloud.network.vpc_cidrs(&scx, &cx.spoke().vpc_id).await?;
        if let (Some(h), Some(s)) = (hub_vpc, spoke_vpc)
            && let Some(pairs) = overlaps(&h, &s)
        {
            hint = format!(" (overlapping CIDR blocks: {pairs})");
        }
    }
    fail(format!(
        "peering {id} {}: {}{hint}; a failed peering can't be deleted and expires by itself; \
         retry this job once the cause is fixed",
        status_word(p.status),
        p.message.as_deref().unwrap_or("no reason given")
    ))
}

async fn accept_peering(cx: &mut Cx) -> StepResult {
    if transit_mode(cx) {
        return Ok(());
    }
    let scx = cx.spoke_cx();
    let p = peering_current(cx, &scx).await?;
    match p.status {
        PeeringStatus::PendingAcceptance => {
            cx.cloud.network.peering_accept(&scx, &p.id).await?;
            Ok(())
        }
        PeeringStatus::InitiatingRequest => wait(
            WaitFor::Peering,
            format!("peering {} is still being requested", p.id),
        ),
        _ => Ok(()),
    }
}

async fn wait_peering(cx: &mut Cx) -> StepResult {
    if transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let p = peering_current(cx, &hcx).await?;
    match p.status {
        PeeringStatus::Active => Ok(()),
        PeeringStatus::PendingAcceptance => {
            // A peering made anew after a failure: accept it here too.
            let scx = cx.spoke_cx();
            cx.cloud.network.peering_accept(&scx, &p.id).await?;
            wait(
                WaitFor::Peering,
                format!("peering {} accepted, not active yet", p.id),
            )
        }
        _ => wait(
            WaitFor::Peering,
            format!("peering {} is not active yet", p.id),
        ),
    }
}

/// Routes to the spoke in the hub's tables. In `transit_gateway` mode there is none per spoke:
/// the hub's tables route its prefix list (every spoke CIDR, `admit_cidrs`) to the gateway.
async fn hub_routes(cx: &mut Cx) -> StepResult {
    if transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let id = RouteTarget::Peering(peering_id(cx)?);
    let cidrs = need(&cx.state.spoke_cidrs, "spoke_cidrs", "verify_spoke")?;
    routes_ensure(&cx.cloud, &hcx, &cx.hub.route_table_ids, &cidrs, &id).await
}

async fn spoke_routes(cx: &mut Cx) -> StepResult {
    let scx = cx.spoke_cx();
    let id = if transit_mode(cx) {
        RouteTarget::TransitGateway(tgw_of(cx)?)
    } else {
        RouteTarget::Peering(peering_id(cx)?)
    };
    let tables = need(
        &cx.state.spoke_route_tables,
        "spoke_route_tables",
        "verify_spoke",
    )?;
    routes_ensure(&cx.cloud, &scx, &tables, &cx.hub.cidrs, &id).await
}

async fn admit_cidrs(cx: &mut Cx) -> StepResult {
    let cidrs = need(&cx.state.spoke_cidrs, "spoke_cidrs", "verify_spoke")?;
    prefix_list_change(cx, &cidrs, &[]).await
}

/// Every present zone of the hub, one after the other, progress saved after each.
async fn associate_zones(cx: &mut Cx) -> StepResult {
    // In `profile` mode the VPC gets every zone through the Profile (`associate_profile`).
    if cx.hub.dns_mode == crate::model::DnsMode::Profile {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let scx = cx.spoke_cx();
    let vpc = spoke_zone_vpc(cx.spoke());
    for z in present_zones(cx, true)? {
        if cx.state.zones_associated.contains(&z.zone_id) {
            continue;
        }
        if let Association::Conflict(why) =
            zone_associate(&cx.cloud, &hcx, &scx, &z.zone_id, &z.service, &vpc).await?
        {
            return fail(why);
        }
        cx.state.zones_associated.push(z.zone_id);
        cx.save().await?;
    }
    Ok(())
}

async fn finish_attach(cx: &mut Cx) -> StepResult {
    cx.effect(Effect::SpokeStatus {
        status: SpokeStatus::Attached,
        from: Some(SpokeStatus::ATTACH_PHASES),
        error: None,
    });
    Ok(())
}
