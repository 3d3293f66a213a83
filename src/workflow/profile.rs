//! The `profile` DNS mode's steps: the hub's Route 53 Profile holding its zones, the AWS RAM
//! share of the Profile, and each spoke VPC's one association with it.
//!
//! Every step does nothing on a hub in `zones` mode, so the step tables are the same for both
//! modes (step names are stored in job rows). Each is idempotent: the Profile is found by its
//! name (one per hub) before one is made with a client token; the share by its owner tag; a
//! zone already in the Profile, an account already a principal, an invitation already
//! accepted and a VPC already associated with the hub's Profile are success. A VPC associated
//! with another Profile is a permanent error naming it (a VPC takes one Profile).

use uuid::Uuid;

use super::context::{
    StepCx, StepError, StepResult, WaitFor, fail, hub_call_cx, spoke_call_cx, wait,
};
use super::sharing::{share_invitations_accept, share_leave_unless_needed, share_principal_ensure};
use crate::cloud::{Cloud, CloudErrorKind, ProfileInfo};
use crate::domain::ProfileId;
use crate::model::{DnsMode, Hub, Spoke};
use crate::store::effects::Effect;

/// The name of a hub's Profile (and of its RAM share): unique per hub.
pub fn profile_name(hub: &Hub) -> String {
    format!("endpoint-hub-{}", hub.id)
}

/// The `ClientToken` of the hub's `CreateProfile`: a retried create returns the same Profile.
fn profile_token(hub: &Hub) -> String {
    format!("endpoint-hub-profile-{}", hub.id.simple())
}

fn share_token(hub: &Hub) -> String {
    format!("endpoint-hub-share-{}", hub.id.simple())
}

fn profile_mode<S>(cx: &StepCx<S>) -> bool {
    cx.hub.dns_mode == DnsMode::Profile
}

/// Finds the hub's Profile by name, or makes it.
pub async fn profile<S>(cx: &mut StepCx<S>) -> StepResult {
    if !profile_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let name = profile_name(&cx.hub);
    let found: Option<ProfileInfo> = match &cx.hub.profile_id {
        Some(id) => cx.cloud.profiles.profile_get(&hcx, id).await?,
        None => None,
    };
    let p = match found {
        Some(p) => p,
        None => match cx.cloud.profiles.profile_find(&hcx, &name).await? {
            Some(p) => p,
            None => {
                cx.cloud
                    .profiles
                    .profile_create(&hcx, &name, &profile_token(&cx.hub), &cx.hub_tag())
                    .await?
            }
        },
    };
    if p.owner != cx.hub.account_id {
        return fail(format!(
            "Route 53 Profile {} named {name} belongs to account {}, not to the hub's",
            p.id, p.owner
        ));
    }
    cx.effect(Effect::HubProfile {
        id: p.id,
        arn: p.arn,
    });
    Ok(())
}

