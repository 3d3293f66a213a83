//! Interface VPC endpoints and the catalogue of endpoint services.
//!
//! - Every region offers `com.amazonaws.<region>.<short>` for the shorts in [`CATALOGUE`], with
//!   the private DNS name `<short>.<region>.amazonaws.com`, except `ecr.api`
//!   (`api.ecr.<region>.amazonaws.com`), `ecr.dkr` (`*.dkr.ecr.<region>.amazonaws.com.`, with
//!   the trailing dot, as AWS lists it), `s3` (`*.s3.<region>.amazonaws.com`) and
//!   `kinesis-streams` (three names: `kinesis.<region>.amazonaws.com`,
//!   `*.data-kinesis.<region>...` and `*.control-kinesis.<region>...`). Other services, or
//!   another region's names, are unknown (no entry).
//! - As on AWS, `DescribeVpcEndpointServices` lists `s3` and `dynamodb` twice under one name:
//!   first a `Gateway` entry (no private DNS name), then the `Interface` one.
//! - Services are offered in the zones `<region>a`, `b` and `c`, except those in
//!   [`PARTIAL_ZONES`] (`email-smtp`: `a` and `b` only).
//! - `endpoint_create` needs the caller's VPC (`InvalidVpcID.NotFound`), a service of the
//!   caller's region with an interface entry (`Invalid`, `InvalidServiceName`), subnets of that
//!   VPC (`NotFound`, `InvalidSubnetID.NotFound`; `Invalid`, `InvalidParameter` for another
//!   VPC's), each in a zone the service is offered in (`Invalid`, `InvalidParameter`, AWS's
//!   message "The VPC endpoint service ... does not support the availability zone of the
//!   subnet: ..."), at most one per zone (`Invalid`, `DuplicateSubnetsInSameZone`, AWS's
//!   message) and a security group of that VPC (`InvalidGroup.NotFound`). At most
//!   [`SimConfig::endpoints_per_vpc`](super::SimConfig) endpoints that are not deleted per VPC
//!   (`LimitExceeded`, `VpcEndpointLimitExceeded`).
//! - A new endpoint is `available` (after [`SimConfig::endpoint_pending_reads`](super::SimConfig)
//!   reads showing `pending`), or `failed` with a `LastError` when
//!   [`SimCloud::endpoints_fail`] asked for it. Its DNS entries: first the regional name
//!   `vpce-<17 hex>-<8 hex>.<service dns label>.<region>.vpce.amazonaws.com` (the label from the
//!   service's first private DNS name, without `*.`) (for example
//!   `...api.ecr.eu-west-1.vpce...`), then one per subnet zone; the hosted zone id is fixed per
//!   region.
//! - Delete: missing, deleting or deleted is `Ok`; the endpoint shows `deleting` for
//!   [`SimConfig::endpoint_deleting_reads`](super::SimConfig) reads (its security group is still
//!   in use meanwhile: `DependencyViolation`), then stays visible as `deleted`.

use async_trait::async_trait;

use super::{Endpoint, SimCloud, State, fail};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, DnsEntry, EndpointInfo, EndpointRequest,
    EndpointServiceInfo, EndpointServiceType, Endpoints,
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
    "s3",
    "dynamodb",
    "email-smtp",
    "kinesis-streams",
];

/// Services also offered as gateway endpoints (listed before their interface entry).
const GATEWAY_TOO: &[&str] = &["s3", "dynamodb"];

/// Services offered in some of the region's zones only (zone letters).
pub const PARTIAL_ZONES: &[(&str, &[char])] = &[("email-smtp", &['a', 'b'])];

/// The entries `DescribeVpcEndpointServices` lists for `service_name` in `region`.
fn service_entries(region: &Region, service_name: &str) -> Vec<EndpointServiceInfo> {
    let Some(short) = service_name.strip_prefix(&format!("com.amazonaws.{region}.")) else {
        return Vec::new();
    };
    if !CATALOGUE.contains(&short) {
        return Vec::new();
    }
    let letters: &[char] = PARTIAL_ZONES
        .iter()
        .find(|(s, _)| *s == short)
        .map_or(&['a', 'b', 'c'], |(_, z)| z);
    let zones: Vec<String> = letters.iter().map(|z| format!("{region}{z}")).collect();
    let entry = |service_type, private_dns_names| EndpointServiceInfo {
        service_name: service_name.to_owned(),
        service_type,
        private_dns_names,
        availability_zones: zones.clone(),
    };
    let dns = match short {
        "ecr.api" => vec![format!("api.ecr.{region}.amazonaws.com")],
        // Registry hosts are `<account>.dkr.ecr.<region>.amazonaws.com`: AWS lists the wildcard
        // (with a trailing dot: aws-samples/aws-vpc-builder-cdk pull request 30).
        "ecr.dkr" => vec![format!("*.dkr.ecr.{region}.amazonaws.com.")],
        "s3" => vec![format!("*.s3.{region}.amazonaws.com")],
        // The API name plus the account-specific control and data plane names the SDKs use
        // (`<account>.control-kinesis.<region>...`; aws-samples/hub-and-spoke-with-shared-
        // services-vpc-terraform issue 1 lists the three an endpoint needs).
        "kinesis-streams" => vec![
            format!("kinesis.{region}.amazonaws.com"),
            format!("*.data-kinesis.{region}.amazonaws.com"),
            format!("*.control-kinesis.{region}.amazonaws.com"),
        ],
        short => vec![format!("{short}.{region}.amazonaws.com")],
    };
    let mut entries = Vec::new();
    if GATEWAY_TOO.contains(&short) {
        entries.push(entry(EndpointServiceType::Gateway, Vec::new()));
    }
    entries.push(entry(EndpointServiceType::Interface, dns));
    entries
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
            last_error: (self.state == "failed")
                .then(|| self.last_error.clone())
                .flatten(),
            dns_entries: self.dns_entries.clone(),
            owner_tag: Some(self.owner_tag.clone()),
        }
    }
    fn visible_to(&self, cx: &CallCx) -> bool {
        self.account == cx.account && self.region == cx.region
    }
    /// A describe: advances `pending` towards `available` (or `failed`), `deleting` towards
    /// `deleted`.
    fn touch(&mut self) {
        match self.state.as_str() {
            "pending" if self.pending_left > 0 => self.pending_left -= 1,
            "pending" => {
                self.state = if self.last_error.is_some() {
                    "failed"
                } else {
                    "available"
                }
                .to_owned()
            }
            "deleting" if self.deleting_left > 0 => self.deleting_left -= 1,
            "deleting" => self.state = "deleted".to_owned(),
            _ => {}
        }
    }
}

