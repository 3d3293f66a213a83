//! Client-side pacing of Route 53 requests to AWS's published token buckets.
//!
//! Route 53 throttles per account (Developer Guide, "Throttling for Amazon Route 53 API
//! requests"): every request takes a token from the account's bucket (burst 50, 10 per second)
//! and one from its operation's bucket ([`Route53Bucket`]). A throttled request costs a retry
//! with backoff, and a storm of them starves every job of the account; so each request first
//! reserves its slot from a [`Pacer`] and waits until then.
//!
//! The budget is per account for every caller together, so the pacer that matters is shared by
//! every process of a deployment: `store::pacing::PgPacer` keeps the buckets in PostgreSQL.
//! [`LocalPacer`] keeps them in memory, for one process (and as the fallback when the database
//! cannot be reached). The AWS implementation paces each HTTP request, the SDK's own retries
//! included (`aws::paced_http`); [`PacedDns`] paces each call of any other [`Dns`]
//! implementation (the simulated cloud, where one call is one request).
//!
//! Reservations follow the token-bucket arithmetic with debt: a request takes a token even when
//! the bucket is empty and waits until the refill has paid the debt back. Requests therefore
//! reach AWS no earlier than the bucket allows (a late one only makes room), in the order they
//! reserved.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{AliasRecord, CallCx, CloudResult, Dns, ZoneInfo, ZoneVpc};
use crate::domain::{AccountId, HostedZoneId};

/// A token bucket's size: how many requests at once, and how many per second after that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLimits {
    pub burst: f64,
    pub per_second: f64,
}

impl BucketLimits {
    /// `share` of these limits (a deployment that leaves room for other callers of the account).
    pub fn scaled(self, share: f64) -> BucketLimits {
        BucketLimits {
            burst: (self.burst * share).max(1.0),
            per_second: self.per_second * share,
        }
    }
}

/// Route 53's token buckets besides the account's: the published per-operation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route53Bucket {
    AssociateVpc,
    DisassociateVpc,
    CreateZone,
    DeleteZone,
    /// Every other operation (each has its own bucket of this size; sharing one is stricter).
    Other,
}

/// The bucket every request of an account takes a token from.
pub const ROUTE53_ACCOUNT_LIMITS: BucketLimits = BucketLimits {
    burst: 50.0,
    per_second: 10.0,
};

impl Route53Bucket {
    pub const fn limits(self) -> BucketLimits {
        let (burst, per_second) = match self {
            Route53Bucket::AssociateVpc => (20.0, 5.0),
            Route53Bucket::DisassociateVpc => (10.0, 5.0),
            Route53Bucket::CreateZone => (40.0, 2.0),
            Route53Bucket::DeleteZone => (40.0, 5.0),
            Route53Bucket::Other => (50.0, 10.0),
        };
        BucketLimits { burst, per_second }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Route53Bucket::AssociateVpc => "AssociateVPCWithHostedZone",
            Route53Bucket::DisassociateVpc => "DisassociateVPCFromHostedZone",
            Route53Bucket::CreateZone => "CreateHostedZone",
            Route53Bucket::DeleteZone => "DeleteHostedZone",
            Route53Bucket::Other => "other",
        }
    }

    /// The bucket of an operation, by its API name.
    pub fn of_operation(operation: &str) -> Route53Bucket {
        match operation {
            "AssociateVPCWithHostedZone" => Route53Bucket::AssociateVpc,
            "DisassociateVPCFromHostedZone" => Route53Bucket::DisassociateVpc,
            "CreateHostedZone" => Route53Bucket::CreateZone,
            "DeleteHostedZone" => Route53Bucket::DeleteZone,
            _ => Route53Bucket::Other,
        }
    }

    /// The bucket of a Route 53 REST request, from its method and URI or path
    /// (`POST https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/associatevpc`).
    pub fn of_request(method: &str, uri: &str) -> Route53Bucket {
        let path = match uri.find("://") {
            Some(i) => uri[i + 3..].find('/').map_or("", |j| &uri[i + 3 + j..]),
            None => uri,
        };
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // `/{api version}/hostedzone[/{id}[/{action}]]`
        let tail = match segments.as_slice() {
            [_, "hostedzone", rest @ ..] => rest,
            _ => return Route53Bucket::Other,
        };
        match (method.to_ascii_uppercase().as_str(), tail) {
            ("POST", [_, "associatevpc"]) => Route53Bucket::AssociateVpc,
            ("POST", [_, "disassociatevpc"]) => Route53Bucket::DisassociateVpc,
            ("POST", []) => Route53Bucket::CreateZone,
            ("DELETE", [_]) => Route53Bucket::DeleteZone,
            _ => Route53Bucket::Other,
        }
    }
}

