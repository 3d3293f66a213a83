//! Transit Gateways, as the `transit_gateway` network mode uses them.
//!
//! - A gateway belongs to an account and region ([`SimConfig::tgws_per_account`](super::SimConfig),
//!   `TransitGatewayLimitExceeded`). It is visible to its owner, and to an account that is an
//!   `ASSOCIATED` principal of a live RAM share of the owner holding its ARN; to anyone else
//!   it does not exist (`InvalidTransitGatewayID.NotFound`). Made `pending`, then `available`
//!   after [`SimConfig::tgw_pending_reads`](super::SimConfig) describes. No `ClientToken`.
//! - Route tables: the owner's, at most
//!   [`SimConfig::tgw_route_tables_per_tgw`](super::SimConfig) per gateway.
//! - VPC attachments: created by the VPC's owner on a gateway it can see; one live attachment per
//!   (gateway, VPC) (`DuplicateTransitGatewayAttachment`); one subnet per availability zone
//!   (`DuplicateSubnetsInSameZone`), each of the VPC (`InvalidParameterValue`); at most
//!   [`SimConfig::tgw_attachments_per_tgw`](super::SimConfig) live ones per gateway
//!   (`TransitGatewayAttachmentLimitExceeded`). From another account it is `pendingAcceptance`
//!   (the gateway accepts no shared attachment by itself) until the gateway's owner accepts it;
//!   in the owner's account, or once accepted, `pending` for `tgw_pending_reads` describes, then
//!   `available`. Either owner may delete it (`deleted` at once; its association and
//!   propagations go with it). Both owners see it; tags are the creator's (AWS keeps tags per
//!   account), so the gateway's owner sees a spoke's attachment untagged.
//! - Associations (one route table per attachment, `Resource.AlreadyAssociated`) and
//!   propagations (`TransitGatewayRouteTablePropagation.Duplicate`) by the gateway's owner, of an
//!   `available` attachment (`IncorrectState`). A propagating attachment puts its VPC's CIDR
//!   blocks in the table as propagated routes, at most
//!   [`SimConfig::tgw_routes_per_table`](super::SimConfig) (`RouteLimitExceeded`, checked when
//!   propagation is enabled).
//! - Deleting a gateway with live attachments: `IncorrectState`; a route table with associations
//!   or propagations: `IncorrectState`.

use async_trait::async_trait;

use super::{SimCloud, State, fail};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, TgwAttachmentInfo, TgwAttachmentRequest,
    TgwRouteTableInfo, Transit, TransitGatewayInfo,
};
use crate::domain::{
    AccountId, Ipv4Cidr, Region, SubnetId, TgwAttachmentId, TgwRouteTableId, TransitGatewayId,
    VpcId,
};

#[derive(Debug, Clone)]
pub(super) struct Tgw {
    pub(super) id: TransitGatewayId,
    pub(super) owner: AccountId,
    pub(super) region: Region,
    pub(super) state: String,
    owner_tag: String,
    pending_left: u32,
    /// Made by hand with `DefaultRouteTableAssociation=enable` (the console's default).
    default_association: bool,
}

