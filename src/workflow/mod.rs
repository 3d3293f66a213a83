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

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::model::{Job, JobKind};
use crate::store;
use crate::store::effects::Effect;

pub mod attach_spoke;
pub mod context;
pub mod delete_hub;
pub mod detach_spoke;
pub mod ops;
pub mod provision_hub;
pub mod runner;
pub mod update_hub_services;

pub use context::{StepCx, StepError, StepResult, WaitFor, WaitLimits};
pub use runner::{Engine, EngineConfig, RunOutcome, StepFault};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One step of a workflow: its name (stored in job rows, so stable across releases) and its
/// function.
pub struct Step<S: 'static> {
    pub name: &'static str,
    pub run: for<'a> fn(&'a mut StepCx<S>) -> BoxFuture<'a, StepResult>,
}

/// A step table from function names: `steps![State: verify_hub, security_group]`. The step's
/// name is its function's name.
#[macro_export]
macro_rules! steps {
    ($state:ty: $($f:path),+ $(,)?) => {
        &[$( $crate::workflow::Step::<$state> {
            name: $crate::workflow::last_segment(stringify!($f)),
            run: |cx| Box::pin($f(cx)),
        } ),+]
    };
}

/// `ops::verify_hub` -> `verify_hub` (const, for step names).
pub const fn last_segment(path: &'static str) -> &'static str {
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        if bytes[i - 1] == b':' || bytes[i - 1] == b' ' {
            let (_, tail) = bytes.split_at(i);
            return match std::str::from_utf8(tail) {
                Ok(s) => s,
                Err(_) => path,
            };
        }
        i -= 1;
    }
    path
}

/// A job kind's definition.
pub trait Workflow: Send + Sync + 'static {
    const KIND: JobKind;
    /// Outputs of earlier steps that later ones need, checkpointed after every step. A missing
    /// required output is an error naming the step that should have produced it
    /// ([`context::need`]), never an empty default.
    type State: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;
    /// The steps, in order.
    const STEPS: &'static [Step<Self::State>];
    /// Changes to the job's hub or spoke when the job fails for good.
    fn on_failure(message: &str) -> Vec<Effect>;
    /// Changes to the job's hub or spoke when a failed job is retried.
    fn on_retry() -> Vec<Effect>;
}

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
    let effects = (registered(job.kind).on_retry)();
    match store::effects::effects_apply(conn, job.hub_id, job.spoke_id, &effects).await {
        Ok(()) => Ok(()),
        Err(store::effects::ApplyError::Db(e)) => Err(e),
        Err(store::effects::ApplyError::Refused(msg)) => Err(sqlx::Error::Protocol(msg)),
    }
}