impl State {
    /// Whether the next endpoint created for `service_name` is to fail (consumes one).
    fn endpoint_failure_take(&mut self, service_name: &str) -> bool {
        let Some(i) = self
            .endpoint_failures
            .iter()
            .position(|(s, n)| service_name.ends_with(&format!(".{s}")) && *n > 0)
        else {
            return false;
        };
        self.endpoint_failures[i].1 -= 1;
        if self.endpoint_failures[i].1 == 0 {
            self.endpoint_failures.remove(i);
        }
        true
    }
}

#[async_trait]
impl Endpoints for SimCloud {
    async fn endpoint_services_get(
        &self,
        cx: &CallCx,
        service_name: &str,
    ) -> CloudResult<Vec<EndpointServiceInfo>> {
        self.read(cx, "DescribeVpcEndpointServices", |_| {
            Ok(service_entries(&cx.region, service_name))
        })
        .await
    }

    async fn endpoints_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Vec<EndpointInfo>> {
        self.read(cx, "DescribeVpcEndpoints", |s| {
            Ok(s.endpoints
                .values_mut()
                .filter(|e| {
                    e.visible_to(cx)
                        && &e.vpc == vpc
                        && e.owner_tag == owner_tag
                        && e.state != "deleted"
                })
                .map(|e| {
                    e.touch();
                    e.info()
                })
                .collect())
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
            let Some(service) = service_entries(&cx.region, &req.service_name)
                .into_iter()
                .find(|e| e.service_type == EndpointServiceType::Interface)
            else {
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
                if !service
                    .availability_zones
                    .contains(&subnet.availability_zone)
                {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "InvalidParameter",
                        format!(
                            "The VPC endpoint service {} does not support the availability \
                             zone of the subnet: {id}.",
                            req.service_name
                        ),
                    );
                }
                if zones.contains(&subnet.availability_zone) {
                    return fail(
                        CloudErrorKind::Invalid,
                        OP,
                        "DuplicateSubnetsInSameZone",
                        format!(
                            "Found another VPC endpoint subnet in the availability zone of \
                             {id}. VPC endpoint subnets should be in different availability \
                             zones supported by the VPC endpoint service."
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
            let dns_name = service
                .private_dns_names
                .first()
                .cloned()
                .unwrap_or_default();
            let dns_name = dns_name.trim_start_matches("*.").trim_end_matches('.');
            let label = dns_name
                .strip_suffix(".amazonaws.com")
                .unwrap_or(dns_name)
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
            let last_error = s.endpoint_failure_take(&req.service_name).then(|| {
                "InternalError: the endpoint could not be created (simulated failure)".to_owned()
            });
            let state = match (pending, &last_error) {
                (1.., _) => "pending",
                (0, Some(_)) => "failed",
                (0, None) => "available",
            };
            let endpoint = Endpoint {
                id: id.clone(),
                account: cx.account.clone(),
                region: cx.region.clone(),
                vpc: req.vpc.clone(),
                service_name: req.service_name.clone(),
                state: state.to_owned(),
                last_error,
                dns_entries,
                subnets: req.subnets.clone(),
                security_group: req.security_group.clone(),
                owner_tag: req.owner_tag.clone(),
                pending_left: pending,
                deleting_left: 0,
            };
            let info = endpoint.info();
            s.endpoints.insert(id, endpoint);
            Ok(info)
        })
        .await
    }

    async fn endpoint_delete(&self, cx: &CallCx, id: &EndpointId) -> CloudResult<()> {
        self.write(cx, "DeleteVpcEndpoints", Some(id.to_string()), |s| {
            if let Some(e) = s
                .endpoints
                .get_mut(id)
                .filter(|e| e.visible_to(cx) && !matches!(e.state.as_str(), "deleting" | "deleted"))
            {
                let reads = self.config.endpoint_deleting_reads;
                e.state = if reads > 0 { "deleting" } else { "deleted" }.to_owned();
                e.pending_left = 0;
                e.deleting_left = reads;
            }
            Ok(())
        })
        .await
    }

    async fn endpoints_owned(&self, cx: &CallCx) -> CloudResult<Vec<EndpointInfo>> {
        self.read(cx, "DescribeVpcEndpoints", |s| {
            Ok(s.endpoints
                .values_mut()
                .filter(|e| e.visible_to(cx) && !e.owner_tag.is_empty() && e.state != "deleted")
                .map(|e| {
                    e.touch();
                    e.info()
                })
                .collect())
        })
        .await
    }
}
