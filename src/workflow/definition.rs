//! What a job kind declares: the [`Workflow`] trait (its typed state, its step table, its
//! effects on failure and retry) and the [`steps!`](crate::steps) macro that builds a step table
//! from function names. The runner and every job-kind module depend on this; it depends on
//! neither.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::{StepCx, StepResult};
use crate::model::JobKind;
use crate::store::effects::Effect;

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
        &[$( $crate::workflow::definition::Step::<$state> {
            name: $crate::workflow::definition::last_segment(stringify!($f)),
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
