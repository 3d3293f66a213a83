//! Deletes a hub once it has no live spoke: every service's zones and endpoint, then its
//! security group and prefix list (retried while endpoint interfaces still hold them), then
//! releases its CIDR claims.

use super::context::{StepCx, StepResult};
use super::definition::{Step, Workflow};
use super::ops::{dependency_wait, remove_services};
use super::profile::profile_delete;
use super::provision_hub::{NoState, hub_failed, hub_status};
use super::transit::transit_delete;
use crate::model::{HubStatus, JobKind};
use crate::store::effects::Effect;

pub struct DeleteHub;

impl Workflow for DeleteHub {
    const KIND: JobKind = JobKind::DeleteHub;
    type State = NoState;
    const STEPS: &'static [Step<NoState>] = crate::steps![NoState:
        mark_services_removing,
        profile_delete,
        transit_delete,
        remove_services,
        delete_security_group,
        delete_prefix_list,
        finish_hub_delete,
    ];

    fn on_failure(message: &str) -> Vec<Effect> {
        hub_failed(message)
    }

    fn on_retry() -> Vec<Effect> {
        hub_status(HubStatus::Deleting)
    }
}

/// Marks every service `removing`; the next step sees them so from its fresh copy of the hub.
async fn mark_services_removing(cx: &mut StepCx<NoState>) -> StepResult {
    cx.effect(Effect::HubServicesAllRemoving);
    Ok(())
}

async fn delete_security_group(cx: &mut StepCx<NoState>) -> StepResult {
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

async fn delete_prefix_list(cx: &mut StepCx<NoState>) -> StepResult {
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

async fn finish_hub_delete(cx: &mut StepCx<NoState>) -> StepResult {
    cx.effect(Effect::HubStatus {
        status: HubStatus::Deleted,
        error: None,
    });
    cx.effect(Effect::HubClaimsRelease);
    Ok(())
}
