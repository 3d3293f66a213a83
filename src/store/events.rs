//! The event stream behind `GET /v1/events`: job events in commit-safe order.
//!
//! Events are ordered by `(txid, id)` (the inserting transaction's id, then the row id) and a
//! read returns only events of transactions older than every transaction still running
//! (`pg_snapshot_xmin`). Those are final: no event can appear later before them, so a reader
//! that resumes after the last `(txid, id)` it saw misses nothing (migration 0009 explains why a
//! bigserial alone cannot promise that).

use sqlx::PgPool;
use uuid::Uuid;

use crate::model::{EventCursor, JobKind, JobStatus, StreamEvent};

/// The channel `NOTIFY`d when a job event is written (at commit).
pub const EVENTS_CHANNEL: &str = "endpoint_hub_events";

/// Which events a reader wants; `None` is any.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub hub_id: Option<Uuid>,
    pub spoke_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
}

/// Where a stream that starts now begins: after every event of a finished transaction, with the
/// snapshot of this moment, whose visible events (committed before now, although after an
/// older transaction still running) the stream leaves out too.
pub async fn events_now(pool: &PgPool) -> Result<(EventCursor, String), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS "xmin!",
            pg_current_snapshot()::text AS "snapshot!""#
    )
    .fetch_one(pool)
    .await?;
    Ok((
        EventCursor {
            txid: row.xmin - 1,
            id: i64::MAX,
        },
        row.snapshot,
    ))
}

/// Up to `limit` final events after `after` that match `filter`, in stream order, with their
/// job's kind, hub, spoke and progress as it is now.
///
/// `not_in`: a snapshot from [`events_now`]; events visible in it are left out.
pub async fn events_after(
    pool: &PgPool,
    after: EventCursor,
    not_in: Option<&str>,
    filter: EventFilter,
    limit: i64,
) -> Result<Vec<StreamEvent>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT e.txid, e.id, e.job_id, e.at, e.step, e.kind, e.message,
            j.kind AS "job_kind: JobKind", j.status AS "job_status: JobStatus", j.hub_id,
            j.spoke_id, j.next_step, cardinality(j.steps) AS "steps_total!"
        FROM job_events e JOIN jobs j ON j.id = e.job_id
        WHERE (e.txid, e.id) > ($1, $2)
          AND e.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
          AND ($3::uuid IS NULL OR j.hub_id = $3)
          AND ($4::uuid IS NULL OR j.spoke_id = $4)
          AND ($5::uuid IS NULL OR e.job_id = $5)
          AND ($7::text IS NULL
               OR NOT pg_visible_in_snapshot(e.txid::text::xid8, $7::text::pg_snapshot))
        ORDER BY e.txid, e.id
        LIMIT $6"#,
        after.txid,
        after.id,
        filter.hub_id,
        filter.spoke_id,
        filter.job_id,
        limit,
        not_in,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StreamEvent {
            cursor: EventCursor {
                txid: r.txid,
                id: r.id,
            },
            job_id: r.job_id,
            job_kind: r.job_kind,
            hub_id: r.hub_id,
            spoke_id: r.spoke_id,
            step: r.step,
            kind: r.kind,
            message: r.message,
            at: r.at,
            job_status: r.job_status,
            steps_done: r.next_step,
            steps_total: r.steps_total,
        })
        .collect())
}
