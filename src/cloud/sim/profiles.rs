//! Route 53 Profiles and AWS RAM, as the profile DNS mode uses them.
//!
//! Route 53 Profiles (per account and region):
//! - `profile_create`: the `ClientToken` is idempotent (the same token returns the same
//!   Profile); at most [`SimConfig::profiles_per_account`](super::SimConfig) per account and
//!   region (`LimitExceeded`, `LimitExceededException`).
//! - A Profile is visible to its owner, and to an account that is an `ASSOCIATED` principal of
//!   a live RAM share of the owner holding the Profile's ARN; to anyone else it does not exist
//!   (`ResourceNotFoundException`).
//! - Resources (private hosted zones of the owner) by the owner only; the same zone twice is
//!   `Ok`; another zone of the same name is `AlreadyExists` (`ConflictException`); at most
//!   [`SimConfig::zones_per_profile`](super::SimConfig) (`LimitExceeded`).
//! - `profile_associate` by the VPC's owner (`Invalid`, `ValidationException` otherwise), in the
//!   Profile's region: one Profile per VPC (`AlreadyExists`, `ConflictException` naming the
//!   Profile the VPC has), at most [`SimConfig::vpcs_per_profile`](super::SimConfig) VPCs
//!   (`LimitExceeded`, `LimitExceededException`).
//! - A new zone (resource) association, like a new VPC association, reads `CREATING` for
//!   [`SimConfig::profile_association_creating_reads`](super::SimConfig) listings, then
//!   `COMPLETE`.
//! - `profile_delete` while VPCs are associated: `AlreadyExists` (`ConflictException`).
//!
//! RAM:
//! - Shares are the owner's; the `clientToken` of a create is idempotent.
//! - Adding an account: inside the organization ([`SimConfig::ram_organization`]) it is
//!   `ASSOCIATED` at once; outside, it is `ASSOCIATING` with a `PENDING` invitation until the
//!   account accepts it.
//! - Removing an account makes it `DISASSOCIATED` (it no longer sees the share's resources;
//!   associations it made stay, as AWS documents nothing else).

use async_trait::async_trait;

use super::{SimCloud, State, fail};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, PrincipalStatus, ProfileInfo, ProfileResourceInfo,
    ProfileVpcInfo, Profiles, ShareInfo, ShareInvitation, SharePrincipal, Sharing,
};
use crate::domain::{AccountId, HostedZoneId, ProfileId, Region, VpcId};

#[derive(Debug, Clone)]
pub(super) struct Profile {
    id: ProfileId,
    arn: String,
    name: String,
    owner: AccountId,
    region: Region,
    client_token: String,
    /// Zones, with their names.
    zones: Vec<(HostedZoneId, String)>,
    /// Zones whose association still reads `CREATING`, with the listings left.
    creating: Vec<(HostedZoneId, u32)>,
}

#[derive(Debug, Clone)]
pub(super) struct ProfileVpc {
    profile: ProfileId,
    vpc: VpcId,
    owner: AccountId,
    region: Region,
    /// Reads left showing `CREATING` (AWS associates asynchronously).
    creating_left: u32,
}

