//! Route 53 Profiles and AWS RAM over the SDK.
//!
//! Neither service publishes per-operation request rates, so their calls are not paced
//! client-side; the SDK's standard retry mode backs off on `ThrottlingException`. Listings are
//! read to the end through the SDK's paginators.

use async_trait::async_trait;
use aws_sdk_ram::types::{
    ResourceOwner, ResourceShare, ResourceShareAssociationType, Tag, TagFilter,
};
use aws_sdk_route53profiles::types::{Profile, ShareStatus};

use super::AwsCloud;
use super::errors::{malformed, sdk_error};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, OWNER_TAG, PrincipalStatus, ProfileInfo,
    ProfileResourceInfo, ProfileVpcInfo, Profiles, ShareInfo, ShareInvitation, SharePrincipal,
    Sharing,
};
use crate::domain::{AccountId, HostedZoneId, ProfileId, VpcId};

/// A private hosted zone's ARN, as Route 53 Profiles takes it.
pub(crate) fn zone_arn(zone: &HostedZoneId) -> String {
    format!("arn:aws:route53:::hostedzone/{zone}")
}

fn zone_of_arn(arn: &str) -> Option<HostedZoneId> {
    arn.strip_prefix("arn:aws:route53:::hostedzone/")?
        .parse()
        .ok()
}

fn profile_info(p: &Profile) -> Option<ProfileInfo> {
    Some(ProfileInfo {
        id: p.id()?.parse().ok()?,
        arn: p.arn()?.to_owned(),
        name: p.name().unwrap_or_default().to_owned(),
        owner: p.owner_id()?.parse().ok()?,
        client_token: p.client_token().map(str::to_owned),
        status: p
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    })
}

fn share_info(s: &ResourceShare) -> Option<ShareInfo> {
    Some(ShareInfo {
        arn: s.resource_share_arn()?.to_owned(),
        name: s.name().unwrap_or_default().to_owned(),
        owner: s.owning_account_id()?.parse().ok()?,
        status: s
            .status()
            .map(|x| x.as_str().to_owned())
            .unwrap_or_default(),
        owner_tag: s
            .tags()
            .iter()
            .find(|t| t.key() == Some(OWNER_TAG))
            .and_then(|t| t.value().map(str::to_owned)),
    })
}

fn share_live(s: &ShareInfo) -> bool {
    matches!(s.status.as_str(), "ACTIVE" | "PENDING")
}

impl AwsCloud {
    /// The ids and names of the Profiles the caller owns (`ListProfiles` without those shared
    /// with it).
    async fn own_profile_ids(&self, cx: &CallCx) -> CloudResult<Vec<(ProfileId, String)>> {
        let pages: Vec<_> = self
            .clients(cx)
            .profiles
            .list_profiles()
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| sdk_error("ListProfiles", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.profile_summaries())
            .filter(|p| p.share_status() != Some(&ShareStatus::SharedWithMe))
            .filter_map(|p| Some((p.id()?.parse().ok()?, p.name()?.to_owned())))
            .collect())
    }

    /// Every share the caller owns with the tag key [`OWNER_TAG`] (value `owner_tag` if given).
    async fn shares_tagged(
        &self,
        cx: &CallCx,
        owner_tag: Option<&str>,
    ) -> CloudResult<Vec<ShareInfo>> {
        let mut filter = TagFilter::builder().tag_key(OWNER_TAG);
        if let Some(v) = owner_tag {
            filter = filter.tag_values(v);
        }
        let pages: Vec<_> = self
            .clients(cx)
            .ram
            .get_resource_shares()
            .resource_owner(ResourceOwner::SelfValue)
            .tag_filters(filter.build())
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| sdk_error("GetResourceShares", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.resource_shares())
            .filter_map(share_info)
            .filter(share_live)
            .collect())
    }
}

#[async_trait]
impl Profiles for AwsCloud {
    async fn profile_find(&self, cx: &CallCx, name: &str) -> CloudResult<Option<ProfileInfo>> {
        let hit = self
            .own_profile_ids(cx)
            .await?
            .into_iter()
            .find(|(_, n)| n == name);
        match hit {
            Some((id, _)) => self.profile_get(cx, &id).await,
            None => Ok(None),
        }
    }

