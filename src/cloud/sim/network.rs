//! EC2 networking: VPCs, subnets, route tables, VPC peering, routes.
//!
//! - A peering is visible to the requester account in the requester region and to the accepter
//!   account in the accepter region. Its [`OWNER_TAG`](crate::cloud::OWNER_TAG) tag is the
//!   requester's (tags are per account), so `peering_find` finds it only from the requester side.
//! - Create: the requester VPC must be the caller's (`InvalidVpcID.NotFound`); an active (or
//!   provisioning) peering between the same two VPCs is `AlreadyExists`
//!   (`VpcPeeringConnectionAlreadyExists`), a pending one is not (a resent request makes a
//!   second pending peering); the
//!   requester VPC's live peerings are limited (`LimitExceeded`,
//!   `ActiveVpcPeeringConnectionPerVpcLimitExceeded`). Overlapping CIDRs (or a peer VPC that does
//!   not exist in that account and region) make the peering `failed` at once, message
//!   `overlapping CIDR` (or `peer VPC not found`).
//! - A `failed` peering is visible to the requester only; a failed or rejected one can't be
//!   deleted (`Invalid`, `InvalidStateTransition`): it expires by itself.
//! - Accept: only by the accepter account in the accepter region (`AccessDenied`,
//!   `OperationNotPermitted`); only from `pending-acceptance` (else `Invalid`,
//!   `InvalidStateTransition`); then `provisioning` for
//!   [`SimConfig::peering_provisioning_reads`](super::SimConfig) reads, then `active`.
//! - Delete: by either side; missing or already dead is `Ok`; the status becomes `deleted`.
//!   Routes through a peering that is not active show state `blackhole`.
//! - Routes: the target must be an active peering visible to the caller that involves the
//!   table's VPC (`Invalid`, `InvalidVpcPeeringConnectionID.NotFound`); an existing destination is
//!   `AlreadyExists` (`RouteAlreadyExists`); the table holds at most
//!   [`SimConfig::routes_per_table`](super::SimConfig) routes (`RouteLimitExceeded`). The `local`
//!   routes can't be deleted (`InvalidParameterValue`).

use async_trait::async_trait;

use super::{Peering, SimCloud, State, Table, Vpc, fail};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, Network, PeeringInfo, PeeringRequest, PeeringStatus,
    PrefixListRoute, RouteInfo, RouteTableInfo, RouteTarget, SubnetInfo, VpcInfo,
};
use crate::domain::{AccountId, Ipv4Cidr, PeeringId, PrefixListId, RouteTableId, SubnetId, VpcId};

impl Vpc {
    fn info(&self) -> VpcInfo {
        VpcInfo {
            id: self.id.clone(),
            owner: self.account.clone(),
            state: "available".to_owned(),
            cidrs: self.cidrs.clone(),
            dns_support: self.dns_support,
            dns_hostnames: self.dns_hostnames,
        }
    }
}

impl Peering {
    /// As `viewer` sees it (`None`: the simulator's own view, with the tag).
    pub(super) fn info(&self, viewer: Option<&AccountId>) -> PeeringInfo {
        let tagged = viewer.is_none_or(|a| a == &self.requester_owner);
        PeeringInfo {
            id: self.id.clone(),
            status: self.status,
            message: self.message.clone(),
            requester_vpc: self.requester_vpc.clone(),
            requester_owner: self.requester_owner.clone(),
            accepter_vpc: self.accepter_vpc.clone(),
            accepter_owner: self.accepter_owner.clone(),
            accepter_region: self.accepter_region.clone(),
            owner_tag: tagged.then(|| self.owner_tag.clone()),
        }
    }

    /// A `failed` peering is visible to the requester only (for about two hours on AWS).
    fn visible_to(&self, cx: &CallCx) -> bool {
        self.is_requester(cx) || (self.is_accepter(cx) && self.status != PeeringStatus::Failed)
    }
    fn is_requester(&self, cx: &CallCx) -> bool {
        self.requester_owner == cx.account && self.requester_region == cx.region
    }
    fn is_accepter(&self, cx: &CallCx) -> bool {
        self.accepter_owner == cx.account && self.accepter_region == cx.region
    }
    fn involves(&self, vpc: &VpcId) -> bool {
        &self.requester_vpc == vpc || &self.accepter_vpc == vpc
    }
    fn is_live(&self) -> bool {
        matches!(
            self.status,
            PeeringStatus::InitiatingRequest
                | PeeringStatus::PendingAcceptance
                | PeeringStatus::Provisioning
                | PeeringStatus::Active
        )
    }
    /// A describe of the peering: advances `provisioning` towards `active`.
    fn touch(&mut self) {
        if self.status == PeeringStatus::Provisioning {
            if self.provisioning_left > 0 {
                self.provisioning_left -= 1;
            } else {
                self.status = PeeringStatus::Active;
                self.message = Some("Active".to_owned());
            }
        }
    }
}

