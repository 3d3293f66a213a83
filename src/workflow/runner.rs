//! The job runner: claims jobs with leases, runs their steps, checkpoints after each step.
//!
//! No database transaction is ever held across a cloud call: a step runs with no transaction
//! open, then its output is written with a short transaction fenced on the lease. A heartbeat
//! extends the lease; if it is lost (the runner stalled and another took over), the step in
//! flight is cancelled and nothing more is written.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::steps::{self, StepCx, StepError};
use crate::cloud::Cloud;
use crate::model::{HubStatus, JobKind, JobStatus, SpokeStatus};
use crate::store;
use crate::store::jobs::ClaimedJob;

/// Throttling may last: a step gives up on it only after this many times `max_attempts`.
const THROTTLE_BUDGET_FACTOR: i32 = 5;

/// Tuning of the runner.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Poll for work this often even without a notification.
    pub poll_interval: Duration,
    /// Transient failures of one step before the job fails.
    pub max_attempts: i32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long to wait between looks at something that is not ready yet (a pending peering).
    pub wait_interval: Duration,
    /// Test aid: run every step a second time before its checkpoint, which must change nothing
    /// (proves the steps idempotent end to end).
    pub repeat_steps: bool,
    /// Quotas checked against AWS before acting.
    pub limits: crate::model::Limits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            max_attempts: 12,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            wait_interval: Duration::from_secs(1),
            repeat_steps: false,
            limits: Default::default(),
        }
    }
}

/// Runs jobs against a cloud.
pub struct Engine {
    pub pool: PgPool,
    pub cloud: Cloud,
    pub config: EngineConfig,
    wake: Notify,
}

/// How one job run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed(String),
    /// Released to run again later (a wait or a transient failure).
    Deferred,
    /// Another runner holds the job now; nothing was written.
    LeaseLost,
}

impl Engine {
    pub fn new(pool: PgPool, cloud: Cloud, config: EngineConfig) -> Engine {
        Engine {
            pool,
            cloud,
            config,
            wake: Notify::new(),
        }
    }

