//! Jobs: durable, checkpointed background work, claimed with leases.
//!
//! A job is claimed by setting `locked_by`/`lease_until` (never by holding a transaction); a
//! runner extends its lease while it works, and every write it makes afterwards is fenced on
//! `locked_by`, so a runner that lost its lease cannot overwrite a newer runner's progress.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::model::{Job, JobEvent, JobKind, JobStatus, JobStep};

/// The channel `NOTIFY`d when a job becomes runnable.
pub const JOBS_CHANNEL: &str = "endpoint_hub_jobs";

#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub kind: JobKind,
    pub hub_id: Uuid,
    pub spoke_id: Option<Uuid>,
    pub steps: Vec<&'static str>,
    /// The job's initial typed state (`{}` for most).
    pub state: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    kind: JobKind,
    status: JobStatus,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
    steps: Vec<String>,
    next_step: i32,
    attempts: i32,
    last_error: Option<String>,
    run_after: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "id, kind, status, hub_id, spoke_id, steps, next_step, attempts, \
    last_error, run_after, created_at, updated_at, finished_at";

impl JobRow {
    fn into_model(self) -> Result<Job, sqlx::Error> {
        let status = self.status;
        let next = self.next_step as usize;
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, name)| JobStep {
                name: name.clone(),
                status: if i < next {
                    "done"
                } else if i == next && status == JobStatus::Failed {
                    "failed"
                } else if i == next && status == JobStatus::Running {
                    "running"
                } else {
                    "pending"
                }
                .to_owned(),
            })
            .collect();
        Ok(Job {
            id: self.id,
            kind: self.kind,
            current_step: match status {
                JobStatus::Succeeded => None,
                _ => self.steps.get(next).cloned(),
            },
            status,
            hub_id: self.hub_id,
            spoke_id: self.spoke_id,
            steps,
            attempts: self.attempts,
            last_error: self.last_error,
            run_after: self.run_after,
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
            events: None,
        })
    }
}

/// Enqueues a job in the caller's transaction; runners are woken when it commits.
pub async fn job_insert(conn: &mut PgConnection, job: &NewJob) -> Result<(), sqlx::Error> {
    let steps: Vec<String> = job.steps.iter().map(|s| s.to_string()).collect();
    sqlx::query!(
        "INSERT INTO jobs (id, kind, hub_id, spoke_id, status, steps, state) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6)",
        job.id,
        job.kind.as_str(),
        job.hub_id,
        job.spoke_id,
        &steps[..],
        &job.state,
    )
    .execute(&mut *conn)
    .await?;
    job_event_insert(conn, job.id, None, "job_queued", None).await?;
    notify(conn).await
}

async fn notify(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_notify($1, '')", JOBS_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// A job, with its events when `with_events` (one query either way).
pub async fn job_get(
    conn: &mut PgConnection,
    id: Uuid,
    with_events: bool,
) -> Result<Option<Job>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT id, kind AS "kind: JobKind", status AS "status: JobStatus", hub_id, spoke_id,
           steps, next_step, attempts, last_error, run_after, created_at, updated_at, finished_at,
           CASE WHEN $2 THEN
             (SELECT COALESCE(jsonb_agg(jsonb_build_object('at', e.at, 'step', e.step,
                        'kind', e.kind, 'message', e.message) ORDER BY e.id), '[]'::jsonb)
              FROM job_events e WHERE e.job_id = j.id)
           END AS "events: sqlx::types::Json<Vec<JobEvent>>"
           FROM jobs j WHERE id = $1"#,
        id,
        with_events,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut job = JobRow {
        id: row.id,
        kind: row.kind,
        status: row.status,
        hub_id: row.hub_id,
        spoke_id: row.spoke_id,
        steps: row.steps,
        next_step: row.next_step,
        attempts: row.attempts,
        last_error: row.last_error,
        run_after: row.run_after,
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    }
    .into_model()?;
    job.events = row.events.map(|e| e.0);
    Ok(Some(job))
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    pub hub_id: Option<Uuid>,
    pub spoke_id: Option<Uuid>,
}