impl Tgw {
    pub(super) fn arn(&self) -> String {
        crate::cloud::tgw_arn(&self.region, &self.owner, &self.id)
    }
    fn info(&self, caller: &AccountId) -> TransitGatewayInfo {
        TransitGatewayInfo {
            id: self.id.clone(),
            owner: self.owner.clone(),
            state: self.state.clone(),
            default_association: self.default_association,
            owner_tag: (&self.owner == caller).then(|| self.owner_tag.clone()),
        }
    }
    fn touch(&mut self) {
        if self.state == "pending" {
            if self.pending_left > 0 {
                self.pending_left -= 1;
            } else {
                self.state = "available".into();
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct TgwTable {
    id: TgwRouteTableId,
    tgw: TransitGatewayId,
    owner: AccountId,
    owner_tag: String,
    deleted: bool,
}

#[derive(Debug, Clone)]
pub(super) struct TgwAttachment {
    id: TgwAttachmentId,
    tgw: TransitGatewayId,
    tgw_owner: AccountId,
    vpc: VpcId,
    vpc_owner: AccountId,
    region: Region,
    state: String,
    subnets: Vec<SubnetId>,
    association: Option<TgwRouteTableId>,
    propagations: Vec<TgwRouteTableId>,
    owner_tag: String,
    pending_left: u32,
}

impl TgwAttachment {
    fn live(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "deleted" | "deleting" | "rejected" | "failed"
        )
    }
    fn visible_to(&self, cx: &CallCx) -> bool {
        self.region == cx.region && (self.vpc_owner == cx.account || self.tgw_owner == cx.account)
    }
    fn touch(&mut self) {
        if self.state == "pending" {
            if self.pending_left > 0 {
                self.pending_left -= 1;
            } else {
                self.state = "available".into();
            }
        }
    }
    fn info(&self, caller: &AccountId) -> TgwAttachmentInfo {
        TgwAttachmentInfo {
            id: self.id.clone(),
            transit_gateway: self.tgw.clone(),
            vpc: self.vpc.clone(),
            vpc_owner: self.vpc_owner.clone(),
            state: self.state.clone(),
            association: self
                .association
                .clone()
                .map(|t| (t, "associated".to_owned())),
            owner_tag: (&self.vpc_owner == caller).then(|| self.owner_tag.clone()),
        }
    }
}

fn tgw_not_found<T>(op: &str, id: &TransitGatewayId) -> CloudResult<T> {
    fail(
        CloudErrorKind::NotFound,
        op,
        "InvalidTransitGatewayID.NotFound",
        format!("Transit Gateway {id} was deleted or does not exist."),
    )
}

fn attachment_not_found<T>(op: &str, id: &TgwAttachmentId) -> CloudResult<T> {
    fail(
        CloudErrorKind::NotFound,
        op,
        "InvalidTransitGatewayAttachmentID.NotFound",
        format!("Transit Gateway Attachment {id} was deleted or does not exist."),
    )
}

fn incorrect_state<T>(op: &str, message: String) -> CloudResult<T> {
    fail(CloudErrorKind::Invalid, op, "IncorrectState", message)
}

impl State {
    /// The VPC has a live attachment to the gateway that is `available` (routes through it are
    /// active).
    pub(super) fn tgw_attached(&self, vpc: &VpcId, tgw: &TransitGatewayId) -> bool {
        self.tgw_attachments
            .values()
            .any(|a| &a.vpc == vpc && &a.tgw == tgw && a.state == "available")
    }

    fn tgw_visible(&self, cx: &CallCx, id: &TransitGatewayId) -> bool {
        self.tgws.get(id).is_some_and(|t| {
            t.region == cx.region
                && t.state != "deleted"
                && (t.owner == cx.account || self.shared_with(&t.owner, &t.arn(), &cx.account))
        })
    }

    fn tgw_owned(&self, cx: &CallCx, id: &TransitGatewayId, op: &str) -> CloudResult<()> {
        match self.tgws.get(id) {
            Some(t) if t.owner == cx.account && t.region == cx.region && t.state != "deleted" => {
                Ok(())
            }
            _ => tgw_not_found(op, id),
        }
    }

    fn tgw_table_owned(&self, cx: &CallCx, id: &TgwRouteTableId, op: &str) -> CloudResult<()> {
        match self.tgw_tables.get(id) {
            Some(t) if t.owner == cx.account && !t.deleted => Ok(()),
            _ => fail(
                CloudErrorKind::NotFound,
                op,
                "InvalidRouteTableID.NotFound",
                format!("Transit Gateway Route Table {id} was deleted or does not exist."),
            ),
        }
    }

    /// The attachment, for the gateway's owner, `available`, on the table's gateway.
    fn tgw_attachment_for_table(
        &mut self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
        op: &str,
    ) -> CloudResult<()> {
        self.tgw_table_owned(cx, table, op)?;
        let tgw = self.tgw_tables[table].tgw.clone();
        let Some(a) = self
            .tgw_attachments
            .get_mut(attachment)
            .filter(|a| a.tgw_owner == cx.account && a.region == cx.region && a.live())
        else {
            return attachment_not_found(op, attachment);
        };
        a.touch();
        if a.tgw != tgw {
            return fail(
                CloudErrorKind::Invalid,
                op,
                "InvalidParameterValue",
                format!("{attachment} is not an attachment of {tgw}"),
            );
        }
        if a.state != "available" {
            return incorrect_state(
                op,
                format!(
                    "Transit Gateway Attachment {attachment} is in invalid state {}",
                    a.state
                ),
            );
        }
        Ok(())
    }

    /// Propagated routes of a table: each CIDR block of each propagating attachment's VPC.
    fn tgw_table_routes(&self, table: &TgwRouteTableId) -> Vec<(Ipv4Cidr, TgwAttachmentId)> {
        self.tgw_attachments
            .values()
            .filter(|a| a.state == "available" && a.propagations.contains(table))
            .flat_map(|a| {
                let cidrs = self
                    .vpcs
                    .get(&a.vpc)
                    .map(|v| v.cidrs.clone())
                    .unwrap_or_default();
                cidrs.into_iter().map(move |c| (c, a.id.clone()))
            })
            .collect()
    }
}

#[async_trait]
impl Transit for SimCloud {
    async fn tgw_find(
        &self,
        cx: &CallCx,
        owner_tag: &str,
    ) -> CloudResult<Option<TransitGatewayInfo>> {
        self.read(cx, "DescribeTransitGateways", |s| {
            Ok(s.tgws
                .values_mut()
                .filter(|t| {
                    t.owner == cx.account
                        && t.region == cx.region
                        && t.owner_tag == owner_tag
                        && t.state != "deleted"
                })
                .map(|t| {
                    t.touch();
                    t.info(&cx.account)
                })
                .next())
        })
        .await
    }

    async fn tgws_owned(&self, cx: &CallCx) -> CloudResult<Vec<TransitGatewayInfo>> {
        self.read(cx, "DescribeTransitGateways", |s| {
            Ok(s.tgws
                .values()
                .filter(|t| {
                    t.owner == cx.account
                        && t.region == cx.region
                        && !t.owner_tag.is_empty()
                        && t.state != "deleted"
                })
                .map(|t| t.info(&cx.account))
                .collect())
        })
        .await
    }

    async fn tgw_get(
        &self,
        cx: &CallCx,
        id: &TransitGatewayId,
    ) -> CloudResult<Option<TransitGatewayInfo>> {
        self.read(cx, "DescribeTransitGateways", |s| {
            if !s.tgw_visible(cx, id) {
                return Ok(None);
            }
            let t = s.tgws.get_mut(id).expect("visible");
            t.touch();
            Ok(Some(t.info(&cx.account)))
        })
        .await
    }

    async fn tgw_create(
        &self,
        cx: &CallCx,
        _description: &str,
        owner_tag: &str,
    ) -> CloudResult<TransitGatewayInfo> {
        const OP: &str = "CreateTransitGateway";
        self.write(cx, OP, None, |s| {
            let have = s
                .tgws
                .values()
                .filter(|t| t.owner == cx.account && t.region == cx.region && t.state != "deleted")
                .count();
            if have >= self.config.tgws_per_account {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "TransitGatewayLimitExceeded",
                    format!(
                        "You've reached the limit of {} transit gateways",
                        self.config.tgws_per_account
                    ),
                );
            }
            let id: TransitGatewayId = s.ec2_id("tgw").parse().expect("generated tgw id");
            let t = Tgw {
                id: id.clone(),
                owner: cx.account.clone(),
                region: cx.region.clone(),
                state: "pending".into(),
                owner_tag: owner_tag.to_owned(),
                pending_left: self.config.tgw_pending_reads,
                default_association: false,
            };
            let info = t.info(&cx.account);
            s.tgws.insert(id, t);
            Ok(info)
        })
        .await
    }

    async fn tgw_delete(&self, cx: &CallCx, id: &TransitGatewayId) -> CloudResult<()> {
        const OP: &str = "DeleteTransitGateway";
        self.write(cx, OP, Some(id.to_string()), |s| {
            let Some(t) = s.tgws.get(id) else {
                return Ok(());
            };
            if t.owner != cx.account || t.state == "deleted" {
                return Ok(());
            }
            if s.tgw_attachments.values().any(|a| &a.tgw == id && a.live()) {
                return incorrect_state(
                    OP,
                    format!("{id} is in use by attachments that are not deleted"),
                );
            }
            for table in s.tgw_tables.values_mut().filter(|x| &x.tgw == id) {
                table.deleted = true;
            }
            s.tgws.get_mut(id).expect("checked").state = "deleted".into();
            Ok(())
        })
        .await
    }

    async fn tgw_route_tables(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
    ) -> CloudResult<Vec<TgwRouteTableInfo>> {
        self.read(cx, "DescribeTransitGatewayRouteTables", |s| {
            Ok(s.tgw_tables
                .values()
                .filter(|t| &t.tgw == tgw && t.owner == cx.account && !t.deleted)
                .map(|t| TgwRouteTableInfo {
                    id: t.id.clone(),
                    transit_gateway: t.tgw.clone(),
                    state: "available".into(),
                    owner_tag: Some(t.owner_tag.clone()),
                })
                .collect())
        })
        .await
    }

    async fn tgw_route_table_create(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
        owner_tag: &str,
    ) -> CloudResult<TgwRouteTableInfo> {
        const OP: &str = "CreateTransitGatewayRouteTable";
        self.write(cx, OP, Some(tgw.to_string()), |s| {
            s.tgw_owned(cx, tgw, OP)?;
            let have = s
                .tgw_tables
                .values()
                .filter(|t| &t.tgw == tgw && !t.deleted)
                .count();
            if have >= self.config.tgw_route_tables_per_tgw {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "TransitGatewayRouteTableLimitExceeded",
                    format!(
                        "{tgw} has reached the limit of {} route tables",
                        self.config.tgw_route_tables_per_tgw
                    ),
                );
            }
            let id: TgwRouteTableId = s.ec2_id("tgw-rtb").parse().expect("generated id");
            s.tgw_tables.insert(
                id.clone(),
                TgwTable {
                    id: id.clone(),
                    tgw: tgw.clone(),
                    owner: cx.account.clone(),
                    owner_tag: owner_tag.to_owned(),
                    deleted: false,
                },
            );
            Ok(TgwRouteTableInfo {
                id,
                transit_gateway: tgw.clone(),
                state: "available".into(),
                owner_tag: Some(owner_tag.to_owned()),
            })
        })
        .await
    }

    async fn tgw_route_table_delete(&self, cx: &CallCx, id: &TgwRouteTableId) -> CloudResult<()> {
        const OP: &str = "DeleteTransitGatewayRouteTable";
        self.write(cx, OP, Some(id.to_string()), |s| {
            if s.tgw_table_owned(cx, id, OP).is_err() {
                return Ok(());
            }
            if s.tgw_attachments.values().any(|a| {
                a.live() && (a.association.as_ref() == Some(id) || a.propagations.contains(id))
            }) {
                return incorrect_state(
                    OP,
                    format!("{id} has associations or propagations; remove them first"),
                );
            }
            s.tgw_tables.get_mut(id).expect("checked").deleted = true;
            Ok(())
        })
        .await
    }

    async fn tgw_attachments(
        &self,
        cx: &CallCx,
        tgw: Option<&TransitGatewayId>,
        vpc: Option<&VpcId>,
    ) -> CloudResult<Vec<TgwAttachmentInfo>> {
        self.read(cx, "DescribeTransitGatewayVpcAttachments", |s| {
            Ok(s.tgw_attachments
                .values_mut()
                .filter(|a| {
                    a.visible_to(cx)
                        && a.state != "deleted"
                        && tgw.is_none_or(|t| &a.tgw == t)
                        && vpc.is_none_or(|v| &a.vpc == v)
                })
                .map(|a| {
                    a.touch();
                    a.info(&cx.account)
                })
                .collect())
        })
        .await
    }

    async fn tgw_attachment_create(
        &self,
        cx: &CallCx,
        req: &TgwAttachmentRequest,
    ) -> CloudResult<TgwAttachmentInfo> {
        const OP: &str = "CreateTransitGatewayVpcAttachment";
        let first = self.attachment_create(cx, req).await;
        // No client token: a resent request (its first answer lost) finds the attachment made.
        if first.is_ok() && self.resend(OP, cx) {
            return self.attachment_create(cx, req).await;
        }
        first
    }

    async fn tgw_attachment_accept(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()> {
        self.attachment_accept(cx, id).await
    }

    async fn tgw_attachment_delete(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()> {
        self.attachment_delete(cx, id).await
    }

    async fn tgw_associate(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
    ) -> CloudResult<()> {
        const OP: &str = "AssociateTransitGatewayRouteTable";
        self.write(cx, OP, Some(attachment.to_string()), |s| {
            s.tgw_attachment_for_table(cx, table, attachment, OP)?;
            let a = s.tgw_attachments.get_mut(attachment).expect("checked");
            if let Some(other) = &a.association {
                return fail(
                    CloudErrorKind::AlreadyExists,
                    OP,
                    "Resource.AlreadyAssociated",
                    format!(
                        "Transit Gateway Attachment {attachment} is already associated with {other}"
                    ),
                );
            }
            a.association = Some(table.clone());
            Ok(())
        })
        .await
    }

    async fn tgw_propagations(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
    ) -> CloudResult<Vec<TgwAttachmentId>> {
        const OP: &str = "GetTransitGatewayRouteTablePropagations";
        self.read(cx, OP, |s| {
            s.tgw_table_owned(cx, table, OP)?;
            Ok(s.tgw_attachments
                .values()
                .filter(|a| a.live() && a.propagations.contains(table))
                .map(|a| a.id.clone())
                .collect())
        })
        .await
    }

    async fn tgw_propagation_enable(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
    ) -> CloudResult<()> {
        const OP: &str = "EnableTransitGatewayRouteTablePropagation";
        self.write(cx, OP, Some(attachment.to_string()), |s| {
            s.tgw_attachment_for_table(cx, table, attachment, OP)?;
            let a = &s.tgw_attachments[attachment];
            if a.propagations.contains(table) {
                return fail(
                    CloudErrorKind::AlreadyExists,
                    OP,
                    "TransitGatewayRouteTablePropagation.Duplicate",
                    format!("{attachment} already propagates to {table}"),
                );
            }
            let adding = s.vpcs.get(&a.vpc).map_or(0, |v| v.cidrs.len());
            let have = s.tgw_table_routes(table).len();
            if have + adding > self.config.tgw_routes_per_table {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "RouteLimitExceeded",
                    format!(
                        "Transit Gateway Route Table {table} has reached the limit of {} routes",
                        self.config.tgw_routes_per_table
                    ),
                );
            }
            s.tgw_attachments
                .get_mut(attachment)
                .expect("checked")
                .propagations
                .push(table.clone());
            Ok(())
        })
        .await
    }

    async fn tgw_routes(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
    ) -> CloudResult<Vec<(Ipv4Cidr, TgwAttachmentId)>> {
        const OP: &str = "SearchTransitGatewayRoutes";
        self.read(cx, OP, |s| {
            s.tgw_table_owned(cx, table, OP)?;
            Ok(s.tgw_table_routes(table))
        })
        .await
    }
}

impl SimCloud {
    async fn attachment_create(
        &self,
        cx: &CallCx,
        req: &TgwAttachmentRequest,
    ) -> CloudResult<TgwAttachmentInfo> {
        const OP: &str = "CreateTransitGatewayVpcAttachment";
        self.write(cx, OP, None, |s| {
            if !s.tgw_visible(cx, &req.transit_gateway) {
                return tgw_not_found(OP, &req.transit_gateway);
            }
            if s.vpc_in(&cx.account, &cx.region, &req.vpc).is_none() {
                return fail(
                    CloudErrorKind::NotFound,
                    OP,
                    "InvalidVpcID.NotFound",
                    format!("The vpc ID '{}' does not exist", req.vpc),
                );
            }
            let mut zones = Vec::new();
            for id in &req.subnets {
                let Some(n) = s
                    .subnets
                    .get(id)
                    .filter(|n| n.account == cx.account && n.vpc == req.vpc)
                else {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "InvalidParameterValue",
                        format!("subnet {id} is not a subnet of {}", req.vpc),
                    );
                };
                if zones.contains(&n.availability_zone) {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "DuplicateSubnetsInSameZone",
                        format!(
                            "Duplicate Subnets for same AvailabilityZone {}",
                            n.availability_zone
                        ),
                    );
                }
                zones.push(n.availability_zone.clone());
            }
            let tgw = s.tgws[&req.transit_gateway].clone();
            if s.tgw_attachments
                .values()
                .any(|a| a.tgw == tgw.id && a.vpc == req.vpc && a.live())
            {
                return fail(
                    CloudErrorKind::AlreadyExists,
                    OP,
                    "DuplicateTransitGatewayAttachment",
                    format!(
                        "{} has non-deleted Transit Gateway Attachments with same VPC ID.",
                        tgw.id
                    ),
                );
            }
            let live = s
                .tgw_attachments
                .values()
                .filter(|a| a.tgw == tgw.id && a.live())
                .count();
            if live >= self.config.tgw_attachments_per_tgw {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "TransitGatewayAttachmentLimitExceeded",
                    format!(
                        "{} has reached the limit of {} attachments",
                        tgw.id, self.config.tgw_attachments_per_tgw
                    ),
                );
            }
            let id: TgwAttachmentId = s.ec2_id("tgw-attach").parse().expect("generated id");
            let same_account = tgw.owner == cx.account;
            let a = TgwAttachment {
                id: id.clone(),
                tgw: tgw.id.clone(),
                tgw_owner: tgw.owner.clone(),
                vpc: req.vpc.clone(),
                vpc_owner: cx.account.clone(),
                region: cx.region.clone(),
                state: if same_account {
                    "pending"
                } else {
                    "pendingAcceptance"
                }
                .into(),
                subnets: req.subnets.clone(),
                association: None,
                propagations: Vec::new(),
                owner_tag: req.owner_tag.clone(),
                pending_left: self.config.tgw_pending_reads,
            };
            let info = a.info(&cx.account);
            s.tgw_attachments.insert(id, a);
            Ok(info)
        })
        .await
    }

    async fn attachment_accept(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()> {
        const OP: &str = "AcceptTransitGatewayVpcAttachment";
        self.write(cx, OP, Some(id.to_string()), |s| {
            let pending = self.config.tgw_pending_reads;
            let Some(a) = s
                .tgw_attachments
                .get_mut(id)
                .filter(|a| a.tgw_owner == cx.account && a.region == cx.region && a.live())
            else {
                return attachment_not_found(OP, id);
            };
            if a.state != "pendingAcceptance" {
                return incorrect_state(
                    OP,
                    format!(
                        "Transit Gateway Attachment {id} is in invalid state {}",
                        a.state
                    ),
                );
            }
            a.state = "pending".into();
            a.pending_left = pending;
            Ok(())
        })
        .await
    }

    async fn attachment_delete(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()> {
        self.write(
            cx,
            "DeleteTransitGatewayVpcAttachment",
            Some(id.to_string()),
            |s| {
                if let Some(a) = s
                    .tgw_attachments
                    .get_mut(id)
                    .filter(|a| a.visible_to(cx) && a.state != "deleted")
                {
                    a.state = "deleted".into();
                    a.association = None;
                    a.propagations.clear();
                }
                Ok(())
            },
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Test helpers and introspection
// ---------------------------------------------------------------------------------------------

/// An attachment as the simulator holds it (introspection for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAttachment {
    pub id: TgwAttachmentId,
    pub vpc: VpcId,
    pub state: String,
    /// The route table it is associated with.
    pub association: Option<TgwRouteTableId>,
    /// The route tables it propagates into.
    pub propagations: Vec<TgwRouteTableId>,
    pub subnets: Vec<SubnetId>,
}

impl SimCloud {
    /// Every live attachment of the gateway: (attachment, VPC, state, associated table,
    /// propagating tables).
    pub fn tgw_attachments_all(&self, tgw: &TransitGatewayId) -> Vec<SimAttachment> {
        self.lock()
            .tgw_attachments
            .values()
            .filter(|a| &a.tgw == tgw && a.state != "deleted")
            .map(|a| SimAttachment {
                id: a.id.clone(),
                vpc: a.vpc.clone(),
                state: a.state.clone(),
                association: a.association.clone(),
                propagations: a.propagations.clone(),
                subnets: a.subnets.clone(),
            })
            .collect()
    }

    /// Drift, as by hand: an attachment deleted (its association and propagations with it).
    pub fn drift_tgw_attachment_delete(&self, id: &TgwAttachmentId) {
        if let Some(a) = self.lock().tgw_attachments.get_mut(id) {
            a.state = "deleted".into();
            a.association = None;
            a.propagations.clear();
        }
    }

    /// Drift, as by hand: a table's route to a prefix list deleted.
    pub fn drift_prefix_list_route_delete(
        &self,
        table: &crate::domain::RouteTableId,
        pl: &crate::domain::PrefixListId,
    ) {
        if let Some(t) = self.lock().tables.get_mut(table) {
            t.pl_routes.retain(|(p, _)| p != pl);
        }
    }

    /// Gateways not deleted, every account.
    pub fn tgws_live(&self) -> Vec<TransitGatewayId> {
        self.lock()
            .tgws
            .values()
            .filter(|t| t.state != "deleted")
            .map(|t| t.id.clone())
            .collect()
    }

    /// Whether the gateway exists and is not deleted.
    pub fn tgw_exists(&self, tgw: &TransitGatewayId) -> bool {
        self.lock()
            .tgws
            .get(tgw)
            .is_some_and(|t| t.state != "deleted")
    }

    /// Drift, as someone would make it by hand: a VPC attached to `tgw` from its own account
    /// (its owner must see the gateway), `available` (accepted) at once.
    pub fn tgw_attach_by_hand(
        &self,
        tgw: &TransitGatewayId,
        vpc: &VpcId,
        subnets: &[SubnetId],
    ) -> TgwAttachmentId {
        let mut s = self.lock();
        let t = s.tgws[tgw].clone();
        let v = s.vpcs[vpc].clone();
        let id: TgwAttachmentId = s.ec2_id("tgw-attach").parse().expect("generated id");
        s.tgw_attachments.insert(
            id.clone(),
            TgwAttachment {
                id: id.clone(),
                tgw: t.id.clone(),
                tgw_owner: t.owner.clone(),
                vpc: vpc.clone(),
                vpc_owner: v.account.clone(),
                region: v.region.clone(),
                state: "available".into(),
                subnets: subnets.to_vec(),
                association: None,
                propagations: Vec::new(),
                owner_tag: String::new(),
                pending_left: 0,
            },
        );
        id
    }

    /// A gateway of `account` made by hand (not tagged by endpoint-hub), `available`, with
    /// default route table association off.
    pub fn tgw_add(&self, account: &AccountId, region: &Region) -> TransitGatewayId {
        self.tgw_add_with(account, region, false)
    }

    /// [`SimCloud::tgw_add`] with `DefaultRouteTableAssociation` as given.
    pub fn tgw_add_with(
        &self,
        account: &AccountId,
        region: &Region,
        default_association: bool,
    ) -> TransitGatewayId {
        let mut s = self.lock();
        let id: TransitGatewayId = s.ec2_id("tgw").parse().expect("generated tgw id");
        s.tgws.insert(
            id.clone(),
            Tgw {
                id: id.clone(),
                owner: account.clone(),
                region: region.clone(),
                state: "available".into(),
                owner_tag: String::new(),
                pending_left: 0,
                default_association,
            },
        );
        id
    }
}
