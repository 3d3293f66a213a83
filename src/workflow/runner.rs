//! The job runner: claims jobs with leases, runs their steps, checkpoints after each step.
//!
//! No database transaction is ever held across a cloud call: a step runs with no transaction
//! open, then its state and its effects on the hub and spoke rows are written in one short
//! transaction fenced on the lease. A heartbeat extends the lease; if it is lost (the runner
//! stalled and another took over), the step in flight is cancelled and nothing more is written.
//!
//! Failure is bounded: transient errors (the database's included) count against an attempt
//! budget, every wait has a deadline, and a step that panics is retried like a transient error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::context::{JobRef, StepCx, StepError, WaitLimits};
use super::definition::{BoxFuture, Step, Workflow};
use crate::cloud::Cloud;
use crate::model::{JobKind, JobStatus};
use crate::store;
use crate::store::effects::{ApplyError, Effect};
use crate::store::jobs::ClaimedJob;

/// Throttling may last: a step gives up on it only after this many times `max_attempts`.
const THROTTLE_BUDGET_FACTOR: i32 = 5;

/// Test aid: fails one step of one job kind right after it ran and before its checkpoint (as a
/// crash there would), `times` times. The cloud keeps what the step did; the job fails, and a
/// retry must end right.
#[derive(Debug, Clone)]
pub struct StepFault {
    pub kind: JobKind,
    pub step: &'static str,
    remaining: Arc<AtomicU32>,
}

impl StepFault {
    pub fn new(kind: JobKind, step: &'static str, times: u32) -> StepFault {
        StepFault {
            kind,
            step,
            remaining: Arc::new(AtomicU32::new(times)),
        }
    }

