//! Drift: the differences reconcile jobs find (`drift_findings`, with audit rows and job
//! events), what is still open on each hub and spoke (their `drift` column), and the passes of
//! the background reconciler.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::model::{Difference, Drift, JobKind};

fn target_of(hub_id: Uuid, d: &Difference) -> String {
    match d.spoke_id {
        Some(s) => format!("spoke:{s}"),
        None => format!("hub:{hub_id}"),
    }
}

/// One `drift_findings` row, one audit row (`drift.found`) and one job event per difference.
pub async fn findings_insert(
    conn: &mut PgConnection,
    job_id: Uuid,
    hub_id: Uuid,
    differences: &[Difference],
) -> Result<(), sqlx::Error> {
    let spokes: Vec<Option<Uuid>> = differences.iter().map(|d| d.spoke_id).collect();
    let kinds: Vec<String> = differences.iter().map(|d| d.kind.to_string()).collect();
    let resources: Vec<String> = differences.iter().map(|d| d.resource.to_string()).collect();
    let keys: Vec<String> = differences.iter().map(|d| d.key.clone()).collect();
    let details: Vec<String> = differences.iter().map(|d| d.detail.clone()).collect();
    sqlx::query!(
        "INSERT INTO drift_findings (job_id, hub_id, spoke_id, kind, resource, key, detail) \
         SELECT $1, $2, * FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[]) \
         ON CONFLICT (job_id, key) DO NOTHING",
        job_id,
        hub_id,
        &spokes as &[Option<Uuid>],
        &kinds,
        &resources,
        &keys,
        &details,
    )
    .execute(&mut *conn)
    .await?;
    audit_and_events(
        conn,
        job_id,
        hub_id,
        differences,
        "drift.found",
        "drift_found",
    )
    .await
}

/// Marks findings of the job repaired, with an audit row (`drift.repaired`) and a job event
/// each.
pub async fn findings_repaired(
    conn: &mut PgConnection,
    job_id: Uuid,
    hub_id: Uuid,
    differences: &[Difference],
) -> Result<(), sqlx::Error> {
    let keys: Vec<String> = differences.iter().map(|d| d.key.clone()).collect();
    sqlx::query!(
        "UPDATE drift_findings SET repaired_at = now() \
         WHERE job_id = $1 AND key = ANY($2) AND repaired_at IS NULL",
        job_id,
        &keys,
    )
    .execute(&mut *conn)
    .await?;
    audit_and_events(
        conn,
        job_id,
        hub_id,
        differences,
        "drift.repaired",
        "drift_repaired",
    )
    .await
}

