//! The `transit_gateway` network mode's steps: the hub's Transit Gateway, its two route tables,
//! the hub VPC's attachment, the AWS RAM share of the gateway and the hub route tables' route to
//! the spokes; each spoke VPC's attachment, accepted, associated and propagated.
//!
//! The design is AWS's "isolated VPCs with shared services" pattern: two gateway route tables.
//! The hub attachment is associated with the *hub* table, into which every spoke attachment
//! propagates its CIDR blocks; every spoke attachment is associated with the *spokes* table,
//! into which only the hub attachment propagates. Spokes reach the hub, not each other.
//!
//! In the hub VPC's route tables one route per table serves every spoke: its destination is
//! the hub's managed prefix list (the spoke CIDRs, which the attach adds anyway for the
//! security group), its target the gateway. An attach therefore writes no hub route; AWS counts
//! the route as the list's `MaxEntries` routes against the table's quota.
//!
//! Every step does nothing on a hub in `peering` mode, so the step tables are the same for both
//! modes (step names are stored in job rows). Each is idempotent: what endpoint-hub makes is
//! tagged and found by its tag first (no Transit Gateway create takes a client token that
//! survives a restart); an attachment, association or propagation already there is success;
//! one pointing elsewhere is a permanent error naming it.

use super::context::{StepCx, StepError, StepResult, WaitFor, fail, wait};
use super::sharing::{share_invitations_accept, share_leave_unless_needed, share_principal_ensure};
use crate::cloud::{
    CloudErrorKind, RouteTarget, SubnetInfo, TgwAttachmentInfo, TgwAttachmentRequest,
    TransitGatewayInfo,
};
use crate::domain::{SubnetId, TgwAttachmentId, TgwRouteTableId, TransitGatewayId};
use crate::model::{HubTransit, NetworkMode};
use crate::store::effects::Effect;

pub fn transit_mode<S>(cx: &StepCx<S>) -> bool {
    cx.hub.network_mode == NetworkMode::TransitGateway
}

fn transit<S>(cx: &StepCx<S>) -> HubTransit {
    cx.hub.transit_gateway.clone().unwrap_or_default()
}

/// Records the hub's transit resources, in the database with the checkpoint and in this step's
/// copy of the hub.
pub fn transit_set<S>(cx: &mut StepCx<S>, t: HubTransit) {
    cx.hub.transit_gateway = Some(t.clone());
    cx.effect(Effect::HubTransit(t));
}

/// The hub's gateway id (made by step `transit_gateway`).
pub fn tgw_of<S>(cx: &StepCx<S>) -> Result<TransitGatewayId, StepError> {
    transit(cx).transit_gateway_id.ok_or_else(|| {
        StepError::Fail(
            "the hub has no Transit Gateway yet (step transit_gateway makes or checks it)".into(),
        )
    })
}

fn tables_of<S>(cx: &StepCx<S>) -> Result<(TgwRouteTableId, TgwRouteTableId), StepError> {
    let t = transit(cx);
    match (t.hub_route_table_id, t.spoke_route_table_id) {
        (Some(h), Some(s)) => Ok((h, s)),
        _ => fail(
            "the hub has no Transit Gateway route tables yet (step transit_route_tables makes \
             them)",
        ),
    }
}

fn table_tag<S>(cx: &StepCx<S>, which: &str) -> String {
    format!("{}:tgw-rtb:{which}", cx.hub_tag())
}

fn share_tag<S>(cx: &StepCx<S>) -> String {
    format!("{}:tgw-share", cx.hub_tag())
}

fn available_or_wait(t: &TransitGatewayInfo) -> StepResult {
    match t.state.as_str() {
        "available" => Ok(()),
        "pending" | "modifying" => wait(
            WaitFor::Resource,
            format!("Transit Gateway {} is {}", t.id, t.state),
        ),
        other => fail(format!("Transit Gateway {} is {other}", t.id)),
    }
}

// ---------------------------------------------------------------------------------------------
// Hub provisioning
// ---------------------------------------------------------------------------------------------

