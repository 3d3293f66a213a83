//! Route 53 private hosted zones, alias records and cross-account VPC association.
//!
//! - A zone belongs to the account that created it; only that account sees it (`zone_get`,
//!   `zone_find`, records, authorizations: other accounts get `None`/`NotFound`
//!   `NoSuchHostedZone`). Names are kept lower case without the trailing dot.
//! - `zone_create`: a wildcard name is refused (`Invalid`, `InvalidDomainName`); the VPC must be
//!   the caller's in `vpc.region` (`Invalid`, `InvalidVPCId`);
//!   the caller reference is unique per account (`AlreadyExists`, `HostedZoneAlreadyExists`); a
//!   zone of the same name already associated with the VPC is `AlreadyExists`
//!   (`ConflictingDomainExists`); at most [`SimConfig::zones_per_account`](super::SimConfig)
//!   zones (`LimitExceeded`, `TooManyHostedZones`).
//! - Alias records must lie in the zone (`Invalid`, `InvalidChangeBatch`); upsert replaces by name.
//! - Authorizations are per (zone, VPC), by the zone owner; twice is `Ok`, deleting a missing one
//!   is `Ok`. They stay after the association (AWS keeps them until deleted).
//! - `vpc_associate` by the VPC owner: the VPC must be the caller's (`Invalid`, `InvalidVPCId`);
//!   the zone must exist (`NotFound`, `NoSuchHostedZone`); a caller that does not own the zone
//!   needs an authorization (`AccessDenied`, `NotAuthorizedException`); already associated, or
//!   another associated zone of the same name, is `AlreadyExists` (`ConflictingDomainExists`);
//!   at most [`SimConfig::vpcs_per_zone`](super::SimConfig) VPCs (`LimitExceeded`,
//!   `LimitsExceeded`).
//! - `vpc_disassociate` by the VPC owner or the zone owner (else `AccessDenied`,
//!   `NotAuthorizedException`); not associated is `Ok`; the last VPC can't go (`Invalid`,
//!   `LastVPCAssociation`); a missing zone is `NotFound` (`NoSuchHostedZone`).
//! - `zones_by_vpc`: the VPC must be the caller's (`InvalidVPCId`); zones of any owner.

use async_trait::async_trait;

use super::{SimCloud, State, Zone, fail};
use crate::cloud::{AliasRecord, CallCx, CloudErrorKind, CloudResult, Dns, ZoneInfo, ZoneVpc};
use crate::domain::HostedZoneId;

