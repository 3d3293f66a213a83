//! Route 53: private hosted zones, alias records and cross-account VPC association.
//!
//! Route 53 allows 5 requests/s per account for all callers together, so every request here
//! (each page of a listing too) first waits on the account's client-side limiter
//! (`AwsCloud::route53`). Zone ids come back as `/hostedzone/Z...`; `HostedZoneId` strips the
//! prefix. Names come back fully qualified with a trailing dot and `*` escaped as `\052`; the
//! crate's types hold them without the dot and unescaped.

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HostedZone, HostedZoneConfig,
    ResourceRecordSet, RrType, Vpc, VpcRegion,
};

use super::AwsCloud;
use super::errors::{malformed, sdk_error};
use crate::cloud::{
    AliasRecord, CallCx, CloudError, CloudErrorKind, CloudResult, Dns, ZoneInfo, ZoneVpc,
};
use crate::domain::HostedZoneId;

/// Changes per `ChangeResourceRecordSets` call (AWS allows 1,000).
const CHANGE_BATCH: usize = 100;

fn sdk_vpc(vpc: &ZoneVpc) -> Vpc {
    Vpc::builder()
        .vpc_id(vpc.vpc_id.as_str())
        .vpc_region(VpcRegion::from(vpc.region.as_str()))
        .build()
}

fn zone_vpc(v: &Vpc) -> Option<ZoneVpc> {
    Some(ZoneVpc {
        vpc_id: v.vpc_id()?.parse().ok()?,
        region: v.vpc_region()?.as_str().parse().ok()?,
    })
}

/// A name as the crate holds it: no trailing dot, `*` unescaped.
pub(crate) fn name_from_route53(name: &str) -> String {
    name.trim_end_matches('.').replace("\\052", "*")
}

