//! Idempotency keys: the first request with a key stores its answer in the same transaction as
//! its work; later requests with the same key get that answer back.

use sqlx::PgConnection;

/// A stored answer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SavedResponse {
    pub request_hash: String,
    pub status_code: i32,
    pub response: sqlx::types::Json<serde_json::Value>,
    pub location: Option<String>,
}

/// Tries to take the key inside the caller's transaction. `true`: the caller owns it and must
/// [`idempotency_save`] before committing. `false`: another request already used it (a concurrent
/// one blocks here until the first commits or rolls back).
pub async fn idempotency_begin(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    request_hash: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response) \
         VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(principal)
    .bind(key)
    .bind(request_hash)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn idempotency_save(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    status_code: u16,
    response: &serde_json::Value,
    location: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response = $4, location = $5 \
         WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .bind(i32::from(status_code))
    .bind(sqlx::types::Json(response))
    .bind(location)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn idempotency_get(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
) -> Result<Option<SavedResponse>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, status_code, response, location FROM idempotency_keys \
         WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .fetch_optional(conn)
    .await
}