async fn audit_and_events(
    conn: &mut PgConnection,
    job_id: Uuid,
    hub_id: Uuid,
    differences: &[Difference],
    action: &str,
    event: &str,
) -> Result<(), sqlx::Error> {
    let targets: Vec<String> = differences.iter().map(|d| target_of(hub_id, d)).collect();
    let details: Vec<serde_json::Value> = differences
        .iter()
        .map(|d| serde_json::json!({ "job_id": job_id, "difference": d }))
        .collect();
    let messages: Vec<String> = differences
        .iter()
        .map(|d| format!("{} {}: {}", d.kind, d.resource, d.detail))
        .collect();
    sqlx::query!(
        "INSERT INTO audit_log (principal, action, target, outcome, detail) \
         SELECT 'system', $1, t, $2, d FROM unnest($3::text[], $4::jsonb[]) AS u(t, d)",
        action,
        event,
        &targets,
        &details,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO job_events (job_id, kind, message) SELECT $1, $2, unnest($3::text[])",
        job_id,
        event,
        &messages,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What is open on the hub (`spoke: None`) or on one of its spokes.
pub async fn drift_set(
    conn: &mut PgConnection,
    hub_id: Uuid,
    spoke: Option<Uuid>,
    drift: &Drift,
) -> Result<(), sqlx::Error> {
    let value = sqlx::types::Json(drift);
    match spoke {
        None => {
            sqlx::query!(
                "UPDATE hubs SET drift = $2 WHERE id = $1",
                hub_id,
                value as _
            )
            .execute(&mut *conn)
            .await?;
        }
        Some(s) => {
            sqlx::query!(
                "UPDATE spokes SET drift = $3 WHERE id = $1 AND hub_id = $2",
                s,
                hub_id,
                value as _
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Why a reconcile failed, on the drift of its spoke or, for a hub job, its hub; the
/// differences found earlier stay.
pub async fn drift_error_set(
    conn: &mut PgConnection,
    hub_id: Uuid,
    spoke: Option<Uuid>,
    message: &str,
) -> Result<(), sqlx::Error> {
    match spoke {
        None => {
            sqlx::query!(
                "UPDATE hubs SET drift = jsonb_build_object('checked_at', now(), \
                   'differences', COALESCE(drift -> 'differences', '[]'::jsonb), 'error', $2::text) \
                 WHERE id = $1",
                hub_id,
                message
            )
            .execute(&mut *conn)
            .await?;
        }
        Some(s) => {
            sqlx::query!(
                "UPDATE spokes SET drift = jsonb_build_object('checked_at', now(), \
                   'differences', COALESCE(drift -> 'differences', '[]'::jsonb), 'error', $2::text) \
                 WHERE id = $1",
                s,
                message
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// An unfinished reconcile job of the hub (or of the spoke), if any.
pub async fn reconcile_unfinished(
    conn: &mut PgConnection,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let kind = match spoke_id {
        None => JobKind::ReconcileHub,
        Some(_) => JobKind::ReconcileSpoke,
    };
    sqlx::query_scalar!(
        "SELECT id FROM jobs WHERE hub_id = $1 AND spoke_id IS NOT DISTINCT FROM $2 \
           AND kind = $3 AND status IN ('queued', 'running') \
         ORDER BY created_at LIMIT 1",
        hub_id,
        spoke_id,
        kind.as_str()
    )
    .fetch_optional(conn)
    .await
}

/// Starts a background pass unless one started less than `interval_secs` ago (whichever
/// process gets here first in an interval starts it): the pass's id, or `None`.
pub async fn pass_start(
    conn: &mut PgConnection,
    interval_secs: f64,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock(727274002)")
        .execute(&mut *conn)
        .await?;
    let id = Uuid::now_v7();
    let started = sqlx::query_scalar!(
        "INSERT INTO reconcile_passes (id) SELECT $1 WHERE NOT EXISTS ( \
           SELECT 1 FROM reconcile_passes \
           WHERE started_at > now() - make_interval(secs => $2)) \
         RETURNING id",
        id,
        interval_secs
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(started)
}

pub async fn pass_jobs_set(
    conn: &mut PgConnection,
    pass: Uuid,
    jobs: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE reconcile_passes SET jobs = $2 WHERE id = $1",
        pass,
        jobs
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Drift counters and gauges for `/metrics`.
pub struct DriftMetrics {
    /// (kind, resource, found, repaired)
    pub findings: Vec<(String, String, i64, i64)>,
    /// Conflicts open on hubs and spokes, by resource.
    pub conflicts_open: Vec<(String, i64)>,
    /// Seconds from the start of the last finished pass to its last job's end.
    pub last_pass_seconds: Option<f64>,
    /// Hubs and spokes with differences open.
    pub drifted: i64,
}

pub async fn metrics(pool: &PgPool) -> Result<DriftMetrics, sqlx::Error> {
    let findings = sqlx::query!(
        r#"SELECT kind AS "kind!", resource AS "resource!", count(*) AS "found!",
             count(repaired_at) AS "repaired!"
           FROM drift_findings GROUP BY kind, resource ORDER BY kind, resource"#
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.resource, r.found, r.repaired))
    .collect();
    let conflicts_open = sqlx::query!(
        r#"SELECT d ->> 'resource' AS "resource!", count(*) AS "n!"
           FROM (SELECT drift FROM hubs WHERE status <> 'deleted'
                 UNION ALL SELECT drift FROM spokes WHERE status <> 'detached') s,
                jsonb_array_elements(COALESCE(s.drift -> 'differences', '[]'::jsonb)) d
           WHERE d ->> 'kind' = 'conflict'
           GROUP BY 1 ORDER BY 1"#
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.resource, r.n))
    .collect();
    let last_pass_seconds = sqlx::query_scalar!(
        r#"SELECT EXTRACT(EPOCH FROM (max(j.finished_at) - p.started_at))::float8 AS "secs"
           FROM reconcile_passes p JOIN jobs j ON j.id = ANY(p.jobs)
           WHERE cardinality(p.jobs) > 0
           GROUP BY p.id, p.started_at
           HAVING bool_and(j.status IN ('succeeded', 'failed', 'canceled'))
           ORDER BY p.started_at DESC LIMIT 1"#
    )
    .fetch_optional(pool)
    .await?
    .flatten();
    let drifted = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
             SELECT drift FROM hubs WHERE status <> 'deleted'
             UNION ALL SELECT drift FROM spokes WHERE status <> 'detached') s
           WHERE jsonb_array_length(COALESCE(s.drift -> 'differences', '[]'::jsonb)) > 0"#
    )
    .fetch_one(pool)
    .await?;
    Ok(DriftMetrics {
        findings,
        conflicts_open,
        last_pass_seconds,
        drifted,
    })
}
