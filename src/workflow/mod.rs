//! The provisioning engine: durable jobs made of named, idempotent steps.
//!
//! Each job kind is one module declaring a [`Workflow`]: its typed state, its steps as a table
//! of names and functions ([`steps!`]), and what happens to its hub or spoke when it fails for
//! good or is retried. [`registered`] maps a [`JobKind`] to its workflow: adding a job kind is
//! its module, its `JobKind` variant and one line there (the `match` is exhaustive).
//!
//! `enqueue` creates a job in the caller's transaction; the [`runner`] claims jobs with leases,
//! runs their steps and commits each step's state and effects in one transaction fenced on the
//! lease. Steps see a [`context::StepCx`], never the runner; operations several workflows share
//! live in [`ops`].

use sqlx::PgConnection;
use uuid::Uuid;

use crate::model::{Job, JobKind};
use crate::store;
use crate::store::effects::Effect;

pub mod attach_spoke;
pub mod context;
pub mod definition;
pub mod delete_hub;
pub mod detach_spoke;
pub mod ops;
pub mod plan;
pub mod profile;
pub mod provision_hub;
pub mod reconcile;
pub mod runner;
pub mod sharing;
pub mod transit;
pub mod update_hub_services;
pub mod zone_names;

pub use context::{StepCx, StepError, StepResult, WaitFor, WaitLimits};
pub use definition::{BoxFuture, Step, Workflow, last_segment};
pub use runner::{Engine, EngineConfig, RunOutcome, StepFault};

/// A workflow with its types erased, as the runner and the application use it.
#[derive(Clone, Copy)]
pub struct Registered {
    pub kind: JobKind,
    pub step_names: fn() -> Vec<&'static str>,
    pub on_failure: fn(&str) -> Vec<Effect>,
    pub on_retry: fn() -> Vec<Effect>,
    pub(crate) run: runner::RunFn,
}

impl Registered {
    fn of<W: Workflow>() -> Registered {
        Registered {
            kind: W::KIND,
            step_names: || W::STEPS.iter().map(|s| s.name).collect(),
            on_failure: W::on_failure,
            on_retry: W::on_retry,
            run: runner::run_fn::<W>(),
        }
    }
}

/// Every job kind's workflow.
pub fn registered(kind: JobKind) -> Registered {
    match kind {
        JobKind::ProvisionHub => Registered::of::<provision_hub::ProvisionHub>(),
        JobKind::UpdateHubServices => Registered::of::<update_hub_services::UpdateHubServices>(),
        JobKind::DeleteHub => Registered::of::<delete_hub::DeleteHub>(),
        JobKind::AttachSpoke => Registered::of::<attach_spoke::AttachSpoke>(),
        JobKind::DetachSpoke => Registered::of::<detach_spoke::DetachSpoke>(),
        JobKind::ReconcileHub => Registered::of::<reconcile::ReconcileHub>(),
        JobKind::ReconcileSpoke => Registered::of::<reconcile::ReconcileSpoke>(),
    }
}

/// The steps of a job kind, in order.
pub fn steps_of(kind: JobKind) -> Vec<&'static str> {
    (registered(kind).step_names)()
}

/// Creates a job in the caller's transaction and returns its id.
pub async fn enqueue(
    conn: &mut PgConnection,
    kind: JobKind,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    enqueue_with_state(conn, kind, hub_id, spoke_id, serde_json::json!({})).await
}

/// Creates a job whose typed state starts as `state` (a reconcile's `detect_only`).
pub async fn enqueue_with_state(
    conn: &mut PgConnection,
    kind: JobKind,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
    state: serde_json::Value,
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
            state,
        },
    )
    .await?;
    Ok(id)
}

/// Brings the job's subject back out of `failed` when a failed job is retried.
pub async fn on_retry(conn: &mut PgConnection, job: &Job) -> Result<(), sqlx::Error> {
    let effects = (registered(job.kind).on_retry)();
    match store::effects::effects_apply(conn, job.id, job.hub_id, job.spoke_id, &effects).await {
        Ok(()) => Ok(()),
        Err(store::effects::ApplyError::Db(e)) => Err(e),
        Err(store::effects::ApplyError::Refused(msg)) => Err(sqlx::Error::Protocol(msg)),
    }
}
