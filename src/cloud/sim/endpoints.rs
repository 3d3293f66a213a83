//! Interface VPC endpoints and the catalogue of endpoint services.
//!
//! - Every region offers `com.amazonaws.<region>.<short>` for the shorts in [`CATALOGUE`], with
//!   the private DNS name `<short>.<region>.amazonaws.com`, except `ecr.api`
//!   (`api.ecr.<region>.amazonaws.com`) and `ecr.dkr` (`dkr.ecr.<region>.amazonaws.com`; AWS
//!   lists `*.dkr.ecr...`). Other services, or another region's names, are unknown (`None`).
//! - `endpoint_create` needs the caller's VPC (`InvalidVpcID.NotFound`), a known service of the
//!   caller's region (`Invalid`, `InvalidServiceName`), subnets of that VPC (`NotFound`,
//!   `InvalidSubnetID.NotFound`; `Invalid`, `InvalidParameter` for another VPC's), at most one per
//!   zone (`DuplicateSubnetsInSameZone`) and a security group of that VPC
//!   (`InvalidGroup.NotFound`). At most [`SimConfig::endpoints_per_vpc`](super::SimConfig)
//!   endpoints that are not deleted per VPC (`LimitExceeded`, `VpcEndpointLimitExceeded`).
//! - A new endpoint is `available` (after [`SimConfig::endpoint_pending_reads`](super::SimConfig)
//!   reads showing `pending`). Its DNS entries: first the regional name
//!   `vpce-<17 hex>-<8 hex>.<service dns label>.<region>.vpce.amazonaws.com` (for example
//!   `...api.ecr.eu-west-1.vpce...`), then one per subnet zone; the hosted zone id is fixed per
//!   region.
//! - Delete: missing or deleted is `Ok`; the endpoint stays visible as `deleted`.

use async_trait::async_trait;

use super::{Endpoint, SimCloud, fail};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, DnsEntry, EndpointInfo, EndpointRequest,
    EndpointServiceInfo, Endpoints,
};
use crate::domain::{EndpointId, Region, VpcId};

/// Short names of the interface endpoint services every simulated region offers.
pub const CATALOGUE: &[&str] = &[
    "sqs",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "kms",
    "sts",
    "logs",
    "ecr.api",
    "ecr.dkr",
    "execute-api",
    "secretsmanager",
    "monitoring",
];

/// The service's private DNS name in `region`, if the catalogue has `service_name`.
fn private_dns_name(region: &Region, service_name: &str) -> Option<String> {
    let short = service_name.strip_prefix(&format!("com.amazonaws.{region}."))?;
    if !CATALOGUE.contains(&short) {
        return None;
    }
    Some(match short {
        "ecr.api" => format!("api.ecr.{region}.amazonaws.com"),
        "ecr.dkr" => format!("dkr.ecr.{region}.amazonaws.com"),
        short => format!("{short}.{region}.amazonaws.com"),
    })
}

/// The hosted zone id of a region's `vpce.amazonaws.com` names (fixed per region).
fn vpce_zone_id(region: &Region) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in region.as_str().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("Z{:013X}", h & 0x000f_ffff_ffff_ffff)
}

impl Endpoint {
    pub(super) fn info(&self) -> EndpointInfo {
        EndpointInfo {
            id: self.id.clone(),
            vpc_id: self.vpc.clone(),
            service_name: self.service_name.clone(),
            state: self.state.clone(),
            dns_entries: self.dns_entries.clone(),
            owner_tag: Some(self.owner_tag.clone()),
        }
    }
    fn visible_to(&self, cx: &CallCx) -> bool {
        self.account == cx.account && self.region == cx.region
    }
    /// A describe: advances `pending` towards `available`.
    fn touch(&mut self) {
        if self.state == "pending" {
            if self.pending_left > 0 {
                self.pending_left -= 1;
            } else {
                self.state = "available".to_owned();
            }
        }
    }
}

#[async_trait]
impl Endpoints for SimCloud {
    async fn endpoint_service_get(
        &self,
        cx: &CallCx,
        service_name: &str,
    ) -> CloudResult<Option<EndpointServiceInfo>> {
        self.read(cx, "DescribeVpcEndpointServices", |_| {
            Ok(
                private_dns_name(&cx.region, service_name).map(|dns| EndpointServiceInfo {
                    service_name: service_name.to_owned(),
                    private_dns_names: vec![dns],
                }),
            )
        })
        .await
    }

    async fn endpoint_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Option<EndpointInfo>> {
        self.read(cx, "DescribeVpcEndpoints", |s| {
            Ok(s.endpoints
                .values_mut()
                .find(|e| {
                    e.visible_to(cx)
                        && &e.vpc == vpc
                        && e.owner_tag == owner_tag
                        && e.state != "deleted"
                })
                .map(|e| {
                    e.touch();
                    e.info()
                }))
        })
        .await
    }