/// The two buckets one request of `bucket` in `account` takes a token from, in a fixed order
/// (by key), each with its key and its limits scaled by `share`.
pub fn route53_buckets(
    account: &AccountId,
    bucket: Route53Bucket,
    share: f64,
) -> [(String, BucketLimits); 2] {
    [
        (
            format!("route53:{account}"),
            ROUTE53_ACCOUNT_LIMITS.scaled(share),
        ),
        (
            format!("route53:{account}:{}", bucket.name()),
            bucket.limits().scaled(share),
        ),
    ]
}

/// Hands out request slots.
#[async_trait]
pub trait Pacer: Send + Sync + std::fmt::Debug {
    /// Reserves a slot for one Route 53 request of `bucket` in `account`: how long to wait
    /// before sending it.
    async fn reserve(&self, account: &AccountId, bucket: Route53Bucket) -> Duration;
}

/// Reserves a slot and waits for it.
pub async fn pace(pacer: &dyn Pacer, account: &AccountId, bucket: Route53Bucket) {
    let wait = pacer.reserve(account, bucket).await;
    crate::metrics::pacing_wait(bucket.name(), wait);
    if !wait.is_zero() {
        tracing::trace!(%account, bucket = bucket.name(), ?wait, "route 53 pacing");
        tokio::time::sleep(wait).await;
    }
}

/// The tokens of a bucket after taking one, `elapsed` seconds after it last held `tokens`, and
/// how long the taker waits (the debt divided by the refill rate).
pub fn bucket_take(tokens: f64, elapsed_secs: f64, limits: BucketLimits) -> (f64, Duration) {
    let tokens = (tokens + elapsed_secs.max(0.0) * limits.per_second).min(limits.burst) - 1.0;
    (tokens, debt_wait(tokens, limits.per_second))
}

/// How long until a bucket holding `tokens` (negative: debt) is back at zero.
pub fn debt_wait(tokens: f64, per_second: f64) -> Duration {
    if tokens >= 0.0 || per_second <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(-tokens / per_second)
}