impl State {
    pub(super) fn route_infos(&self, table: &Table) -> Vec<RouteInfo> {
        table
            .routes
            .iter()
            .map(|(destination, target)| {
                let active = match target {
                    RouteTarget::Peering(id) => self
                        .peerings
                        .get(id)
                        .is_some_and(|p| p.status == PeeringStatus::Active),
                    RouteTarget::TransitGateway(tgw) => self.tgw_attached(&table.vpc, tgw),
                    RouteTarget::Other(_) => true,
                };
                RouteInfo {
                    destination: *destination,
                    target: target.clone(),
                    state: if active { "active" } else { "blackhole" }.to_owned(),
                }
            })
            .collect()
    }

    fn table_visible(&self, cx: &CallCx, id: &RouteTableId, op: &str) -> CloudResult<&Table> {
        match self
            .tables
            .get(id)
            .filter(|t| t.account == cx.account && t.region == cx.region)
        {
            Some(t) => Ok(t),
            None => fail(
                CloudErrorKind::NotFound,
                op,
                "InvalidRouteTableID.NotFound",
                format!("The routeTable ID '{id}' does not exist"),
            ),
        }
    }

    /// Describes the peerings visible to `cx` that pass `keep` (after advancing their state).
    fn peerings_describe(
        &mut self,
        cx: &CallCx,
        keep: impl Fn(&Peering) -> bool,
    ) -> Vec<PeeringInfo> {
        self.peerings
            .values_mut()
            .filter(|p| p.visible_to(cx))
            .filter_map(|p| {
                p.touch();
                keep(p).then(|| p.info(Some(&cx.account)))
            })
            .collect()
    }

