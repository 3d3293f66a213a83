//! A client-side rate limit on Route 53 for any [`Dns`] implementation: Route 53 allows
//! 5 requests per second per account for all its calls together, so every worker of a process
//! shares one keyed limiter and waits its turn instead of being throttled.
//!
//! The AWS implementation limits each HTTP request itself (a listing may take several pages);
//! this decorator is for implementations where one trait call is one request (the simulated
//! cloud), so that workflows see the same pacing there.

use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{AliasRecord, CallCx, CloudResult, Dns, ZoneInfo, ZoneVpc};
use crate::domain::{AccountId, HostedZoneId};

pub struct RateLimitedDns {
    inner: Arc<dyn Dns>,
    limiter: DefaultKeyedRateLimiter<AccountId>,
}

impl RateLimitedDns {
    pub fn new(inner: Arc<dyn Dns>, per_second: u32) -> RateLimitedDns {
        let rps = NonZeroU32::new(per_second.max(1)).expect("non-zero");
        RateLimitedDns {
            inner,
            limiter: RateLimiter::keyed(Quota::per_second(rps)),
        }
    }

    async fn turn(&self, cx: &CallCx) {
        self.limiter.until_key_ready(&cx.account).await;
    }
}

#[async_trait]
impl Dns for RateLimitedDns {
    async fn zone_find(
        &self,
        cx: &CallCx,
        caller_reference: &str,
    ) -> CloudResult<Option<ZoneInfo>> {
        self.turn(cx).await;
        self.inner.zone_find(cx, caller_reference).await
    }
    async fn zone_get(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<Option<ZoneInfo>> {
        self.turn(cx).await;
        self.inner.zone_get(cx, id).await
    }
    async fn zone_create(
        &self,
        cx: &CallCx,
        name: &str,
        vpc: &ZoneVpc,
        caller_reference: &str,
    ) -> CloudResult<ZoneInfo> {
        self.turn(cx).await;
        self.inner
            .zone_create(cx, name, vpc, caller_reference)
            .await
    }
    async fn zone_delete(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<()> {
        self.turn(cx).await;
        self.inner.zone_delete(cx, id).await
    }
    async fn alias_records_upsert(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        records: &[AliasRecord],
    ) -> CloudResult<()> {
        self.turn(cx).await;
        self.inner.alias_records_upsert(cx, zone, records).await
    }
    async fn alias_records_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<AliasRecord>> {
        self.turn(cx).await;
        self.inner.alias_records_list(cx, zone).await
    }
    async fn association_authorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx).await;
        self.inner.association_authorize(cx, zone, vpc).await
    }
    async fn association_deauthorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx).await;
        self.inner.association_deauthorize(cx, zone, vpc).await
    }
    async fn association_authorizations_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<ZoneVpc>> {
        self.turn(cx).await;
        self.inner.association_authorizations_list(cx, zone).await
    }
    async fn vpc_associate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx).await;
        self.inner.vpc_associate(cx, zone, vpc).await
    }
    async fn vpc_disassociate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.turn(cx).await;
        self.inner.vpc_disassociate(cx, zone, vpc).await
    }
    async fn zones_by_vpc(&self, cx: &CallCx, vpc: &ZoneVpc) -> CloudResult<Vec<HostedZoneId>> {
        self.turn(cx).await;
        self.inner.zones_by_vpc(cx, vpc).await
    }
}
