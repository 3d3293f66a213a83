//! What a step sees and returns: [`StepCx`] (the pool, the cloud, the limits, the job, fresh
//! copies of its hub and spoke, its typed state and the effects it has produced so far), and
//! [`StepError`] (why it did not finish). Steps never see the runner.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::cloud::{CallCx, Cloud, CloudError, CloudErrorKind, ZoneVpc};
use crate::model::{Hub, HubService, JobKind, Limits, Spoke};
use crate::store;
use crate::store::effects::{ApplyError, Effect};

/// What a step waits for; each has its own deadline ([`WaitLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// A peering to become visible to the accepter, or active.
    Peering,
    /// An interface endpoint to become available (or its DNS names to appear), or to finish
    /// deleting.
    Endpoint,
    /// Anything else (a VPC still being created, the hub still provisioning).
    Resource,
}

/// How long a step may wait for each kind of thing before its job fails.
#[derive(Debug, Clone, Copy)]
pub struct WaitLimits {
    pub peering: Duration,
    pub endpoint: Duration,
    pub resource: Duration,
}

impl Default for WaitLimits {
    /// AWS: a peering is active seconds after acceptance; an interface endpoint takes up to a
    /// few minutes to become available.
    fn default() -> Self {
        WaitLimits {
            peering: Duration::from_secs(300),
            endpoint: Duration::from_secs(600),
            resource: Duration::from_secs(600),
        }
    }
}

impl WaitLimits {
    pub fn of(&self, what: WaitFor) -> Duration {
        match what {
            WaitFor::Peering => self.peering,
            WaitFor::Endpoint => self.endpoint,
            WaitFor::Resource => self.resource,
        }
    }
}

/// Why a step did not finish.
#[derive(Debug)]
pub enum StepError {
    /// Not ready yet (a peering still pending): look again shortly. Not counted as a failure,
    /// but bounded: waiting longer than the deadline for `what` fails the job.
    Wait { what: WaitFor, why: String },
    /// A transient failure (5xx, a race): retry with backoff.
    Retry(String),
    /// Throttled by AWS even after the SDK's retries: retry with backoff, with a larger budget
    /// (a throttling storm slows jobs down, it should not fail them).
    Throttled(String),
    /// A permanent failure, with a message a platform engineer can act on.
    Fail(String),
    /// The runner no longer holds the job (found while saving progress).
    LeaseLost,
    /// The database failed: retried with backoff, and counted like any transient failure.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StepError {
    fn from(e: sqlx::Error) -> Self {
        StepError::Db(e)
    }
}

impl From<ApplyError> for StepError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Refused(msg) => StepError::Fail(msg),
            ApplyError::Db(e) => StepError::Db(e),
        }
    }
}

impl From<CloudError> for StepError {
    fn from(e: CloudError) -> Self {
        if e.is(CloudErrorKind::Throttled) {
            StepError::Throttled(e.to_string())
        } else if e.is_retryable() {
            StepError::Retry(e.to_string())
        } else {
            StepError::Fail(e.to_string())
        }
    }
}

pub type StepResult = Result<(), StepError>;

pub fn fail<T>(msg: impl Into<String>) -> Result<T, StepError> {
    Err(StepError::Fail(msg.into()))
}

pub fn wait<T>(what: WaitFor, why: impl Into<String>) -> Result<T, StepError> {
    Err(StepError::Wait {
        what,
        why: why.into(),
    })
}

/// A required output of an earlier step; its absence is a bug, named loudly.
pub fn need<T: Clone>(value: &Option<T>, field: &str, producer: &str) -> Result<T, StepError> {
    value.clone().ok_or_else(|| {
        StepError::Fail(format!(
            "internal error: the job's state has no {field}, which step {producer} produces"
        ))
    })
}

/// The job a step belongs to.
#[derive(Debug, Clone)]
pub struct JobRef {
    pub id: Uuid,
    pub kind: JobKind,
    pub hub_id: Uuid,
    pub spoke_id: Option<Uuid>,
    /// The runner holding the lease (fences mid-step saves).
    pub(crate) runner: Uuid,
}

/// What a step sees. `S` is its workflow's typed state, checkpointed after each step.
pub struct StepCx<S> {
    pub pool: PgPool,
    pub cloud: Cloud,
    pub limits: Limits,
    pub job: JobRef,
    pub hub: Hub,
    pub spoke: Option<Spoke>,
    pub state: S,
    effects: Vec<Effect>,
}