/// The gateway given at registration (checked: the hub account's own, available), or the one
/// tagged for the hub, or a new one (no shared attachment accepted by itself, no default route
/// table association or propagation).
pub async fn transit_gateway<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let mut t = transit(cx);
    let gw = match (&t.transit_gateway_id, t.given) {
        (Some(id), true) => {
            let Some(gw) = cx.cloud.transit.tgw_get(&hcx, id).await? else {
                return fail(format!(
                    "Transit Gateway {id} does not exist in account {} ({})",
                    cx.hub.account_id, cx.hub.region
                ));
            };
            if gw.owner != cx.hub.account_id {
                return fail(format!(
                    "Transit Gateway {id} belongs to account {}, not to the hub's account {}: \
                     the hub accepts the spokes' attachments and makes route tables, which only \
                     the gateway's owner can do",
                    gw.owner, cx.hub.account_id
                ));
            }
            if gw.default_association {
                return fail(format!(
                    "Transit Gateway {id} associates every new attachment with its default route \
                     table (DefaultRouteTableAssociation=enable): the hub associates its own \
                     attachments with its own route tables, to keep spokes apart, which that \
                     setting prevents; turn it off (ModifyTransitGateway) or let the hub make \
                     its own gateway"
                ));
            }
            gw
        }
        (Some(id), false) => match cx.cloud.transit.tgw_get(&hcx, id).await? {
            Some(gw) => gw,
            None => return fail(format!("the hub's Transit Gateway {id} has disappeared")),
        },
        (None, _) => match cx.cloud.transit.tgw_find(&hcx, &cx.hub_tag()).await? {
            Some(gw) => gw,
            None => {
                cx.cloud
                    .transit
                    .tgw_create(
                        &hcx,
                        &format!("endpoint-hub {}", cx.hub.name),
                        &cx.hub_tag(),
                    )
                    .await?
            }
        },
    };
    if t.transit_gateway_id.as_ref() != Some(&gw.id) {
        t.transit_gateway_id = Some(gw.id.clone());
        transit_set(cx, t);
    }
    available_or_wait(&gw)
}

/// The gateway's two route tables (found by their tags, or made).
pub async fn transit_route_tables<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let tgw = tgw_of(cx)?;
    let have = cx.cloud.transit.tgw_route_tables(&hcx, &tgw).await?;
    let mut ids = Vec::new();
    for which in ["hub", "spokes"] {
        let tag = table_tag(cx, which);
        let id = match have.iter().find(|t| t.owner_tag.as_deref() == Some(&tag)) {
            Some(t) => t.id.clone(),
            None => {
                cx.cloud
                    .transit
                    .tgw_route_table_create(&hcx, &tgw, &tag)
                    .await?
                    .id
            }
        };
        ids.push(id);
    }
    let mut t = transit(cx);
    t.hub_route_table_id = Some(ids[0].clone());
    t.spoke_route_table_id = Some(ids[1].clone());
    transit_set(cx, t);
    Ok(())
}

/// The hub VPC's attachment (in the hub subnets, one per zone), `available`, associated with
/// the hub table and propagating into the spokes' table.
pub async fn transit_hub_attachment<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let tgw = tgw_of(cx)?;
    let (hub_table, spoke_table) = tables_of(cx)?;
    let vpc = cx.hub.vpc_id.clone();
    let found = live_attachment(
        cx.cloud
            .transit
            .tgw_attachments(&hcx, Some(&tgw), Some(&vpc))
            .await?,
    );
    let a = match found {
        Some(a) => a,
        None => {
            let subnets = one_per_zone(
                cx.cloud
                    .network
                    .subnets_get(&hcx, &cx.hub.subnet_ids)
                    .await?,
            );
            let req = TgwAttachmentRequest {
                transit_gateway: tgw.clone(),
                vpc: vpc.clone(),
                subnets,
                owner_tag: cx.hub_tag(),
            };
            attachment_create(cx, &hcx, &req).await?
        }
    };
    let mut t = transit(cx);
    if t.hub_attachment_id.as_ref() != Some(&a.id) {
        t.hub_attachment_id = Some(a.id.clone());
        transit_set(cx, t);
    }
    attachment_ready(&a)?;
    associate_and_propagate(cx, &a, &hub_table, &spoke_table).await
}

/// The RAM share of the gateway (found by its tag, or made; no principal yet).
pub async fn transit_share<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let tgw = tgw_of(cx)?;
    let arn = crate::cloud::tgw_arn(&cx.hub.region, &cx.hub.account_id, &tgw);
    let tag = share_tag(cx);
    let share = match cx.cloud.sharing.share_find(&hcx, &tag).await? {
        Some(s) => s,
        None => {
            cx.cloud
                .sharing
                .share_create(
                    &hcx,
                    &format!("endpoint-hub-{}-tgw", cx.hub.id),
                    &arn,
                    &format!("endpoint-hub-tgw-share-{}", cx.hub.id.simple()),
                    &tag,
                )
                .await?
        }
    };
    let mut t = transit(cx);
    t.share_arn = Some(share.arn);
    transit_set(cx, t);
    Ok(())
}