#[derive(Debug, Clone)]
pub(super) struct Share {
    arn: String,
    name: String,
    owner: AccountId,
    region: Region,
    client_token: String,
    owner_tag: String,
    resources: Vec<String>,
    principals: Vec<SharePrincipal>,
    deleted: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Invitation {
    arn: String,
    share_arn: String,
    sender: AccountId,
    receiver: AccountId,
    status: String,
}

impl Profile {
    fn info(&self, caller: &AccountId) -> ProfileInfo {
        ProfileInfo {
            id: self.id.clone(),
            arn: self.arn.clone(),
            name: self.name.clone(),
            owner: self.owner.clone(),
            client_token: (&self.owner == caller).then(|| self.client_token.clone()),
            status: "COMPLETE".into(),
        }
    }
}

impl Share {
    fn info(&self) -> ShareInfo {
        ShareInfo {
            arn: self.arn.clone(),
            name: self.name.clone(),
            owner: self.owner.clone(),
            status: if self.deleted { "DELETED" } else { "ACTIVE" }.into(),
            owner_tag: Some(self.owner_tag.clone()),
        }
    }
}

fn not_found<T>(op: &str, what: impl std::fmt::Display) -> CloudResult<T> {
    fail(
        CloudErrorKind::NotFound,
        op,
        "ResourceNotFoundException",
        format!("{what} not found"),
    )
}

fn zone_arn(zone: &HostedZoneId) -> String {
    format!("arn:aws:route53:::hostedzone/{zone}")
}

impl State {
    /// The Profile, if `cx` may see it (owner, or shared through RAM).
    fn profile_visible(&self, cx: &CallCx, id: &ProfileId) -> Option<usize> {
        let i = self
            .profiles
            .iter()
            .position(|p| &p.id == id && p.region == cx.region)?;
        let p = &self.profiles[i];
        if p.owner == cx.account {
            return Some(i);
        }
        self.shared_with(&p.owner, &p.arn, &cx.account).then_some(i)
    }

    /// `account` is an `ASSOCIATED` principal of a live share of `owner` holding `arn`.
    pub(super) fn shared_with(&self, owner: &AccountId, arn: &str, account: &AccountId) -> bool {
        self.shares.iter().any(|s| {
            !s.deleted
                && &s.owner == owner
                && s.resources.iter().any(|r| r == arn)
                && s.principals
                    .iter()
                    .any(|x| &x.account == account && x.status == PrincipalStatus::Associated)
        })
    }

    fn profile_owned(&self, cx: &CallCx, id: &ProfileId, op: &str) -> CloudResult<usize> {
        match self
            .profiles
            .iter()
            .position(|p| &p.id == id && p.owner == cx.account && p.region == cx.region)
        {
            Some(i) => Ok(i),
            None => not_found(op, format!("Profile {id}")),
        }
    }

    fn share_owned(&self, cx: &CallCx, arn: &str, op: &str) -> CloudResult<usize> {
        match self
            .shares
            .iter()
            .position(|s| s.arn == arn && s.owner == cx.account && !s.deleted)
        {
            Some(i) => Ok(i),
            None => fail(
                CloudErrorKind::NotFound,
                op,
                "UnknownResourceException",
                format!("resource share {arn} does not exist"),
            ),
        }
    }

    fn profile_create(
        &mut self,
        cx: &CallCx,
        name: &str,
        client_token: &str,
        config: &super::SimConfig,
    ) -> CloudResult<ProfileInfo> {
        const OP: &str = "CreateProfile";
        if let Some(p) = self.profiles.iter().find(|p| {
            p.owner == cx.account && p.region == cx.region && p.client_token == client_token
        }) {
            if p.name != name {
                return fail(
                    CloudErrorKind::Invalid,
                    OP,
                    "InvalidParameterException",
                    format!("client token {client_token} was used for another Profile"),
                );
            }
            return Ok(p.info(&cx.account));
        }
        let owned = self
            .profiles
            .iter()
            .filter(|p| p.owner == cx.account && p.region == cx.region)
            .count();
        if owned >= config.profiles_per_account {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "LimitExceededException",
                format!(
                    "account {} already has {owned} Profiles in {}: at most {}",
                    cx.account, cx.region, config.profiles_per_account
                ),
            );
        }
        let id: ProfileId = format!("rp-{:016x}", self.random())
            .parse()
            .expect("generated profile id");
        let p = Profile {
            arn: format!(
                "arn:aws:route53profiles:{}:{}:profile/{id}",
                cx.region, cx.account
            ),
            id,
            name: name.to_owned(),
            owner: cx.account.clone(),
            region: cx.region.clone(),
            client_token: client_token.to_owned(),
            zones: Vec::new(),
            creating: Vec::new(),
        };
        let info = p.info(&cx.account);
        self.profiles.push(p);
        Ok(info)
    }