    async fn profile_get(&self, cx: &CallCx, id: &ProfileId) -> CloudResult<Option<ProfileInfo>> {
        let out = self
            .clients(cx)
            .profiles
            .get_profile()
            .profile_id(id.as_str())
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.profile().and_then(profile_info)),
            Err(e) => {
                let e = sdk_error("GetProfile", e);
                if e.is(CloudErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn profile_create(
        &self,
        cx: &CallCx,
        name: &str,
        client_token: &str,
        owner_tag: &str,
    ) -> CloudResult<ProfileInfo> {
        let tag = aws_sdk_route53profiles::types::Tag::builder()
            .key(OWNER_TAG)
            .value(owner_tag)
            .build()
            .map_err(|e| malformed("CreateProfile", &e.to_string()))?;
        let result = self
            .clients(cx)
            .profiles
            .create_profile()
            .name(name)
            .client_token(client_token)
            .tags(tag)
            .send()
            .await;
        let out = self
            .audited(cx, "CreateProfile", None, result, |o| {
                o.profile().and_then(|p| p.id().map(str::to_owned))
            })
            .await?;
        out.profile()
            .and_then(profile_info)
            .ok_or_else(|| malformed("CreateProfile", "a Profile"))
    }

    async fn profile_delete(&self, cx: &CallCx, id: &ProfileId) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .profiles
            .delete_profile()
            .profile_id(id.as_str())
            .send()
            .await;
        match self
            .audited(cx, "DeleteProfile", Some(id.to_string()), result, |_| None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(CloudErrorKind::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn profile_resources(
        &self,
        cx: &CallCx,
        id: &ProfileId,
    ) -> CloudResult<Vec<ProfileResourceInfo>> {
        let pages: Vec<_> = self
            .clients(cx)
            .profiles
            .list_profile_resource_associations()
            .profile_id(id.as_str())
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| sdk_error("ListProfileResourceAssociations", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.profile_resource_associations())
            .filter_map(|r| {
                let arn = r.resource_arn()?;
                Some(ProfileResourceInfo {
                    resource_arn: arn.to_owned(),
                    zone: zone_of_arn(arn),
                    status: r
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn profile_zone_add(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
        name: &str,
    ) -> CloudResult<()> {
        // The caller has read the Profile's resources; the same zone again answers
        // `ConflictException`, checked below.
        let arn = zone_arn(zone);
        // A resource association's name: letters, digits, `-`, `_` and spaces only.
        let assoc_name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(64)
            .collect();
        let result = self
            .clients(cx)
            .profiles
            .associate_resource_to_profile()
            .profile_id(id.as_str())
            .resource_arn(&arn)
            .name(assoc_name)
            .send()
            .await;
        match self
            .audited(cx, "AssociateResourceToProfile", Some(arn), result, |_| {
                None
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                // A lost response: the association we asked for is there now.
                let now = self.profile_resources(cx, id).await?;
                if now.iter().any(|r| r.zone.as_ref() == Some(zone)) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn profile_zone_remove(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
    ) -> CloudResult<()> {
        let arn = zone_arn(zone);
        let result = self
            .clients(cx)
            .profiles
            .disassociate_resource_from_profile()
            .profile_id(id.as_str())
            .resource_arn(&arn)
            .send()
            .await;
        match self
            .audited(
                cx,
                "DisassociateResourceFromProfile",
                Some(arn),
                result,
                |_| None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(CloudErrorKind::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn profile_vpcs(
        &self,
        cx: &CallCx,
        profile: Option<&ProfileId>,
        vpc: Option<&VpcId>,
    ) -> CloudResult<Vec<ProfileVpcInfo>> {
        let pages: Vec<_> = self
            .clients(cx)
            .profiles
            .list_profile_associations()
            .set_profile_id(profile.map(|p| p.to_string()))
            .set_resource_id(vpc.map(|v| v.to_string()))
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| sdk_error("ListProfileAssociations", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.profile_associations())
            .filter_map(|a| {
                Some(ProfileVpcInfo {
                    profile_id: a.profile_id()?.parse().ok()?,
                    vpc_id: a.resource_id()?.parse().ok()?,
                    owner: a.owner_id()?.parse().ok()?,
                    status: a
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn profile_associate(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
        name: &str,
    ) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .profiles
            .associate_profile()
            .profile_id(id.as_str())
            .resource_id(vpc.as_str())
            .name(name)
            .send()
            .await;
        self.audited(
            cx,
            "AssociateProfile",
            Some(format!("{id} {vpc}")),
            result,
            |_| None,
        )
        .await
        .map(|_| ())
    }

    async fn profile_disassociate(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
    ) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .profiles
            .disassociate_profile()
            .profile_id(id.as_str())
            .resource_id(vpc.as_str())
            .send()
            .await;
        match self
            .audited(
                cx,
                "DisassociateProfile",
                Some(format!("{id} {vpc}")),
                result,
                |_| None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(CloudErrorKind::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn profiles_owned(&self, cx: &CallCx) -> CloudResult<Vec<ProfileInfo>> {
        let mut out = Vec::new();
        for (id, _) in self.own_profile_ids(cx).await? {
            if let Some(info) = self.profile_get(cx, &id).await? {
                out.push(info);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Sharing for AwsCloud {
    async fn share_find(&self, cx: &CallCx, owner_tag: &str) -> CloudResult<Option<ShareInfo>> {
        Ok(self
            .shares_tagged(cx, Some(owner_tag))
            .await?
            .into_iter()
            .next())
    }

    async fn share_create(
        &self,
        cx: &CallCx,
        name: &str,
        resource_arn: &str,
        client_token: &str,
        owner_tag: &str,
    ) -> CloudResult<ShareInfo> {
        let result = self
            .clients(cx)
            .ram
            .create_resource_share()
            .name(name)
            .resource_arns(resource_arn)
            .allow_external_principals(true)
            .client_token(client_token)
            .tags(Tag::builder().key(OWNER_TAG).value(owner_tag).build())
            .send()
            .await;
        let out = self
            .audited(cx, "CreateResourceShare", None, result, |o| {
                o.resource_share()
                    .and_then(|s| s.resource_share_arn().map(str::to_owned))
            })
            .await?;
        out.resource_share()
            .and_then(share_info)
            .ok_or_else(|| malformed("CreateResourceShare", "a resource share"))
    }

    async fn share_delete(&self, cx: &CallCx, share_arn: &str) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .ram
            .delete_resource_share()
            .resource_share_arn(share_arn)
            .send()
            .await;
        match self
            .audited(
                cx,
                "DeleteResourceShare",
                Some(share_arn.to_owned()),
                result,
                |_| None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(CloudErrorKind::NotFound) => Ok(()),
            // Already deleted: RAM refuses the state transition.
            Err(e)
                if e.code
                    .eq_ignore_ascii_case("InvalidStateTransitionException") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn share_principals(
        &self,
        cx: &CallCx,
        share_arn: &str,
    ) -> CloudResult<Vec<SharePrincipal>> {
        let pages: Vec<_> = self
            .clients(cx)
            .ram
            .get_resource_share_associations()
            .association_type(ResourceShareAssociationType::Principal)
            .resource_share_arns(share_arn)
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| sdk_error("GetResourceShareAssociations", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.resource_share_associations())
            .filter_map(|a| {
                Some(SharePrincipal {
                    account: a.associated_entity()?.parse().ok()?,
                    status: PrincipalStatus::from_code(a.status()?.as_str()),
                })
            })
            .collect())
    }

    async fn share_principal_add(
        &self,
        cx: &CallCx,
        share_arn: &str,
        account: &AccountId,
    ) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .ram
            .associate_resource_share()
            .resource_share_arn(share_arn)
            .principals(account.as_str())
            .send()
            .await;
        self.audited(
            cx,
            "AssociateResourceShare",
            Some(format!("{share_arn} {account}")),
            result,
            |_| None,
        )
        .await
        .map(|_| ())
    }

    async fn share_principal_remove(
        &self,
        cx: &CallCx,
        share_arn: &str,
        account: &AccountId,
    ) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .ram
            .disassociate_resource_share()
            .resource_share_arn(share_arn)
            .principals(account.as_str())
            .send()
            .await;
        match self
            .audited(
                cx,
                "DisassociateResourceShare",
                Some(format!("{share_arn} {account}")),
                result,
                |_| None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(CloudErrorKind::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn share_invitations(
        &self,
        cx: &CallCx,
        share_arn: &str,
    ) -> CloudResult<Vec<ShareInvitation>> {
        let pages: Vec<_> = self
            .clients(cx)
            .ram
            .get_resource_share_invitations()
            .resource_share_arns(share_arn)
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| sdk_error("GetResourceShareInvitations", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.resource_share_invitations())
            .filter(|i| i.receiver_account_id() == Some(cx.account.as_str()))
            .filter_map(|i| {
                Some(ShareInvitation {
                    arn: i.resource_share_invitation_arn()?.to_owned(),
                    share_arn: i.resource_share_arn()?.to_owned(),
                    sender: i.sender_account_id()?.parse().ok()?,
                    status: i.status()?.as_str().to_owned(),
                })
            })
            .collect())
    }

    async fn share_invitation_accept(&self, cx: &CallCx, invitation_arn: &str) -> CloudResult<()> {
        let result = self
            .clients(cx)
            .ram
            .accept_resource_share_invitation()
            .resource_share_invitation_arn(invitation_arn)
            .send()
            .await;
        match self
            .audited(
                cx,
                "AcceptResourceShareInvitation",
                Some(invitation_arn.to_owned()),
                result,
                |_| None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.code
                    .eq_ignore_ascii_case("ResourceShareInvitationAlreadyAcceptedException") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn shares_owned(&self, cx: &CallCx) -> CloudResult<Vec<ShareInfo>> {
        self.shares_tagged(cx, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ram::types::ResourceShareStatus;

    #[test]
    fn zone_arns_round_trip() {
        let z: HostedZoneId = "Z0123456789ABC".parse().unwrap();
        assert_eq!(zone_of_arn(&zone_arn(&z)), Some(z));
        assert_eq!(
            zone_of_arn("arn:aws:ec2:eu-west-1:1:vpc-endpoint/vpce-1"),
            None
        );
    }

    #[test]
    fn share_status_is_read() {
        let s = ResourceShare::builder()
            .resource_share_arn("arn:aws:ram:eu-west-1:111111111111:resource-share/x")
            .owning_account_id("111111111111")
            .status(ResourceShareStatus::Deleted)
            .build();
        let info = share_info(&s).unwrap();
        assert!(!share_live(&info));
    }
}