/// Puts every zone of the hub's present services into the Profile (those already there are
/// skipped after one listing).
pub async fn profile_zones<S>(cx: &mut StepCx<S>) -> StepResult {
    if !profile_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let id = profile_of(&cx.hub)?;
    let present = cx.cloud.profiles.profile_resources(&hcx, &id).await?;
    let have: Vec<_> = present.iter().filter_map(|r| r.zone.clone()).collect();
    let wanted: Vec<(crate::domain::HostedZoneId, String)> = cx
        .present_services()
        .iter()
        .flat_map(|s| {
            s.zones
                .iter()
                .filter_map(|z| z.id.clone().map(|id| (id, z.name.clone())))
                .collect::<Vec<_>>()
        })
        .collect();
    if wanted.len() as i64 > cx.limits.zones_per_profile {
        return fail(format!(
            "the hub has {} zones: a Route 53 Profile holds at most {}",
            wanted.len(),
            cx.limits.zones_per_profile
        ));
    }
    // A zone of the Profile that no longer exists (deleted by hand, then made again under a new
    // id) would hold its name: taken out first. Zones someone else put in are left.
    for stale in have.iter().filter(|z| !wanted.iter().any(|(w, _)| &w == z)) {
        if cx.cloud.dns.zone_get(&hcx, stale).await?.is_none() {
            cx.cloud
                .profiles
                .profile_zone_remove(&hcx, &id, stale)
                .await?;
        }
    }
    let mut added = false;
    for (zone, name) in &wanted {
        if have.contains(zone) {
            continue;
        }
        added = true;
        match cx
            .cloud
            .profiles
            .profile_zone_add(&hcx, &id, zone, name)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                return fail(format!(
                    "zone {zone} ({name}) can't go into Route 53 Profile {id}: {}",
                    e.message
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    // AWS associates a zone asynchronously: the spokes resolve its names once it is COMPLETE.
    let now = if added {
        cx.cloud.profiles.profile_resources(&hcx, &id).await?
    } else {
        present
    };
    let mut pending = Vec::new();
    for r in now.iter().filter(|r| {
        r.zone
            .as_ref()
            .is_some_and(|z| wanted.iter().any(|(w, _)| w == z))
    }) {
        match r.status.to_ascii_uppercase().as_str() {
            "COMPLETE" | "" => {}
            "FAILED" => {
                return fail(format!(
                    "the association of {} with Route 53 Profile {id} failed",
                    r.resource_arn
                ));
            }
            other => pending.push(format!("{} is {other}", r.resource_arn)),
        }
    }
    if !pending.is_empty() {
        return wait(
            WaitFor::Resource,
            format!(
                "zones not in Route 53 Profile {id} yet: {}",
                pending.join(", ")
            ),
        );
    }
    Ok(())
}

/// Finds the RAM share of the hub's Profile by its owner tag, or makes it (no principal yet).
pub async fn profile_share<S>(cx: &mut StepCx<S>) -> StepResult {
    if !profile_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let Some(arn) = cx.hub.profile_arn.clone() else {
        return fail("the hub has no Route 53 Profile yet (step profile makes it)");
    };
    let share = match cx.cloud.sharing.share_find(&hcx, &cx.hub_tag()).await? {
        Some(s) => s,
        None => {
            cx.cloud
                .sharing
                .share_create(
                    &hcx,
                    &profile_name(&cx.hub),
                    &arn,
                    &share_token(&cx.hub),
                    &cx.hub_tag(),
                )
                .await?
        }
    };
    cx.effect(Effect::HubShare(Some(share.arn)));
    Ok(())
}

/// Removes the hub's Profile and its share (the hub is being deleted; its spokes are all
/// detached). A VPC still associated (by hand) is reported: AWS refuses to delete the Profile.
pub async fn profile_delete<S>(cx: &mut StepCx<S>) -> StepResult {
    if !profile_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let share = match &cx.hub.share_arn {
        Some(a) => Some(a.clone()),
        None => cx
            .cloud
            .sharing
            .share_find(&hcx, &cx.hub_tag())
            .await?
            .map(|s| s.arn),
    };
    if let Some(arn) = share {
        cx.cloud.sharing.share_delete(&hcx, &arn).await?;
    }
    cx.effect(Effect::HubShare(None));
    let id = match &cx.hub.profile_id {
        Some(id) => Some(id.clone()),
        None => cx
            .cloud
            .profiles
            .profile_find(&hcx, &profile_name(&cx.hub))
            .await?
            .map(|p| p.id),
    };
    let Some(id) = id else {
        return Ok(());
    };
    // Gone already (a rerun after the delete, before its checkpoint).
    if cx.cloud.profiles.profile_get(&hcx, &id).await?.is_none() {
        cx.effect(Effect::HubProfileCleared);
        return Ok(());
    }
    let vpcs = cx
        .cloud
        .profiles
        .profile_vpcs(&hcx, Some(&id), None)
        .await?;
    if !vpcs.is_empty() {
        let list: Vec<String> = vpcs
            .iter()
            .map(|v| format!("{} (account {})", v.vpc_id, v.owner))
            .collect();
        return fail(format!(
            "Route 53 Profile {id} is still associated with {}; AWS deletes a Profile only \
             once no VPC uses it: disassociate them (DisassociateProfile, as each VPC's owner) \
             and retry this job",
            list.join(", ")
        ));
    }
    for r in cx.cloud.profiles.profile_resources(&hcx, &id).await? {
        if let Some(zone) = r.zone {
            cx.cloud
                .profiles
                .profile_zone_remove(&hcx, &id, &zone)
                .await?;
        }
    }
    cx.cloud.profiles.profile_delete(&hcx, &id).await?;
    cx.effect(Effect::HubProfileCleared);
    Ok(())
}

/// Removes a zone from the hub's Profile before the zone is deleted (a removed service).
pub async fn profile_zone_forget<S>(
    cx: &StepCx<S>,
    zone: &crate::domain::HostedZoneId,
) -> StepResult {
    if !profile_mode(cx) {
        return Ok(());
    }
    let Some(id) = &cx.hub.profile_id else {
        return Ok(());
    };
    let hcx = cx.hub_cx();
    cx.cloud
        .profiles
        .profile_zone_remove(&hcx, id, zone)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Spoke steps
// ---------------------------------------------------------------------------------------------

/// Adds the spoke's account to the share of the hub's Profile (from the hub account).
pub async fn share_with_spoke<S>(cx: &mut StepCx<S>) -> StepResult {
    principal_ensure(&cx.cloud, &cx.hub, cx.spoke(), Some(cx.job.id)).await
}

/// From the spoke account: accepts the share's invitation when the accounts are not in one
/// organization sharing automatically, and waits until the Profile is visible.
pub async fn accept_share<S>(cx: &mut StepCx<S>) -> StepResult {
    invitation_accept(&cx.cloud, &cx.hub, cx.spoke(), Some(cx.job.id)).await
}

/// Associates the spoke VPC with the hub's Profile from the spoke account.
pub async fn associate_profile<S>(cx: &mut StepCx<S>) -> StepResult {
    vpc_associate(&cx.cloud, &cx.hub, cx.spoke(), Some(cx.job.id)).await
}

fn profile_of(hub: &Hub) -> Result<ProfileId, StepError> {
    hub.profile_id.clone().ok_or_else(|| {
        StepError::Fail("the hub has no Route 53 Profile yet (step profile makes it)".into())
    })
}

fn share_of(hub: &Hub) -> Result<String, StepError> {
    hub.share_arn.clone().ok_or_else(|| {
        StepError::Fail(
            "the hub has no RAM share of its Profile (step profile_share makes it)".into(),
        )
    })
}

/// The spoke's account a live principal of the hub's share (read first). A spoke in the hub's
/// own account needs no share.
pub async fn principal_ensure(
    cloud: &Cloud,
    hub: &Hub,
    spoke: &Spoke,
    job_id: Option<Uuid>,
) -> StepResult {
    if hub.dns_mode != DnsMode::Profile || spoke.account_id == hub.account_id {
        return Ok(());
    }
    let hcx = hub_call_cx(hub, job_id);
    let share = share_of(hub)?;
    share_principal_ensure(cloud, &hcx, &share, &spoke.account_id).await
}

/// From the spoke account: the hub's Profile visible, accepting a pending invitation of the
/// share when there is one; waits while it is not visible yet.
pub async fn invitation_accept(
    cloud: &Cloud,
    hub: &Hub,
    spoke: &Spoke,
    job_id: Option<Uuid>,
) -> StepResult {
    if hub.dns_mode != DnsMode::Profile || spoke.account_id == hub.account_id {
        return Ok(());
    }
    let scx = spoke_call_cx(spoke, job_id);
    let id = profile_of(hub)?;
    if cloud.profiles.profile_get(&scx, &id).await?.is_some() {
        return Ok(());
    }
    let share = share_of(hub)?;
    let (accepted, invited) = share_invitations_accept(cloud, &scx, &share).await?;
    if accepted > 0 && cloud.profiles.profile_get(&scx, &id).await?.is_some() {
        return Ok(());
    }
    wait(
        WaitFor::Resource,
        format!(
            "Route 53 Profile {id} is not visible to account {} yet (RAM share {share}{})",
            spoke.account_id,
            if !invited {
                ": no invitation yet"
            } else {
                ": invitation accepted"
            }
        ),
    )
}

/// Associates the spoke VPC with the hub's Profile from the spoke account, after reading what
/// the VPC has: already ours is success, another Profile is a permanent error naming it.
pub async fn vpc_associate(
    cloud: &Cloud,
    hub: &Hub,
    spoke: &Spoke,
    job_id: Option<Uuid>,
) -> StepResult {
    if hub.dns_mode != DnsMode::Profile {
        return Ok(());
    }
    let scx = spoke_call_cx(spoke, job_id);
    let id = profile_of(hub)?;
    let vpc = spoke.vpc_id.clone();
    let has = cloud.profiles.profile_vpcs(&scx, None, Some(&vpc)).await?;
    if let Some(verdict) = vpc_profile_verdict(&has, &id, &vpc) {
        return verdict;
    }
    let name = format!("endpoint-hub-{}", spoke.id);
    match cloud
        .profiles
        .profile_associate(&scx, &id, &vpc, &name)
        .await
    {
        Ok(()) => {
            // Made asynchronously: done once it reads COMPLETE.
            let has = cloud.profiles.profile_vpcs(&scx, None, Some(&vpc)).await?;
            vpc_profile_verdict(&has, &id, &vpc).unwrap_or_else(|| {
                wait(
                    WaitFor::Resource,
                    format!(
                        "the association of VPC {vpc} with Route 53 Profile {id} is not \
                         listed yet"
                    ),
                )
            })
        }
        Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
            // A lost response (our association is there), or another Profile came first.
            let has = cloud.profiles.profile_vpcs(&scx, None, Some(&vpc)).await?;
            vpc_profile_verdict(&has, &id, &vpc).unwrap_or_else(|| Err(e.into()))
        }
        Err(e) if e.is(CloudErrorKind::NotFound) => wait(
            WaitFor::Resource,
            format!(
                "Route 53 Profile {id} is not visible to account {} yet: {}",
                spoke.account_id, e.message
            ),
        ),
        Err(e) if e.is(CloudErrorKind::LimitExceeded) => fail(format!(
            "Route 53 Profile {id} can't take VPC {vpc}: {} (AWS: 1,000 VPCs per Profile by \
             default; raise the quota, then set EH_VPCS_PER_PROFILE_QUOTA)",
            e.message
        )),
        Err(e) => Err(e.into()),
    }
}

/// What the VPC's current Profile association means: `Ok` when it is the hub's, a permanent
/// error naming the other Profile, `None` when it has none.
fn vpc_profile_verdict(
    has: &[crate::cloud::ProfileVpcInfo],
    ours: &ProfileId,
    vpc: &crate::domain::VpcId,
) -> Option<StepResult> {
    let a = has
        .iter()
        .find(|a| &a.vpc_id == vpc && !a.status.eq_ignore_ascii_case("DELETED"))?;
    if &a.profile_id == ours {
        // AWS makes the association asynchronously: the VPC resolves the Profile's names once
        // it is COMPLETE (CREATING before).
        return Some(match a.status.to_ascii_uppercase().as_str() {
            "COMPLETE" | "" => Ok(()),
            "FAILED" => fail(format!(
                "the association of VPC {vpc} with Route 53 Profile {ours} failed; \
                 disassociate it (DisassociateProfile) and retry this job"
            )),
            other => wait(
                WaitFor::Resource,
                format!("the association of VPC {vpc} with Route 53 Profile {ours} is {other}"),
            ),
        });
    }
    Some(fail(format!(
        "VPC {vpc} is already associated with Route 53 Profile {} (a VPC can have one \
         Profile): disassociate it, or enrol the VPC into a hub in zones mode",
        a.profile_id
    )))
}

/// From the spoke account: removes the VPC's association with the hub's Profile (none is
/// success). An unreachable spoke account is noted and left: only the VPC's owner can
/// disassociate it.
pub async fn disassociate_profile<S>(cx: &mut StepCx<S>) -> Result<Option<String>, StepError> {
    if !profile_mode(cx) {
        return Ok(None);
    }
    let Some(id) = cx.hub.profile_id.clone() else {
        return Ok(None);
    };
    let scx = cx.spoke_cx();
    let vpc = cx.spoke().vpc_id.clone();
    match cx
        .cloud
        .profiles
        .profile_disassociate(&scx, &id, &vpc)
        .await
    {
        Ok(()) => Ok(None),
        Err(e) if e.is(CloudErrorKind::AccessDenied) => Ok(Some(format!(
            "the spoke account {} could not be reached ({e}): VPC {vpc} is still associated \
             with Route 53 Profile {id}; only the VPC's owner can disassociate it",
            cx.spoke().account_id
        ))),
        Err(e) => Err(e.into()),
    }
}

/// From the hub account: removes the spoke's account from the share unless another spoke of
/// that account still needs it.
pub async fn unshare_spoke<S>(cx: &mut StepCx<S>) -> StepResult {
    if !profile_mode(cx) || cx.spoke().account_id == cx.hub.account_id {
        return Ok(());
    }
    let Some(share) = cx.hub.share_arn.clone() else {
        return Ok(());
    };
    share_leave_unless_needed(cx, &share).await
}