/// Buckets in this process's memory: right for one process only.
#[derive(Debug)]
pub struct LocalPacer {
    share: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl LocalPacer {
    /// Paces to `share` of the published limits (1.0: all of them).
    pub fn new(share: f64) -> LocalPacer {
        LocalPacer {
            share,
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Pacer for LocalPacer {
    async fn reserve(&self, account: &AccountId, bucket: Route53Bucket) -> Duration {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for (key, limits) in route53_buckets(account, bucket, self.share) {
            let (tokens, at) = map.entry(key).or_insert((limits.burst, now));
            let elapsed = now.saturating_duration_since(*at).as_secs_f64();
            let (left, w) = bucket_take(*tokens, elapsed, limits);
            *tokens = left;
            *at = now;
            wait = wait.max(w);
        }
        wait
    }
}

/// No pacing at all (`EH_ROUTE53_PACING=0`).
#[derive(Debug)]
pub struct NoPacing;

#[async_trait]
impl Pacer for NoPacing {
    async fn reserve(&self, _: &AccountId, _: Route53Bucket) -> Duration {
        Duration::ZERO
    }
}

/// Paces every call of a [`Dns`] implementation in which one call is one request.
pub struct PacedDns {
    inner: Arc<dyn Dns>,
    pacer: Arc<dyn Pacer>,
}

impl PacedDns {
    pub fn new(inner: Arc<dyn Dns>, pacer: Arc<dyn Pacer>) -> PacedDns {
        PacedDns { inner, pacer }
    }

    async fn turn(&self, cx: &CallCx, bucket: Route53Bucket) {
        pace(self.pacer.as_ref(), &cx.account, bucket).await;
    }
}

#[async_trait]
impl Dns for PacedDns {
    async fn zone_find(
        &self,
        cx: &CallCx,
        caller_reference: &str,
    ) -> CloudResult<Option<ZoneInfo>> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.zone_find(cx, caller_reference).await
    }
    async fn zone_get(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<Option<ZoneInfo>> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.zone_get(cx, id).await
    }
    async fn zone_create(
        &self,
        cx: &CallCx,
        name: &str,
        vpc: &ZoneVpc,
        caller_reference: &str,
    ) -> CloudResult<ZoneInfo> {
        self.turn(cx, Route53Bucket::CreateZone).await;
        self.inner
            .zone_create(cx, name, vpc, caller_reference)
            .await
    }
    async fn zone_delete(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<()> {
        self.turn(cx, Route53Bucket::DeleteZone).await;
        self.inner.zone_delete(cx, id).await
    }
    async fn alias_records_upsert(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        records: &[AliasRecord],
    ) -> CloudResult<()> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.alias_records_upsert(cx, zone, records).await
    }
    async fn alias_records_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<AliasRecord>> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.alias_records_list(cx, zone).await
    }
    async fn association_authorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.association_authorize(cx, zone, vpc).await
    }
    async fn association_deauthorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.association_deauthorize(cx, zone, vpc).await
    }
    async fn association_authorizations_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<ZoneVpc>> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.association_authorizations_list(cx, zone).await
    }
    async fn vpc_associate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx, Route53Bucket::AssociateVpc).await;
        self.inner.vpc_associate(cx, zone, vpc).await
    }
    async fn vpc_disassociate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx, Route53Bucket::DisassociateVpc).await;
        self.inner.vpc_disassociate(cx, zone, vpc).await
    }
    async fn zones_by_vpc(&self, cx: &CallCx, vpc: &ZoneVpc) -> CloudResult<Vec<HostedZoneId>> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.zones_by_vpc(cx, vpc).await
    }
    async fn zones_list(&self, cx: &CallCx) -> CloudResult<Vec<ZoneInfo>> {
        self.turn(cx, Route53Bucket::Other).await;
        self.inner.zones_list(cx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_their_published_buckets() {
        let cases = [
            (
                "POST",
                "/2013-04-01/hostedzone/Z123/associatevpc",
                Route53Bucket::AssociateVpc,
            ),
            (
                "POST",
                "/2013-04-01/hostedzone/Z123/disassociatevpc",
                Route53Bucket::DisassociateVpc,
            ),
            ("POST", "/2013-04-01/hostedzone", Route53Bucket::CreateZone),
            (
                "DELETE",
                "/2013-04-01/hostedzone/Z123",
                Route53Bucket::DeleteZone,
            ),
            ("GET", "/2013-04-01/hostedzone/Z123", Route53Bucket::Other),
            (
                "GET",
                "/2013-04-01/hostedzone?maxitems=100",
                Route53Bucket::Other,
            ),
            (
                "POST",
                "/2013-04-01/hostedzone/Z123/rrset",
                Route53Bucket::Other,
            ),
            (
                "POST",
                "/2013-04-01/hostedzone/Z123/authorizevpcassociation",
                Route53Bucket::Other,
            ),
            (
                "POST",
                "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/associatevpc",
                Route53Bucket::AssociateVpc,
            ),
            (
                "DELETE",
                "http://127.0.0.1:4566/2013-04-01/hostedzone/Z1",
                Route53Bucket::DeleteZone,
            ),
            (
                "POST",
                "http://127.0.0.1:4566/2013-04-01/hostedzone",
                Route53Bucket::CreateZone,
            ),
            (
                "GET",
                "/2013-04-01/hostedzonesbyvpc?vpcid=vpc-1",
                Route53Bucket::Other,
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(
                Route53Bucket::of_request(method, path),
                want,
                "{method} {path}"
            );
            assert_eq!(Route53Bucket::of_operation(want.name()), want);
        }
    }

    #[test]
    fn a_bucket_lends_and_the_debt_is_waited_out() {
        let limits = BucketLimits {
            burst: 2.0,
            per_second: 4.0,
        };
        let (t, w) = bucket_take(2.0, 0.0, limits);
        assert_eq!((t, w), (1.0, Duration::ZERO));
        let (t, w) = bucket_take(t, 0.0, limits);
        assert_eq!((t, w), (0.0, Duration::ZERO));
        let (t, w) = bucket_take(t, 0.0, limits);
        assert_eq!((t, w), (-1.0, Duration::from_millis(250)));
        // Refill never exceeds the burst.
        let (t, _) = bucket_take(t, 100.0, limits);
        assert_eq!(t, 1.0);
    }

    #[tokio::test]
    async fn local_pacer_spaces_requests_past_the_burst() {
        let pacer = LocalPacer::new(1.0);
        let account: AccountId = "111111111111".parse().unwrap();
        let mut waits = Vec::new();
        for _ in 0..25 {
            waits.push(
                pacer
                    .reserve(&account, Route53Bucket::DisassociateVpc)
                    .await,
            );
        }
        // DisassociateVPCFromHostedZone: burst 10, then 5 per second.
        assert!(waits[..10].iter().all(|w| w.is_zero()), "{waits:?}");
        let last = waits[24].as_secs_f64();
        assert!(
            (2.9..3.1).contains(&last),
            "15th request past the burst waits ~3 s: {last}"
        );
        // Another account has its own buckets.
        let other: AccountId = "222222222222".parse().unwrap();
        assert!(
            pacer
                .reserve(&other, Route53Bucket::DisassociateVpc)
                .await
                .is_zero()
        );
    }
}
