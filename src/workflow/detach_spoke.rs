//! Detaches a spoke: the reverse of an attach, tolerant of anything already gone. Zones are
//! disassociated as their owner (which works even when the spoke account is gone).

use super::context::{StepCx, StepResult, spoke_zone_vpc};
use super::definition::{Step, Workflow};
use super::ops::{prefix_list_change, routes_delete_matching, routes_delete_via};
use super::profile::{disassociate_profile, unshare_spoke};
use super::transit::{transit_detach, transit_mode, transit_unshare};
use crate::cloud::{CloudErrorKind, PeeringStatus, RouteTarget};
use crate::domain::PeeringId;
use crate::model::{JobKind, SpokeStatus};
use crate::store::effects::Effect;
use serde::{Deserialize, Serialize};

pub struct DetachSpoke;

/// What a detach notes for its last step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DetachState {
    /// Why the spoke account could not be reached (role gone, account closed): its side was
    /// left as it is, noted on the detached spoke.
    #[serde(default)]
    pub spoke_unreachable: Option<String>,
}

type Cx = StepCx<DetachState>;

impl Workflow for DetachSpoke {
    const KIND: JobKind = JobKind::DetachSpoke;
    type State = DetachState;
    const STEPS: &'static [Step<DetachState>] = crate::steps![DetachState:
        disassociate_zones,
        leave_profile,
        unshare_spoke,
        remove_cidrs,
        spoke_routes_delete,
        hub_routes_delete,
        delete_peering,
        transit_detach,
        transit_unshare,
        finish_detach,
    ];

    fn on_failure(message: &str) -> Vec<Effect> {
        vec![Effect::SpokeStatus {
            status: SpokeStatus::Failed,
            from: None,
            error: Some(message.to_owned()),
        }]
    }

    fn on_retry() -> Vec<Effect> {
        vec![Effect::SpokeStatus {
            status: SpokeStatus::Detaching,
            from: None,
            error: None,
        }]
    }
}

/// Disassociates the spoke VPC from every zone of the hub as the zone owner and removes any
/// authorization an interrupted attach left.
async fn disassociate_zones(cx: &mut Cx) -> StepResult {
    if cx.hub.dns_mode == crate::model::DnsMode::Profile {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let vpc = spoke_zone_vpc(cx.spoke());
    let zones: Vec<_> = cx
        .hub
        .services
        .iter()
        .flat_map(|s| s.zone_ids().cloned())
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

/// `profile` mode: the spoke VPC's association with the hub's Profile removed (from the spoke
/// account; an unreachable account is noted and left).
async fn leave_profile(cx: &mut Cx) -> StepResult {
    if let Some(note) = disassociate_profile(cx).await? {
        cx.effect(Effect::JobEvent {
            job: cx.job.id,
            step: "leave_profile",
            kind: "step_warning",
            message: note.clone(),
        });
        cx.state.spoke_unreachable = Some(note);
    }
    Ok(())
}

/// The spoke's CIDRs as claimed (or as last seen).
async fn remove_cidrs(cx: &mut Cx) -> StepResult {
    let cidrs = cx.spoke().cidrs.clone();
    if cx.hub.prefix_list_id.is_none() {
        return Ok(());
    }
    prefix_list_change(cx, &[], &cidrs).await
}

/// Every peering of this spoke (any state but deleted), found by its tag from the hub side.
async fn spoke_peerings(cx: &Cx) -> Result<Vec<PeeringId>, super::context::StepError> {
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

/// The spoke's routes to the hub. When the spoke account cannot be reached (its role can't be
/// assumed: account closed, role deleted), they are left with a warning on the job: once the
/// peering is deleted they go nowhere (`blackhole`), and everything else is done from the hub
/// account.
async fn spoke_routes_delete(cx: &mut Cx) -> StepResult {
    let scx = cx.spoke_cx();
    let targets: Vec<RouteTarget> = if transit_mode(cx) {
        cx.hub
            .transit_gateway
            .as_ref()
            .and_then(|t| t.transit_gateway_id.clone())
            .map(RouteTarget::TransitGateway)
            .into_iter()
            .collect()
    } else {
        spoke_peerings(cx)
            .await?
            .into_iter()
            .map(RouteTarget::Peering)
            .collect()
    };
    if targets.is_empty() {
        return Ok(());
    }
    let tables = match cx
        .cloud
        .network
        .route_tables_list(&scx, &cx.spoke().vpc_id)
        .await
    {
        Ok(tables) => tables,
        Err(e) if e.is(CloudErrorKind::NotFound) => return Ok(()),
        Err(e) if e.is(CloudErrorKind::AccessDenied) => {
            let note = format!(
                "the spoke account {} could not be reached ({e}): its routes to the hub \
                 through {} were left (they go nowhere once the peering or attachment is \
                 deleted); delete them when the account is reachable",
                cx.spoke().account_id,
                targets
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            cx.effect(Effect::JobEvent {
                job: cx.job.id,
                step: "spoke_routes_delete",
                kind: "step_warning",
                message: note.clone(),
            });
            cx.state.spoke_unreachable = Some(note);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let ids: Vec<_> = tables.into_iter().map(|t| t.id).collect();
    // Through a Transit Gateway only the routes to the hub's CIDRs are the hub's (the spoke may
    // route other things through the same gateway).
    let hub_cidrs = cx.hub.cidrs.clone();
    let transit = transit_mode(cx);
    routes_delete_matching(&cx.cloud, &scx, &ids, |r| {
        targets.contains(&r.target) && (!transit || hub_cidrs.contains(&r.destination))
    })
    .await
}

/// The hub's routes to the spoke (`peering` mode; in `transit_gateway` mode the hub routes the
/// prefix list, whose entry `remove_cidrs` took out).
async fn hub_routes_delete(cx: &mut Cx) -> StepResult {
    if transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let peerings = spoke_peerings(cx).await?;
    if peerings.is_empty() {
        return Ok(());
    }
    routes_delete_via(&cx.cloud, &hcx, &cx.hub.route_table_ids, &peerings).await
}

async fn delete_peering(cx: &mut Cx) -> StepResult {
    if transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    for id in spoke_peerings(cx).await? {
        match cx.cloud.network.peering_get(&hcx, &id).await? {
            // A failed or rejected peering can't be deleted: it expires by itself.
            Some(p) if !p.status.is_dead() => {
                cx.cloud.network.peering_delete(&hcx, &id).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn finish_detach(cx: &mut Cx) -> StepResult {
    cx.effect(Effect::SpokeClaimsRelease);
    cx.effect(Effect::SpokePeering(None));
    let note = cx
        .state
        .spoke_unreachable
        .as_ref()
        .map(|n| format!("detached from the hub side only: {n}"));
    cx.effect(Effect::SpokeStatus {
        status: SpokeStatus::Detached,
        from: None,
        error: note,
    });
    Ok(())
}
