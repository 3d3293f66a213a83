//! Idempotency keys: the first request with a key stores its answer in the same transaction as
//! its work; later requests with the same key get that answer back until the key expires. An
//! expired key is free again: the next request with it is processed afresh (its row replaced).
//! Expired rows are purged, a batch at a time, whenever a key is taken.

use std::time::Duration;

use sqlx::PgConnection;

/// How long a key answers retries when not configured otherwise (`EH_IDEMPOTENCY_TTL_SECS`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Expired rows deleted at most per key taken (enough to keep up: each take adds one row).
const PURGE_BATCH: i64 = 100;

/// A stored answer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SavedResponse {
    pub request_hash: String,
    pub status_code: i32,
    pub response: sqlx::types::Json<serde_json::Value>,
    pub location: Option<String>,
}

/// [`idempotency_begin_ttl`] with the [`DEFAULT_TTL`].
pub async fn idempotency_begin(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    request_hash: &str,
) -> Result<bool, sqlx::Error> {
    idempotency_begin_ttl(conn, principal, key, request_hash, DEFAULT_TTL).await
}

/// Tries to take the key, for `ttl`, inside the caller's transaction. `true`: the caller owns it
/// and must [`idempotency_save`] before committing. `false`: another request already used it and
/// it has not expired (a concurrent one blocks here until the first commits or rolls back).
pub async fn idempotency_begin_ttl(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    request_hash: &str,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    idempotency_purge(conn).await?;
    Ok(sqlx::query!(
        "INSERT INTO idempotency_keys \
             (principal, key, request_hash, status_code, response, expires_at) \
         VALUES ($1, $2, $3, 0, 'null', now() + make_interval(secs => $4)) \
         ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
             status_code = 0, response = 'null', location = NULL, created_at = now(), \
             expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= now()",
        principal,
        key,
        request_hash,
        ttl.as_secs_f64(),
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Deletes up to [`PURGE_BATCH`] expired keys, skipping any another transaction holds.
async fn idempotency_purge(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM idempotency_keys WHERE (principal, key) IN ( \
             SELECT principal, key FROM idempotency_keys WHERE expires_at <= now() \
             ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
        PURGE_BATCH,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn idempotency_save(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    status_code: u16,
    response: &serde_json::Value,
    location: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE idempotency_keys SET status_code = $3, response = $4, location = $5 \
         WHERE principal = $1 AND key = $2",
        principal,
        key,
        i32::from(status_code),
        response,
        location,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The answer saved under a key that has not expired.
pub async fn idempotency_get(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
) -> Result<Option<SavedResponse>, sqlx::Error> {
    sqlx::query_as!(
        SavedResponse,
        r#"SELECT request_hash, status_code,
            response AS "response: sqlx::types::Json<serde_json::Value>", location
        FROM idempotency_keys
        WHERE principal = $1 AND key = $2 AND expires_at > now()"#,
        principal,
        key,
    )
    .fetch_optional(conn)
    .await
}
