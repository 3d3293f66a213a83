//! AWS RAM shares as the hub's modes use them (the Route 53 Profile's in `profile` DNS mode, the
//! Transit Gateway's in `transit_gateway` network mode): a spoke's account added as a principal
//! (read first), its invitation accepted from the spoke account, and the account removed when no
//! spoke of it on the hub needs the share any more.

use super::context::{StepCx, StepError, StepResult};
use crate::cloud::{CallCx, Cloud};
use crate::domain::AccountId;
use crate::store;

/// `account` a live principal of `share` (read first), from the share's owner.
pub async fn share_principal_ensure(
    cloud: &Cloud,
    hcx: &CallCx,
    share: &str,
    account: &AccountId,
) -> StepResult {
    let principals = cloud.sharing.share_principals(hcx, share).await?;
    if principals
        .iter()
        .any(|p| &p.account == account && p.status.is_live())
    {
        return Ok(());
    }
    cloud
        .sharing
        .share_principal_add(hcx, share, account)
        .await?;
    Ok(())
}

/// From a receiving account: accepts every pending invitation of `share`. Returns how many
/// were accepted and whether there was any invitation at all.
pub async fn share_invitations_accept(
    cloud: &Cloud,
    scx: &CallCx,
    share: &str,
) -> Result<(usize, bool), StepError> {
    let invitations = cloud.sharing.share_invitations(scx, share).await?;
    let pending: Vec<_> = invitations
        .iter()
        .filter(|i| i.status.eq_ignore_ascii_case("PENDING"))
        .collect();
    for inv in &pending {
        cloud.sharing.share_invitation_accept(scx, &inv.arn).await?;
    }
    Ok((pending.len(), !invitations.is_empty()))
}

/// From the hub account: removes the spoke's account from `share` unless another spoke of that
/// account on the hub still needs it.
pub async fn share_leave_unless_needed<S>(cx: &mut StepCx<S>, share: &str) -> StepResult {
    if cx.spoke().account_id == cx.hub.account_id {
        return Ok(());
    }
    let account = cx.spoke().account_id.clone();
    let others = {
        let mut conn = cx.pool.acquire().await?;
        store::hubs::hub_account_spokes_other(&mut conn, cx.hub.id, &account, cx.spoke().id).await?
    };
    if others > 0 {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    cx.cloud
        .sharing
        .share_principal_remove(&hcx, share, &account)
        .await?;
    Ok(())
}
