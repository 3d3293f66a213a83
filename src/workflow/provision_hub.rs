//! Provisions a hub: checks its VPC, then finds or creates its security group, its managed
//! prefix list (referenced by the group), one interface endpoint per service and one private
//! hosted zone per private DNS name of each service, with alias records to the endpoint; in
//! `profile` DNS mode, the Route 53 Profile holding the zones and its AWS RAM share.

use serde::{Deserialize, Serialize};

use super::definition::{Step, Workflow};
use super::ops::{endpoints, finish_hub, prefix_list, security_group, verify_hub, zones};
use super::profile::{profile, profile_share, profile_zones};
use super::transit::{
    transit_gateway, transit_hub_attachment, transit_hub_routes, transit_route_tables,
    transit_share,
};
use crate::model::{HubStatus, JobKind};
use crate::store::effects::Effect;

pub struct ProvisionHub;

/// Provisioning keeps its outputs on the hub's rows (as effects), not in the job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoState {}

impl Workflow for ProvisionHub {
    const KIND: JobKind = JobKind::ProvisionHub;
    type State = NoState;
    const STEPS: &'static [Step<NoState>] = crate::steps![NoState:
        verify_hub,
        security_group,
        prefix_list,
        endpoints,
        zones,
        profile,
        profile_zones,
        profile_share,
        transit_gateway,
        transit_route_tables,
        transit_hub_attachment,
        transit_share,
        transit_hub_routes,
        finish_hub,
    ];

    fn on_failure(message: &str) -> Vec<Effect> {
        hub_failed(message)
    }

    fn on_retry() -> Vec<Effect> {
        hub_status(HubStatus::Provisioning)
    }
}

/// The hub is `failed` with the job's message.
pub fn hub_failed(message: &str) -> Vec<Effect> {
    vec![Effect::HubStatus {
        status: HubStatus::Failed,
        error: Some(message.to_owned()),
    }]
}

pub fn hub_status(status: HubStatus) -> Vec<Effect> {
    vec![Effect::HubStatus {
        status,
        error: None,
    }]
}