/// A name as Route 53 takes it: fully qualified, with the trailing dot.
pub(crate) fn name_to_route53(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn zone_info(z: &HostedZone, vpcs: Vec<ZoneVpc>) -> Option<ZoneInfo> {
    Some(ZoneInfo {
        id: z.id().parse().ok()?,
        name: name_from_route53(z.name()),
        private: z.config().is_some_and(|c| c.private_zone()),
        caller_reference: z.caller_reference().to_owned(),
        vpcs,
    })
}

fn build_error(operation: &str, e: impl std::fmt::Display) -> CloudError {
    CloudError::new(
        CloudErrorKind::Invalid,
        operation,
        "BuildError",
        e.to_string(),
    )
}

impl AwsCloud {
    /// Every record set of a zone (each page waits on the rate limiter).
    async fn record_sets(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<ResourceRecordSet>> {
        let mut all = Vec::new();
        let mut start: Option<(String, RrType, Option<String>)> = None;
        loop {
            let mut req = self
                .route53(cx)
                .await
                .list_resource_record_sets()
                .hosted_zone_id(zone.as_str());
            if let Some((name, ty, ident)) = start.take() {
                req = req
                    .start_record_name(name)
                    .start_record_type(ty)
                    .set_start_record_identifier(ident);
            }
            let out = req
                .send()
                .await
                .map_err(|e| sdk_error("ListResourceRecordSets", e))?;
            all.extend(out.resource_record_sets().iter().cloned());
            match (
                out.is_truncated(),
                out.next_record_name(),
                out.next_record_type(),
            ) {
                (true, Some(name), Some(ty)) => {
                    start = Some((
                        name.to_owned(),
                        ty.clone(),
                        out.next_record_identifier().map(str::to_owned),
                    ))
                }
                _ => return Ok(all),
            }
        }
    }

    /// Applies changes in batches, auditing each call.
    async fn change_record_sets(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        changes: Vec<Change>,
    ) -> CloudResult<()> {
        const OP: &str = "ChangeResourceRecordSets";
        let mut changes = changes;
        while !changes.is_empty() {
            let rest = changes.split_off(changes.len().min(CHANGE_BATCH));
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .map_err(|e| build_error(OP, e))?;
            let res = self
                .route53(cx)
                .await
                .change_resource_record_sets()
                .hosted_zone_id(zone.as_str())
                .change_batch(batch)
                .send()
                .await;
            self.audited(cx, OP, Some(zone.to_string()), res, |_| None)
                .await?;
            changes = rest;
        }
        Ok(())
    }
}

#[async_trait]
impl Dns for AwsCloud {
    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn zone_find(
        &self,
        cx: &CallCx,
        caller_reference: &str,
    ) -> CloudResult<Option<ZoneInfo>> {
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .route53(cx)
                .await
                .list_hosted_zones()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListHostedZones", e))?;
            if let Some(z) = out
                .hosted_zones()
                .iter()
                .find(|z| z.caller_reference() == caller_reference)
            {
                let id: HostedZoneId = z
                    .id()
                    .parse()
                    .map_err(|_| malformed("ListHostedZones", "a valid hosted zone id"))?;
                // GetHostedZone for the VPCs; a zone deleted meanwhile is not found.
                return self.zone_get(cx, &id).await;
            }
            match (out.is_truncated(), out.next_marker()) {
                (true, Some(m)) => marker = Some(m.to_owned()),
                _ => return Ok(None),
            }
        }
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn zone_get(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<Option<ZoneInfo>> {
        let res = self
            .route53(cx)
            .await
            .get_hosted_zone()
            .id(id.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("GetHostedZone", e));
        let out = match res {
            Ok(out) => out,
            Err(e) if e.kind == CloudErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(z) = out.hosted_zone() else {
            return Ok(None);
        };
        let vpcs = out.vpcs().iter().filter_map(zone_vpc).collect();
        zone_info(z, vpcs)
            .map(Some)
            .ok_or_else(|| malformed("GetHostedZone", "a valid hosted zone id"))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn zone_create(
        &self,
        cx: &CallCx,
        name: &str,
        vpc: &ZoneVpc,
        caller_reference: &str,
    ) -> CloudResult<ZoneInfo> {
        const OP: &str = "CreateHostedZone";
        // moto makes a public zone unless PrivateZone=true is explicit (AWS infers it).
        let res = self
            .route53(cx)
            .await
            .create_hosted_zone()
            .name(name_to_route53(name))
            .caller_reference(caller_reference)
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .private_zone(true)
                    .comment("endpoint-hub")
                    .build(),
            )
            .vpc(sdk_vpc(vpc))
            .send()
            .await;
        let out = self
            .audited(cx, OP, None, res, |o| {
                o.hosted_zone()
                    .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            })
            .await?;
        let z = out
            .hosted_zone()
            .ok_or_else(|| malformed(OP, "the hosted zone"))?;
        let mut info =
            zone_info(z, vec![vpc.clone()]).ok_or_else(|| malformed(OP, "a hosted zone id"))?;
        info.private = true;
        Ok(info)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn zone_delete(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<()> {
        let Some(zone) = self.zone_get(cx, id).await? else {
            return Ok(());
        };
        let apex = zone.name.to_ascii_lowercase();
        let records = match self.record_sets(cx, id).await {
            Ok(r) => r,
            Err(e) if e.kind == CloudErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut changes = Vec::new();
        for r in records {
            let at_apex = name_from_route53(r.name()).to_ascii_lowercase() == apex;
            if at_apex && matches!(r.r#type(), RrType::Soa | RrType::Ns) {
                continue;
            }
            changes.push(
                Change::builder()
                    .action(ChangeAction::Delete)
                    .resource_record_set(r)
                    .build()
                    .map_err(|e| build_error("ChangeResourceRecordSets", e))?,
            );
        }
        match self.change_record_sets(cx, id, changes).await {
            Err(e) if e.kind == CloudErrorKind::NotFound => return Ok(()),
            other => other?,
        }
        let res = self
            .route53(cx)
            .await
            .delete_hosted_zone()
            .id(id.as_str())
            .send()
            .await;
        match self
            .audited(cx, "DeleteHostedZone", Some(id.to_string()), res, |_| None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == CloudErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn alias_records_upsert(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        records: &[AliasRecord],
    ) -> CloudResult<()> {
        const OP: &str = "ChangeResourceRecordSets";
        let mut changes = Vec::with_capacity(records.len());
        for r in records {
            let target = AliasTarget::builder()
                .hosted_zone_id(&r.target_zone_id)
                .dns_name(name_to_route53(&r.target_dns_name))
                .evaluate_target_health(false)
                .build()
                .map_err(|e| build_error(OP, e))?;
            let set = ResourceRecordSet::builder()
                .name(name_to_route53(&r.name))
                .r#type(RrType::A)
                .alias_target(target)
                .build()
                .map_err(|e| build_error(OP, e))?;
            changes.push(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .map_err(|e| build_error(OP, e))?,
            );
        }
        self.change_record_sets(cx, zone, changes).await
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn alias_records_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<AliasRecord>> {
        Ok(self
            .record_sets(cx, zone)
            .await?
            .iter()
            .filter(|r| *r.r#type() == RrType::A)
            .filter_map(|r| {
                let t = r.alias_target()?;
                Some(AliasRecord {
                    name: name_from_route53(r.name()),
                    target_dns_name: name_from_route53(t.dns_name()),
                    target_zone_id: t.hosted_zone_id().to_owned(),
                })
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn association_authorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        let res = self
            .route53(cx)
            .await
            .create_vpc_association_authorization()
            .hosted_zone_id(zone.as_str())
            .vpc(sdk_vpc(vpc))
            .send()
            .await;
        self.audited(
            cx,
            "CreateVPCAssociationAuthorization",
            Some(format!("{zone}:{}", vpc.vpc_id)),
            res,
            |_| None,
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn association_deauthorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        let res = self
            .route53(cx)
            .await
            .delete_vpc_association_authorization()
            .hosted_zone_id(zone.as_str())
            .vpc(sdk_vpc(vpc))
            .send()
            .await;
        // `VPCAssociationAuthorizationNotFound` (or the zone gone): nothing to remove.
        match self
            .audited(
                cx,
                "DeleteVPCAssociationAuthorization",
                Some(format!("{zone}:{}", vpc.vpc_id)),
                res,
                |_| None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == CloudErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn association_authorizations_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<ZoneVpc>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .route53(cx)
                .await
                .list_vpc_association_authorizations()
                .hosted_zone_id(zone.as_str())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListVPCAssociationAuthorizations", e))?;
            all.extend(out.vpcs().iter().filter_map(zone_vpc));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(all),
            }
        }
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn vpc_associate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        // `ConflictingDomainExists` maps to AlreadyExists, `NotAuthorizedException` to
        // AccessDenied (see `errors::classify`).
        let res = self
            .route53(cx)
            .await
            .associate_vpc_with_hosted_zone()
            .hosted_zone_id(zone.as_str())
            .vpc(sdk_vpc(vpc))
            .send()
            .await;
        self.audited(
            cx,
            "AssociateVPCWithHostedZone",
            Some(format!("{zone}:{}", vpc.vpc_id)),
            res,
            |_| None,
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn vpc_disassociate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        let res = self
            .route53(cx)
            .await
            .disassociate_vpc_from_hosted_zone()
            .hosted_zone_id(zone.as_str())
            .vpc(sdk_vpc(vpc))
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "DisassociateVPCFromHostedZone",
                Some(format!("{zone}:{}", vpc.vpc_id)),
                res,
                |_| None,
            )
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code.eq_ignore_ascii_case("VPCAssociationNotFound") => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn zones_by_vpc(&self, cx: &CallCx, vpc: &ZoneVpc) -> CloudResult<Vec<HostedZoneId>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .route53(cx)
                .await
                .list_hosted_zones_by_vpc()
                .vpc_id(vpc.vpc_id.as_str())
                .vpc_region(VpcRegion::from(vpc.region.as_str()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListHostedZonesByVPC", e))?;
            all.extend(
                out.hosted_zone_summaries()
                    .iter()
                    .filter_map(|s| s.hosted_zone_id().parse::<HostedZoneId>().ok()),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(all),
            }
        }
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account))]
    async fn zones_list(&self, cx: &CallCx) -> CloudResult<Vec<ZoneInfo>> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .route53(cx)
                .await
                .list_hosted_zones()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListHostedZones", e))?;
            all.extend(
                out.hosted_zones()
                    .iter()
                    .filter_map(|z| zone_info(z, Vec::new())),
            );
            match (out.is_truncated(), out.next_marker()) {
                (true, Some(m)) => marker = Some(m.to_owned()),
                _ => return Ok(all),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            name_from_route53("\\052.sqs.eu-west-1.amazonaws.com."),
            "*.sqs.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            name_to_route53("sqs.eu-west-1.amazonaws.com"),
            "sqs.eu-west-1.amazonaws.com."
        );
        assert_eq!(name_to_route53("x.example.com."), "x.example.com.");
    }
}
