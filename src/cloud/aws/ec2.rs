//! EC2: VPCs, peering, routes, managed prefix lists, security groups and interface endpoints.
//!
//! What endpoint-hub creates is tagged [`OWNER_TAG`] in the create call itself
//! (`TagSpecifications`), so there is never an untagged window; `*_find` looks resources up by
//! that tag before anything is created again. Creates that accept a `ClientToken` (endpoints,
//! prefix lists) also get one derived from the owner tag, so a create retried after a lost
//! answer does not make a second resource. Deleting what is already gone is success.
//!
//! Finds also check the tag on what comes back: the moto emulator ignores the `tag:` filter of
//! `DescribeVpcPeeringConnections` (it returns every peering), and a check costs nothing.

use async_trait::async_trait;
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{
    AddPrefixListEntry, Filter, IpPermission, ManagedPrefixList, PrefixListId as SdkPrefixListId,
    RemovePrefixListEntry, ResourceType, SecurityGroup, ServiceDetail, Tag, TagSpecification,
    VpcAttributeName, VpcEndpoint, VpcEndpointType, VpcPeeringConnection,
};
use sha2::{Digest, Sha256};

use super::AwsCloud;
use super::errors::{malformed, sdk_error};
use crate::cloud::{
    CallCx, CloudError, CloudErrorKind, CloudResult, DnsEntry, EndpointInfo, EndpointRequest,
    EndpointServiceInfo, EndpointServiceType, Endpoints, Firewall, IngressRule, Network, OWNER_TAG,
    PeeringInfo, PeeringRequest, PeeringStatus, PrefixListInfo, PrefixListRoute, RouteInfo,
    RouteTableInfo, RouteTarget, SecurityGroupInfo, SubnetInfo, VpcInfo,
};
use crate::domain::{
    EndpointId, Ipv4Cidr, PeeringId, PrefixListId, Region, RouteTableId, SecurityGroupId, SubnetId,
    VpcId,
};

// ---------------------------------------------------------------------------------------------
// Request helpers
// ---------------------------------------------------------------------------------------------

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn owner_filter(owner_tag: &str) -> Filter {
    filter(&format!("tag:{OWNER_TAG}"), owner_tag)
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

/// An idempotency token for a create call: stable for the same owner tag and inputs, at most
/// 64 characters (EC2's limit), made of characters EC2 accepts.
pub(crate) fn client_token(owner_tag: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(owner_tag.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    let digest = hex::encode(h.finalize());
    format!("eh-{}", &digest[..48])
}

fn is_kind<T>(r: &CloudResult<T>, kind: CloudErrorKind) -> bool {
    matches!(r, Err(e) if e.kind == kind)
}

fn code_is<T>(r: &CloudResult<T>, code: &str) -> bool {
    matches!(r, Err(e) if e.code.eq_ignore_ascii_case(code))
}

/// `Ok(None)` for a NotFound answer (describing a missing id), the value otherwise.
fn none_if_missing<T>(r: CloudResult<T>) -> CloudResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == CloudErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Response parsers
// ---------------------------------------------------------------------------------------------

fn parse<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s.and_then(|s| s.parse().ok())
}

/// A peering as EC2 describes it; `None` when an id is missing or unparsable.
fn peering_info(p: &VpcPeeringConnection, default_region: &Region) -> Option<PeeringInfo> {
    let req = p.requester_vpc_info()?;
    let acc = p.accepter_vpc_info()?;
    let status = p.status();
    Some(PeeringInfo {
        id: parse(p.vpc_peering_connection_id())?,
        status: status
            .and_then(|s| s.code())
            .map(|c| PeeringStatus::from_code(c.as_str()))
            .unwrap_or(PeeringStatus::Failed),
        message: status.and_then(|s| s.message()).map(str::to_owned),
        requester_vpc: parse(req.vpc_id())?,
        requester_owner: parse(req.owner_id())?,
        accepter_vpc: parse(acc.vpc_id())?,
        accepter_owner: parse(acc.owner_id())?,
        accepter_region: parse(acc.region()).unwrap_or_else(|| default_region.clone()),
        owner_tag: owner_tag_of(p.tags()),
    })
}

fn prefix_list_info(p: &ManagedPrefixList, entries: Vec<Ipv4Cidr>) -> Option<PrefixListInfo> {
    Some(PrefixListInfo {
        id: parse(p.prefix_list_id())?,
        version: p.version().unwrap_or_default(),
        max_entries: p.max_entries().unwrap_or_default(),
        entries,
        owner_tag: owner_tag_of(p.tags()),
    })
}

/// Prefix lists admitted on TCP 443 (a rule on all TCP ports or all traffic admits 443 too).
/// The permission for TCP `port` from a prefix list.
fn tcp_from_prefix_list(prefix_list: &PrefixListId, port: u16) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port))
        .prefix_list_ids(
            SdkPrefixListId::builder()
                .prefix_list_id(prefix_list.as_str())
                .description("endpoint-hub spokes")
                .build(),
        )
        .build()
}