impl<S: serde::Serialize> StepCx<S> {
    /// Loads fresh copies of the job's hub and spoke.
    pub(crate) async fn load(
        pool: &PgPool,
        cloud: &Cloud,
        limits: &Limits,
        job: JobRef,
        state: S,
    ) -> Result<StepCx<S>, StepError> {
        let mut conn = pool.acquire().await?;
        let Some(hub) = store::hubs::hub_get(&mut conn, job.hub_id).await? else {
            return fail(format!(
                "hub {} of job {} does not exist",
                job.hub_id, job.id
            ));
        };
        let spoke = match job.spoke_id {
            Some(id) => match store::spokes::spoke_get(&mut conn, id).await? {
                Some(s) => Some(s),
                None => return fail(format!("spoke {id} of job {} does not exist", job.id)),
            },
            None => None,
        };
        Ok(StepCx {
            pool: pool.clone(),
            cloud: cloud.clone(),
            limits: limits.clone(),
            job,
            hub,
            spoke,
            state,
            effects: Vec::new(),
        })
    }

    /// Persists the state and the effects so far, mid-step, so that a long step resumes where
    /// it was; fenced on the lease like every checkpoint.
    pub async fn save(&mut self) -> StepResult {
        let state = serde_json::to_value(&self.state)
            .map_err(|e| StepError::Fail(format!("internal error: state does not encode: {e}")))?;
        let mut tx = self.pool.begin().await?;
        if !store::jobs::job_state_set(&mut tx, self.job.id, self.job.runner, &state).await? {
            return Err(StepError::LeaseLost);
        }
        store::effects::effects_apply(
            &mut tx,
            self.job.id,
            self.job.hub_id,
            self.job.spoke_id,
            &self.effects,
        )
        .await?;
        tx.commit().await?;
        self.effects.clear();
        Ok(())
    }
}

impl<S> StepCx<S> {
    /// Records a change to the job's hub or spoke row, committed with the step's checkpoint.
    pub fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub(crate) fn into_parts(self) -> (S, Vec<Effect>) {
        (self.state, self.effects)
    }

    pub fn hub_cx(&self) -> CallCx {
        hub_call_cx(&self.hub, Some(self.job.id))
    }

    /// The job's spoke; a spoke job always has one (checked when the step context is loaded).
    pub fn spoke(&self) -> &Spoke {
        self.spoke.as_ref().expect("spoke job without a spoke")
    }

    pub fn spoke_cx(&self) -> CallCx {
        spoke_call_cx(self.spoke(), Some(self.job.id))
    }

    pub fn hub_tag(&self) -> String {
        hub_tag(&self.hub)
    }

    pub fn service_tag(&self, service: &HubService) -> String {
        service_tag(&self.hub, service)
    }

    pub fn spoke_tag(&self) -> String {
        spoke_tag(self.spoke().id)
    }

    pub fn hub_zone_vpc(&self) -> ZoneVpc {
        hub_zone_vpc(&self.hub)
    }

    /// The hub's services that are wanted (not being removed).
    pub fn present_services(&self) -> Vec<HubService> {
        self.hub
            .services
            .iter()
            .filter(|s| s.state == "present")
            .cloned()
            .collect()
    }

    /// Takes the hub's lock for steps that change its shared resources (the prefix list, the
    /// zones' associations). A session advisory lock on a connection that is closed when
    /// dropped: a crashed or cancelled step releases it.
    pub async fn hub_lock(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        conn.close_on_drop();
        let key = self.hub.id.as_u64_pair().0 as i64;
        loop {
            let got = sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "got!""#, key)
                .fetch_one(&mut *conn)
                .await?;
            if got {
                return Ok(conn);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// How to call AWS as `spoke`'s account (for `job_id`, or for a plan without a job).
pub fn spoke_call_cx(spoke: &Spoke, job_id: Option<Uuid>) -> CallCx {
    CallCx {
        account: spoke.account_id.clone(),
        region: spoke.region.clone(),
        role: spoke.role_arn.clone(),
        external_id: spoke.external_id.clone(),
        job_id,
    }
}

/// How to call AWS as the hub's account.
pub fn hub_call_cx(hub: &Hub, job_id: Option<Uuid>) -> CallCx {
    CallCx {
        account: hub.account_id.clone(),
        region: hub.region.clone(),
        role: hub.role_arn.clone(),
        external_id: hub.external_id.clone(),
        job_id,
    }
}

/// The [`OWNER_TAG`](crate::cloud::OWNER_TAG) value of a hub's security group and prefix list.
pub fn hub_tag(hub: &Hub) -> String {
    format!("hub:{}", hub.id)
}

/// The owner tag value of a hub service's endpoints.
pub fn service_tag(hub: &Hub, service: &HubService) -> String {
    format!(
        "hub:{}:service:{}:{}",
        hub.id,
        service.name,
        service.generation.simple()
    )
}

/// The owner tag value of a spoke's peering.
pub fn spoke_tag(spoke: Uuid) -> String {
    format!("spoke:{spoke}")
}

pub fn hub_zone_vpc(hub: &Hub) -> ZoneVpc {
    ZoneVpc {
        vpc_id: hub.vpc_id.clone(),
        region: hub.region.clone(),
    }
}

pub fn spoke_zone_vpc(spoke: &Spoke) -> ZoneVpc {
    ZoneVpc {
        vpc_id: spoke.vpc_id.clone(),
        region: spoke.region.clone(),
    }
}