pub async fn job_list(
    pool: &PgPool,
    filter: &JobFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Job>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE true"));
    if let Some(s) = filter.status {
        q.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(k) = filter.kind {
        q.push(" AND kind = ").push_bind(k.as_str());
    }
    if let Some(h) = filter.hub_id {
        q.push(" AND hub_id = ").push_bind(h);
    }
    if let Some(s) = filter.spoke_id {
        q.push(" AND spoke_id = ").push_bind(s);
    }
    if let Some(a) = after {
        q.push(" AND id > ").push_bind(a);
    }
    q.push(" ORDER BY id LIMIT ").push_bind(limit);
    let rows: Vec<JobRow> = q.build_query_as().fetch_all(pool).await?;
    rows.into_iter().map(JobRow::into_model).collect()
}

/// Cancels a job that no runner has started yet (still `queued`, never claimed). A claim
/// takes the row lock and changes the status, so this cannot cancel a job being run.
pub async fn job_cancel_unstarted(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET status = 'canceled', last_error = $2, finished_at = now(), \
         updated_at = now() WHERE id = $1 AND status = 'queued' AND next_step = 0 \
         AND locked_by IS NULL",
        id,
        reason
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        job_event_insert(conn, id, None, "job_canceled", Some(reason)).await?;
    }
    Ok(done)
}

/// Puts a failed job back in the queue at its failed step. Returns false when it is not failed.
pub async fn job_requeue(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_after = now(), locked_by = NULL, \
         lease_until = NULL, waiting_since = NULL, finished_at = NULL, updated_at = now() \
         WHERE id = $1 AND status = 'failed'",
        id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        job_event_insert(conn, id, None, "job_retried", None).await?;
        notify(conn).await?;
    }
    Ok(done)
}

pub async fn job_event_insert(
    conn: &mut PgConnection,
    job_id: Uuid,
    step: Option<&str>,
    kind: &str,
    message: Option<&str>,
) -> Result<(), sqlx::Error> {
    // One round trip: the row and the wake-up of event streams (delivered at commit).
    sqlx::query!(
        "WITH e AS (INSERT INTO job_events (job_id, step, kind, message) VALUES ($1, $2, $3, $4)) \
         SELECT pg_notify($5, '')",
        job_id,
        step,
        kind,
        message,
        super::events::EVENTS_CHANNEL,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A job a runner holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub kind: JobKind,
    pub hub_id: Uuid,
    pub spoke_id: Option<Uuid>,
    pub steps: Vec<String>,
    pub next_step: i32,
    pub state: serde_json::Value,
    pub attempts: i32,
}

/// Claims the oldest runnable job, if any, for `lease_secs` seconds.
///
/// Per-hub ordering, so that jobs touching one hub's shared resources never interleave. A job
/// is *started* when it is `running` (holding a lease or waiting between runs: a deferred job
/// keeps its status) or was retried after failing part-way (`queued` with `next_step > 0`).
/// - a hub-level job (provision, service update, delete) runs alone: it waits for every started
///   unfinished job of its hub, and for earlier unfinished hub-level jobs;
/// - while a hub-level job is started and unfinished, no other job of its hub starts or resumes;
/// - a spoke job waits for earlier unfinished hub-level jobs of its hub and earlier unfinished
///   jobs of its spoke.
///
/// A hub-level job may overtake spoke jobs that have not started: those read the hub as it is
/// when they run.
///
/// Reconciles yield: every other runnable job is claimed before a reconcile, and a
/// `reconcile_hub` that has not started does not hold back the hub's later jobs (an attach
/// enqueued during a background pass overtakes it; once started, it runs alone like any
/// hub-level job). Claims are serialised by a transaction-scoped advisory lock (claims are
/// short), which makes these checks race-free.
pub async fn job_claim(
    pool: &PgPool,
    runner: Uuid,
    lease_secs: f64,
    spoke_jobs_per_hub: i64,
) -> Result<Option<ClaimedJob>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(727274001)")
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query!(
        "UPDATE jobs SET status = 'running', locked_by = $1, \
             lease_until = now() + make_interval(secs => $2), updated_at = now() \
         WHERE id = ( \
           SELECT j.id FROM jobs j \
           LEFT JOIN ( \
             SELECT hub_id, count(*) AS n FROM jobs \
             WHERE spoke_id IS NOT NULL AND status IN ('queued', 'running') \
               AND (status = 'running' OR next_step > 0) \
             GROUP BY hub_id) started ON started.hub_id = j.hub_id \
           WHERE j.status IN ('queued', 'running') AND j.run_after <= now() \
             AND (j.locked_by IS NULL OR j.lease_until < now()) \
             AND NOT (j.spoke_id IS NOT NULL AND j.status = 'queued' AND j.next_step = 0 \
                      AND coalesce(started.n, 0) >= $3) \
             AND NOT EXISTS ( \
               SELECT 1 FROM jobs o WHERE o.hub_id = j.hub_id AND o.id <> j.id \
                 AND o.status IN ('queued', 'running') AND ( \
                   (o.spoke_id IS NULL AND o.created_at < j.created_at \
                    AND NOT (o.kind = 'reconcile_hub' AND o.status = 'queued' \
                             AND o.next_step = 0)) \
                   OR (o.spoke_id IS NULL AND (o.status = 'running' OR o.next_step > 0)) \
                   OR (j.spoke_id IS NULL AND (o.status = 'running' OR o.next_step > 0)) \
                   OR (j.spoke_id IS NOT NULL AND o.spoke_id = j.spoke_id \
                       AND o.created_at < j.created_at))) \
           ORDER BY j.kind IN ('reconcile_hub', 'reconcile_spoke'), j.created_at, j.id \
           LIMIT 1 FOR UPDATE OF j SKIP LOCKED) \
         RETURNING id, kind AS \"kind: JobKind\", hub_id, spoke_id, steps, next_step, state, \
           attempts",
        runner,
        lease_secs,
        spoke_jobs_per_hub
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|r| ClaimedJob {
        id: r.id,
        kind: r.kind,
        hub_id: r.hub_id,
        spoke_id: r.spoke_id,
        steps: r.steps,
        next_step: r.next_step,
        state: r.state,
        attempts: r.attempts,
    }))
}

