//! Route 53 pacing shared by every process on one database (table `pace_buckets`).
//!
//! Each reservation is one statement: it refills the request's two buckets (the account's and
//! the operation's) from the time elapsed on the database's clock, takes a token from each
//! (going into debt when empty) and returns what is left; the caller waits until the refill has
//! paid its debt. The rows are locked for that statement only, always in key order, so
//! reservations from any number of processes queue up without deadlocks and never hand out
//! more than the buckets allow.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;

use crate::cloud::pacing::{LocalPacer, Pacer, Route53Bucket, debt_wait, route53_buckets};
use crate::domain::AccountId;

#[derive(Debug)]
pub struct PgPacer {
    pool: PgPool,
    share: f64,
    /// Used while the database cannot be reached: this process alone stays within the budget.
    fallback: LocalPacer,
}

impl PgPacer {
    /// Paces to `share` of the published limits (1.0: all of them).
    pub fn new(pool: PgPool, share: f64) -> PgPacer {
        PgPacer {
            pool,
            share,
            fallback: LocalPacer::new(share),
        }
    }

    async fn reserve_in_db(
        &self,
        account: &AccountId,
        bucket: Route53Bucket,
    ) -> Result<Duration, sqlx::Error> {
        let buckets = route53_buckets(account, bucket, self.share);
        let keys: Vec<String> = buckets.iter().map(|(k, _)| k.clone()).collect();
        let bursts: Vec<f64> = buckets.iter().map(|(_, l)| l.burst).collect();
        let rates: Vec<f64> = buckets.iter().map(|(_, l)| l.per_second).collect();
        let rows = sqlx::query!(
            r#"
            INSERT INTO pace_buckets AS b (key, burst, per_second, tokens, refilled_at)
            SELECT k, c, r, c - 1, clock_timestamp()
            FROM unnest($1::text[], $2::float8[], $3::float8[]) WITH ORDINALITY AS t(k, c, r, n)
            ORDER BY n
            ON CONFLICT (key) DO UPDATE SET
                burst = EXCLUDED.burst,
                per_second = EXCLUDED.per_second,
                tokens = LEAST(EXCLUDED.burst, b.tokens + EXCLUDED.per_second
                    * EXTRACT(EPOCH FROM clock_timestamp() - b.refilled_at)::float8) - 1,
                refilled_at = clock_timestamp()
            RETURNING tokens, per_second
            "#,
            &keys,
            &bursts,
            &rates,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| debt_wait(r.tokens, r.per_second))
            .max()
            .unwrap_or_default())
    }
}

#[async_trait]
impl Pacer for PgPacer {
    async fn reserve(&self, account: &AccountId, bucket: Route53Bucket) -> Duration {
        match self.reserve_in_db(account, bucket).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, %account, "route 53 pacing: the database cannot be reached; pacing this process alone");
                self.fallback.reserve(account, bucket).await
            }
        }
    }
}