    fn peering_create(
        &mut self,
        cx: &CallCx,
        req: &PeeringRequest,
        config: &super::SimConfig,
    ) -> CloudResult<PeeringInfo> {
        const OP: &str = "CreateVpcPeeringConnection";
        let Some(vpc) = self.vpc_in(&cx.account, &cx.region, &req.vpc) else {
            return fail(
                CloudErrorKind::NotFound,
                OP,
                "InvalidVpcID.NotFound",
                format!("The vpc ID '{}' does not exist", req.vpc),
            );
        };
        let requester_cidrs = vpc.cidrs.clone();
        if let Some(limit) = config.peering_outstanding_limit {
            let outstanding = self
                .peerings
                .values()
                .filter(|p| p.is_requester(cx) && p.status == PeeringStatus::PendingAcceptance)
                .count();
            if outstanding >= limit {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "OutstandingVpcPeeringConnectionLimitExceeded",
                    format!(
                        "You have reached the limit of {limit} outstanding VPC peering connection requests"
                    ),
                );
            }
        }
        let live = self
            .peerings
            .values()
            .filter(|p| p.is_live() && p.involves(&req.vpc))
            .count();
        if live >= config.peerings_per_vpc {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "ActiveVpcPeeringConnectionPerVpcLimitExceeded",
                format!(
                    "The VPC {} has reached the limit of {} VPC peering connections",
                    req.vpc, config.peerings_per_vpc
                ),
            );
        }
        // Only an established peering blocks another (requests may be pending twice).
        if let Some(existing) = self.peerings.values().find(|p| {
            matches!(
                p.status,
                PeeringStatus::Active | PeeringStatus::Provisioning
            ) && ((p.requester_vpc == req.vpc && p.accepter_vpc == req.peer_vpc)
                || (p.requester_vpc == req.peer_vpc && p.accepter_vpc == req.vpc))
        }) {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "VpcPeeringConnectionAlreadyExists",
                format!(
                    "A VPC peering connection ({}) already exists between {} and {}",
                    existing.id, req.vpc, req.peer_vpc
                ),
            );
        }
        let (status, message) = match self.vpc_in(&req.peer_owner, &req.peer_region, &req.peer_vpc)
        {
            None => (PeeringStatus::Failed, "peer VPC not found".to_owned()),
            Some(peer)
                if requester_cidrs
                    .iter()
                    .any(|a| peer.cidrs.iter().any(|b| a.overlaps(b))) =>
            {
                (PeeringStatus::Failed, "overlapping CIDR".to_owned())
            }
            Some(_) => (
                PeeringStatus::PendingAcceptance,
                format!("Pending Acceptance by {}", req.peer_owner),
            ),
        };
        let id: PeeringId = self.ec2_id("pcx").parse().expect("generated pcx id");
        let peering = Peering {
            id: id.clone(),
            status,
            message: Some(message),
            requester_vpc: req.vpc.clone(),
            requester_owner: cx.account.clone(),
            requester_region: cx.region.clone(),
            accepter_vpc: req.peer_vpc.clone(),
            accepter_owner: req.peer_owner.clone(),
            accepter_region: req.peer_region.clone(),
            owner_tag: req.owner_tag.clone(),
            provisioning_left: 0,
        };
        let info = peering.info(Some(&cx.account));
        self.peerings.insert(id, peering);
        Ok(info)
    }

    fn peering_accept(
        &mut self,
        cx: &CallCx,
        id: &PeeringId,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        const OP: &str = "AcceptVpcPeeringConnection";
        let live_on_accepter = |s: &State, vpc: &VpcId| {
            s.peerings
                .values()
                .filter(|p| &p.id != id && p.is_live() && p.involves(vpc))
                .count()
        };
        let Some(p) = self.peerings.get(id).filter(|p| p.visible_to(cx)) else {
            return fail(
                CloudErrorKind::NotFound,
                OP,
                "InvalidVpcPeeringConnectionID.NotFound",
                format!("The vpcPeeringConnection ID '{id}' does not exist"),
            );
        };
        if !p.is_accepter(cx) {
            return fail(
                CloudErrorKind::AccessDenied,
                OP,
                "OperationNotPermitted",
                format!(
                    "User {} cannot accept peering {id}: only the accepter account {} can",
                    cx.account, p.accepter_owner
                ),
            );
        }
        if p.status != PeeringStatus::PendingAcceptance {
            let from = serde_json::to_value(p.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            return fail(
                CloudErrorKind::Invalid,
                OP,
                "InvalidStateTransition",
                format!(
                    "Invalid state transition for {id}, attempted to transition from {from} to active"
                ),
            );
        }
        let accepter_vpc = p.accepter_vpc.clone();
        if live_on_accepter(self, &accepter_vpc) >= config.peerings_per_vpc {
            return fail(
                CloudErrorKind::LimitExceeded,
                OP,
                "ActiveVpcPeeringConnectionPerVpcLimitExceeded",
                format!(
                    "The VPC {accepter_vpc} has reached the limit of {} VPC peering connections",
                    config.peerings_per_vpc
                ),
            );
        }
        let p = self.peerings.get_mut(id).expect("checked above");
        if config.peering_provisioning_reads > 0 {
            p.status = PeeringStatus::Provisioning;
            p.message = Some("Provisioning".to_owned());
            p.provisioning_left = config.peering_provisioning_reads;
        } else {
            p.status = PeeringStatus::Active;
            p.message = Some("Active".to_owned());
        }
        Ok(())
    }

    /// Checks a route's target for the table: an active peering visible to the caller that
    /// involves the table's VPC, or a Transit Gateway the table's VPC is attached to.
    fn route_target_check(
        &self,
        cx: &CallCx,
        op: &str,
        table_id: &RouteTableId,
        target: &RouteTarget,
    ) -> CloudResult<()> {
        let table = self.table_visible(cx, table_id, op)?;
        match target {
            RouteTarget::Peering(peering) => {
                let ok = self.peerings.get(peering).filter(|p| {
                    p.visible_to(cx) && p.involves(&table.vpc) && p.status == PeeringStatus::Active
                });
                if ok.is_none() {
                    return fail(
                        CloudErrorKind::Invalid,
                        op,
                        "InvalidVpcPeeringConnectionID.NotFound",
                        format!(
                            "The vpcPeeringConnection ID '{peering}' does not exist, is not \
                             active or does not involve the VPC of {table_id}"
                        ),
                    );
                }
            }
            RouteTarget::TransitGateway(tgw) => {
                if !self.tgw_attached(&table.vpc, tgw) {
                    return fail(
                        CloudErrorKind::Invalid,
                        op,
                        "InvalidTransitGatewayID.NotFound",
                        format!(
                            "The transitGateway ID '{tgw}' does not exist or the VPC of \
                             {table_id} is not attached to it"
                        ),
                    );
                }
            }
            RouteTarget::Other(o) => {
                return fail(
                    CloudErrorKind::Invalid,
                    op,
                    "InvalidParameterValue",
                    format!("the simulator makes no route to {o}"),
                );
            }
        }
        if let Some(gateway) = &table.gateway {
            // AWS: a gateway route table routes only to local targets, network interfaces or
            // appliances (message approximated).
            return fail(
                CloudErrorKind::Invalid,
                op,
                "InvalidParameterValue",
                format!(
                    "route table {table_id} has an edge association with {gateway}: a gateway \
                     route table accepts no route to {target}"
                ),
            );
        }
        Ok(())
    }

    /// Routes the table holds, a prefix-list route weighing its list's `MaxEntries`.
    fn route_weight(&self, table: &Table) -> usize {
        table.routes.len()
            + table
                .pl_routes
                .iter()
                .map(|(pl, _)| {
                    self.prefix_lists
                        .get(pl)
                        .map_or(1, |l| l.max_entries.max(1) as usize)
                })
                .sum::<usize>()
    }

    fn route_room(
        &self,
        op: &str,
        table_id: &RouteTableId,
        adding: usize,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        let table = self.tables.get(table_id).expect("checked by the caller");
        if self.route_weight(table) + adding > config.routes_per_table {
            return fail(
                CloudErrorKind::LimitExceeded,
                op,
                "RouteLimitExceeded",
                format!(
                    "The maximum number of routes ({}) has been reached for route table \
                     {table_id}",
                    config.routes_per_table
                ),
            );
        }
        Ok(())
    }

    fn route_create(
        &mut self,
        cx: &CallCx,
        table_id: &RouteTableId,
        destination: &Ipv4Cidr,
        target: &RouteTarget,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        const OP: &str = "CreateRoute";
        self.route_target_check(cx, OP, table_id, target)?;
        let table = self.tables.get(table_id).expect("checked above");
        if table.routes.iter().any(|(d, _)| d == destination) {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "RouteAlreadyExists",
                format!(
                    "The route identified by {destination} already exists in route table {table_id}."
                ),
            );
        }
        self.route_room(OP, table_id, 1, config)?;
        let table = self.tables.get_mut(table_id).expect("checked above");
        table.routes.push((*destination, target.clone()));
        Ok(())
    }

    fn prefix_list_route_create(
        &mut self,
        cx: &CallCx,
        table_id: &RouteTableId,
        prefix_list: &PrefixListId,
        target: &RouteTarget,
        config: &super::SimConfig,
    ) -> CloudResult<()> {
        const OP: &str = "CreateRoute";
        self.route_target_check(cx, OP, table_id, target)?;
        let Some(pl) = self
            .prefix_lists
            .get(prefix_list)
            .filter(|p| p.account == cx.account && p.region == cx.region)
        else {
            return fail(
                CloudErrorKind::Invalid,
                OP,
                "InvalidPrefixListID.NotFound",
                format!("The prefix list ID '{prefix_list}' does not exist"),
            );
        };
        let weight = pl.max_entries.max(1) as usize;
        let table = self.tables.get(table_id).expect("checked above");
        if table.pl_routes.iter().any(|(p, _)| p == prefix_list) {
            return fail(
                CloudErrorKind::AlreadyExists,
                OP,
                "RouteAlreadyExists",
                format!(
                    "The route identified by {prefix_list} already exists in route table \
                     {table_id}."
                ),
            );
        }
        self.route_room(OP, table_id, weight, config)?;
        let table = self.tables.get_mut(table_id).expect("checked above");
        table.pl_routes.push((prefix_list.clone(), target.clone()));
        Ok(())
    }
}

