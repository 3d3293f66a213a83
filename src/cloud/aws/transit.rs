//! EC2 Transit Gateways: the gateway, its route tables, VPC attachments, associations and
//! propagations.
//!
//! None of these creates takes a `ClientToken` that endpoint-hub could rely on across
//! restarts, so each is tagged [`OWNER_TAG`] in the create call and found by that tag first.
//! Attachments are read with `DescribeTransitGatewayAttachments` (one call gives the state and
//! the route table association, to the gateway's owner and to the VPC's owner alike).

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AutoAcceptSharedAttachmentsValue, DefaultRouteTableAssociationValue,
    DefaultRouteTablePropagationValue, DnsSupportValue, Filter, ResourceType, Tag,
    TagSpecification, TransitGateway, TransitGatewayAttachment, TransitGatewayRequestOptions,
};

use super::AwsCloud;
use super::errors::{malformed, sdk_error};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, OWNER_TAG, TgwAttachmentInfo, TgwAttachmentRequest,
    TgwRouteTableInfo, Transit, TransitGatewayInfo,
};
use crate::domain::{Ipv4Cidr, TgwAttachmentId, TgwRouteTableId, TransitGatewayId, VpcId};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn owner_tags(resource: ResourceType, owner_tag: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key(OWNER_TAG).value(owner_tag).build())
        .build()
}

fn owner_tag_of(tags: &[Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(OWNER_TAG))
        .and_then(|t| t.value())
        .map(str::to_owned)
}

fn parse<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s.and_then(|s| s.parse().ok())
}

fn tgw_info(t: &TransitGateway) -> Option<TransitGatewayInfo> {
    Some(TransitGatewayInfo {
        id: parse(t.transit_gateway_id())?,
        owner: parse(t.owner_id())?,
        state: t.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        default_association: t
            .options()
            .and_then(|o| o.default_route_table_association())
            .is_some_and(|v| v == &DefaultRouteTableAssociationValue::Enable),
        owner_tag: owner_tag_of(t.tags()),
    })
}

fn attachment_info(a: &TransitGatewayAttachment) -> Option<TgwAttachmentInfo> {
    Some(TgwAttachmentInfo {
        id: parse(a.transit_gateway_attachment_id())?,
        transit_gateway: parse(a.transit_gateway_id())?,
        vpc: parse(a.resource_id())?,
        vpc_owner: parse(a.resource_owner_id())?,
        state: a.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        association: a.association().and_then(|x| {
            Some((
                parse(x.transit_gateway_route_table_id())?,
                x.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            ))
        }),
        owner_tag: owner_tag_of(a.tags()),
    })
}

fn is_code<T>(r: &CloudResult<T>, code: &str) -> bool {
    matches!(r, Err(e) if e.code.eq_ignore_ascii_case(code))
}

fn is_not_found<T>(r: &CloudResult<T>) -> bool {
    matches!(r, Err(e) if e.kind == CloudErrorKind::NotFound)
}

impl AwsCloud {
    async fn tgws_describe(
        &self,
        cx: &CallCx,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> CloudResult<Vec<TransitGatewayInfo>> {
        let pages: Vec<_> = self
            .ec2(cx)
            .describe_transit_gateways()
            .set_filters(Some(filters))
            .set_transit_gateway_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("DescribeTransitGateways", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.transit_gateways())
            .filter_map(tgw_info)
            .collect())
    }
}