    fn profile_zone_add(
        &mut self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        const OP: &str = "AssociateResourceToProfile";
        let i = self.profile_owned(cx, id, OP)?;
        let Some(z) = self
            .zones
            .iter()
            .find(|z| &z.id == zone && z.owner == cx.account)
        else {
            return not_found(OP, format!("hosted zone {zone}"));
        };
        let name = z.name.clone();
        let p = &mut self.profiles[i];
        if p.zones.iter().any(|(z, _)| z == zone) {
            return Ok(());
        }
        if let Some((other, _)) = p.zones.iter().find(|(_, n)| n == &name) {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "ConflictException",
                format!("Profile {id} already holds hosted zone {other} for {name}"),
            );
        }
        if p.zones.len() >= config.zones_per_profile {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "LimitExceededException",
                format!(
                    "Profile {id} holds {} resources: at most {}",
                    p.zones.len(),
                    config.zones_per_profile
                ),
            );
        }
        p.zones.push((zone.clone(), name));
        if config.profile_association_creating_reads > 0 {
            p.creating
                .push((zone.clone(), config.profile_association_creating_reads));
        }
        Ok(())
    }

    fn profile_associate(
        &mut self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        const OP: &str = "AssociateProfile";
        if self.vpc_in(&cx.account, &cx.region, vpc).is_none() {
            return fail(
                CloudErrorKind::Invalid,
                OP,
                "ValidationException",
                format!(
                    "VPC {vpc} is not a VPC of account {} in {}",
                    cx.account, cx.region
                ),
            );
        }
        if self.profile_visible(cx, id).is_none() {
            return not_found(OP, format!("Profile {id}"));
        }
        if let Some(a) = self.profile_vpcs.iter().find(|a| &a.vpc == vpc) {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "ConflictException",
                format!(
                    "VPC {vpc} is already associated with Profile {}: a VPC can have one Profile",
                    a.profile
                ),
            );
        }
        let n = self
            .profile_vpcs
            .iter()
            .filter(|a| &a.profile == id)
            .count();
        if n >= config.vpcs_per_profile {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "LimitExceededException",
                format!(
                    "Profile {id} is associated with {n} VPCs: at most {}",
                    config.vpcs_per_profile
                ),
            );
        }
        self.profile_vpcs.push(ProfileVpc {
            profile: id.clone(),
            vpc: vpc.clone(),
            owner: cx.account.clone(),
            region: cx.region.clone(),
            creating_left: config.profile_association_creating_reads,
        });
        Ok(())
    }

    fn principal_add(
        &mut self,
        cx: &CallCx,
        arn: &str,
        account: &AccountId,
        organization: bool,
    ) -> CloudResult<()> {
        const OP: &str = "AssociateResourceShare";
        let i = self.share_owned(cx, arn, OP)?;
        if let Some(p) = self.shares[i]
            .principals
            .iter()
            .find(|p| &p.account == account)
            && p.status.is_live()
        {
            return Ok(());
        }
        let status = if organization || account == &cx.account {
            PrincipalStatus::Associated
        } else {
            let inv = format!(
                "arn:aws:ram:{}:{}:resource-share-invitation/{}",
                cx.region,
                cx.account,
                uuid::Uuid::from_u64_pair(self.random(), self.random())
            );
            self.invitations.push(Invitation {
                arn: inv,
                share_arn: arn.to_owned(),
                sender: cx.account.clone(),
                receiver: account.clone(),
                status: "PENDING".into(),
            });
            PrincipalStatus::Associating
        };
        let share = &mut self.shares[i];
        share.principals.retain(|p| &p.account != account);
        share.principals.push(SharePrincipal {
            account: account.clone(),
            status,
        });
        Ok(())
    }

    fn invitation_accept(&mut self, cx: &CallCx, arn: &str) -> CloudResult<()> {
        const OP: &str = "AcceptResourceShareInvitation";
        let Some(inv) = self
            .invitations
            .iter_mut()
            .find(|i| i.arn == arn && i.receiver == cx.account)
        else {
            return fail(
                CloudErrorKind::NotFound,
                OP,
                "ResourceShareInvitationArnNotFoundException",
                format!("invitation {arn} not found"),
            );
        };
        match inv.status.as_str() {
            "ACCEPTED" => return Ok(()),
            "PENDING" => inv.status = "ACCEPTED".into(),
            other => {
                return fail(
                    CloudErrorKind::Invalid,
                    OP,
                    "ResourceShareInvitationExpiredException",
                    format!("invitation {arn} is {other}"),
                );
            }
        }
        let share_arn = inv.share_arn.clone();
        if let Some(share) = self.shares.iter_mut().find(|s| s.arn == share_arn)
            && let Some(p) = share
                .principals
                .iter_mut()
                .find(|p| p.account == cx.account && p.status == PrincipalStatus::Associating)
        {
            p.status = PrincipalStatus::Associated;
        }
        Ok(())
    }
}