/// Extends the lease; false when the runner no longer holds the job.
pub async fn job_heartbeat(
    pool: &PgPool,
    id: Uuid,
    runner: Uuid,
    lease_secs: f64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3) \
         WHERE id = $1 AND locked_by = $2 AND status = 'running'",
        id,
        runner,
        lease_secs
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Records a finished step: its output in `state` and the next step's index. Fenced on the
/// lease holder (the row stays locked until the caller's transaction ends, so no other runner
/// can take the job over before the step's effects commit); false when the runner lost the job.
pub async fn job_checkpoint(
    conn: &mut PgConnection,
    id: Uuid,
    runner: Uuid,
    next_step: i32,
    state: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE jobs SET next_step = $3, state = $4, attempts = 0, last_error = NULL, \
         waiting_since = NULL, updated_at = now() WHERE id = $1 AND locked_by = $2",
        id,
        runner,
        next_step,
        state
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Releases the job to run again after `delay_secs` (a transient failure or a wait).
pub async fn job_defer(
    conn: &mut PgConnection,
    id: Uuid,
    runner: Uuid,
    delay_secs: f64,
    attempts: i32,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE jobs SET run_after = now() + make_interval(secs => $3), attempts = $4, \
         last_error = $5, locked_by = NULL, lease_until = NULL, updated_at = now() \
         WHERE id = $1 AND locked_by = $2",
        id,
        runner,
        delay_secs,
        attempts,
        error
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Notes that the current step waits (from now, unless it already did) and returns for how
/// long it has been waiting, in seconds; `None` when the runner lost the job.
pub async fn job_waiting(
    conn: &mut PgConnection,
    id: Uuid,
    runner: Uuid,
) -> Result<Option<f64>, sqlx::Error> {
    let row = sqlx::query_scalar!(
        "UPDATE jobs SET waiting_since = COALESCE(waiting_since, now()) \
         WHERE id = $1 AND locked_by = $2 \
         RETURNING extract(epoch FROM now() - waiting_since)::float8 AS \"waited!\"",
        id,
        runner
    )
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

/// Saves the job's state without moving on (what a step noted before it failed or paused).
pub async fn job_state_set(
    conn: &mut PgConnection,
    id: Uuid,
    runner: Uuid,
    state: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE jobs SET state = $3, updated_at = now() WHERE id = $1 AND locked_by = $2",
        id,
        runner,
        state
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Ends the job (`succeeded` or `failed`), fenced on the lease holder.
pub async fn job_finish(
    conn: &mut PgConnection,
    id: Uuid,
    runner: Uuid,
    status: JobStatus,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE jobs SET status = $3, last_error = $4, locked_by = NULL, lease_until = NULL, \
         waiting_since = NULL, finished_at = now(), updated_at = now() \
         WHERE id = $1 AND locked_by = $2",
        id,
        runner,
        status.as_str(),
        error
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Number of jobs not yet finished (for tests and metrics).
pub async fn job_unfinished_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM jobs WHERE status IN ('queued', 'running')")
        .fetch_one(pool)
        .await
}
