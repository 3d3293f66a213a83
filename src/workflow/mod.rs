//! The provisioning engine: durable jobs made of named, idempotent steps.
//!
//! `enqueue` creates a job in the caller's transaction; `runner` claims jobs with leases and
//! runs their steps, checkpointing each step's output before the next starts; the step
//! implementations for each job kind live in `hub` and `spoke`.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::model::{Job, JobKind};
use crate::store;

/// The steps of each job kind, in order.
pub fn steps_of(kind: JobKind) -> Vec<&'static str> {
    match kind {
        JobKind::ProvisionHub => vec![
            "verify_hub",
            "security_group",
            "prefix_list",
            "endpoints",
            "zones",
            "finish_hub",
        ],
        JobKind::UpdateHubServices => vec![
            "verify_hub",
            "endpoints",
            "zones",
            "associate_spokes",
            "remove_services",
            "finish_hub",
        ],
        JobKind::DeleteHub => vec![
            "mark_services_removing",
            "remove_services",
            "delete_security_group",
            "delete_prefix_list",
            "finish_hub_delete",
        ],
        JobKind::AttachSpoke => vec![
            "verify_hub_ready",
            "verify_spoke",
            "check_quotas",
            "request_peering",
            "accept_peering",
            "wait_peering",
            "hub_routes",
            "spoke_routes",
            "admit_cidrs",
            "associate_zones",
            "finish_attach",
        ],
        JobKind::DetachSpoke => vec![
            "disassociate_zones",
            "remove_cidrs",
            "spoke_routes_delete",
            "hub_routes_delete",
            "delete_peering",
            "finish_detach",
        ],
    }
}

/// Creates a job in the caller's transaction and returns its id.
pub async fn enqueue(
    conn: &mut PgConnection,
    kind: JobKind,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    store::jobs::job_insert(
        conn,
        &store::jobs::NewJob {
            id,
            kind,
            hub_id,
            spoke_id,
            steps: steps_of(kind),
        },
    )
    .await?;
    Ok(id)
}

/// Brings the job's subject back out of `failed` when a failed job is retried.
pub async fn on_retry(conn: &mut PgConnection, job: &Job) -> Result<(), sqlx::Error> {
    use crate::model::{HubStatus, SpokeStatus};
    match (job.kind, job.spoke_id) {
        (JobKind::AttachSpoke, Some(s)) => {
            store::spokes::spoke_status_set(conn, s, SpokeStatus::Attaching, None).await
        }
        (JobKind::DetachSpoke, Some(s)) => {
            store::spokes::spoke_status_set(conn, s, SpokeStatus::Detaching, None).await
        }
        (JobKind::ProvisionHub, _) => {
            store::hubs::hub_status_set(conn, job.hub_id, HubStatus::Provisioning, None).await
        }
        (JobKind::UpdateHubServices, _) => {
            store::hubs::hub_status_set(conn, job.hub_id, HubStatus::Updating, None).await
        }
        (JobKind::DeleteHub, _) => {
            store::hubs::hub_status_set(conn, job.hub_id, HubStatus::Deleting, None).await
        }
        _ => Ok(()),
    }
}

pub mod runner;
pub mod steps;
pub use runner::{Engine, EngineConfig, RunOutcome};