#[async_trait]
impl Profiles for SimCloud {
    async fn profile_find(&self, cx: &CallCx, name: &str) -> CloudResult<Option<ProfileInfo>> {
        self.read(cx, "ListProfiles", |s| {
            Ok(s.profiles
                .iter()
                .find(|p| p.owner == cx.account && p.region == cx.region && p.name == name)
                .map(|p| p.info(&cx.account)))
        })
        .await
    }

    async fn profile_get(&self, cx: &CallCx, id: &ProfileId) -> CloudResult<Option<ProfileInfo>> {
        self.read(cx, "GetProfile", |s| {
            Ok(s.profile_visible(cx, id)
                .map(|i| s.profiles[i].info(&cx.account)))
        })
        .await
    }

    async fn profile_create(
        &self,
        cx: &CallCx,
        name: &str,
        client_token: &str,
        _owner_tag: &str,
    ) -> CloudResult<ProfileInfo> {
        self.write(cx, "CreateProfile", None, |s| {
            s.profile_create(cx, name, client_token, &self.config)
        })
        .await
    }

    async fn profile_delete(&self, cx: &CallCx, id: &ProfileId) -> CloudResult<()> {
        self.write(cx, "DeleteProfile", Some(id.to_string()), |s| {
            let Some(i) = s
                .profiles
                .iter()
                .position(|p| &p.id == id && p.owner == cx.account)
            else {
                return Ok(());
            };
            let n = s.profile_vpcs.iter().filter(|a| &a.profile == id).count();
            if n > 0 {
                return fail(
                    CloudErrorKind::AlreadyExists,
                    "DeleteProfile",
                    "ConflictException",
                    format!("Profile {id} is associated with {n} VPCs: disassociate them first"),
                );
            }
            s.profiles.remove(i);
            Ok(())
        })
        .await
    }

