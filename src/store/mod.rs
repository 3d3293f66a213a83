//! The datastore: every SQL statement of the service lives under this module.
//!
//! Functions are named resource-first (`spoke_insert`, `job_claim`). Writes take a
//! `&mut PgConnection` so callers can run several of them in one transaction; reads take the pool.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub mod audit;
pub mod drift;
pub mod effects;
pub mod events;
pub mod hubs;
pub mod idempotency;
pub mod jobs;
pub mod orphans;
pub mod pacing;
pub mod spokes;
pub mod tokens;
pub mod topology;

/// Opens a pool and applies the embedded migrations.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    // A connection idle for a while is pinged before use (it may have died with a database
    // restart); one in steady use is not, which spares every request a round trip.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > std::time::Duration::from_secs(2) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    Ok(pool)
}

/// Applies every pending migration in `migrations/` (embedded at build time).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
}

/// True when the database answers and every embedded migration has been applied.
pub async fn ready(pool: &PgPool) -> bool {
    let migrator = sqlx::migrate!("./migrations");
    let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = sqlx::query_scalar!("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await;
    matches!(applied, Ok(Some(v)) if v >= latest)
}

/// The name of the constraint a query violated, when its SQLSTATE is `code`
/// (`23505` unique, `23P01` exclusion, `23503` foreign key).
pub fn violated_constraint(err: &sqlx::Error, code: &str) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(code) => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}