/// One route per hub route table: the hub's prefix list (every spoke CIDR) through the gateway.
pub async fn transit_hub_routes<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let tgw = tgw_of(cx)?;
    let Some(pl) = cx.hub.prefix_list_id.clone() else {
        return fail("the hub has no prefix list yet (step prefix_list makes it)");
    };
    let ours = RouteTarget::TransitGateway(tgw);
    for table in cx.hub.route_table_ids.clone() {
        let routes = cx.cloud.network.prefix_list_routes(&hcx, &table).await?;
        match routes.iter().find(|r| r.prefix_list == pl) {
            Some(r) if r.target == ours => continue,
            Some(r) => {
                return fail(format!(
                    "route table {table} already routes prefix list {pl} to {}",
                    r.target
                ));
            }
            None => {}
        }
        match cx
            .cloud
            .network
            .prefix_list_route_create(&hcx, &table, &pl, &ours)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                let now = cx.cloud.network.prefix_list_routes(&hcx, &table).await?;
                if !now.iter().any(|r| r.prefix_list == pl && r.target == ours) {
                    return Err(StepError::Retry(e.to_string()));
                }
            }
            Err(e) if e.is(CloudErrorKind::LimitExceeded) => {
                return fail(format!(
                    "route table {table} can't take the route to prefix list {pl}: {} (AWS \
                     counts it as the list's {} maximum entries; raise the routes-per-table \
                     quota or register the hub with a smaller prefix_list_max_entries)",
                    e.message, cx.hub.prefix_list_max_entries
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Removes everything the hub made in `transit_gateway` mode (its spokes are all detached):
/// the hub routes, the share, the hub attachment, the route tables, and the gateway unless it
/// was given at registration.
pub async fn transit_delete<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let hcx = cx.hub_cx();
    let mut t = transit(cx);
    let Some(tgw) = t.transit_gateway_id.clone() else {
        return Ok(());
    };
    if let Some(pl) = cx.hub.prefix_list_id.clone() {
        for table in cx.hub.route_table_ids.clone() {
            match cx
                .cloud
                .network
                .prefix_list_route_delete(&hcx, &table, &pl)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is(CloudErrorKind::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let share = match &t.share_arn {
        Some(a) => Some(a.clone()),
        None => cx
            .cloud
            .sharing
            .share_find(&hcx, &share_tag(cx))
            .await?
            .map(|s| s.arn),
    };
    if let Some(arn) = share {
        cx.cloud.sharing.share_delete(&hcx, &arn).await?;
    }
    t.share_arn = None;
    if cx.cloud.transit.tgw_get(&hcx, &tgw).await?.is_none() {
        t.hub_attachment_id = None;
        t.hub_route_table_id = None;
        t.spoke_route_table_id = None;
        if !t.given {
            t.transit_gateway_id = None;
        }
        transit_set(cx, t);
        return Ok(());
    }
    let attachments = cx
        .cloud
        .transit
        .tgw_attachments(&hcx, Some(&tgw), None)
        .await?;
    let hub_vpc = cx.hub.vpc_id.clone();
    for a in attachments.iter().filter(|a| a.vpc == hub_vpc) {
        cx.cloud.transit.tgw_attachment_delete(&hcx, &a.id).await?;
    }
    let others: Vec<&TgwAttachmentInfo> = attachments
        .iter()
        .filter(|a| a.vpc != hub_vpc && !a.is_dead())
        .collect();
    if attachments
        .iter()
        .any(|a| a.vpc == hub_vpc && a.state != "deleted")
    {
        transit_set(cx, t);
        return wait(
            WaitFor::Resource,
            format!("the hub VPC's attachment to {tgw} is being deleted"),
        );
    }
    t.hub_attachment_id = None;
    let ours_tables = [t.hub_route_table_id.clone(), t.spoke_route_table_id.clone()];
    if !t.given && !others.is_empty() {
        transit_set(cx, t);
        let list: Vec<String> = others
            .iter()
            .map(|a| format!("{} ({} of account {})", a.id, a.vpc, a.vpc_owner))
            .collect();
        return fail(format!(
            "Transit Gateway {tgw} still has attachments endpoint-hub did not make or no longer \
             knows: {}; delete them (DeleteTransitGatewayVpcAttachment) and retry this job",
            list.join(", ")
        ));
    }
    for table in ours_tables.into_iter().flatten() {
        cx.cloud
            .transit
            .tgw_route_table_delete(&hcx, &table)
            .await?;
    }
    t.hub_route_table_id = None;
    t.spoke_route_table_id = None;
    if !t.given {
        cx.cloud.transit.tgw_delete(&hcx, &tgw).await?;
        t.transit_gateway_id = None;
    }
    transit_set(cx, t);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Spoke steps
// ---------------------------------------------------------------------------------------------

/// Adds the spoke's account to the gateway's share (from the hub account; read first).
pub async fn transit_share_spoke<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) || cx.spoke().account_id == cx.hub.account_id {
        return Ok(());
    }
    let Some(share) = transit(cx).share_arn else {
        return fail("the hub has no RAM share of its Transit Gateway (step transit_share)");
    };
    let hcx = cx.hub_cx();
    let account = cx.spoke().account_id.clone();
    share_principal_ensure(&cx.cloud, &hcx, &share, &account).await
}

/// From the spoke account: the gateway visible, accepting the share's invitation when the
/// accounts do not share inside one organization; waits while it is not visible yet.
pub async fn transit_accept_share<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) || cx.spoke().account_id == cx.hub.account_id {
        return Ok(());
    }
    let scx = cx.spoke_cx();
    let tgw = tgw_of(cx)?;
    if cx.cloud.transit.tgw_get(&scx, &tgw).await?.is_some() {
        return Ok(());
    }
    let Some(share) = transit(cx).share_arn else {
        return fail("the hub has no RAM share of its Transit Gateway (step transit_share)");
    };
    let (accepted, invited) = share_invitations_accept(&cx.cloud, &scx, &share).await?;
    if accepted > 0 && cx.cloud.transit.tgw_get(&scx, &tgw).await?.is_some() {
        return Ok(());
    }
    wait(
        WaitFor::Resource,
        format!(
            "Transit Gateway {tgw} is not visible to account {} yet (RAM share {share}{})",
            cx.spoke().account_id,
            if invited {
                ": invitation accepted"
            } else {
                ": no invitation yet"
            }
        ),
    )
}

/// From the spoke account: the spoke VPC's attachment to the hub's gateway, in one subnet per
/// zone (the lowest subnet id of each). An attachment of the VPC to another gateway is a
/// conflict: the spoke is connected elsewhere already.
pub async fn transit_attach<S>(cx: &mut StepCx<S>) -> Result<Option<TgwAttachmentId>, StepError> {
    if !transit_mode(cx) {
        return Ok(None);
    }
    let scx = cx.spoke_cx();
    let tgw = tgw_of(cx)?;
    let vpc = cx.spoke().vpc_id.clone();
    let all = cx
        .cloud
        .transit
        .tgw_attachments(&scx, None, Some(&vpc))
        .await?;
    if let Some(other) = all
        .iter()
        .find(|a| a.transit_gateway != tgw && !a.is_dead())
    {
        return fail(format!(
            "VPC {vpc} is already attached to Transit Gateway {} ({}): a spoke reaches the hub \
             through the hub's gateway {tgw} only; detach it from the other gateway, or enrol \
             it into a hub that uses that gateway",
            other.transit_gateway, other.id
        ));
    }
    let a = match live_attachment(
        all.into_iter()
            .filter(|a| a.transit_gateway == tgw)
            .collect(),
    ) {
        Some(a) => a,
        None => {
            let subnets = match cx.spoke().transit_subnet_ids.clone() {
                Some(given) => given_subnets(cx, &scx, &given).await?,
                None => one_per_zone(cx.cloud.network.subnets_of_vpc(&scx, &vpc).await?),
            };
            if subnets.is_empty() {
                return fail(format!(
                    "VPC {vpc} has no subnet: a Transit Gateway attachment needs one subnet per \
                     availability zone"
                ));
            }
            let req = TgwAttachmentRequest {
                transit_gateway: tgw.clone(),
                vpc: vpc.clone(),
                subnets,
                owner_tag: cx.spoke_tag(),
            };
            attachment_create(cx, &scx, &req).await?
        }
    };
    Ok(Some(a.id))
}

/// From the hub account: accepts the spoke's attachment, waits until it is `available`, then
/// associates it with the spokes' table and propagates it into the hub table.
pub async fn transit_accept<S>(cx: &mut StepCx<S>, id: &TgwAttachmentId) -> StepResult {
    let hcx = cx.hub_cx();
    let tgw = tgw_of(cx)?;
    let vpc = cx.spoke().vpc_id.clone();
    let seen = cx
        .cloud
        .transit
        .tgw_attachments(&hcx, Some(&tgw), Some(&vpc))
        .await?;
    let Some(a) = seen.into_iter().find(|a| &a.id == id) else {
        return wait(
            WaitFor::Resource,
            format!("attachment {id} is not visible to the hub account yet"),
        );
    };
    if a.state == "pendingAcceptance" {
        match cx.cloud.transit.tgw_attachment_accept(&hcx, id).await {
            Ok(()) => {}
            // Accepted meanwhile (a lost answer): the next read says where it is.
            Err(e) if e.code.eq_ignore_ascii_case("IncorrectState") => {}
            Err(e) => return Err(e.into()),
        }
        return wait(
            WaitFor::Resource,
            format!("attachment {id} accepted, not available yet"),
        );
    }
    attachment_ready(&a)?;
    let (hub_table, spoke_table) = tables_of(cx)?;
    associate_and_propagate(cx, &a, &spoke_table, &hub_table).await
}

/// From the hub account: the spoke's attachment deleted (found by the stored id or by the
/// spoke VPC on the hub's gateway); waits until it is gone.
pub async fn transit_detach<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let Some(tgw) = transit(cx).transit_gateway_id else {
        return Ok(());
    };
    let hcx = cx.hub_cx();
    let vpc = cx.spoke().vpc_id.clone();
    let seen = cx
        .cloud
        .transit
        .tgw_attachments(&hcx, Some(&tgw), Some(&vpc))
        .await?;
    let mut going = Vec::new();
    for a in seen.iter().filter(|a| a.state != "deleted") {
        if a.state != "deleting" {
            cx.cloud.transit.tgw_attachment_delete(&hcx, &a.id).await?;
        }
        going.push(a.id.to_string());
    }
    if let Some(id) = cx.spoke().tgw_attachment_id.clone()
        && !seen.iter().any(|a| a.id == id)
    {
        // Not listed for this VPC (it may be another VPC's by now if edited by hand): delete
        // by id, which is a no-op when it is gone.
        cx.cloud.transit.tgw_attachment_delete(&hcx, &id).await?;
    }
    if !going.is_empty() {
        let now = cx
            .cloud
            .transit
            .tgw_attachments(&hcx, Some(&tgw), Some(&vpc))
            .await?;
        if now.iter().any(|a| a.state != "deleted") {
            return wait(
                WaitFor::Resource,
                format!("attachment(s) {} being deleted", going.join(", ")),
            );
        }
    }
    cx.effect(Effect::SpokeTgwAttachment(None));
    Ok(())
}

/// From the hub account: the spoke's account leaves the gateway's share unless another spoke
/// of that account still needs it.
pub async fn transit_unshare<S>(cx: &mut StepCx<S>) -> StepResult {
    if !transit_mode(cx) {
        return Ok(());
    }
    let Some(share) = transit(cx).share_arn else {
        return Ok(());
    };
    share_leave_unless_needed(cx, &share).await
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/// The subnets the enrolment named, checked: each of the spoke VPC, one per availability zone.
async fn given_subnets<S>(
    cx: &StepCx<S>,
    scx: &crate::cloud::CallCx,
    given: &[SubnetId],
) -> Result<Vec<SubnetId>, StepError> {
    let vpc = &cx.spoke().vpc_id;
    let found = match cx.cloud.network.subnets_get(scx, given).await {
        Ok(f) => f,
        Err(e) if e.is(CloudErrorKind::NotFound) => {
            return fail(format!(
                "transit_subnet_ids: {} (they must be subnets of VPC {vpc})",
                e.message
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut zones: Vec<&str> = Vec::new();
    for id in given {
        let Some(s) = found.iter().find(|s| &s.id == id) else {
            return fail(format!("transit_subnet_ids: subnet {id} is not found"));
        };
        if &s.vpc_id != vpc {
            return fail(format!(
                "transit_subnet_ids: subnet {id} is in {}, not in the spoke VPC {vpc}",
                s.vpc_id
            ));
        }
        if zones.contains(&s.availability_zone.as_str()) {
            return fail(format!(
                "transit_subnet_ids: two subnets in {}: an attachment takes one subnet per \
                 availability zone",
                s.availability_zone
            ));
        }
        zones.push(&s.availability_zone);
    }
    Ok(given.to_vec())
}

/// The attachment that is not dead, if any.
fn live_attachment(list: Vec<TgwAttachmentInfo>) -> Option<TgwAttachmentInfo> {
    list.into_iter().find(|a| !a.is_dead())
}

/// One subnet per availability zone: the lowest id of each, zones in order.
fn one_per_zone(mut subnets: Vec<SubnetInfo>) -> Vec<SubnetId> {
    subnets.sort_by(|a, b| {
        (&a.availability_zone, a.id.as_str()).cmp(&(&b.availability_zone, b.id.as_str()))
    });
    subnets.dedup_by(|a, b| a.availability_zone == b.availability_zone);
    subnets.into_iter().map(|s| s.id).collect()
}

/// Creates an attachment; a duplicate (a resent request whose first answer was lost, or a
/// concurrent run) is adopted.
async fn attachment_create<S>(
    cx: &StepCx<S>,
    ccx: &crate::cloud::CallCx,
    req: &TgwAttachmentRequest,
) -> Result<TgwAttachmentInfo, StepError> {
    match cx.cloud.transit.tgw_attachment_create(ccx, req).await {
        Ok(a) => Ok(a),
        Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
            let now = cx
                .cloud
                .transit
                .tgw_attachments(ccx, Some(&req.transit_gateway), Some(&req.vpc))
                .await?;
            live_attachment(now).ok_or_else(|| StepError::Retry(e.to_string()))
        }
        Err(e) if e.is(CloudErrorKind::NotFound) && e.code.contains("TransitGateway") => wait(
            WaitFor::Resource,
            format!(
                "Transit Gateway {} is not visible to account {} yet: {}",
                req.transit_gateway, ccx.account, e.message
            ),
        ),
        Err(e) if e.is(CloudErrorKind::LimitExceeded) => fail(format!(
            "Transit Gateway {} can't take another attachment: {} (AWS: 5,000 per gateway)",
            req.transit_gateway, e.message
        )),
        Err(e) => Err(e.into()),
    }
}

/// `Ok` when the attachment is `available`; waits while it is on its way; fails when dead.
fn attachment_ready(a: &TgwAttachmentInfo) -> StepResult {
    match a.state.as_str() {
        "available" => Ok(()),
        s if a.is_dead() => fail(format!(
            "attachment {} of VPC {} to {} is {s}; retry this job to make a new one",
            a.id, a.vpc, a.transit_gateway
        )),
        s => wait(
            WaitFor::Resource,
            format!("attachment {} is {s}, not available yet", a.id),
        ),
    }
}

/// The attachment associated with `assoc` (another table is a conflict) and propagating into
/// `prop` (read first; already there is success).
async fn associate_and_propagate<S>(
    cx: &StepCx<S>,
    a: &TgwAttachmentInfo,
    assoc: &TgwRouteTableId,
    prop: &TgwRouteTableId,
) -> StepResult {
    let hcx = cx.hub_cx();
    match &a.association {
        Some((t, _)) if t == assoc => {}
        Some((t, _)) => {
            return fail(format!(
                "attachment {} is associated with Transit Gateway route table {t}, not with \
                 {assoc}: disassociate it and retry this job",
                a.id
            ));
        }
        None => match cx.cloud.transit.tgw_associate(&hcx, assoc, &a.id).await {
            Ok(()) => {}
            Err(e) if e.is(CloudErrorKind::AlreadyExists) => {
                let now = cx
                    .cloud
                    .transit
                    .tgw_attachments(&hcx, Some(&a.transit_gateway), Some(&a.vpc))
                    .await?;
                match now
                    .iter()
                    .find(|x| x.id == a.id)
                    .and_then(|x| x.association.clone())
                {
                    Some((t, _)) if &t == assoc => {}
                    _ => return fail(format!("attachment {}: {}", a.id, e.message)),
                }
            }
            Err(e) => return Err(e.into()),
        },
    }
    let propagating = cx.cloud.transit.tgw_propagations(&hcx, prop).await?;
    if !propagating.contains(&a.id) {
        match cx
            .cloud
            .transit
            .tgw_propagation_enable(&hcx, prop, &a.id)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is(CloudErrorKind::AlreadyExists) => {}
            Err(e) if e.is(CloudErrorKind::LimitExceeded) => {
                return fail(format!(
                    "Transit Gateway route table {prop} can't take the routes of {}: {} (AWS: \
                     10,000 routes per table)",
                    a.id, e.message
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