    async fn profile_resources(
        &self,
        cx: &CallCx,
        id: &ProfileId,
    ) -> CloudResult<Vec<ProfileResourceInfo>> {
        self.read(cx, "ListProfileResourceAssociations", |s| {
            let i = s.profile_owned(cx, id, "ListProfileResourceAssociations")?;
            let p = &mut s.profiles[i];
            let mut out = Vec::new();
            for (z, _) in &p.zones {
                let creating = p.creating.iter_mut().find(|(c, n)| c == z && *n > 0);
                let status = match creating {
                    Some((_, n)) => {
                        *n -= 1;
                        "CREATING"
                    }
                    None => "COMPLETE",
                };
                out.push(ProfileResourceInfo {
                    resource_arn: zone_arn(z),
                    zone: Some(z.clone()),
                    status: status.into(),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn profile_zone_add(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
        _name: &str,
    ) -> CloudResult<()> {
        self.write(
            cx,
            "AssociateResourceToProfile",
            Some(zone_arn(zone)),
            |s| s.profile_zone_add(cx, id, zone, &self.config),
        )
        .await
    }

    async fn profile_zone_remove(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
    ) -> CloudResult<()> {
        const OP: &str = "DisassociateResourceFromProfile";
        self.write(cx, OP, Some(zone_arn(zone)), |s| {
            let i = match s.profile_owned(cx, id, OP) {
                Ok(i) => i,
                Err(e) if e.is(CloudErrorKind::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            s.profiles[i].zones.retain(|(z, _)| z != zone);
            Ok(())
        })
        .await
    }

    async fn profile_vpcs(
        &self,
        cx: &CallCx,
        profile: Option<&ProfileId>,
        vpc: Option<&VpcId>,
    ) -> CloudResult<Vec<ProfileVpcInfo>> {
        self.read(cx, "ListProfileAssociations", |s| {
            let owned: Vec<ProfileId> = s
                .profiles
                .iter()
                .filter(|p| p.owner == cx.account)
                .map(|p| p.id.clone())
                .collect();
            Ok(s.profile_vpcs
                .iter_mut()
                .filter(|a| a.region == cx.region)
                .filter(|a| profile.is_none_or(|p| &a.profile == p))
                .filter(|a| vpc.is_none_or(|v| &a.vpc == v))
                .filter(|a| a.owner == cx.account || owned.contains(&a.profile))
                .map(|a| {
                    let status = if a.creating_left > 0 {
                        a.creating_left -= 1;
                        "CREATING"
                    } else {
                        "COMPLETE"
                    };
                    ProfileVpcInfo {
                        profile_id: a.profile.clone(),
                        vpc_id: a.vpc.clone(),
                        owner: a.owner.clone(),
                        status: status.into(),
                    }
                })
                .collect())
        })
        .await
    }

    async fn profile_associate(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
        _name: &str,
    ) -> CloudResult<()> {
        self.write(cx, "AssociateProfile", Some(format!("{id} {vpc}")), |s| {
            s.profile_associate(cx, id, vpc, &self.config)
        })
        .await
    }

    async fn profile_disassociate(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
    ) -> CloudResult<()> {
        self.write(
            cx,
            "DisassociateProfile",
            Some(format!("{id} {vpc}")),
            |s| {
                s.profile_vpcs
                    .retain(|a| !(&a.profile == id && &a.vpc == vpc && a.owner == cx.account));
                Ok(())
            },
        )
        .await
    }

    async fn profiles_owned(&self, cx: &CallCx) -> CloudResult<Vec<ProfileInfo>> {
        self.read(cx, "ListProfiles", |s| {
            Ok(s.profiles
                .iter()
                .filter(|p| p.owner == cx.account && p.region == cx.region)
                .map(|p| p.info(&cx.account))
                .collect())
        })
        .await
    }
}

#[async_trait]
impl Sharing for SimCloud {
    async fn share_find(&self, cx: &CallCx, owner_tag: &str) -> CloudResult<Option<ShareInfo>> {
        self.read(cx, "GetResourceShares", |s| {
            Ok(s.shares
                .iter()
                .find(|x| {
                    !x.deleted
                        && x.owner == cx.account
                        && x.region == cx.region
                        && x.owner_tag == owner_tag
                })
                .map(Share::info))
        })
        .await
    }

    async fn share_create(
        &self,
        cx: &CallCx,
        name: &str,
        resource_arn: &str,
        client_token: &str,
        owner_tag: &str,
    ) -> CloudResult<ShareInfo> {
        self.write(cx, "CreateResourceShare", None, |s| {
            if let Some(x) = s.shares.iter().find(|x| {
                x.owner == cx.account && x.region == cx.region && x.client_token == client_token
            }) {
                return Ok(x.info());
            }
            let owned = s
                .profiles
                .iter()
                .any(|p| p.arn == resource_arn && p.owner == cx.account)
                || s.tgws.values().any(|t| {
                    t.owner == cx.account
                        && t.region == cx.region
                        && t.arn() == resource_arn
                        && t.state != "deleted"
                });
            if !owned {
                return fail(
                    CloudErrorKind::NotFound,
                    "CreateResourceShare",
                    "UnknownResourceException",
                    format!(
                        "resource {resource_arn} does not exist in account {}",
                        cx.account
                    ),
                );
            }
            let arn = format!(
                "arn:aws:ram:{}:{}:resource-share/{}",
                cx.region,
                cx.account,
                uuid::Uuid::from_u64_pair(s.random(), s.random())
            );
            let share = Share {
                arn,
                name: name.to_owned(),
                owner: cx.account.clone(),
                region: cx.region.clone(),
                client_token: client_token.to_owned(),
                owner_tag: owner_tag.to_owned(),
                resources: vec![resource_arn.to_owned()],
                principals: Vec::new(),
                deleted: false,
            };
            let info = share.info();
            s.shares.push(share);
            Ok(info)
        })
        .await
    }

    async fn share_delete(&self, cx: &CallCx, share_arn: &str) -> CloudResult<()> {
        self.write(cx, "DeleteResourceShare", Some(share_arn.to_owned()), |s| {
            if let Some(x) = s
                .shares
                .iter_mut()
                .find(|x| x.arn == share_arn && x.owner == cx.account)
            {
                x.deleted = true;
                for p in &mut x.principals {
                    p.status = PrincipalStatus::Disassociated;
                }
            }
            Ok(())
        })
        .await
    }

    async fn share_principals(
        &self,
        cx: &CallCx,
        share_arn: &str,
    ) -> CloudResult<Vec<SharePrincipal>> {
        self.read(cx, "GetResourceShareAssociations", |s| {
            let i = s.share_owned(cx, share_arn, "GetResourceShareAssociations")?;
            Ok(s.shares[i].principals.clone())
        })
        .await
    }

    async fn share_principal_add(
        &self,
        cx: &CallCx,
        share_arn: &str,
        account: &AccountId,
    ) -> CloudResult<()> {
        let organization = self.config.ram_organization;
        self.write(
            cx,
            "AssociateResourceShare",
            Some(format!("{share_arn} {account}")),
            |s| s.principal_add(cx, share_arn, account, organization),
        )
        .await
    }

    async fn share_principal_remove(
        &self,
        cx: &CallCx,
        share_arn: &str,
        account: &AccountId,
    ) -> CloudResult<()> {
        const OP: &str = "DisassociateResourceShare";
        self.write(cx, OP, Some(format!("{share_arn} {account}")), |s| {
            let i = s.share_owned(cx, share_arn, OP)?;
            for p in &mut s.shares[i].principals {
                if &p.account == account {
                    p.status = PrincipalStatus::Disassociated;
                }
            }
            for inv in &mut s.invitations {
                if inv.share_arn == share_arn && &inv.receiver == account && inv.status == "PENDING"
                {
                    inv.status = "REJECTED".into();
                }
            }
            Ok(())
        })
        .await
    }

    async fn share_invitations(
        &self,
        cx: &CallCx,
        share_arn: &str,
    ) -> CloudResult<Vec<ShareInvitation>> {
        self.read(cx, "GetResourceShareInvitations", |s| {
            Ok(s.invitations
                .iter()
                .filter(|i| i.share_arn == share_arn && i.receiver == cx.account)
                .map(|i| ShareInvitation {
                    arn: i.arn.clone(),
                    share_arn: i.share_arn.clone(),
                    sender: i.sender.clone(),
                    status: i.status.clone(),
                })
                .collect())
        })
        .await
    }

    async fn share_invitation_accept(&self, cx: &CallCx, invitation_arn: &str) -> CloudResult<()> {
        self.write(
            cx,
            "AcceptResourceShareInvitation",
            Some(invitation_arn.to_owned()),
            |s| s.invitation_accept(cx, invitation_arn),
        )
        .await
    }

    async fn shares_owned(&self, cx: &CallCx) -> CloudResult<Vec<ShareInfo>> {
        self.read(cx, "GetResourceShares", |s| {
            Ok(s.shares
                .iter()
                .filter(|x| !x.deleted && x.owner == cx.account && x.region == cx.region)
                .map(Share::info)
                .collect())
        })
        .await
    }
}

impl SimCloud {
    /// The Profile a VPC is associated with, if any (introspection).
    pub fn profile_of_vpc(&self, vpc: &VpcId) -> Option<ProfileId> {
        self.lock()
            .profile_vpcs
            .iter()
            .find(|a| &a.vpc == vpc)
            .map(|a| a.profile.clone())
    }

    /// The zones a Profile holds (introspection).
    pub fn profile_zones(&self, id: &ProfileId) -> Vec<HostedZoneId> {
        self.lock()
            .profiles
            .iter()
            .find(|p| &p.id == id)
            .map(|p| p.zones.iter().map(|(z, _)| z.clone()).collect())
            .unwrap_or_default()
    }

    /// Every Profile (introspection).
    pub fn profiles(&self) -> Vec<ProfileInfo> {
        let s = self.lock();
        s.profiles.iter().map(|p| p.info(&p.owner)).collect()
    }

    /// The live principals of every live share (introspection): (share ARN, account, status).
    pub fn share_principals_all(&self) -> Vec<(String, AccountId, PrincipalStatus)> {
        let s = self.lock();
        s.shares
            .iter()
            .filter(|x| !x.deleted)
            .flat_map(|x| {
                x.principals
                    .iter()
                    .filter(|p| p.status.is_live())
                    .map(|p| (x.arn.clone(), p.account.clone(), p.status))
            })
            .collect()
    }

    /// Drift: a VPC associated with a Profile by someone else (e.g. the spoke's own team).
    pub fn drift_profile_associate(&self, profile: &ProfileId, vpc: &VpcId) {
        let mut s = self.lock();
        let v = s
            .vpcs
            .get(vpc)
            .unwrap_or_else(|| panic!("no VPC {vpc}"))
            .clone();
        s.profile_vpcs.push(ProfileVpc {
            profile: profile.clone(),
            vpc: vpc.clone(),
            owner: v.account,
            region: v.region,
            creating_left: 0,
        });
    }

    /// Drift: a VPC's Profile association removed by hand.
    pub fn drift_profile_disassociate(&self, vpc: &VpcId) {
        self.lock().profile_vpcs.retain(|a| &a.vpc != vpc);
    }

    /// Drift: a zone removed from a Profile by hand.
    pub fn drift_profile_zone_remove(&self, profile: &ProfileId, zone: &HostedZoneId) {
        let mut s = self.lock();
        if let Some(p) = s.profiles.iter_mut().find(|p| &p.id == profile) {
            p.zones.retain(|(z, _)| z != zone);
        }
    }

    /// Drift: an account removed from every share by hand (it no longer sees the Profile).
    pub fn drift_share_principal_remove(&self, account: &AccountId) {
        let mut s = self.lock();
        for share in &mut s.shares {
            for p in &mut share.principals {
                if &p.account == account {
                    p.status = PrincipalStatus::Disassociated;
                }
            }
        }
    }

    /// Drift: an account added to a share by hand (associated at once).
    pub fn drift_share_principal_add(&self, share_arn: &str, account: &AccountId) {
        let mut s = self.lock();
        if let Some(share) = s.shares.iter_mut().find(|x| x.arn == share_arn) {
            share.principals.push(SharePrincipal {
                account: account.clone(),
                status: PrincipalStatus::Associated,
            });
        }
    }

    /// A foreign Profile (made by another team) in `account`, for conflict tests.
    pub fn profile_add_foreign(
        &self,
        account: &AccountId,
        region: &Region,
        name: &str,
    ) -> ProfileId {
        let mut s = self.lock();
        let id: ProfileId = format!("rp-{:016x}", s.random())
            .parse()
            .expect("generated profile id");
        s.profiles.push(Profile {
            arn: format!("arn:aws:route53profiles:{region}:{account}:profile/{id}"),
            id: id.clone(),
            name: name.to_owned(),
            owner: account.clone(),
            region: region.clone(),
            client_token: format!("foreign-{id}"),
            zones: Vec::new(),
            creating: Vec::new(),
        });
        id
    }
}