#[async_trait]
impl Transit for AwsCloud {
    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_find(
        &self,
        cx: &CallCx,
        owner_tag: &str,
    ) -> CloudResult<Option<TransitGatewayInfo>> {
        let found = self
            .tgws_describe(
                cx,
                vec![
                    filter(&format!("tag:{OWNER_TAG}"), owner_tag),
                    filter("owner-id", cx.account.as_str()),
                ],
                Vec::new(),
            )
            .await?;
        Ok(found.into_iter().find(|t| {
            t.owner_tag.as_deref() == Some(owner_tag)
                && t.owner == cx.account
                && !matches!(t.state.as_str(), "deleted" | "deleting")
        }))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgws_owned(&self, cx: &CallCx) -> CloudResult<Vec<TransitGatewayInfo>> {
        let found = self
            .tgws_describe(
                cx,
                vec![
                    filter("tag-key", OWNER_TAG),
                    filter("owner-id", cx.account.as_str()),
                ],
                Vec::new(),
            )
            .await?;
        Ok(found
            .into_iter()
            .filter(|t| {
                t.owner_tag.is_some()
                    && t.owner == cx.account
                    && !matches!(t.state.as_str(), "deleted" | "deleting")
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_get(
        &self,
        cx: &CallCx,
        id: &TransitGatewayId,
    ) -> CloudResult<Option<TransitGatewayInfo>> {
        let res = self
            .tgws_describe(cx, Vec::new(), vec![id.to_string()])
            .await;
        if is_not_found(&res) {
            return Ok(None);
        }
        Ok(res?
            .into_iter()
            .find(|t| &t.id == id && t.state != "deleted"))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_create(
        &self,
        cx: &CallCx,
        description: &str,
        owner_tag: &str,
    ) -> CloudResult<TransitGatewayInfo> {
        let options = TransitGatewayRequestOptions::builder()
            .auto_accept_shared_attachments(AutoAcceptSharedAttachmentsValue::Disable)
            .default_route_table_association(DefaultRouteTableAssociationValue::Disable)
            .default_route_table_propagation(DefaultRouteTablePropagationValue::Disable)
            .dns_support(DnsSupportValue::Enable)
            .build();
        let res = self
            .ec2(cx)
            .create_transit_gateway()
            .description(description)
            .options(options)
            .tag_specifications(owner_tags(ResourceType::TransitGateway, owner_tag))
            .send()
            .await;
        let out = self
            .audited(cx, "CreateTransitGateway", None, res, |o| {
                o.transit_gateway()
                    .and_then(|t| t.transit_gateway_id())
                    .map(str::to_owned)
            })
            .await?;
        let mut info = out
            .transit_gateway()
            .and_then(tgw_info)
            .ok_or_else(|| malformed("CreateTransitGateway", "a transit gateway"))?;
        info.owner_tag.get_or_insert_with(|| owner_tag.to_owned());
        Ok(info)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_delete(&self, cx: &CallCx, id: &TransitGatewayId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .delete_transit_gateway()
            .transit_gateway_id(id.as_str())
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "DeleteTransitGateway",
                Some(id.to_string()),
                res,
                |_| None,
            )
            .await;
        if is_not_found(&res) {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_route_tables(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
    ) -> CloudResult<Vec<TgwRouteTableInfo>> {
        let pages: Vec<_> = self
            .ec2(cx)
            .describe_transit_gateway_route_tables()
            .filters(filter("transit-gateway-id", tgw.as_str()))
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("DescribeTransitGatewayRouteTables", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.transit_gateway_route_tables())
            .filter_map(|t| {
                Some(TgwRouteTableInfo {
                    id: parse(t.transit_gateway_route_table_id())?,
                    transit_gateway: parse(t.transit_gateway_id())?,
                    state: t.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    owner_tag: owner_tag_of(t.tags()),
                })
            })
            .filter(|t| !matches!(t.state.as_str(), "deleted" | "deleting"))
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_route_table_create(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
        owner_tag: &str,
    ) -> CloudResult<TgwRouteTableInfo> {
        let res = self
            .ec2(cx)
            .create_transit_gateway_route_table()
            .transit_gateway_id(tgw.as_str())
            .tag_specifications(owner_tags(
                ResourceType::TransitGatewayRouteTable,
                owner_tag,
            ))
            .send()
            .await;
        let out = self
            .audited(
                cx,
                "CreateTransitGatewayRouteTable",
                Some(tgw.to_string()),
                res,
                |_| None,
            )
            .await?;
        let t = out
            .transit_gateway_route_table()
            .ok_or_else(|| malformed("CreateTransitGatewayRouteTable", "a route table"))?;
        Ok(TgwRouteTableInfo {
            id: parse(t.transit_gateway_route_table_id())
                .ok_or_else(|| malformed("CreateTransitGatewayRouteTable", "a route table id"))?,
            transit_gateway: tgw.clone(),
            state: t.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            owner_tag: Some(owner_tag.to_owned()),
        })
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_route_table_delete(&self, cx: &CallCx, id: &TgwRouteTableId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .delete_transit_gateway_route_table()
            .transit_gateway_route_table_id(id.as_str())
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "DeleteTransitGatewayRouteTable",
                Some(id.to_string()),
                res,
                |_| None,
            )
            .await;
        if is_not_found(&res) {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_attachments(
        &self,
        cx: &CallCx,
        tgw: Option<&TransitGatewayId>,
        vpc: Option<&VpcId>,
    ) -> CloudResult<Vec<TgwAttachmentInfo>> {
        let mut filters = vec![filter("resource-type", "vpc")];
        if let Some(t) = tgw {
            filters.push(filter("transit-gateway-id", t.as_str()));
        }
        if let Some(v) = vpc {
            filters.push(filter("resource-id", v.as_str()));
        }
        let pages: Vec<_> = self
            .ec2(cx)
            .describe_transit_gateway_attachments()
            .set_filters(Some(filters))
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("DescribeTransitGatewayAttachments", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.transit_gateway_attachments())
            .filter_map(attachment_info)
            .filter(|a| {
                a.state != "deleted"
                    && tgw.is_none_or(|t| &a.transit_gateway == t)
                    && vpc.is_none_or(|v| &a.vpc == v)
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_attachment_create(
        &self,
        cx: &CallCx,
        req: &TgwAttachmentRequest,
    ) -> CloudResult<TgwAttachmentInfo> {
        let res = self
            .ec2(cx)
            .create_transit_gateway_vpc_attachment()
            .transit_gateway_id(req.transit_gateway.as_str())
            .vpc_id(req.vpc.as_str())
            .set_subnet_ids(Some(req.subnets.iter().map(|s| s.to_string()).collect()))
            .tag_specifications(owner_tags(
                ResourceType::TransitGatewayAttachment,
                &req.owner_tag,
            ))
            .send()
            .await;
        let out = self
            .audited(cx, "CreateTransitGatewayVpcAttachment", None, res, |o| {
                o.transit_gateway_vpc_attachment()
                    .and_then(|a| a.transit_gateway_attachment_id())
                    .map(str::to_owned)
            })
            .await?;
        let a = out
            .transit_gateway_vpc_attachment()
            .ok_or_else(|| malformed("CreateTransitGatewayVpcAttachment", "an attachment"))?;
        Ok(TgwAttachmentInfo {
            id: parse(a.transit_gateway_attachment_id()).ok_or_else(|| {
                malformed("CreateTransitGatewayVpcAttachment", "an attachment id")
            })?,
            transit_gateway: req.transit_gateway.clone(),
            vpc: req.vpc.clone(),
            vpc_owner: parse(a.vpc_owner_id()).unwrap_or_else(|| cx.account.clone()),
            state: a.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            association: None,
            owner_tag: Some(req.owner_tag.clone()),
        })
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_attachment_accept(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .accept_transit_gateway_vpc_attachment()
            .transit_gateway_attachment_id(id.as_str())
            .send()
            .await;
        self.audited(
            cx,
            "AcceptTransitGatewayVpcAttachment",
            Some(id.to_string()),
            res,
            |_| None,
        )
        .await
        .map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_attachment_delete(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .delete_transit_gateway_vpc_attachment()
            .transit_gateway_attachment_id(id.as_str())
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "DeleteTransitGatewayVpcAttachment",
                Some(id.to_string()),
                res,
                |_| None,
            )
            .await;
        // Already deleting or deleted: done.
        if is_not_found(&res) || is_code(&res, "IncorrectState") {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_associate(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
    ) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .associate_transit_gateway_route_table()
            .transit_gateway_route_table_id(table.as_str())
            .transit_gateway_attachment_id(attachment.as_str())
            .send()
            .await;
        self.audited(
            cx,
            "AssociateTransitGatewayRouteTable",
            Some(attachment.to_string()),
            res,
            |_| None,
        )
        .await
        .map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_propagations(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
    ) -> CloudResult<Vec<TgwAttachmentId>> {
        let pages: Vec<_> = self
            .ec2(cx)
            .get_transit_gateway_route_table_propagations()
            .transit_gateway_route_table_id(table.as_str())
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("GetTransitGatewayRouteTablePropagations", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.transit_gateway_route_table_propagations())
            .filter(|p| {
                p.state()
                    .is_none_or(|s| !matches!(s.as_str(), "disabled" | "disabling"))
            })
            .filter_map(|p| parse(p.transit_gateway_attachment_id()))
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_propagation_enable(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
    ) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .enable_transit_gateway_route_table_propagation()
            .transit_gateway_route_table_id(table.as_str())
            .transit_gateway_attachment_id(attachment.as_str())
            .send()
            .await;
        self.audited(
            cx,
            "EnableTransitGatewayRouteTablePropagation",
            Some(attachment.to_string()),
            res,
            |_| None,
        )
        .await
        .map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn tgw_routes(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
    ) -> CloudResult<Vec<(Ipv4Cidr, TgwAttachmentId)>> {
        let out = self
            .ec2(cx)
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(table.as_str())
            .filters(filter("type", "propagated"))
            .send()
            .await
            .map_err(|e| sdk_error("SearchTransitGatewayRoutes", e))?;
        Ok(out
            .routes()
            .iter()
            .flat_map(|r| {
                let dest: Option<Ipv4Cidr> = parse(r.destination_cidr_block());
                r.transit_gateway_attachments()
                    .iter()
                    .filter_map(move |a| Some((dest?, parse(a.transit_gateway_attachment_id())?)))
            })
            .collect())
    }
}