    fn take(&self, kind: JobKind, step: &str) -> bool {
        self.kind == kind
            && self.step == step
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

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
    /// How long a step may wait for each kind of thing before the job fails.
    pub waits: WaitLimits,
    /// Test aid: run every step a second time before its checkpoint, which must change nothing
    /// (proves the steps idempotent end to end).
    pub repeat_steps: bool,
    /// Test aid: see [`StepFault`].
    pub fault_after_step: Option<StepFault>,
    /// Quotas checked against AWS before acting.
    pub limits: crate::model::Limits,
    /// Jobs of one hub's spokes (attach, detach, reconcile) started and not finished at once,
    /// across every process: a job that has not started waits while the hub has this many.
    /// Every one of them spends the hub account's EC2 request buckets (EC2 is not paced
    /// client-side), and a job deferred on a wait frees its worker for another: without a cap,
    /// hundreds of enrolments start together, throttle each other and starve.
    pub spoke_jobs_per_hub: i64,
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
            waits: WaitLimits::default(),
            repeat_steps: false,
            fault_after_step: None,
            limits: Default::default(),
            spoke_jobs_per_hub: 16,
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

/// A workflow's job loop with its types erased.
pub(crate) type RunFn =
    for<'a> fn(&'a Engine, Uuid, &'a ClaimedJob) -> BoxFuture<'a, anyhow::Result<RunOutcome>>;

pub(crate) fn run_fn<W: Workflow>() -> RunFn {
    |engine, runner, job| Box::pin(engine.run_steps::<W>(runner, job))
}

/// What one run of a step left: its state and effects, and how it ended.
struct StepRun<S> {
    state: S,
    effects: Vec<Effect>,
    result: Result<(), StepError>,
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
        let Some(job) = store::jobs::job_claim(
            &self.pool,
            runner,
            self.config.lease.as_secs_f64(),
            self.config.spoke_jobs_per_hub.max(1),
        )
        .await?
        else {
            return Ok(None);
        };
        let outcome = self.run_claimed(runner, &job).await?;
        Ok(Some((job.id, outcome)))
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

    async fn run_claimed(&self, runner: Uuid, job: &ClaimedJob) -> anyhow::Result<RunOutcome> {
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
        let run = (super::registered(job.kind).run)(self, runner, job);
        tokio::select! {
            r = run => r,
            _ = lost.cancelled() => Ok(RunOutcome::LeaseLost),
        }
    }

    /// Runs one step on its own task (a panic is caught and retried like a transient error; a
    /// lost lease drops the task, which cancels the step).
    async fn step_run<S>(&self, step: &Step<S>, job: JobRef, state: S) -> StepRun<S>
    where
        S: serde::Serialize + Send + Sync + Clone + 'static,
    {
        let mut cx = match StepCx::load(
            &self.pool,
            &self.cloud,
            &self.config.limits,
            job,
            state.clone(),
        )
        .await
        {
            Ok(cx) => cx,
            Err(e) => {
                return StepRun {
                    state,
                    effects: vec![],
                    result: Err(e),
                };
            }
        };
        let run = step.run;
        let task = tokio::spawn(async move {
            let result = run(&mut cx).await;
            (cx, result)
        });
        let mut guard = AbortOnDrop(task);
        match (&mut guard.0).await {
            Ok((cx, result)) => {
                let (state, effects) = cx.into_parts();
                StepRun {
                    state,
                    effects,
                    result,
                }
            }
            Err(e) => StepRun {
                state,
                effects: vec![],
                result: Err(StepError::Retry(format!("the step panicked: {e}"))),
            },
        }
    }

    #[tracing::instrument(skip_all, fields(job = %job.id, kind = %job.kind))]
    async fn run_steps<W: Workflow>(
        &self,
        runner: Uuid,
        job: &ClaimedJob,
    ) -> anyhow::Result<RunOutcome> {
        let jref = job_ref(job, runner);
        let mut state: W::State = match serde_json::from_value(job.state.clone()) {
            Ok(s) => s,
            Err(e) => {
                let step = job.steps.get(job.next_step as usize).map(String::as_str);
                let msg = format!("the job's saved state does not decode: {e}");
                return self.fail::<W>(runner, job, step, &msg, None, &[]).await;
            }
        };
        let mut index = job.next_step as usize;
        let mut attempts = job.attempts;
        while index < job.steps.len() {
            let name = job.steps[index].as_str();
            let Some(step) = W::STEPS.iter().find(|s| s.name == name) else {
                let msg = format!("{name}: no such step in a {} job", job.kind);
                return self
                    .fail::<W>(runner, job, Some(name), &msg, Some(&state), &[])
                    .await;
            };
            let started = std::time::Instant::now();
            let mut run = self.step_run(step, jref.clone(), state.clone()).await;
            if run.result.is_ok() && self.config.repeat_steps {
                // Again from the state the step started with, as after a crash just before the
                // checkpoint: the cloud already holds the first run's effects.
                run = self.step_run(step, jref.clone(), state.clone()).await;
            }
            if run.result.is_ok()
                && let Some(fault) = &self.config.fault_after_step
                && fault.take(job.kind, name)
            {
                run = StepRun {
                    state: state.clone(),
                    effects: vec![],
                    result: Err(StepError::Fail(format!(
                        "injected failure after step {name} ran, before its checkpoint"
                    ))),
                };
            }
            let StepRun {
                state: after,
                mut effects,
                result,
            } = run;
            let result = match result {
                Ok(()) => match self.checkpoint(&jref, index, name, &after, &effects).await {
                    Err(StepError::Fail(msg)) => {
                        // Refused effects are not applied with the failure either.
                        effects.clear();
                        Err(StepError::Fail(msg))
                    }
                    other => other,
                },
                Err(e) => Err(e),
            };
            let outcome = match &result {
                Ok(()) => "succeeded",
                Err(StepError::Wait { .. }) => "waiting",
                Err(StepError::Fail(_)) => "failed",
                Err(_) => "retry",
            };
            crate::metrics::step_run(job.kind.as_str(), name, outcome, started.elapsed());
            let budget = |throttled: bool| {
                if throttled {
                    self.config
                        .max_attempts
                        .saturating_mul(THROTTLE_BUDGET_FACTOR)
                } else {
                    self.config.max_attempts
                }
            };
            match result {
                Ok(()) => {
                    tracing::debug!(step = name, "step done");
                    state = after;
                    attempts = 0;
                    index += 1;
                }
                Err(StepError::Wait { what, why }) => {
                    let limit = self.config.waits.of(what);
                    let mut tx = self.pool.begin().await?;
                    let Some(waited) = store::jobs::job_waiting(&mut tx, job.id, runner).await?
                    else {
                        return Ok(RunOutcome::LeaseLost);
                    };
                    if waited > limit.as_secs_f64() {
                        tx.commit().await?;
                        let msg = format!(
                            "{name}: gave up after waiting {waited:.0} s (the limit for a {} is {} s): {why}",
                            wait_word(what),
                            limit.as_secs()
                        );
                        return self
                            .fail::<W>(runner, job, Some(name), &msg, Some(&after), &effects)
                            .await;
                    }
                    let delay = self.config.wait_interval;
                    let held = self.persist(&mut tx, &jref, &after, &effects).await?
                        && store::jobs::job_defer(
                            &mut tx,
                            job.id,
                            runner,
                            delay.as_secs_f64(),
                            attempts,
                            None,
                        )
                        .await?;
                    tx.commit().await?;
                    tracing::debug!(step = name, why, "waiting");
                    return Ok(if held {
                        RunOutcome::Deferred
                    } else {
                        RunOutcome::LeaseLost
                    });
                }
                Err(e @ (StepError::Retry(_) | StepError::Throttled(_) | StepError::Db(_))) => {
                    let (why, budget) = match e {
                        StepError::Throttled(why) => (why, budget(true)),
                        StepError::Retry(why) => (why, budget(false)),
                        StepError::Db(e) => (format!("database error: {e}"), budget(false)),
                        _ => unreachable!(),
                    };
                    attempts += 1;
                    if attempts >= budget {
                        let msg = format!("{name}: gave up after {attempts} attempts: {why}");
                        return self
                            .fail::<W>(runner, job, Some(name), &msg, Some(&after), &effects)
                            .await;
                    }
                    let delay = self.backoff(attempts);
                    let mut tx = self.pool.begin().await?;
                    let held = self.persist(&mut tx, &jref, &after, &effects).await?
                        && store::jobs::job_defer(
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
                            Some(name),
                            "step_retry",
                            Some(&format!("attempt {attempts}, next in {delay:.1?}: {why}")),
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    tracing::info!(
                        step = name,
                        attempts,
                        ?delay,
                        why,
                        "transient failure; will retry"
                    );
                    return Ok(if held {
                        RunOutcome::Deferred
                    } else {
                        RunOutcome::LeaseLost
                    });
                }
                Err(StepError::Fail(why)) => {
                    let msg = format!("{name}: {why}");
                    return self
                        .fail::<W>(runner, job, Some(name), &msg, Some(&after), &effects)
                        .await;
                }
                Err(StepError::LeaseLost) => return Ok(RunOutcome::LeaseLost),
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

    /// Commits a finished step: next step index, state, effects and event, in one transaction
    /// fenced on the lease. Refused effects fail the job (nothing of the step is committed).
    async fn checkpoint<S: serde::Serialize>(
        &self,
        job: &JobRef,
        index: usize,
        name: &str,
        state: &S,
        effects: &[Effect],
    ) -> Result<(), StepError> {
        let value = encode(state)?;
        let mut tx = self.pool.begin().await?;
        if !store::jobs::job_checkpoint(&mut tx, job.id, job.runner, index as i32 + 1, &value)
            .await?
        {
            return Err(StepError::LeaseLost);
        }
        store::effects::effects_apply(&mut tx, job.id, job.hub_id, job.spoke_id, effects).await?;
        store::jobs::job_event_insert(&mut tx, job.id, Some(name), "step_succeeded", None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves what an unfinished step noted (state and effects) with the caller's deferral.
    /// False when the runner lost the job. Refused effects are left out (the step reruns and
    /// meets the refusal again at its checkpoint).
    async fn persist<S: serde::Serialize>(
        &self,
        tx: &mut sqlx::PgTransaction<'_>,
        job: &JobRef,
        state: &S,
        effects: &[Effect],
    ) -> anyhow::Result<bool> {
        let value = encode(state).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if !store::jobs::job_state_set(tx, job.id, job.runner, &value).await? {
            return Ok(false);
        }
        apply_or_skip(tx, job, effects).await?;
        Ok(true)
    }

    async fn fail<W: Workflow>(
        &self,
        runner: Uuid,
        job: &ClaimedJob,
        step: Option<&str>,
        msg: &str,
        state: Option<&W::State>,
        effects: &[Effect],
    ) -> anyhow::Result<RunOutcome> {
        let jref = job_ref(job, runner);
        let mut tx = self.pool.begin().await?;
        if let Some(state) = state
            && !self.persist(&mut tx, &jref, state, effects).await?
        {
            return Ok(RunOutcome::LeaseLost);
        }
        if !store::jobs::job_finish(&mut tx, job.id, runner, JobStatus::Failed, Some(msg)).await? {
            return Ok(RunOutcome::LeaseLost);
        }
        store::jobs::job_event_insert(&mut tx, job.id, step, "step_failed", Some(msg)).await?;
        store::jobs::job_event_insert(&mut tx, job.id, None, "job_failed", Some(msg)).await?;
        apply_or_skip(&mut tx, &jref, &W::on_failure(msg)).await?;
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

/// The job as its steps and effects see it.
fn job_ref(job: &ClaimedJob, runner: Uuid) -> JobRef {
    JobRef {
        id: job.id,
        kind: job.kind,
        hub_id: job.hub_id,
        spoke_id: job.spoke_id,
        runner,
    }
}

/// Applies effects in a savepoint; refused ones are logged and left out.
async fn apply_or_skip(
    tx: &mut sqlx::PgTransaction<'_>,
    job: &JobRef,
    effects: &[Effect],
) -> Result<(), sqlx::Error> {
    if effects.is_empty() {
        return Ok(());
    }
    let mut sp = sqlx::Connection::begin(&mut **tx).await?;
    match store::effects::effects_apply(&mut sp, job.id, job.hub_id, job.spoke_id, effects).await {
        Ok(()) => sp.commit().await,
        Err(ApplyError::Refused(why)) => {
            tracing::warn!(job = %job.id, why, "effects refused; left out");
            sp.rollback().await
        }
        Err(ApplyError::Db(e)) => Err(e),
    }
}

fn encode<S: serde::Serialize>(state: &S) -> Result<serde_json::Value, StepError> {
    serde_json::to_value(state)
        .map_err(|e| StepError::Fail(format!("internal error: state does not encode: {e}")))
}

fn wait_word(what: super::WaitFor) -> &'static str {
    match what {
        super::WaitFor::Peering => "peering",
        super::WaitFor::Endpoint => "endpoint",
        super::WaitFor::Resource => "resource",
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