fn ingress_rules(permissions: &[IpPermission]) -> Vec<IngressRule> {
    let mut out: Vec<IngressRule> = Vec::new();
    for p in permissions {
        let (from, to) = match p.ip_protocol().unwrap_or_default() {
            "-1" | "all" => (0, u16::MAX),
            "tcp" | "6" => match (p.from_port(), p.to_port()) {
                (Some(-1) | None, Some(-1) | None) => (0, u16::MAX),
                (Some(f), Some(t)) => (
                    u16::try_from(f).unwrap_or(0),
                    u16::try_from(t).unwrap_or(u16::MAX),
                ),
                _ => continue,
            },
            _ => continue,
        };
        for pl in p.prefix_list_ids() {
            if let Some(id) = parse::<PrefixListId>(pl.prefix_list_id()) {
                out.push(IngressRule {
                    from_port: from,
                    to_port: to,
                    prefix_list: id,
                });
            }
        }
    }
    out
}

fn security_group_info(g: &SecurityGroup) -> Option<SecurityGroupInfo> {
    Some(SecurityGroupInfo {
        id: parse(g.group_id())?,
        vpc_id: parse(g.vpc_id())?,
        ingress: ingress_rules(g.ip_permissions()),
        owner_tag: owner_tag_of(g.tags()),
    })
}

fn endpoint_info(e: &VpcEndpoint) -> Option<EndpointInfo> {
    Some(EndpointInfo {
        id: parse(e.vpc_endpoint_id())?,
        vpc_id: parse(e.vpc_id())?,
        service_name: e.service_name().unwrap_or_default().to_owned(),
        state: e.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        last_error: e.last_error().map(|l| {
            format!(
                "{}: {}",
                l.code().unwrap_or("Unknown"),
                l.message().unwrap_or_default()
            )
        }),
        dns_entries: e
            .dns_entries()
            .iter()
            .filter_map(|d| {
                Some(DnsEntry {
                    dns_name: d.dns_name()?.to_owned(),
                    hosted_zone_id: d.hosted_zone_id().unwrap_or_default().to_owned(),
                })
            })
            .collect(),
        owner_tag: owner_tag_of(e.tags()),
    })
}

