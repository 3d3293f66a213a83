//! API tokens: only a SHA-256 of the secret is stored; the secret is shown once, at creation.

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::model::{Principal, Scope, TokenInfo};

/// The channel `NOTIFY`d when a token is revoked: services empty their token caches.
pub const TOKENS_CHANNEL: &str = "endpoint_hub_tokens";

/// Hex SHA-256 of a token secret.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a token and returns its secret (`eh_` + 256 random bits in hex).
pub async fn token_create(
    conn: &mut PgConnection,
    name: &str,
    scopes: &[Scope],
) -> Result<String, sqlx::Error> {
    let secret = format!("eh_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    sqlx::query!(
        "INSERT INTO api_tokens (id, name, hash, scopes) VALUES ($1, $2, $3, $4)",
        Uuid::now_v7(),
        name,
        token_hash(&secret),
        scopes as &[Scope],
    )
    .execute(conn)
    .await?;
    Ok(secret)
}

pub async fn token_list(pool: &PgPool) -> Result<Vec<TokenInfo>, sqlx::Error> {
    sqlx::query_as!(
        TokenInfo,
        r#"SELECT id, name, scopes AS "scopes: Vec<Scope>", created_at, revoked_at
        FROM api_tokens ORDER BY name"#
    )
    .fetch_all(pool)
    .await
}

/// Revokes a token by name; false when there is no live token of that name.
///
/// Tells every running service (`NOTIFY`, at commit) to forget the tokens it has cached.
pub async fn token_revoke(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
        name
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    sqlx::query!("SELECT pg_notify($1, '')", TOKENS_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// The principal of a live token whose secret hashes to `hash` ([`token_hash`]).
pub async fn token_verify_hash(
    pool: &PgPool,
    hash: &str,
) -> Result<Option<Principal>, sqlx::Error> {
    sqlx::query_as!(
        Principal,
        r#"SELECT name, scopes AS "scopes: Vec<Scope>" FROM api_tokens
        WHERE hash = $1 AND revoked_at IS NULL"#,
        hash,
    )
    .fetch_optional(pool)
    .await
}