    async fn endpoint_get(
        &self,
        cx: &CallCx,
        id: &EndpointId,
    ) -> CloudResult<Option<EndpointInfo>> {
        self.read(cx, "DescribeVpcEndpoints", |s| {
            Ok(s.endpoints
                .get_mut(id)
                .filter(|e| e.visible_to(cx))
                .map(|e| {
                    e.touch();
                    e.info()
                }))
        })
        .await
    }

    async fn endpoint_create(
        &self,
        cx: &CallCx,
        req: &EndpointRequest,
    ) -> CloudResult<EndpointInfo> {
        const OP: &str = "CreateVpcEndpoint";
        self.write(cx, OP, None, |s| {
            if s.vpc_in(&cx.account, &cx.region, &req.vpc).is_none() {
                return fail(
                    CloudErrorKind::NotFound,
                    OP,
                    "InvalidVpcID.NotFound",
                    format!("The vpc ID '{}' does not exist", req.vpc),
                );
            }
            let Some(dns_name) = private_dns_name(&cx.region, &req.service_name) else {
                return fail(
                    CloudErrorKind::Invalid,
                    OP,
                    "InvalidServiceName",
                    format!(
                        "The Vpc Endpoint Service '{}' does not exist",
                        req.service_name
                    ),
                );
            };
            let mut zones: Vec<String> = Vec::new();
            for id in &req.subnets {
                let Some(subnet) = s
                    .subnets
                    .get(id)
                    .filter(|n| n.account == cx.account && n.region == cx.region)
                else {
                    return fail(
                        CloudErrorKind::NotFound,
                        OP,
                        "InvalidSubnetID.NotFound",
                        format!("The subnet ID '{id}' does not exist"),
                    );
                };
                if subnet.vpc != req.vpc {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "InvalidParameter",
                        format!("The subnet {id} is not in VPC {}", req.vpc),
                    );
                }
                if zones.contains(&subnet.availability_zone) {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "DuplicateSubnetsInSameZone",
                        format!(
                            "Found another subnet in availability zone {} (only one per zone)",
                            subnet.availability_zone
                        ),
                    );
                }
                zones.push(subnet.availability_zone.clone());
            }
            if !s
                .security_groups
                .get(&req.security_group)
                .is_some_and(|g| g.account == cx.account && g.vpc == req.vpc)
            {
                return fail(
                    CloudErrorKind::NotFound,
                    OP,
                    "InvalidGroup.NotFound",
                    format!(
                        "The security group '{}' does not exist in VPC {}",
                        req.security_group, req.vpc
                    ),
                );
            }
            let count = s
                .endpoints
                .values()
                .filter(|e| e.vpc == req.vpc && e.state != "deleted")
                .count();
            if count >= self.config.endpoints_per_vpc {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "VpcEndpointLimitExceeded",
                    format!(
                        "The VPC {} has reached the limit of {} interface endpoints",
                        req.vpc, self.config.endpoints_per_vpc
                    ),
                );
            }
            let id: EndpointId = s.ec2_id("vpce").parse().expect("generated vpce id");
            let suffix = s.hex8();
            let label = dns_name
                .strip_suffix(".amazonaws.com")
                .unwrap_or(&dns_name)
                .to_owned();
            let hosted_zone_id = vpce_zone_id(&cx.region);
            let mut dns_entries = vec![DnsEntry {
                dns_name: format!("{id}-{suffix}.{label}.vpce.amazonaws.com"),
                hosted_zone_id: hosted_zone_id.clone(),
            }];
            dns_entries.extend(zones.iter().map(|zone| DnsEntry {
                dns_name: format!("{id}-{suffix}-{zone}.{label}.vpce.amazonaws.com"),
                hosted_zone_id: hosted_zone_id.clone(),
            }));
            let pending = self.config.endpoint_pending_reads;
            let endpoint = Endpoint {
                id: id.clone(),
                account: cx.account.clone(),
                region: cx.region.clone(),
                vpc: req.vpc.clone(),
                service_name: req.service_name.clone(),
                state: if pending > 0 { "pending" } else { "available" }.to_owned(),
                dns_entries,
                security_group: req.security_group.clone(),
                owner_tag: req.owner_tag.clone(),
                pending_left: pending,
            };
            let info = endpoint.info();
            s.endpoints.insert(id, endpoint);
            Ok(info)
        })
        .await
    }

    async fn endpoint_delete(&self, cx: &CallCx, id: &EndpointId) -> CloudResult<()> {
        self.write(cx, "DeleteVpcEndpoints", Some(id.to_string()), |s| {
            if let Some(e) = s.endpoints.get_mut(id).filter(|e| e.visible_to(cx)) {
                e.state = "deleted".to_owned();
                e.pending_left = 0;
            }
            Ok(())
        })
        .await
    }
}