/// One `DescribeVpcEndpointServices` entry: its type, private DNS names (deduplicated, without
/// the trailing dot) and availability zones.
fn endpoint_service_info(service_name: &str, d: &ServiceDetail) -> EndpointServiceInfo {
    let mut names: Vec<String> = Vec::new();
    let listed = d
        .private_dns_names()
        .iter()
        .filter_map(|p| p.private_dns_name());
    for n in listed.chain(d.private_dns_name()) {
        let n = n.trim_end_matches('.').to_owned();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    let service_type = d
        .service_type()
        .iter()
        .find_map(|t| t.service_type())
        .map(|t| EndpointServiceType::from_code(t.as_str()))
        .unwrap_or(EndpointServiceType::Other);
    EndpointServiceInfo {
        service_name: service_name.to_owned(),
        service_type,
        private_dns_names: names,
        availability_zones: d.availability_zones().to_vec(),
    }
}

/// A `CreateRoute` request sending traffic to `target` (a peering or a Transit Gateway).
fn with_target(
    req: aws_sdk_ec2::operation::create_route::builders::CreateRouteFluentBuilder,
    target: &RouteTarget,
) -> CloudResult<aws_sdk_ec2::operation::create_route::builders::CreateRouteFluentBuilder> {
    match target {
        RouteTarget::Peering(p) => Ok(req.vpc_peering_connection_id(p.as_str())),
        RouteTarget::TransitGateway(t) => Ok(req.transit_gateway_id(t.as_str())),
        RouteTarget::Other(o) => Err(CloudError::new(
            CloudErrorKind::Invalid,
            "CreateRoute",
            "InvalidParameterValue",
            format!("endpoint-hub makes no route to {o}"),
        )),
    }
}

/// The target of a route, as EC2 names it.
fn route_target(r: &aws_sdk_ec2::types::Route) -> RouteTarget {
    if let Some(p) = parse::<PeeringId>(r.vpc_peering_connection_id()) {
        return RouteTarget::Peering(p);
    }
    if let Some(t) = parse::<crate::domain::TransitGatewayId>(r.transit_gateway_id()) {
        return RouteTarget::TransitGateway(t);
    }
    let other = [
        r.gateway_id(),
        r.nat_gateway_id(),
        r.transit_gateway_id(),
        r.network_interface_id(),
        r.instance_id(),
        r.local_gateway_id(),
        r.carrier_gateway_id(),
        r.egress_only_internet_gateway_id(),
        r.core_network_arn(),
        r.vpc_peering_connection_id(),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or("unknown");
    RouteTarget::Other(other.to_owned())
}

impl AwsCloud {
    /// One route table as DescribeRouteTables gives it; `NotFound` when it does not exist.
    async fn route_table_described(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
    ) -> CloudResult<aws_sdk_ec2::types::RouteTable> {
        let out = self
            .ec2(cx)
            .describe_route_tables()
            .route_table_ids(table.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeRouteTables", e))?;
        out.route_tables()
            .iter()
            .find(|t| t.route_table_id() == Some(table.as_str()))
            .cloned()
            .ok_or_else(|| {
                CloudError::new(
                    CloudErrorKind::NotFound,
                    "DescribeRouteTables",
                    "InvalidRouteTableID.NotFound",
                    format!("route table {table} does not exist"),
                )
            })
    }

    /// Sends a `CreateRoute` in `table` to `target` (its destination set by the caller),
    /// audited.
    async fn route_created(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        req: aws_sdk_ec2::operation::create_route::builders::CreateRouteFluentBuilder,
        target: &RouteTarget,
        destination: &str,
    ) -> CloudResult<()> {
        let res = with_target(req.route_table_id(table.as_str()), target)?
            .send()
            .await;
        self.audited(
            cx,
            "CreateRoute",
            Some(format!("{table}:{destination}")),
            res,
            |_| None,
        )
        .await?;
        Ok(())
    }

    /// Sends a `DeleteRoute` of `table` (its destination set by the caller), audited; a route
    /// already gone is `Ok`.
    async fn route_deleted(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        req: aws_sdk_ec2::operation::delete_route::builders::DeleteRouteFluentBuilder,
        destination: &str,
    ) -> CloudResult<()> {
        let res = req.route_table_id(table.as_str()).send().await;
        let res = self
            .audited(
                cx,
                "DeleteRoute",
                Some(format!("{table}:{destination}")),
                res,
                |_| None,
            )
            .await;
        if code_is(&res, "InvalidRoute.NotFound") {
            return Ok(());
        }
        res.map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

impl AwsCloud {
    /// DescribeVpcs of one VPC: the VPC and its associated IPv4 CIDR blocks.
    async fn vpc_described(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
    ) -> CloudResult<Option<(aws_sdk_ec2::types::Vpc, Vec<Ipv4Cidr>)>> {
        let out = self
            .ec2(cx)
            .describe_vpcs()
            .vpc_ids(vpc.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeVpcs", e));
        let Some(out) = none_if_missing(out)? else {
            return Ok(None);
        };
        let Some(v) = out.vpcs().iter().find(|v| v.vpc_id() == Some(vpc.as_str())) else {
            return Ok(None);
        };
        let mut cidrs: Vec<Ipv4Cidr> = v
            .cidr_block_association_set()
            .iter()
            .filter(|a| {
                a.cidr_block_state()
                    .and_then(|s| s.state())
                    .is_some_and(|s| s.as_str() == "associated")
            })
            .filter_map(|a| parse(a.cidr_block()))
            .collect();
        if cidrs.is_empty()
            && v.cidr_block_association_set().is_empty()
            && let Some(c) = parse(v.cidr_block())
        {
            cidrs.push(c);
        }
        Ok(Some((v.clone(), cidrs)))
    }

    async fn peerings_filtered(
        &self,
        cx: &CallCx,
        filters: Vec<Filter>,
    ) -> CloudResult<Vec<PeeringInfo>> {
        let items = self
            .ec2(cx)
            .describe_vpc_peering_connections()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeVpcPeeringConnections", e))?;
        Ok(items
            .iter()
            .filter_map(|p| peering_info(p, &cx.region))
            .collect())
    }

    async fn prefix_list_entries(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
    ) -> CloudResult<Vec<Ipv4Cidr>> {
        let items = self
            .ec2(cx)
            .get_managed_prefix_list_entries()
            .prefix_list_id(id.as_str())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("GetManagedPrefixListEntries", e))?;
        Ok(items.iter().filter_map(|e| parse(e.cidr())).collect())
    }

    async fn prefix_list_with_entries(
        &self,
        cx: &CallCx,
        list: &ManagedPrefixList,
    ) -> CloudResult<Option<PrefixListInfo>> {
        let Some(id) = parse::<PrefixListId>(list.prefix_list_id()) else {
            return Ok(None);
        };
        let entries = self.prefix_list_entries(cx, &id).await?;
        Ok(prefix_list_info(list, entries))
    }
}

#[async_trait]
impl Network for AwsCloud {
    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn vpc_get(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Option<VpcInfo>> {
        let Some((v, cidrs)) = self.vpc_described(cx, vpc).await? else {
            return Ok(None);
        };
        let mut dns = [false, false];
        for (i, attribute) in [
            VpcAttributeName::EnableDnsSupport,
            VpcAttributeName::EnableDnsHostnames,
        ]
        .into_iter()
        .enumerate()
        {
            let out = self
                .ec2(cx)
                .describe_vpc_attribute()
                .vpc_id(vpc.as_str())
                .attribute(attribute)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeVpcAttribute", e))?;
            let value = if i == 0 {
                out.enable_dns_support()
            } else {
                out.enable_dns_hostnames()
            };
            dns[i] = value.and_then(|v| v.value()).unwrap_or(false);
        }
        Ok(Some(VpcInfo {
            id: vpc.clone(),
            owner: parse(v.owner_id()).unwrap_or_else(|| cx.account.clone()),
            state: v.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            cidrs,
            dns_support: dns[0],
            dns_hostnames: dns[1],
        }))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn vpc_cidrs(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Option<Vec<Ipv4Cidr>>> {
        Ok(self.vpc_described(cx, vpc).await?.map(|(_, cidrs)| cidrs))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn subnets_get(&self, cx: &CallCx, ids: &[SubnetId]) -> CloudResult<Vec<SubnetInfo>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ec2(cx)
            .describe_subnets()
            .set_subnet_ids(Some(ids.iter().map(|s| s.as_str().to_owned()).collect()))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSubnets", e))?;
        Ok(out
            .subnets()
            .iter()
            .filter_map(|s| {
                Some(SubnetInfo {
                    id: parse(s.subnet_id())?,
                    vpc_id: parse(s.vpc_id())?,
                    availability_zone: s.availability_zone()?.to_owned(),
                })
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn route_tables_list(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
    ) -> CloudResult<Vec<RouteTableInfo>> {
        let items = self
            .ec2(cx)
            .describe_route_tables()
            .filters(filter("vpc-id", vpc.as_str()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeRouteTables", e))?;
        Ok(items
            .iter()
            .filter_map(|t| {
                let id = parse(t.route_table_id())?;
                let associations = t.associations();
                Some(RouteTableInfo {
                    id,
                    main: associations.iter().any(|a| a.main() == Some(true)),
                    subnets: associations
                        .iter()
                        .filter(|a| a.subnet_id().is_some())
                        .count(),
                    gateway: associations
                        .iter()
                        .find_map(|a| a.gateway_id().map(str::to_owned)),
                    routes: routes_of(t),
                })
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peering_find(&self, cx: &CallCx, owner_tag: &str) -> CloudResult<Vec<PeeringInfo>> {
        let mut found = self
            .peerings_filtered(cx, vec![owner_filter(owner_tag)])
            .await?;
        found.retain(|p| p.owner_tag.as_deref() == Some(owner_tag));
        Ok(found)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peering_get(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<Option<PeeringInfo>> {
        let out = self
            .ec2(cx)
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeVpcPeeringConnections", e));
        let Some(out) = none_if_missing(out)? else {
            return Ok(None);
        };
        Ok(out
            .vpc_peering_connections()
            .iter()
            .filter_map(|p| peering_info(p, &cx.region))
            .find(|p| &p.id == id))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peering_list_for_vpc(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
    ) -> CloudResult<Vec<PeeringInfo>> {
        let mut all = self
            .peerings_filtered(cx, vec![filter("requester-vpc-info.vpc-id", vpc.as_str())])
            .await?;
        let accepted = self
            .peerings_filtered(cx, vec![filter("accepter-vpc-info.vpc-id", vpc.as_str())])
            .await?;
        for p in accepted {
            if !all.iter().any(|q| q.id == p.id) {
                all.push(p);
            }
        }
        all.retain(|p| !p.status.is_dead());
        Ok(all)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peering_create(&self, cx: &CallCx, req: &PeeringRequest) -> CloudResult<PeeringInfo> {
        const OP: &str = "CreateVpcPeeringConnection";
        let res = self
            .ec2(cx)
            .create_vpc_peering_connection()
            .vpc_id(req.vpc.as_str())
            .peer_vpc_id(req.peer_vpc.as_str())
            .peer_owner_id(req.peer_owner.as_str())
            .peer_region(req.peer_region.as_str())
            .tag_specifications(owner_tags(
                ResourceType::VpcPeeringConnection,
                &req.owner_tag,
            ))
            .send()
            .await;
        let out = self
            .audited(cx, OP, None, res, |o| {
                o.vpc_peering_connection()
                    .and_then(|p| p.vpc_peering_connection_id())
                    .map(str::to_owned)
            })
            .await?;
        let p = out
            .vpc_peering_connection()
            .ok_or_else(|| malformed(OP, "the peering connection"))?;
        let id: PeeringId = parse(p.vpc_peering_connection_id())
            .ok_or_else(|| malformed(OP, "a peering connection id"))?;
        // The answer may lack the accepter's details (region, owner): complete from the request.
        Ok(
            peering_info(p, &req.peer_region).unwrap_or_else(|| PeeringInfo {
                id,
                status: p
                    .status()
                    .and_then(|s| s.code())
                    .map(|c| PeeringStatus::from_code(c.as_str()))
                    .unwrap_or(PeeringStatus::InitiatingRequest),
                message: p.status().and_then(|s| s.message()).map(str::to_owned),
                requester_vpc: req.vpc.clone(),
                requester_owner: cx.account.clone(),
                accepter_vpc: req.peer_vpc.clone(),
                accepter_owner: req.peer_owner.clone(),
                accepter_region: req.peer_region.clone(),
                owner_tag: Some(req.owner_tag.clone()),
            }),
        )
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peering_accept(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .accept_vpc_peering_connection()
            .vpc_peering_connection_id(id.as_str())
            .send()
            .await;
        self.audited(
            cx,
            "AcceptVpcPeeringConnection",
            Some(id.to_string()),
            res,
            |_| None,
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peering_delete(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(id.as_str())
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "DeleteVpcPeeringConnection",
                Some(id.to_string()),
                res,
                |_| None,
            )
            .await;
        // Already deleted peerings answer `InvalidStateTransition` or NotFound: both are done.
        if is_kind(&res, CloudErrorKind::NotFound) || code_is(&res, "InvalidStateTransition") {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn routes_list(&self, cx: &CallCx, table: &RouteTableId) -> CloudResult<Vec<RouteInfo>> {
        Ok(routes_of(&self.route_table_described(cx, table).await?))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn route_create(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
        target: &RouteTarget,
    ) -> CloudResult<()> {
        let req = self
            .ec2(cx)
            .create_route()
            .destination_cidr_block(destination.to_string());
        self.route_created(cx, table, req, target, &destination.to_string())
            .await
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_routes(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
    ) -> CloudResult<Vec<PrefixListRoute>> {
        let t = self.route_table_described(cx, table).await?;
        Ok(t.routes()
            .iter()
            .filter_map(|r| {
                Some(PrefixListRoute {
                    prefix_list: parse(r.destination_prefix_list_id())?,
                    target: route_target(r),
                    state: r
                        .state()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "active".to_owned()),
                })
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_route_create(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        prefix_list: &PrefixListId,
        target: &RouteTarget,
    ) -> CloudResult<()> {
        let req = self
            .ec2(cx)
            .create_route()
            .destination_prefix_list_id(prefix_list.as_str());
        self.route_created(cx, table, req, target, prefix_list.as_str())
            .await
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_route_delete(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        prefix_list: &PrefixListId,
    ) -> CloudResult<()> {
        let req = self
            .ec2(cx)
            .delete_route()
            .destination_prefix_list_id(prefix_list.as_str());
        self.route_deleted(cx, table, req, prefix_list.as_str())
            .await
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn subnets_of_vpc(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Vec<SubnetInfo>> {
        let pages: Vec<_> = self
            .ec2(cx)
            .describe_subnets()
            .filters(filter("vpc-id", vpc.as_str()))
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("DescribeSubnets", e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.subnets())
            .filter_map(|s| {
                Some(SubnetInfo {
                    id: parse(s.subnet_id())?,
                    vpc_id: parse(s.vpc_id())?,
                    availability_zone: s.availability_zone()?.to_owned(),
                })
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn route_delete(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
    ) -> CloudResult<()> {
        let req = self
            .ec2(cx)
            .delete_route()
            .destination_cidr_block(destination.to_string());
        self.route_deleted(cx, table, req, &destination.to_string())
            .await
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn peerings_owned(&self, cx: &CallCx) -> CloudResult<Vec<PeeringInfo>> {
        let mut found = self
            .peerings_filtered(cx, vec![filter("tag-key", OWNER_TAG)])
            .await?;
        found.retain(|p| p.owner_tag.is_some() && p.requester_owner == cx.account);
        Ok(found)
    }
}

// ---------------------------------------------------------------------------------------------
// Firewall
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl Firewall for AwsCloud {
    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_find(
        &self,
        cx: &CallCx,
        owner_tag: &str,
    ) -> CloudResult<Option<PrefixListInfo>> {
        let lists = self
            .ec2(cx)
            .describe_managed_prefix_lists()
            .filters(owner_filter(owner_tag))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeManagedPrefixLists", e))?;
        // A list being deleted is not one to use.
        let Some(list) = lists.iter().find(|l| {
            owner_tag_of(l.tags()).as_deref() == Some(owner_tag)
                && !l.state().is_some_and(|s| s.as_str().starts_with("delete"))
        }) else {
            return Ok(None);
        };
        self.prefix_list_with_entries(cx, list).await
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_get(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
    ) -> CloudResult<Option<PrefixListInfo>> {
        let out = self
            .ec2(cx)
            .describe_managed_prefix_lists()
            .prefix_list_ids(id.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeManagedPrefixLists", e));
        let Some(out) = none_if_missing(out)? else {
            return Ok(None);
        };
        let Some(list) = out
            .prefix_lists()
            .iter()
            .find(|l| l.prefix_list_id() == Some(id.as_str()))
        else {
            return Ok(None);
        };
        none_if_missing(self.prefix_list_with_entries(cx, list).await).map(Option::flatten)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_create(
        &self,
        cx: &CallCx,
        name: &str,
        max_entries: i32,
        owner_tag: &str,
    ) -> CloudResult<PrefixListInfo> {
        const OP: &str = "CreateManagedPrefixList";
        let res = self
            .ec2(cx)
            .create_managed_prefix_list()
            .prefix_list_name(name)
            .max_entries(max_entries)
            .address_family("IPv4")
            .tag_specifications(owner_tags(ResourceType::PrefixList, owner_tag))
            .client_token(client_token(owner_tag, &[OP, name]))
            .send()
            .await;
        let out = self
            .audited(cx, OP, None, res, |o| {
                o.prefix_list()
                    .and_then(|p| p.prefix_list_id())
                    .map(str::to_owned)
            })
            .await?;
        let list = out
            .prefix_list()
            .ok_or_else(|| malformed(OP, "the prefix list"))?;
        let mut info =
            prefix_list_info(list, Vec::new()).ok_or_else(|| malformed(OP, "a prefix list id"))?;
        if info.max_entries == 0 {
            info.max_entries = max_entries;
        }
        if info.owner_tag.is_none() {
            info.owner_tag = Some(owner_tag.to_owned());
        }
        Ok(info)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_modify(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
        current_version: i64,
        add: &[Ipv4Cidr],
        remove: &[Ipv4Cidr],
    ) -> CloudResult<()> {
        let adds: Vec<AddPrefixListEntry> = add
            .iter()
            .map(|c| AddPrefixListEntry::builder().cidr(c.to_string()).build())
            .collect();
        let removes: Vec<RemovePrefixListEntry> = remove
            .iter()
            .map(|c| RemovePrefixListEntry::builder().cidr(c.to_string()).build())
            .collect();
        let res = self
            .ec2(cx)
            .modify_managed_prefix_list()
            .prefix_list_id(id.as_str())
            .current_version(current_version)
            .set_add_entries((!adds.is_empty()).then_some(adds))
            .set_remove_entries((!removes.is_empty()).then_some(removes))
            .send()
            .await;
        self.audited(
            cx,
            "ModifyManagedPrefixList",
            Some(id.to_string()),
            res,
            |_| None,
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_list_delete(&self, cx: &CallCx, id: &PrefixListId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .delete_managed_prefix_list()
            .prefix_list_id(id.as_str())
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "DeleteManagedPrefixList",
                Some(id.to_string()),
                res,
                |_| None,
            )
            .await;
        if is_kind(&res, CloudErrorKind::NotFound) {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn security_group_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Option<SecurityGroupInfo>> {
        let groups = self
            .ec2(cx)
            .describe_security_groups()
            .filters(filter("vpc-id", vpc.as_str()))
            .filters(owner_filter(owner_tag))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeSecurityGroups", e))?;
        Ok(groups
            .iter()
            .filter_map(security_group_info)
            .find(|g| g.owner_tag.as_deref() == Some(owner_tag)))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn security_group_create(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        name: &str,
        owner_tag: &str,
    ) -> CloudResult<SecurityGroupInfo> {
        const OP: &str = "CreateSecurityGroup";
        let res = self
            .ec2(cx)
            .create_security_group()
            .group_name(name)
            .description("endpoint-hub: HTTPS to the shared interface endpoints")
            .vpc_id(vpc.as_str())
            .tag_specifications(owner_tags(ResourceType::SecurityGroup, owner_tag))
            .send()
            .await;
        let out = self
            .audited(cx, OP, None, res, |o| o.group_id().map(str::to_owned))
            .await?;
        Ok(SecurityGroupInfo {
            id: parse(out.group_id()).ok_or_else(|| malformed(OP, "a group id"))?,
            vpc_id: vpc.clone(),
            ingress: Vec::new(),
            owner_tag: Some(owner_tag.to_owned()),
        })
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn security_group_allow(
        &self,
        cx: &CallCx,
        sg: &SecurityGroupId,
        prefix_list: &PrefixListId,
        port: u16,
    ) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .authorize_security_group_ingress()
            .group_id(sg.as_str())
            .ip_permissions(tcp_from_prefix_list(prefix_list, port))
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "AuthorizeSecurityGroupIngress",
                Some(format!("{sg}:{port}")),
                res,
                |_| None,
            )
            .await;
        if code_is(&res, "InvalidPermission.Duplicate") {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn security_group_revoke(
        &self,
        cx: &CallCx,
        sg: &SecurityGroupId,
        prefix_list: &PrefixListId,
        port: u16,
    ) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .revoke_security_group_ingress()
            .group_id(sg.as_str())
            .ip_permissions(tcp_from_prefix_list(prefix_list, port))
            .send()
            .await;
        let res = self
            .audited(
                cx,
                "RevokeSecurityGroupIngress",
                Some(format!("{sg}:{port}")),
                res,
                |_| None,
            )
            .await;
        // AWS answers a rule that is not there with success and `UnknownIpPermissions`, or
        // (older behaviour) `InvalidPermission.NotFound`; either way it is gone.
        if code_is(&res, "InvalidPermission.NotFound") || is_kind(&res, CloudErrorKind::NotFound) {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn security_group_delete(&self, cx: &CallCx, sg: &SecurityGroupId) -> CloudResult<()> {
        let res = self
            .ec2(cx)
            .delete_security_group()
            .group_id(sg.as_str())
            .send()
            .await;
        let res = self
            .audited(cx, "DeleteSecurityGroup", Some(sg.to_string()), res, |_| {
                None
            })
            .await;
        if is_kind(&res, CloudErrorKind::NotFound) {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn prefix_lists_owned(&self, cx: &CallCx) -> CloudResult<Vec<PrefixListInfo>> {
        let lists = self
            .ec2(cx)
            .describe_managed_prefix_lists()
            .filters(filter("tag-key", OWNER_TAG))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeManagedPrefixLists", e))?;
        Ok(lists
            .iter()
            .filter(|l| {
                owner_tag_of(l.tags()).is_some()
                    && !l.state().is_some_and(|s| s.as_str().starts_with("delete"))
            })
            .filter_map(|l| prefix_list_info(l, Vec::new()))
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn security_groups_owned(&self, cx: &CallCx) -> CloudResult<Vec<SecurityGroupInfo>> {
        let groups = self
            .ec2(cx)
            .describe_security_groups()
            .filters(filter("tag-key", OWNER_TAG))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeSecurityGroups", e))?;
        Ok(groups
            .iter()
            .filter_map(security_group_info)
            .filter(|g| g.owner_tag.is_some())
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl Endpoints for AwsCloud {
    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn endpoint_services_get(
        &self,
        cx: &CallCx,
        service_name: &str,
    ) -> CloudResult<Vec<EndpointServiceInfo>> {
        let res = self
            .ec2(cx)
            .describe_vpc_endpoint_services()
            .service_names(service_name)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeVpcEndpointServices", e));
        if code_is(&res, "InvalidServiceName") {
            return Ok(Vec::new());
        }
        let out = res?;
        Ok(out
            .service_details()
            .iter()
            .filter(|d| d.service_name() == Some(service_name))
            .map(|d| endpoint_service_info(service_name, d))
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn endpoints_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Vec<EndpointInfo>> {
        let endpoints = self
            .ec2(cx)
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", vpc.as_str()))
            .filters(owner_filter(owner_tag))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeVpcEndpoints", e))?;
        // Deleted endpoints stay visible for a while: they are not found any more.
        Ok(endpoints
            .iter()
            .filter_map(endpoint_info)
            .filter(|e| {
                e.owner_tag.as_deref() == Some(owner_tag)
                    && !e.state.eq_ignore_ascii_case("deleted")
            })
            .collect())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn endpoint_get(
        &self,
        cx: &CallCx,
        id: &EndpointId,
    ) -> CloudResult<Option<EndpointInfo>> {
        // By `VpcEndpointIds`, not the `vpc-endpoint-id` filter (moto answers that with a 500).
        let out = self
            .ec2(cx)
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeVpcEndpoints", e));
        let Some(out) = none_if_missing(out)? else {
            return Ok(None);
        };
        Ok(out
            .vpc_endpoints()
            .iter()
            .filter_map(endpoint_info)
            .find(|e| &e.id == id))
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn endpoint_create(
        &self,
        cx: &CallCx,
        req: &EndpointRequest,
    ) -> CloudResult<EndpointInfo> {
        const OP: &str = "CreateVpcEndpoint";
        let mut parts = vec![OP, req.vpc.as_str(), &req.service_name];
        parts.extend(req.supersedes.iter().map(|id| id.as_str()));
        let token = client_token(&req.owner_tag, &parts);
        let res = self
            .ec2(cx)
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .vpc_id(req.vpc.as_str())
            .service_name(&req.service_name)
            .private_dns_enabled(false)
            .set_subnet_ids(Some(
                req.subnets.iter().map(|s| s.as_str().to_owned()).collect(),
            ))
            .security_group_ids(req.security_group.as_str())
            .tag_specifications(owner_tags(ResourceType::VpcEndpoint, &req.owner_tag))
            .client_token(token)
            .send()
            .await;
        let out = self
            .audited(cx, OP, None, res, |o| {
                o.vpc_endpoint()
                    .and_then(|e| e.vpc_endpoint_id())
                    .map(str::to_owned)
            })
            .await?;
        let e = out
            .vpc_endpoint()
            .ok_or_else(|| malformed(OP, "the endpoint"))?;
        let mut info = endpoint_info(e).ok_or_else(|| malformed(OP, "an endpoint id"))?;
        if info.owner_tag.is_none() {
            info.owner_tag = Some(req.owner_tag.clone());
        }
        if info.service_name.is_empty() {
            info.service_name = req.service_name.clone();
        }
        Ok(info)
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn endpoint_delete(&self, cx: &CallCx, id: &EndpointId) -> CloudResult<()> {
        const OP: &str = "DeleteVpcEndpoints";
        let res = self
            .ec2(cx)
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id.as_str())
            .send()
            .await;
        // The call succeeds as a whole and reports failures per endpoint.
        let res = res.map_err(|e| sdk_error(OP, e)).and_then(|out| {
            let failed = out.unsuccessful().iter().find_map(|u| u.error());
            match failed {
                None => Ok(out),
                Some(err) => {
                    let code = err.code().unwrap_or("Unknown");
                    Err(CloudError::new(
                        super::errors::classify(code, None),
                        OP,
                        code,
                        err.message().unwrap_or_default(),
                    ))
                }
            }
        });
        let rid = res
            .as_ref()
            .ok()
            .and_then(|o| o.request_id())
            .map(str::to_owned);
        self.audit(cx, OP, Some(id.to_string()), &res, rid).await;
        if is_kind(&res, CloudErrorKind::NotFound) {
            return Ok(());
        }
        res.map(|_| ())
    }

    #[tracing::instrument(skip(self, cx), fields(account = %cx.account, region = %cx.region))]
    async fn endpoints_owned(&self, cx: &CallCx) -> CloudResult<Vec<EndpointInfo>> {
        let endpoints = self
            .ec2(cx)
            .describe_vpc_endpoints()
            .filters(filter("tag-key", OWNER_TAG))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("DescribeVpcEndpoints", e))?;
        Ok(endpoints
            .iter()
            .filter_map(endpoint_info)
            .filter(|e| e.owner_tag.is_some() && !e.state.eq_ignore_ascii_case("deleted"))
            .collect())
    }
}

/// A table's routes to IPv4 CIDR blocks. Routes to destinations that are not VPC-sized IPv4
/// blocks (0.0.0.0/0, IPv6, prefix lists) cannot conflict with a spoke's CIDR as an exact
/// destination: skipped.
fn routes_of(t: &aws_sdk_ec2::types::RouteTable) -> Vec<RouteInfo> {
    t.routes()
        .iter()
        .filter_map(|r| {
            Some(RouteInfo {
                destination: parse(r.destination_cidr_block())?,
                target: route_target(r),
                state: r
                    .state()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "active".to_owned()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_token_is_stable_short_and_distinct() {
        let a = client_token(
            "hub:1:service:sqs",
            &["CreateVpcEndpoint", "vpc-12345678", "x"],
        );
        let b = client_token(
            "hub:1:service:sqs",
            &["CreateVpcEndpoint", "vpc-12345678", "x"],
        );
        let c = client_token(
            "hub:1:service:ssm",
            &["CreateVpcEndpoint", "vpc-12345678", "x"],
        );
        // Part boundaries matter: ("ab","c") and ("a","bc") differ.
        let d = client_token("t", &["ab", "c"]);
        let e = client_token("t", &["a", "bc"]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(d, e);
        assert!(a.len() <= 64, "{}", a.len());
        assert!(a.is_ascii() && a.starts_with("eh-"));
    }

    #[test]
    fn ingress_rules_by_port() {
        let pl = |id: &str| SdkPrefixListId::builder().prefix_list_id(id).build();
        let perms = vec![
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .prefix_list_ids(pl("pl-11111111"))
                .build(),
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .prefix_list_ids(pl("pl-22222222"))
                .build(),
            IpPermission::builder()
                .ip_protocol("-1")
                .prefix_list_ids(pl("pl-33333333"))
                .prefix_list_ids(pl("pl-11111111"))
                .build(),
        ];
        let sg = SecurityGroupInfo {
            id: "sg-12345678".parse().unwrap(),
            vpc_id: "vpc-12345678".parse().unwrap(),
            ingress: ingress_rules(&perms),
            owner_tag: None,
        };
        let [a, b, c] = ["pl-11111111", "pl-22222222", "pl-33333333"].map(|p| p.parse().unwrap());
        assert!(sg.admits(443, &a) && sg.admits(22, &b) && sg.admits(443, &c) && sg.admits(25, &a));
        assert!(!sg.admits(443, &b) && !sg.admits(23, &b));
        assert_eq!(sg.ingress.len(), 4);
    }
}
