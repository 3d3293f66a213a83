//! API tokens: only a SHA-256 of the secret is stored; the secret is shown once, at creation.

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::model::{Principal, Scope, TokenInfo};

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
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    sqlx::query("INSERT INTO api_tokens (id, name, hash, scopes) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(token_hash(&secret))
        .bind(&scopes)
        .execute(conn)
        .await?;
    Ok(secret)
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn token_list(pool: &PgPool) -> Result<Vec<TokenInfo>, sqlx::Error> {
    let rows: Vec<TokenRow> = sqlx::query_as(
        "SELECT id, name, scopes, created_at, revoked_at FROM api_tokens ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(TokenInfo {
                id: r.id,
                name: r.name,
                scopes: r
                    .scopes
                    .iter()
                    .map(|s| super::parse_col("scopes", s))
                    .collect::<Result<_, _>>()?,
                created_at: r.created_at,
                revoked_at: r.revoked_at,
            })
        })
        .collect()
}

/// Revokes a token by name; false when there is no live token of that name.
pub async fn token_revoke(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
    )
    .bind(name)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// The principal of a live token with this secret.
pub async fn token_verify(pool: &PgPool, secret: &str) -> Result<Option<Principal>, sqlx::Error> {
    let row: Option<(String, Vec<String>)> = sqlx::query_as(
        "SELECT name, scopes FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash(secret))
    .fetch_optional(pool)
    .await?;
    row.map(|(name, scopes)| {
        Ok(Principal {
            name,
            scopes: scopes
                .iter()
                .map(|s| super::parse_col("scopes", s))
                .collect::<Result<_, _>>()?,
        })
    })
    .transpose()
}