impl Zone {
    pub(super) fn info(&self) -> ZoneInfo {
        ZoneInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            private: true,
            caller_reference: self.caller_reference.clone(),
            vpcs: self.vpcs.clone(),
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn no_such_zone<T>(op: &str, id: &HostedZoneId) -> CloudResult<T> {
    fail(
        CloudErrorKind::NotFound,
        op,
        "NoSuchHostedZone",
        format!("No hosted zone found with ID: {id}"),
    )
}

fn invalid_vpc<T>(op: &str, vpc: &ZoneVpc) -> CloudResult<T> {
    fail(
        CloudErrorKind::Invalid,
        op,
        "InvalidVPCId",
        format!(
            "The VPC ID '{}' ({}) either isn't a valid ID or the current account is not \
             authorized to access this VPC",
            vpc.vpc_id, vpc.region
        ),
    )
}

impl State {
    fn zone_index(&self, id: &HostedZoneId) -> Option<usize> {
        self.zones.iter().position(|z| &z.id == id)
    }

    /// The index of a zone the caller owns.
    fn zone_owned(&self, cx: &CallCx, id: &HostedZoneId, op: &str) -> CloudResult<usize> {
        match self.zone_index(id) {
            Some(i) if self.zones[i].owner == cx.account => Ok(i),
            _ => no_such_zone(op, id),
        }
    }

    fn vpc_owned_by_caller(&self, cx: &CallCx, vpc: &ZoneVpc) -> bool {
        self.vpc_in(&cx.account, &vpc.region, &vpc.vpc_id).is_some()
    }

    fn zone_create(
        &mut self,
        cx: &CallCx,
        name: &str,
        vpc: &ZoneVpc,
        caller_reference: &str,
        config: &super::SimConfig,
    ) -> CloudResult<ZoneInfo> {
        const OP: &str = "CreateHostedZone";
        let name = normalize(name);
        // aws-samples/aws-vpc-builder-cdk pull request 30: "Creation of hosted zone with a
        // wildcard domain name is not supported".
        if name.split('.').any(|label| label == "*") {
            return fail(
                CloudErrorKind::Invalid,
                OP,
                "InvalidDomainName",
                format!(
                    "Creation of hosted zone with a wildcard domain name is not supported: {name}"
                ),
            );
        }
        if !self.vpc_owned_by_caller(cx, vpc) {
            return invalid_vpc(OP, vpc);
        }
        if self
            .caller_references
            .contains(&(cx.account.clone(), caller_reference.to_owned()))
        {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "HostedZoneAlreadyExists",
                format!(
                    "A hosted zone has already been created with the caller reference '{caller_reference}'"
                ),
            );
        }
        if self
            .zones
            .iter()
            .any(|z| z.name == name && z.vpcs.contains(vpc))
        {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "ConflictingDomainExists",
                format!(
                    "A hosted zone named {name} is already associated with VPC {}",
                    vpc.vpc_id
                ),
            );
        }
        if self.zones.iter().filter(|z| z.owner == cx.account).count() >= config.zones_per_account {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "TooManyHostedZones",
                format!(
                    "The account {} has reached the limit of {} hosted zones",
                    cx.account, config.zones_per_account
                ),
            );
        }
        let zone = Zone {
            id: self.zone_id(),
            owner: cx.account.clone(),
            name,
            caller_reference: caller_reference.to_owned(),
            vpcs: vec![vpc.clone()],
            records: Vec::new(),
            authorizations: Vec::new(),
        };
        let info = zone.info();
        self.caller_references
            .insert((cx.account.clone(), caller_reference.to_owned()));
        self.zones.push(zone);
        Ok(info)
    }

    fn vpc_associate(
        &mut self,
        cx: &CallCx,
        id: &HostedZoneId,
        vpc: &ZoneVpc,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        const OP: &str = "AssociateVPCWithHostedZone";
        if !self.vpc_owned_by_caller(cx, vpc) {
            return invalid_vpc(OP, vpc);
        }
        let Some(i) = self.zone_index(id) else {
            return no_such_zone(OP, id);
        };
        let zone = &self.zones[i];
        if zone.owner != cx.account && !zone.authorizations.contains(vpc) {
            return fail(
                CloudErrorKind::AccessDenied,
                OP,
                "NotAuthorizedException",
                format!(
                    "The VPC {} has not been authorized to associate with hosted zone {id}",
                    vpc.vpc_id
                ),
            );
        }
        if zone.vpcs.contains(vpc) {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "ConflictingDomainExists",
                format!("The VPC {} is already associated with {id}", vpc.vpc_id),
            );
        }
        if let Some(other) = self
            .zones
            .iter()
            .find(|z| z.name == zone.name && z.vpcs.contains(vpc))
        {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "ConflictingDomainExists",
                format!(
                    "The VPC {} is already associated with another zone named {} ({})",
                    vpc.vpc_id, other.name, other.id
                ),
            );
        }
        if zone.vpcs.len() >= config.vpcs_per_zone {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "LimitsExceeded",
                format!(
                    "The hosted zone {id} has reached the limit of {} associated VPCs",
                    config.vpcs_per_zone
                ),
            );
        }
        self.zones[i].vpcs.push(vpc.clone());
        Ok(())
    }

    fn vpc_disassociate(
        &mut self,
        cx: &CallCx,
        id: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        const OP: &str = "DisassociateVPCFromHostedZone";
        let Some(i) = self.zone_index(id) else {
            return no_such_zone(OP, id);
        };
        let owns_vpc = self.vpc_owned_by_caller(cx, vpc);
        let zone = &mut self.zones[i];
        if !owns_vpc && zone.owner != cx.account {
            return fail(
                CloudErrorKind::AccessDenied,
                OP,
                "NotAuthorizedException",
                format!(
                    "The account {} owns neither the VPC {} nor the hosted zone {id}",
                    cx.account, vpc.vpc_id
                ),
            );
        }
        if !zone.vpcs.contains(vpc) {
            return Ok(());
        }
        if zone.vpcs.len() == 1 {
            return fail(
                CloudErrorKind::Invalid,
                OP,
                "LastVPCAssociation",
                format!(
                    "The VPC {} is the last VPC associated with the private hosted zone {id}",
                    vpc.vpc_id
                ),
            );
        }
        zone.vpcs.retain(|v| v != vpc);
        Ok(())
    }
}

#[async_trait]
impl Dns for SimCloud {
    async fn zone_find(
        &self,
        cx: &CallCx,
        caller_reference: &str,
    ) -> CloudResult<Option<ZoneInfo>> {
        self.read(cx, "ListHostedZones", |s| {
            Ok(s.zones
                .iter()
                .find(|z| z.owner == cx.account && z.caller_reference == caller_reference)
                .map(Zone::info))
        })
        .await
    }

