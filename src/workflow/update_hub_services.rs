//! Changes a hub's services: the security group's ports, endpoints and zones for the new ones, their zones associated with
//! every attached spoke, then the removed ones torn down. Runs alone on its hub (see the claim
//! rules in `store::jobs`): no attach or detach is half done meanwhile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::{StepCx, StepResult, spoke_call_cx, spoke_zone_vpc};
use super::definition::{Step, Workflow};
use super::ops::{
    Association, endpoints, finish_hub, ingress_ports, present_zones, remove_services, verify_hub,
    zone_associate, zones,
};
use super::profile::profile_zones;
use super::provision_hub::{hub_failed, hub_status};
use crate::domain::HostedZoneId;
use crate::model::{HubStatus, JobKind};
use crate::store;
use crate::store::effects::Effect;

pub struct UpdateHubServices;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateState {
    /// Zones associated so far, per spoke (saved after each zone).
    #[serde(default)]
    pub zones_associated: BTreeMap<Uuid, Vec<HostedZoneId>>,
    /// Spokes that failed on their own (a zone conflict in their VPC): skipped from then on.
    #[serde(default)]
    pub spokes_failed: Vec<Uuid>,
}

impl Workflow for UpdateHubServices {
    const KIND: JobKind = JobKind::UpdateHubServices;
    type State = UpdateState;
    const STEPS: &'static [Step<UpdateState>] = crate::steps![UpdateState:
        verify_hub,
        ingress_ports,
        endpoints,
        zones,
        profile_zones,
        associate_spokes,
        remove_services,
        finish_hub,
    ];

    fn on_failure(message: &str) -> Vec<Effect> {
        hub_failed(message)
    }

    fn on_retry() -> Vec<Effect> {
        hub_status(HubStatus::Updating)
    }
}

/// Associates every present zone with every attached spoke (a service added to the hub). A
/// spoke whose VPC already has another zone of a service's name (its own endpoint with private
/// DNS on) fails on its own, with an event on this job; the hub and the other spokes go on.
async fn associate_spokes(cx: &mut StepCx<UpdateState>) -> StepResult {
    // In `profile` mode the spokes see the new zones through the Profile (`profile_zones`).
    if cx.hub.dns_mode == crate::model::DnsMode::Profile {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let zones = present_zones(cx, false)?;
    let ids = {
        let mut conn = cx.pool.acquire().await?;
        store::spokes::spoke_ids_attached(&mut conn, cx.hub.id).await?
    };
    for id in ids {
        if cx.state.spokes_failed.contains(&id) {
            continue;
        }
        let spoke = {
            let mut conn = cx.pool.acquire().await?;
            match store::spokes::spoke_get(&mut conn, id).await? {
                Some(s) => s,
                None => continue,
            }
        };
        let scx = spoke_call_cx(&spoke, Some(cx.job.id));
        let vpc = spoke_zone_vpc(&spoke);
        for z in &zones {
            let done = cx.state.zones_associated.entry(id).or_default();
            if done.contains(&z.zone_id) {
                continue;
            }
            match zone_associate(&cx.cloud, &hcx, &scx, &z.zone_id, &z.service, &vpc).await? {
                Association::Done => {
                    cx.state
                        .zones_associated
                        .entry(id)
                        .or_default()
                        .push(z.zone_id.clone());
                }
                Association::Conflict(why) => {
                    let error = format!("associate_spokes: {why}");
                    cx.state.spokes_failed.push(id);
                    cx.effect(Effect::OtherSpokeFailed {
                        spoke: id,
                        error: error.clone(),
                    });
                    cx.effect(Effect::JobEvent {
                        job: cx.job.id,
                        step: "associate_spokes",
                        kind: "spoke_failed",
                        message: format!("spoke {id}: {why}"),
                    });
                    cx.save().await?;
                    break;
                }
            }
            cx.save().await?;
        }
    }
    Ok(())
}
