//! The audit log (API mutations) and the record of mutating AWS calls. Both tables are
//! append-only: the database rejects UPDATE and DELETE.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::cloud::{CallRecord, CallRecorder};
use crate::model::{AuditEntry, CloudCall};

#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub principal: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub outcome: &'a str,
    pub detail: Option<serde_json::Value>,
}

pub async fn audit_insert(
    conn: &mut PgConnection,
    entry: &NewAudit<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_log (principal, action, target, request_id, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        entry.principal,
        entry.action,
        entry.target,
        entry.request_id,
        entry.outcome,
        entry.detail,
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub target: Option<String>,
    pub principal: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    principal: String,
    action: String,
    target: Option<String>,
    request_id: Option<String>,
    outcome: String,
    detail: Option<sqlx::types::Json<serde_json::Value>>,
}

/// Newest first; `before` is the id of the last entry of the previous page.
pub async fn audit_list(
    pool: &PgPool,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT id, at, principal, action, target, request_id, outcome, detail FROM audit_log WHERE true",
    );
    if let Some(t) = &filter.target {
        q.push(" AND target = ").push_bind(t.clone());
    }
    if let Some(p) = &filter.principal {
        q.push(" AND principal = ").push_bind(p.clone());
    }
    if let Some(a) = &filter.action {
        q.push(" AND action = ").push_bind(a.clone());
    }
    if let Some(s) = filter.since {
        q.push(" AND at >= ").push_bind(s);
    }
    if let Some(u) = filter.until {
        q.push(" AND at < ").push_bind(u);
    }
    if let Some(b) = before {
        q.push(" AND id < ").push_bind(b);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    let rows: Vec<AuditRow> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            principal: r.principal,
            action: r.action,
            target: r.target,
            request_id: r.request_id,
            outcome: r.outcome,
            detail: r.detail.map(|d| d.0),
        })
        .collect())
}

pub async fn cloud_call_insert(pool: &PgPool, r: &CallRecord) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO cloud_calls (account_id, region, operation, resource_id, outcome, \
         aws_request_id, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        r.account.as_str(),
        r.region.as_str(),
        r.operation,
        r.resource_id,
        r.outcome,
        r.request_id,
        r.job_id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn cloud_call_list(
    pool: &PgPool,
    job_id: Option<Uuid>,
) -> Result<Vec<CloudCall>, sqlx::Error> {
    sqlx::query_as!(
        CloudCall,
        "SELECT id, at, account_id, region, operation, resource_id, outcome, aws_request_id, job_id \
         FROM cloud_calls WHERE ($1::uuid IS NULL OR job_id = $1) ORDER BY id",
        job_id,
    )
    .fetch_all(pool)
    .await
}

/// Writes every mutating cloud call to `cloud_calls`. A failed write is logged, not fatal:
/// the AWS call has already happened and the job must go on.
pub struct DbRecorder(pub PgPool);

#[async_trait]
impl CallRecorder for DbRecorder {
    async fn record(&self, record: CallRecord) {
        // The AWS call has happened: keep trying for a while (a database restart takes seconds)
        // before giving up on the record.
        let mut delay = std::time::Duration::from_millis(100);
        for attempt in 1..=10 {
            match cloud_call_insert(&self.0, &record).await {
                Ok(()) => return,
                Err(e) if attempt == 10 => {
                    tracing::error!(error = %e, operation = record.operation, account = %record.account,
                        resource = ?record.resource_id, request_id = ?record.request_id,
                        "cannot record a cloud call; giving up");
                }
                Err(e) => {
                    tracing::warn!(error = %e, operation = record.operation, "cannot record a cloud call yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
            }
        }
    }
}

/// Counts for the Prometheus endpoint: (metric, label name, label value, count).
pub async fn metrics_counts(
    pool: &PgPool,
) -> Result<Vec<(String, String, String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT 'endpoint_hub_hubs' AS "metric!", 'status' AS "label!", status AS "value!",
            count(*) AS "count!" FROM hubs GROUP BY status
        UNION ALL SELECT 'endpoint_hub_spokes', 'status', status, count(*) FROM spokes GROUP BY status
        UNION ALL SELECT 'endpoint_hub_jobs', 'status', kind || ':' || status, count(*) FROM jobs
            GROUP BY kind, status"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.metric, r.label, r.value, r.count))
        .collect())
}