#[async_trait]
impl Network for SimCloud {
    async fn vpc_get(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Option<VpcInfo>> {
        let found = self
            .read(cx, "DescribeVpcs", |s| {
                Ok(s.vpc_in(&cx.account, &cx.region, vpc).map(Vpc::info))
            })
            .await?;
        if found.is_some() {
            // AWS answers one attribute per DescribeVpcAttribute call.
            for _ in 0..2 {
                self.read(cx, "DescribeVpcAttribute", |_| Ok(())).await?;
            }
        }
        Ok(found)
    }

    async fn vpc_cidrs(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Option<Vec<Ipv4Cidr>>> {
        self.read(cx, "DescribeVpcs", |s| {
            Ok(s.vpc_in(&cx.account, &cx.region, vpc)
                .map(|v| v.info().cidrs))
        })
        .await
    }

    async fn subnets_get(&self, cx: &CallCx, ids: &[SubnetId]) -> CloudResult<Vec<SubnetInfo>> {
        self.read(cx, "DescribeSubnets", |s| {
            ids.iter()
                .map(|id| {
                    match s
                        .subnets
                        .get(id)
                        .filter(|n| n.account == cx.account && n.region == cx.region)
                    {
                        Some(n) => Ok(SubnetInfo {
                            id: n.id.clone(),
                            vpc_id: n.vpc.clone(),
                            availability_zone: n.availability_zone.clone(),
                        }),
                        None => fail(
                            CloudErrorKind::NotFound,
                            "DescribeSubnets",
                            "InvalidSubnetID.NotFound",
                            format!("The subnet ID '{id}' does not exist"),
                        ),
                    }
                })
                .collect()
        })
        .await
    }

    /// The VPC's first table is its main one; each other is associated with a subnet (as
    /// `vpc_add` makes them), unless it has an edge association with a gateway.
    async fn route_tables_list(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
    ) -> CloudResult<Vec<RouteTableInfo>> {
        self.read(cx, "DescribeRouteTables", |s| {
            let Some(v) = s.vpc_in(&cx.account, &cx.region, vpc) else {
                return Ok(vec![]);
            };
            Ok(v.tables
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let table = s.tables.get(id);
                    let gateway = table.and_then(|t| t.gateway.clone());
                    RouteTableInfo {
                        id: id.clone(),
                        main: i == 0,
                        subnets: usize::from(i > 0 && gateway.is_none()),
                        gateway,
                        routes: table.map(|t| s.route_infos(t)).unwrap_or_default(),
                    }
                })
                .collect())
        })
        .await
    }