    async fn zone_get(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<Option<ZoneInfo>> {
        self.read(cx, "GetHostedZone", |s| {
            Ok(s.zones
                .iter()
                .find(|z| &z.id == id && z.owner == cx.account)
                .map(Zone::info))
        })
        .await
    }

    async fn zone_create(
        &self,
        cx: &CallCx,
        name: &str,
        vpc: &ZoneVpc,
        caller_reference: &str,
    ) -> CloudResult<ZoneInfo> {
        const OP: &str = "CreateHostedZone";
        let send = || {
            self.write(cx, OP, None, |s| {
                s.zone_create(cx, name, vpc, caller_reference, &self.config)
            })
        };
        let first = send().await;
        if first.is_ok() && self.resend(OP, cx) {
            return send().await;
        }
        first
    }

    async fn zone_delete(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<()> {
        self.write(cx, "DeleteHostedZone", Some(id.to_string()), |s| {
            s.zones.retain(|z| !(&z.id == id && z.owner == cx.account));
            Ok(())
        })
        .await
    }

    async fn alias_records_upsert(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        records: &[AliasRecord],
    ) -> CloudResult<()> {
        const OP: &str = "ChangeResourceRecordSets";
        self.write(cx, OP, Some(zone.to_string()), |s| {
            let i = s.zone_owned(cx, zone, OP)?;
            let z = &mut s.zones[i];
            let records: Vec<AliasRecord> = records
                .iter()
                .map(|r| AliasRecord {
                    name: normalize(&r.name),
                    target_dns_name: normalize(&r.target_dns_name),
                    target_zone_id: r.target_zone_id.clone(),
                })
                .collect();
            for r in &records {
                let inside = r.name == z.name || r.name.ends_with(&format!(".{}", z.name));
                if !inside || r.target_dns_name.is_empty() || r.target_zone_id.is_empty() {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "InvalidChangeBatch",
                        format!(
                            "RRSet with DNS name {} is not permitted in zone {} (or has no alias target)",
                            r.name, z.name
                        ),
                    );
                }
            }
            for r in records {
                match z.records.iter_mut().find(|x| x.name == r.name) {
                    Some(existing) => *existing = r,
                    None => z.records.push(r),
                }
            }
            Ok(())
        })
        .await
    }

    async fn alias_records_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<AliasRecord>> {
        const OP: &str = "ListResourceRecordSets";
        self.read(cx, OP, |s| {
            let i = s.zone_owned(cx, zone, OP)?;
            Ok(s.zones[i].records.clone())
        })
        .await
    }

    async fn association_authorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        const OP: &str = "CreateVPCAssociationAuthorization";
        self.write(cx, OP, Some(zone.to_string()), |s| {
            let i = s.zone_owned(cx, zone, OP)?;
            let z = &mut s.zones[i];
            if !z.authorizations.contains(vpc) {
                z.authorizations.push(vpc.clone());
            }
            Ok(())
        })
        .await
    }

    async fn association_deauthorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        const OP: &str = "DeleteVPCAssociationAuthorization";
        self.write(cx, OP, Some(zone.to_string()), |s| {
            let i = s.zone_owned(cx, zone, OP)?;
            s.zones[i].authorizations.retain(|a| a != vpc);
            Ok(())
        })
        .await
    }

    async fn association_authorizations_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<ZoneVpc>> {
        const OP: &str = "ListVPCAssociationAuthorizations";
        self.read(cx, OP, |s| {
            let i = s.zone_owned(cx, zone, OP)?;
            Ok(s.zones[i].authorizations.clone())
        })
        .await
    }

    async fn vpc_associate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.write(
            cx,
            "AssociateVPCWithHostedZone",
            Some(zone.to_string()),
            |s| s.vpc_associate(cx, zone, vpc, &self.config),
        )
        .await
    }

    async fn vpc_disassociate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()> {
        self.write(
            cx,
            "DisassociateVPCFromHostedZone",
            Some(zone.to_string()),
            |s| s.vpc_disassociate(cx, zone, vpc),
        )
        .await
    }

    async fn zones_by_vpc(&self, cx: &CallCx, vpc: &ZoneVpc) -> CloudResult<Vec<HostedZoneId>> {
        const OP: &str = "ListHostedZonesByVPC";
        self.read(cx, OP, |s| {
            if !s.vpc_owned_by_caller(cx, vpc) {
                return invalid_vpc(OP, vpc);
            }
            Ok(s.zones
                .iter()
                .filter(|z| z.vpcs.contains(vpc))
                .map(|z| z.id.clone())
                .collect())
        })
        .await
    }

    async fn zones_list(&self, cx: &CallCx) -> CloudResult<Vec<ZoneInfo>> {
        self.read(cx, "ListHostedZones", |s| {
            Ok(s.zones
                .iter()
                .filter(|z| z.owner == cx.account)
                .map(|z| ZoneInfo {
                    vpcs: Vec::new(),
                    ..Zone::info(z)
                })
                .collect())
        })
        .await
    }
}