    /// Runs `workers` job loops and a LISTEN task until `shutdown` is cancelled. A job in flight
    /// at shutdown is abandoned at its last checkpoint; its lease expires and it resumes later.
    pub async fn run(self: Arc<Self>, workers: usize, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.listen(stop).await });
        for _ in 0..workers {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.worker(stop).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn listen(&self, shutdown: CancellationToken) {
        loop {
            let mut listener = match PgListener::connect_with(&self.pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for jobs; polling meanwhile");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(self.config.poll_interval) => continue,
                    }
                }
            };
            if let Err(e) = listener.listen(store::jobs::JOBS_CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed");
                continue;
            }
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = listener.recv() => match n {
                        Ok(_) => self.wake.notify_waiters(),
                        Err(e) => {
                            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                            break;
                        }
                    }
                }
            }
        }
    }

    async fn worker(&self, shutdown: CancellationToken) {
        let runner = Uuid::new_v4();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let worked = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.run_once(runner) => r,
            };
            match worked {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "job runner error; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Claims one runnable job and runs it until it finishes, defers or loses its lease.
    /// `None` when there was nothing to run.
    pub async fn run_once(&self, runner: Uuid) -> anyhow::Result<Option<(Uuid, RunOutcome)>> {
        let Some(job) =
            store::jobs::job_claim(&self.pool, runner, self.config.lease.as_secs_f64()).await?
        else {
            return Ok(None);
        };
        let id = job.id;
        let outcome = self.run_claimed(runner, job).await?;
        Ok(Some((id, outcome)))
    }

    /// Runs jobs until none is left unfinished (or `limit` passes). For tests and tools.
    pub async fn run_until_idle(&self, limit: Duration) -> anyhow::Result<()> {
        let runner = Uuid::new_v4();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.run_once(runner).await?.is_some() {
                continue;
            }
            if store::jobs::job_unfinished_count(&self.pool).await? == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("jobs still unfinished after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn run_claimed(&self, runner: Uuid, job: ClaimedJob) -> anyhow::Result<RunOutcome> {
        let lost = CancellationToken::new();
        // The heartbeat stops when this future ends or is dropped (an aborted runner must not
        // keep extending its lease).
        let _heartbeat = AbortOnDrop({
            let pool = self.pool.clone();
            let lost = lost.clone();
            let lease = self.config.lease;
            let id = job.id;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match store::jobs::job_heartbeat(&pool, id, runner, lease.as_secs_f64()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.cancel();
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, job = %id, "heartbeat failed"),
                    }
                }
            })
        });
        let outcome = tokio::select! {
            r = self.run_steps(runner, &job) => r,
            _ = lost.cancelled() => Ok(RunOutcome::LeaseLost),
        };
        outcome
    }

    #[tracing::instrument(skip_all, fields(job = %job.id, kind = %job.kind))]
    async fn run_steps(&self, runner: Uuid, job: &ClaimedJob) -> anyhow::Result<RunOutcome> {
        let kind: JobKind = job.kind.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        let mut state = job.state.0.clone();
        if !state.is_object() {
            state = serde_json::json!({});
        }
        let mut index = job.next_step as usize;
        while index < job.steps.len() {
            let step = job.steps[index].as_str();
            let before = self.config.repeat_steps.then(|| state.clone());
            let result = {
                let mut cx =
                    StepCx::load(self, runner, job.id, job.hub_id, job.spoke_id, &mut state)
                        .await?;
                steps::run(kind, step, &mut cx).await
            };
            let result = match (result, before) {
                // Again from the state the step started with, as after a crash just before the
                // checkpoint: the cloud already holds the first run's effects.
                (Ok(()), Some(before)) => {
                    state = before;
                    let mut cx =
                        StepCx::load(self, runner, job.id, job.hub_id, job.spoke_id, &mut state)
                            .await?;
                    steps::run(kind, step, &mut cx).await
                }
                (other, _) => other,
            };
            match result {
                Ok(()) => {
                    let mut tx = self.pool.begin().await?;
                    if !store::jobs::job_checkpoint(
                        &mut tx,
                        job.id,
                        runner,
                        index as i32 + 1,
                        &state,
                    )
                    .await?
                    {
                        return Ok(RunOutcome::LeaseLost);
                    }
                    store::jobs::job_event_insert(
                        &mut tx,
                        job.id,
                        Some(step),
                        "step_succeeded",
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    tracing::debug!(step, "step done");
                    index += 1;
                }
                Err(StepError::Wait(why)) => {
                    let mut tx = self.pool.begin().await?;
                    let held = store::jobs::job_defer(
                        &mut tx,
                        job.id,
                        runner,
                        self.config.wait_interval.as_secs_f64(),
                        job.attempts,
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    tracing::debug!(step, why, "waiting");
                    return Ok(if held {
                        RunOutcome::Deferred
                    } else {
                        RunOutcome::LeaseLost
                    });
                }
                Err(e @ (StepError::Retry(_) | StepError::Throttled(_))) => {
                    let (why, budget) = match e {
                        StepError::Throttled(why) => (
                            why,
                            self.config
                                .max_attempts
                                .saturating_mul(THROTTLE_BUDGET_FACTOR),
                        ),
                        StepError::Retry(why) => (why, self.config.max_attempts),
                        _ => unreachable!(),
                    };
                    let attempts = job.attempts + 1;
                    if attempts >= budget {
                        let msg = format!("{step}: gave up after {attempts} attempts: {why}");
                        return self.fail(runner, job, kind, step, &msg, &state).await;
                    }
                    let delay = self.backoff(attempts);
                    let mut tx = self.pool.begin().await?;
                    let held = store::jobs::job_defer(
                        &mut tx,
                        job.id,
                        runner,
                        delay.as_secs_f64(),
                        attempts,
                        Some(&why),
                    )
                    .await?;
                    if held {
                        store::jobs::job_event_insert(
                            &mut tx,
                            job.id,
                            Some(step),
                            "step_retry",
                            Some(&format!("attempt {attempts}, next in {delay:.1?}: {why}")),
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    tracing::info!(step, attempts, ?delay, why, "transient failure; will retry");
                    return Ok(if held {
                        RunOutcome::Deferred
                    } else {
                        RunOutcome::LeaseLost
                    });
                }
                Err(StepError::Fail(why)) => {
                    let msg = format!("{step}: {why}");
                    return self.fail(runner, job, kind, step, &msg, &state).await;
                }
                Err(StepError::LeaseLost) => return Ok(RunOutcome::LeaseLost),
                Err(StepError::Db(e)) => return Err(e.into()),
            }
        }
        let mut tx = self.pool.begin().await?;
        if !store::jobs::job_finish(&mut tx, job.id, runner, JobStatus::Succeeded, None).await? {
            return Ok(RunOutcome::LeaseLost);
        }
        store::jobs::job_event_insert(&mut tx, job.id, None, "job_succeeded", None).await?;
        tx.commit().await?;
        tracing::info!("job succeeded");
        Ok(RunOutcome::Succeeded)
    }

    async fn fail(
        &self,
        runner: Uuid,
        job: &ClaimedJob,
        kind: JobKind,
        step: &str,
        msg: &str,
        state: &serde_json::Value,
    ) -> anyhow::Result<RunOutcome> {
        let mut tx = self.pool.begin().await?;
        if !store::jobs::job_state_set(&mut tx, job.id, runner, state).await? {
            return Ok(RunOutcome::LeaseLost);
        }
        if !store::jobs::job_finish(&mut tx, job.id, runner, JobStatus::Failed, Some(msg)).await? {
            return Ok(RunOutcome::LeaseLost);
        }
        store::jobs::job_event_insert(&mut tx, job.id, Some(step), "step_failed", Some(msg))
            .await?;
        match (kind, job.spoke_id) {
            (JobKind::AttachSpoke, Some(spoke)) => {
                // A spoke being detached stays `detaching`: its detach job runs next.
                store::spokes::spoke_status_advance(
                    &mut tx,
                    spoke,
                    SpokeStatus::Failed,
                    SpokeStatus::ATTACH_PHASES,
                )
                .await?;
                store::spokes::spoke_error_set(&mut tx, spoke, msg).await?;
            }
            (JobKind::DetachSpoke, Some(spoke)) => {
                store::spokes::spoke_status_set(&mut tx, spoke, SpokeStatus::Failed, Some(msg))
                    .await?;
            }
            _ => {
                store::hubs::hub_status_set(&mut tx, job.hub_id, HubStatus::Failed, Some(msg))
                    .await?;
            }
        }
        tx.commit().await?;
        tracing::warn!(step, error = msg, "job failed");
        Ok(RunOutcome::Failed(msg.to_owned()))
    }

    /// Exponential backoff with full jitter.
    fn backoff(&self, attempts: i32) -> Duration {
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << attempts.clamp(0, 16) as u32)
            .min(self.config.backoff_max);
        let jitter = 0.5 + fastrand::f64() / 2.0;
        exp.mul_f64(jitter)
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