    async fn peering_find(&self, cx: &CallCx, owner_tag: &str) -> CloudResult<Vec<PeeringInfo>> {
        self.read(cx, "DescribeVpcPeeringConnections", |s| {
            Ok(s.peerings_describe(cx, |p| p.is_requester(cx) && p.owner_tag == owner_tag))
        })
        .await
    }

    async fn peering_get(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<Option<PeeringInfo>> {
        self.read(cx, "DescribeVpcPeeringConnections", |s| {
            Ok(s.peerings_describe(cx, |p| &p.id == id).pop())
        })
        .await
    }

    async fn peering_list_for_vpc(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
    ) -> CloudResult<Vec<PeeringInfo>> {
        self.read(cx, "DescribeVpcPeeringConnections", |s| {
            Ok(s.peerings_describe(cx, |p| p.involves(vpc) && p.is_live()))
        })
        .await
    }

    async fn peering_create(&self, cx: &CallCx, req: &PeeringRequest) -> CloudResult<PeeringInfo> {
        const OP: &str = "CreateVpcPeeringConnection";
        let send = || self.write(cx, OP, None, |s| s.peering_create(cx, req, &self.config));
        let first = send().await;
        if first.is_ok() && self.resend(OP, cx) {
            return send().await;
        }
        first
    }

    async fn peering_accept(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<()> {
        self.write(
            cx,
            "AcceptVpcPeeringConnection",
            Some(id.to_string()),
            |s| s.peering_accept(cx, id, &self.config),
        )
        .await
    }

    async fn peering_delete(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<()> {
        self.write(
            cx,
            "DeleteVpcPeeringConnection",
            Some(id.to_string()),
            |s| {
                if let Some(p) = s.peerings.get(id).filter(|p| p.visible_to(cx))
                    && matches!(p.status, PeeringStatus::Failed | PeeringStatus::Rejected)
                {
                    // AWS: a failed or rejected peering can't be deleted; it expires.
                    return fail(
                        CloudErrorKind::Invalid,
                        "DeleteVpcPeeringConnection",
                        "InvalidStateTransition",
                        format!("Invalid state transition for {id}, attempted to transition from {} to deleted", if p.status == PeeringStatus::Failed { "failed" } else { "rejected" }),
                    );
                }
                if let Some(p) = s.peerings.get_mut(id).filter(|p| p.visible_to(cx))
                    && p.is_live()
                {
                    p.status = PeeringStatus::Deleted;
                    p.message = Some(format!("Deleted by {}", cx.account));
                    p.provisioning_left = 0;
                }
                Ok(())
            },
        )
        .await
    }

    async fn routes_list(&self, cx: &CallCx, table: &RouteTableId) -> CloudResult<Vec<RouteInfo>> {
        self.read(cx, "DescribeRouteTables", |s| {
            let t = s.table_visible(cx, table, "DescribeRouteTables")?;
            Ok(s.route_infos(t))
        })
        .await
    }

    async fn route_create(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
        target: &RouteTarget,
    ) -> CloudResult<()> {
        self.write(cx, "CreateRoute", Some(table.to_string()), |s| {
            s.route_create(cx, table, destination, target, &self.config)
        })
        .await
    }

    async fn prefix_list_routes(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
    ) -> CloudResult<Vec<PrefixListRoute>> {
        self.read(cx, "DescribeRouteTables", |s| {
            let t = s.table_visible(cx, table, "DescribeRouteTables")?;
            Ok(t.pl_routes
                .iter()
                .map(|(pl, target)| {
                    let active = match target {
                        RouteTarget::TransitGateway(tgw) => s.tgw_attached(&t.vpc, tgw),
                        RouteTarget::Peering(p) => s
                            .peerings
                            .get(p)
                            .is_some_and(|p| p.status == PeeringStatus::Active),
                        RouteTarget::Other(_) => true,
                    };
                    PrefixListRoute {
                        prefix_list: pl.clone(),
                        target: target.clone(),
                        state: if active { "active" } else { "blackhole" }.to_owned(),
                    }
                })
                .collect())
        })
        .await
    }

    async fn prefix_list_route_create(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        prefix_list: &PrefixListId,
        target: &RouteTarget,
    ) -> CloudResult<()> {
        self.write(cx, "CreateRoute", Some(table.to_string()), |s| {
            s.prefix_list_route_create(cx, table, prefix_list, target, &self.config)
        })
        .await
    }

    async fn prefix_list_route_delete(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        prefix_list: &PrefixListId,
    ) -> CloudResult<()> {
        self.write(cx, "DeleteRoute", Some(table.to_string()), |s| {
            s.table_visible(cx, table, "DeleteRoute")?;
            let t = s.tables.get_mut(table).expect("checked above");
            t.pl_routes.retain(|(p, _)| p != prefix_list);
            Ok(())
        })
        .await
    }

    async fn subnets_of_vpc(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Vec<SubnetInfo>> {
        self.read(cx, "DescribeSubnets", |s| {
            Ok(s.subnets
                .values()
                .filter(|n| &n.vpc == vpc && n.account == cx.account && n.region == cx.region)
                .map(|n| SubnetInfo {
                    id: n.id.clone(),
                    vpc_id: n.vpc.clone(),
                    availability_zone: n.availability_zone.clone(),
                })
                .collect())
        })
        .await
    }

    async fn route_delete(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
    ) -> CloudResult<()> {
        self.write(cx, "DeleteRoute", Some(table.to_string()), |s| {
            s.table_visible(cx, table, "DeleteRoute")?;
            let t = s.tables.get_mut(table).expect("checked above");
            if t.routes.iter().any(|(d, target)| {
                d == destination && matches!(target, RouteTarget::Other(o) if o == "local")
            }) {
                return fail(
                    CloudErrorKind::Invalid,
                    "DeleteRoute",
                    "InvalidParameterValue",
                    format!("cannot remove local route {destination} in route table {table}"),
                );
            }
            t.routes.retain(|(d, _)| d != destination);
            Ok(())
        })
        .await
    }

    async fn peerings_owned(&self, cx: &CallCx) -> CloudResult<Vec<PeeringInfo>> {
        self.read(cx, "DescribeVpcPeeringConnections", |s| {
            Ok(s.peerings_describe(cx, |p| p.is_requester(cx) && !p.owner_tag.is_empty()))
        })
        .await
    }
}
