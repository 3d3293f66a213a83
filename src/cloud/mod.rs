//! The cloud layer: what endpoint-hub needs from AWS, as one trait per capability.
//!
//! Workflows talk only to these traits. `aws` implements them with the AWS SDK (SDK types never
//! leave that module); `sim` implements them in process with AWS's semantics, quotas, rate limits
//! and fault injection, for fast deterministic tests of the workflows. `sim` exists only with the
//! cargo feature `sim`, which test builds turn on (see `Cargo.toml`): a normal build has none of it.
//!
//! Every call carries a [`CallCx`]: which account and region to act in, which role to assume
//! there, and which job is calling (for the audit of mutating calls, see [`CallRecorder`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    AccountId, EndpointId, ExternalId, HostedZoneId, Ipv4Cidr, PeeringId, PrefixListId, ProfileId,
    Region, RoleArn, RouteTableId, SecurityGroupId, SubnetId, TgwAttachmentId, TgwRouteTableId,
    TransitGatewayId, VpcId,
};

pub mod aws;
pub mod pacing;
#[cfg(feature = "sim")]
pub mod sim;

/// Tag key on every resource endpoint-hub creates; the value names the owning hub or spoke
/// (`hub:<uuid>`, `spoke:<uuid>`, `hub:<uuid>:service:<name>`). Find-before-create looks for it.
pub const OWNER_TAG: &str = "endpoint-hub:owner";

/// Where a call acts and on whose behalf.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallCx {
    pub account: AccountId,
    pub region: Region,
    pub role: RoleArn,
    pub external_id: Option<ExternalId>,
    /// The job making the call, recorded in the audit of mutating calls.
    pub job_id: Option<Uuid>,
}

/// How a cloud call failed, classified for retry decisions and for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloudErrorKind {
    /// Rate limited (`RequestLimitExceeded`, `Throttling`, `PriorRequestNotComplete`): retry later.
    Throttled,
    /// 5xx, timeouts, connection errors: retry later.
    Transient,
    /// The resource does not exist.
    NotFound,
    /// The resource already exists (e.g. `RouteAlreadyExists`, `ConflictingDomainExists`).
    AlreadyExists,
    /// Cannot assume the role or not allowed to call.
    AccessDenied,
    /// A quota or limit would be exceeded.
    LimitExceeded,
    /// The request was refused as invalid in the current state (permanent).
    Invalid,
    /// Anything else (permanent).
    Other,
}

/// A failed cloud call: classification, the service's error code, a message a platform engineer
/// can act on, and the AWS request id when there is one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct CloudError {
    pub kind: CloudErrorKind,
    pub operation: String,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl CloudError {
    pub fn new(
        kind: CloudErrorKind,
        operation: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CloudError {
            kind,
            operation: operation.into(),
            code: code.into(),
            message: message.into(),
            request_id: None,
        }
    }

    /// Worth trying again later with the same input.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            CloudErrorKind::Throttled | CloudErrorKind::Transient
        )
    }

    pub fn is(&self, kind: CloudErrorKind) -> bool {
        self.kind == kind
    }
}

pub type CloudResult<T> = Result<T, CloudError>;

/// A record of one mutating cloud call, written beside the API audit log.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub account: AccountId,
    pub region: Region,
    pub operation: &'static str,
    pub resource_id: Option<String>,
    /// `ok`, or the error code.
    pub outcome: String,
    pub request_id: Option<String>,
    pub job_id: Option<Uuid>,
}

/// Receives a record of every mutating call (implemented by the store; a no-op in unit tests).
#[async_trait]
pub trait CallRecorder: Send + Sync {
    async fn record(&self, record: CallRecord);
}

/// Discards records.
pub struct NoRecorder;

#[async_trait]
impl CallRecorder for NoRecorder {
    async fn record(&self, _record: CallRecord) {}
}

// ---------------------------------------------------------------------------------------------
// Data returned by the cloud
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcInfo {
    pub id: VpcId,
    pub owner: AccountId,
    /// `available` or `pending`.
    pub state: String,
    /// The VPC's associated IPv4 CIDR blocks (state `associated`).
    pub cidrs: Vec<Ipv4Cidr>,
    /// `enableDnsSupport` and `enableDnsHostnames` (DescribeVpcAttribute): private hosted
    /// zones resolve in a VPC only with both on. A VPC made by CreateVpc has the second off.
    pub dns_support: bool,
    pub dns_hostnames: bool,
}

/// A route table and what it is associated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableInfo {
    pub id: RouteTableId,
    /// The VPC's main route table (used by subnets without a table of their own).
    pub main: bool,
    /// Subnets explicitly associated with it.
    pub subnets: usize,
    /// An edge association with an internet or virtual private gateway (a gateway route
    /// table): it accepts no route to a peering.
    pub gateway: Option<String>,
    /// Its routes to IPv4 CIDR blocks (DescribeRouteTables returns them with the table).
    pub routes: Vec<RouteInfo>,
}

impl RouteTableInfo {
    /// Whether traffic from the VPC's subnets uses it (and so should route to the hub).
    pub fn routes_subnets(&self) -> bool {
        self.gateway.is_none() && (self.main || self.subnets > 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetInfo {
    pub id: SubnetId,
    pub vpc_id: VpcId,
    pub availability_zone: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeeringStatus {
    InitiatingRequest,
    PendingAcceptance,
    Provisioning,
    Active,
    Deleting,
    Deleted,
    Rejected,
    Failed,
    Expired,
}

impl PeeringStatus {
    /// Parses EC2's status code (`pending-acceptance`, ...); unknown codes are `Failed`.
    pub fn from_code(code: &str) -> PeeringStatus {
        match code {
            "initiating-request" => Self::InitiatingRequest,
            "pending-acceptance" => Self::PendingAcceptance,
            "provisioning" => Self::Provisioning,
            "active" => Self::Active,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            _ => Self::Failed,
        }
    }
    /// A peering in this state will never become active.
    pub fn is_dead(self) -> bool {
        matches!(
            self,
            Self::Deleting | Self::Deleted | Self::Rejected | Self::Failed | Self::Expired
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeringInfo {
    pub id: PeeringId,
    pub status: PeeringStatus,
    /// EC2's status message (e.g. why it failed).
    pub message: Option<String>,
    pub requester_vpc: VpcId,
    pub requester_owner: AccountId,
    pub accepter_vpc: VpcId,
    pub accepter_owner: AccountId,
    pub accepter_region: Region,
    /// Value of [`OWNER_TAG`], if tagged.
    pub owner_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeringRequest {
    pub vpc: VpcId,
    pub peer_vpc: VpcId,
    pub peer_owner: AccountId,
    pub peer_region: Region,
    /// Value of [`OWNER_TAG`] set at creation (`TagSpecifications`).
    pub owner_tag: String,
}

/// Where an existing route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    Peering(PeeringId),
    TransitGateway(TransitGatewayId),
    /// Any other target (gateway, NAT, ENI...), as EC2 names it.
    Other(String),
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Peering(p) => p.fmt(f),
            RouteTarget::TransitGateway(t) => t.fmt(f),
            RouteTarget::Other(o) => f.write_str(o),
        }
    }
}

/// A route whose destination is a managed prefix list (`DestinationPrefixListId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixListRoute {
    pub prefix_list: PrefixListId,
    pub target: RouteTarget,
    /// `active` or `blackhole`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub destination: Ipv4Cidr,
    pub target: RouteTarget,
    /// `active` or `blackhole`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixListInfo {
    pub id: PrefixListId,
    pub version: i64,
    pub max_entries: i32,
    pub entries: Vec<Ipv4Cidr>,
    pub owner_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupInfo {
    pub id: SecurityGroupId,
    pub vpc_id: VpcId,
    /// Ingress rules admitting TCP from a prefix list.
    pub ingress: Vec<IngressRule>,
    pub owner_tag: Option<String>,
}

/// An ingress rule admitting TCP ports `from_port..=to_port` from a prefix list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRule {
    pub from_port: u16,
    pub to_port: u16,
    pub prefix_list: PrefixListId,
}

impl IngressRule {
    pub fn port(port: u16, prefix_list: PrefixListId) -> IngressRule {
        IngressRule {
            from_port: port,
            to_port: port,
            prefix_list,
        }
    }
}

impl SecurityGroupInfo {
    /// TCP `port` is admitted from `prefix_list`.
    pub fn admits(&self, port: u16, prefix_list: &PrefixListId) -> bool {
        self.ingress
            .iter()
            .any(|r| &r.prefix_list == prefix_list && r.from_port <= port && port <= r.to_port)
    }
}

/// The type of endpoint a `DescribeVpcEndpointServices` entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointServiceType {
    Interface,
    /// S3 and DynamoDB are also offered as gateway endpoints (route table entries, no DNS name).
    Gateway,
    GatewayLoadBalancer,
    /// A type this code does not know.
    Other,
}

impl EndpointServiceType {
    /// Parses EC2's `ServiceType` (`Interface`, `Gateway`, `GatewayLoadBalancer`).
    pub fn from_code(code: &str) -> EndpointServiceType {
        match code {
            "Interface" => Self::Interface,
            "Gateway" => Self::Gateway,
            "GatewayLoadBalancer" => Self::GatewayLoadBalancer,
            _ => Self::Other,
        }
    }
}

/// One entry of `DescribeVpcEndpointServices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointServiceInfo {
    /// `com.amazonaws.<region>.<short>`
    pub service_name: String,
    pub service_type: EndpointServiceType,
    /// The private DNS names the service would use (`sqs.eu-west-1.amazonaws.com`); none for a
    /// gateway entry.
    pub private_dns_names: Vec<String>,
    /// The availability zones (names, `eu-west-1a`) where an endpoint of the service may have
    /// a subnet; a subnet elsewhere is refused (`InvalidParameter`).
    pub availability_zones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEntry {
    pub dns_name: String,
    pub hosted_zone_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    pub id: EndpointId,
    pub vpc_id: VpcId,
    pub service_name: String,
    /// `pendingAcceptance`, `pending`, `available`, `deleting`, `deleted`, `rejected`, `failed`.
    pub state: String,
    /// EC2's `LastError` (why the endpoint failed), as `code: message`.
    pub last_error: Option<String>,
    /// The first entry is the regional DNS name.
    pub dns_entries: Vec<DnsEntry>,
    pub owner_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRequest {
    pub vpc: VpcId,
    pub service_name: String,
    pub subnets: Vec<SubnetId>,
    pub security_group: SecurityGroupId,
    pub owner_tag: String,
    /// Failed endpoints of the same owner this one replaces. Part of the create's idempotency
    /// token: a token already used returns the endpoint it made, the failed one.
    pub supersedes: Vec<EndpointId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneVpc {
    pub vpc_id: VpcId,
    pub region: Region,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    pub id: HostedZoneId,
    /// Without the trailing dot.
    pub name: String,
    pub private: bool,
    /// The zone's `CallerReference` (our idempotency token).
    pub caller_reference: String,
    pub vpcs: Vec<ZoneVpc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    /// Fully qualified, without the trailing dot (`sqs.eu-west-1.amazonaws.com`, `*.sqs...`).
    pub name: String,
    pub target_dns_name: String,
    pub target_zone_id: String,
}

/// A Route 53 Profile as its owner or an account it is shared with sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInfo {
    pub id: ProfileId,
    pub arn: String,
    pub name: String,
    pub owner: AccountId,
    /// The `ClientToken` it was created with (our idempotency key), when the caller owns it.
    pub client_token: Option<String>,
    /// `COMPLETE`, `CREATING`, `DELETING`, `FAILED`...
    pub status: String,
}

/// A private hosted zone (or other resource) associated with a Profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileResourceInfo {
    pub resource_arn: String,
    /// The zone, when the resource is a private hosted zone.
    pub zone: Option<HostedZoneId>,
    pub status: String,
}

/// A VPC associated with a Profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileVpcInfo {
    pub profile_id: ProfileId,
    pub vpc_id: VpcId,
    /// The VPC's owner (who made the association).
    pub owner: AccountId,
    pub status: String,
}

/// An AWS RAM resource share owned by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    pub arn: String,
    pub name: String,
    pub owner: AccountId,
    /// `ACTIVE`, `PENDING`, `DELETING`, `DELETED`, `FAILED`.
    pub status: String,
    /// Value of [`OWNER_TAG`], if tagged.
    pub owner_tag: Option<String>,
}

/// How far an account is admitted to a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalStatus {
    /// Added; the account has not accepted the invitation yet (outside the organization).
    Associating,
    /// The account sees the share's resources.
    Associated,
    Disassociating,
    Disassociated,
    Failed,
}

impl PrincipalStatus {
    /// Parses RAM's `associationStatus`; unknown values are `Failed`.
    pub fn from_code(code: &str) -> PrincipalStatus {
        match code {
            "ASSOCIATING" => Self::Associating,
            "ASSOCIATED" => Self::Associated,
            "DISASSOCIATING" => Self::Disassociating,
            "DISASSOCIATED" => Self::Disassociated,
            _ => Self::Failed,
        }
    }
    /// Added and not on its way out.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Associating | Self::Associated)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePrincipal {
    pub account: AccountId,
    pub status: PrincipalStatus,
}

/// A RAM invitation as its receiver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInvitation {
    pub arn: String,
    pub share_arn: String,
    pub sender: AccountId,
    /// `PENDING`, `ACCEPTED`, `REJECTED`, `EXPIRED`.
    pub status: String,
}

/// A Transit Gateway as the caller sees it (its owner, or an account it is shared with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitGatewayInfo {
    pub id: TransitGatewayId,
    pub owner: AccountId,
    /// `pending`, `available`, `modifying`, `deleting`, `deleted`.
    pub state: String,
    /// `DefaultRouteTableAssociation` is `enable`: every new attachment is associated with the
    /// gateway's default route table at once.
    pub default_association: bool,
    /// Value of [`OWNER_TAG`], if tagged (seen by the owner only).
    pub owner_tag: Option<String>,
}

/// The ARN RAM shares a gateway by.
pub fn tgw_arn(region: &Region, owner: &AccountId, id: &TransitGatewayId) -> String {
    format!("arn:aws:ec2:{region}:{owner}:transit-gateway/{id}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgwRouteTableInfo {
    pub id: TgwRouteTableId,
    pub transit_gateway: TransitGatewayId,
    /// `pending`, `available`, `deleting`, `deleted`.
    pub state: String,
    pub owner_tag: Option<String>,
}

/// A VPC attachment of a Transit Gateway, as the VPC's owner or the gateway's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgwAttachmentInfo {
    pub id: TgwAttachmentId,
    pub transit_gateway: TransitGatewayId,
    pub vpc: VpcId,
    pub vpc_owner: AccountId,
    /// `initiating`, `pendingAcceptance`, `pending`, `available`, `modifying`, `deleting`,
    /// `deleted`, `rejected`, `failed`, ...
    pub state: String,
    /// The route table it is associated with, and that association's state.
    pub association: Option<(TgwRouteTableId, String)>,
    pub owner_tag: Option<String>,
}

impl TgwAttachmentInfo {
    /// Will never become `available` again.
    pub fn is_dead(&self) -> bool {
        matches!(
            self.state.as_str(),
            "deleting" | "deleted" | "rejected" | "rejecting" | "failed" | "failing"
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgwAttachmentRequest {
    pub transit_gateway: TransitGatewayId,
    pub vpc: VpcId,
    /// One per availability zone.
    pub subnets: Vec<SubnetId>,
    pub owner_tag: String,
}

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

/// Reaching accounts: STS AssumeRole, credentials cached and refreshed.
#[async_trait]
pub trait Credentials: Send + Sync {
    /// Assumes `cx.role` (with `cx.external_id`) and returns the account the credentials act in.
    async fn caller_account(&self, cx: &CallCx) -> CloudResult<AccountId>;
}

/// VPCs, VPC peering and routes.
#[async_trait]
pub trait Network: Send + Sync {
    /// The VPC with its DNS attributes (three requests: DescribeVpcs, and one
    /// DescribeVpcAttribute per attribute).
    async fn vpc_get(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Option<VpcInfo>>;
    /// The VPC's associated IPv4 CIDR blocks only (one request).
    async fn vpc_cidrs(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Option<Vec<Ipv4Cidr>>>;
    async fn subnets_get(&self, cx: &CallCx, ids: &[SubnetId]) -> CloudResult<Vec<SubnetInfo>>;
    /// Every route table of a VPC, with its associations.
    async fn route_tables_list(&self, cx: &CallCx, vpc: &VpcId)
    -> CloudResult<Vec<RouteTableInfo>>;
    /// Peerings tagged [`OWNER_TAG`]=`owner_tag` visible to the account, any state.
    async fn peering_find(&self, cx: &CallCx, owner_tag: &str) -> CloudResult<Vec<PeeringInfo>>;
    async fn peering_get(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<Option<PeeringInfo>>;
    /// Peerings where the VPC is requester or accepter, in live states (for the quota check).
    async fn peering_list_for_vpc(&self, cx: &CallCx, vpc: &VpcId)
    -> CloudResult<Vec<PeeringInfo>>;
    async fn peering_create(&self, cx: &CallCx, req: &PeeringRequest) -> CloudResult<PeeringInfo>;
    async fn peering_accept(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<()>;
    /// Deleting a missing or already deleted peering is `Ok`.
    async fn peering_delete(&self, cx: &CallCx, id: &PeeringId) -> CloudResult<()>;
    async fn routes_list(&self, cx: &CallCx, table: &RouteTableId) -> CloudResult<Vec<RouteInfo>>;
    /// `Err(AlreadyExists)` when a route to `destination` is already in the table. `target`
    /// is a peering or a Transit Gateway.
    async fn route_create(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
        target: &RouteTarget,
    ) -> CloudResult<()>;
    /// The table's routes whose destination is a managed prefix list.
    async fn prefix_list_routes(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
    ) -> CloudResult<Vec<PrefixListRoute>>;
    /// `Err(AlreadyExists)` when the table already routes the prefix list.
    async fn prefix_list_route_create(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        prefix_list: &PrefixListId,
        target: &RouteTarget,
    ) -> CloudResult<()>;
    /// Deleting a missing route is `Ok`.
    async fn prefix_list_route_delete(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        prefix_list: &PrefixListId,
    ) -> CloudResult<()>;
    /// Every subnet of the VPC.
    async fn subnets_of_vpc(&self, cx: &CallCx, vpc: &VpcId) -> CloudResult<Vec<SubnetInfo>>;
    /// Deleting a missing route is `Ok`.
    async fn route_delete(
        &self,
        cx: &CallCx,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
    ) -> CloudResult<()>;
    /// Every peering visible to the account (as requester) tagged with the key [`OWNER_TAG`],
    /// whatever its value, in any state (for the orphan listing).
    async fn peerings_owned(&self, cx: &CallCx) -> CloudResult<Vec<PeeringInfo>>;
}

/// Managed prefix lists and the endpoints' security group.
#[async_trait]
pub trait Firewall: Send + Sync {
    async fn prefix_list_find(
        &self,
        cx: &CallCx,
        owner_tag: &str,
    ) -> CloudResult<Option<PrefixListInfo>>;
    async fn prefix_list_get(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
    ) -> CloudResult<Option<PrefixListInfo>>;
    async fn prefix_list_create(
        &self,
        cx: &CallCx,
        name: &str,
        max_entries: i32,
        owner_tag: &str,
    ) -> CloudResult<PrefixListInfo>;
    /// Applies changes on top of `current_version`; `Err(Invalid)` with code
    /// `PrefixListVersionMismatch` when someone else changed the list meanwhile.
    async fn prefix_list_modify(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
        current_version: i64,
        add: &[Ipv4Cidr],
        remove: &[Ipv4Cidr],
    ) -> CloudResult<()>;
    async fn prefix_list_delete(&self, cx: &CallCx, id: &PrefixListId) -> CloudResult<()>;
    async fn security_group_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Option<SecurityGroupInfo>>;
    async fn security_group_create(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        name: &str,
        owner_tag: &str,
    ) -> CloudResult<SecurityGroupInfo>;
    /// Adds an ingress rule TCP `port` from the prefix list (already present is `Ok`).
    async fn security_group_allow(
        &self,
        cx: &CallCx,
        sg: &SecurityGroupId,
        prefix_list: &PrefixListId,
        port: u16,
    ) -> CloudResult<()>;
    /// Removes the ingress rule TCP `port` from the prefix list (absent is `Ok`).
    async fn security_group_revoke(
        &self,
        cx: &CallCx,
        sg: &SecurityGroupId,
        prefix_list: &PrefixListId,
        port: u16,
    ) -> CloudResult<()>;
    async fn security_group_delete(&self, cx: &CallCx, sg: &SecurityGroupId) -> CloudResult<()>;
    /// Every prefix list of the account tagged with the key [`OWNER_TAG`], whatever its value,
    /// not being deleted (for the orphan listing). Entries are not read: `entries` is empty.
    async fn prefix_lists_owned(&self, cx: &CallCx) -> CloudResult<Vec<PrefixListInfo>>;
    /// Every security group of the account tagged with the key [`OWNER_TAG`], whatever its
    /// value, in any VPC (for the orphan listing).
    async fn security_groups_owned(&self, cx: &CallCx) -> CloudResult<Vec<SecurityGroupInfo>>;
}

/// Interface endpoints.
#[async_trait]
pub trait Endpoints: Send + Sync {
    /// Every entry `DescribeVpcEndpointServices` lists under `service_name`, in its order
    /// (S3 and DynamoDB have two: Gateway first, then Interface); empty when the region does
    /// not offer the service.
    async fn endpoint_services_get(
        &self,
        cx: &CallCx,
        service_name: &str,
    ) -> CloudResult<Vec<EndpointServiceInfo>>;
    /// Endpoints of `vpc` tagged [`OWNER_TAG`]=`owner_tag`, in any state but `deleted`
    /// (failed ones included).
    async fn endpoints_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Vec<EndpointInfo>>;
    async fn endpoint_get(&self, cx: &CallCx, id: &EndpointId)
    -> CloudResult<Option<EndpointInfo>>;
    /// Interface endpoint with private DNS off.
    async fn endpoint_create(
        &self,
        cx: &CallCx,
        req: &EndpointRequest,
    ) -> CloudResult<EndpointInfo>;
    /// Starts deleting the endpoint: it is `deleting` until its network interfaces are gone,
    /// then `deleted` (and later not listed). Missing or deleted is `Ok`.
    async fn endpoint_delete(&self, cx: &CallCx, id: &EndpointId) -> CloudResult<()>;
    /// Every endpoint of the account tagged with the key [`OWNER_TAG`], whatever its value, in
    /// any VPC and any state but `deleted` (for the orphan listing).
    async fn endpoints_owned(&self, cx: &CallCx) -> CloudResult<Vec<EndpointInfo>>;
}

/// Route 53 private hosted zones and cross-account VPC association.
#[async_trait]
pub trait Dns: Send + Sync {
    /// Zones owned by the account whose `CallerReference` is `caller_reference`.
    async fn zone_find(&self, cx: &CallCx, caller_reference: &str)
    -> CloudResult<Option<ZoneInfo>>;
    async fn zone_get(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<Option<ZoneInfo>>;
    /// A private zone associated with `vpc` (always sends `PrivateZone=true`).
    async fn zone_create(
        &self,
        cx: &CallCx,
        name: &str,
        vpc: &ZoneVpc,
        caller_reference: &str,
    ) -> CloudResult<ZoneInfo>;
    /// Deletes the zone and every record but SOA/NS. Missing is `Ok`.
    async fn zone_delete(&self, cx: &CallCx, id: &HostedZoneId) -> CloudResult<()>;
    /// Creates or updates (UPSERT) alias A records.
    async fn alias_records_upsert(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        records: &[AliasRecord],
    ) -> CloudResult<()>;
    async fn alias_records_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<AliasRecord>>;
    /// Called by the zone owner. Authorizing twice is `Ok`.
    async fn association_authorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()>;
    /// Called by the zone owner. Missing is `Ok`.
    async fn association_deauthorize(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()>;
    async fn association_authorizations_list(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
    ) -> CloudResult<Vec<ZoneVpc>>;
    /// Called by the VPC owner. `Err(AlreadyExists)` when already associated,
    /// `Err(AccessDenied)` (`NotAuthorizedException`) without an authorization.
    async fn vpc_associate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()>;
    /// Called by the VPC owner. Not associated is `Ok`.
    async fn vpc_disassociate(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        vpc: &ZoneVpc,
    ) -> CloudResult<()>;
    /// Zone ids (any owner) associated with the VPC, as `ListHostedZonesByVPC` sees them.
    async fn zones_by_vpc(&self, cx: &CallCx, vpc: &ZoneVpc) -> CloudResult<Vec<HostedZoneId>>;
    /// Every hosted zone the account owns, with its caller reference (`ListHostedZones`; for
    /// the orphan listing). VPCs are not read: `vpcs` is empty (`zone_get` has them).
    async fn zones_list(&self, cx: &CallCx) -> CloudResult<Vec<ZoneInfo>>;
}

/// Route 53 Profiles: one Profile holds the hub's zones; each spoke VPC is associated with it
/// once, from the spoke's account, after the Profile is shared with that account ([`Sharing`]).
#[async_trait]
pub trait Profiles: Send + Sync {
    /// The caller's own Profile named `name`, if any (`ListProfiles`; names are ours to keep
    /// unique, AWS does not).
    async fn profile_find(&self, cx: &CallCx, name: &str) -> CloudResult<Option<ProfileInfo>>;
    /// The Profile, if the caller owns it or it is shared with the caller.
    async fn profile_get(&self, cx: &CallCx, id: &ProfileId) -> CloudResult<Option<ProfileInfo>>;
    /// `CreateProfile` with `client_token` (the same token again returns the same Profile).
    async fn profile_create(
        &self,
        cx: &CallCx,
        name: &str,
        client_token: &str,
        owner_tag: &str,
    ) -> CloudResult<ProfileInfo>;
    /// Missing is `Ok`; `Err(AlreadyExists)` (`ConflictException`) while VPCs are associated.
    async fn profile_delete(&self, cx: &CallCx, id: &ProfileId) -> CloudResult<()>;
    /// Every resource associated with the Profile (owner only).
    async fn profile_resources(
        &self,
        cx: &CallCx,
        id: &ProfileId,
    ) -> CloudResult<Vec<ProfileResourceInfo>>;
    /// Adds a private hosted zone of the caller to the Profile. Already there is `Ok`;
    /// `Err(AlreadyExists)` when another zone of the same name is there.
    async fn profile_zone_add(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
        name: &str,
    ) -> CloudResult<()>;
    /// Missing is `Ok`.
    async fn profile_zone_remove(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        zone: &HostedZoneId,
    ) -> CloudResult<()>;
    /// Associations of the Profile (the owner sees every account's) or of a VPC of the caller.
    async fn profile_vpcs(
        &self,
        cx: &CallCx,
        profile: Option<&ProfileId>,
        vpc: Option<&VpcId>,
    ) -> CloudResult<Vec<ProfileVpcInfo>>;
    /// `AssociateProfile` by the VPC's owner. `Err(NotFound)` while the Profile is not shared
    /// with the caller; `Err(AlreadyExists)` when the VPC already has a Profile (this one or
    /// another: read [`Profiles::profile_vpcs`] to tell); `Err(LimitExceeded)` at the quota.
    async fn profile_associate(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
        name: &str,
    ) -> CloudResult<()>;
    /// By the VPC's owner. Not associated is `Ok`.
    async fn profile_disassociate(
        &self,
        cx: &CallCx,
        id: &ProfileId,
        vpc: &VpcId,
    ) -> CloudResult<()>;
    /// Every Profile the caller owns (for the orphan listing and capacity).
    async fn profiles_owned(&self, cx: &CallCx) -> CloudResult<Vec<ProfileInfo>>;
}

/// AWS RAM: sharing a resource (a Route 53 Profile) with other accounts.
#[async_trait]
pub trait Sharing: Send + Sync {
    /// The caller's live share tagged [`OWNER_TAG`]=`owner_tag`, if any.
    async fn share_find(&self, cx: &CallCx, owner_tag: &str) -> CloudResult<Option<ShareInfo>>;
    /// A share of `resource_arn` with no principal yet (`clientToken` makes a retry return
    /// the same share).
    async fn share_create(
        &self,
        cx: &CallCx,
        name: &str,
        resource_arn: &str,
        client_token: &str,
        owner_tag: &str,
    ) -> CloudResult<ShareInfo>;
    /// Missing or deleted is `Ok`.
    async fn share_delete(&self, cx: &CallCx, share_arn: &str) -> CloudResult<()>;
    /// The accounts the share is associated with, in any state.
    async fn share_principals(
        &self,
        cx: &CallCx,
        share_arn: &str,
    ) -> CloudResult<Vec<SharePrincipal>>;
    /// Adds an account (already a principal is `Ok`).
    async fn share_principal_add(
        &self,
        cx: &CallCx,
        share_arn: &str,
        account: &AccountId,
    ) -> CloudResult<()>;
    /// Removes an account (not a principal is `Ok`).
    async fn share_principal_remove(
        &self,
        cx: &CallCx,
        share_arn: &str,
        account: &AccountId,
    ) -> CloudResult<()>;
    /// The caller's invitations to `share_arn` (as receiver), any status.
    async fn share_invitations(
        &self,
        cx: &CallCx,
        share_arn: &str,
    ) -> CloudResult<Vec<ShareInvitation>>;
    /// Accepts an invitation as its receiver; already accepted is `Ok`.
    async fn share_invitation_accept(&self, cx: &CallCx, invitation_arn: &str) -> CloudResult<()>;
    /// Every live share the caller owns tagged with the key [`OWNER_TAG`] (orphan listing).
    async fn shares_owned(&self, cx: &CallCx) -> CloudResult<Vec<ShareInfo>>;
}

/// Transit Gateways (EC2): the gateway, its route tables, VPC attachments and their
/// associations and propagations.
#[async_trait]
pub trait Transit: Send + Sync {
    /// The caller's gateway tagged [`OWNER_TAG`] = `owner_tag` that is not deleted.
    async fn tgw_find(
        &self,
        cx: &CallCx,
        owner_tag: &str,
    ) -> CloudResult<Option<TransitGatewayInfo>>;
    /// The gateway if the caller can see it (owner, or shared with its account); `None`
    /// otherwise.
    async fn tgw_get(
        &self,
        cx: &CallCx,
        id: &TransitGatewayId,
    ) -> CloudResult<Option<TransitGatewayInfo>>;
    /// A gateway that accepts no attachment by itself and has no default route table
    /// association or propagation.
    async fn tgw_create(
        &self,
        cx: &CallCx,
        description: &str,
        owner_tag: &str,
    ) -> CloudResult<TransitGatewayInfo>;
    /// Deleting a missing or deleted gateway is `Ok`.
    async fn tgw_delete(&self, cx: &CallCx, id: &TransitGatewayId) -> CloudResult<()>;
    /// The gateway's route tables (not deleted).
    async fn tgw_route_tables(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
    ) -> CloudResult<Vec<TgwRouteTableInfo>>;
    async fn tgw_route_table_create(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
        owner_tag: &str,
    ) -> CloudResult<TgwRouteTableInfo>;
    /// Deleting a missing table is `Ok`.
    async fn tgw_route_table_delete(&self, cx: &CallCx, id: &TgwRouteTableId) -> CloudResult<()>;
    /// VPC attachments visible to the caller (to the gateway's owner: every attachment of its
    /// gateway; to a VPC's owner: its VPC's), filtered by gateway and/or VPC, deleted ones
    /// left out.
    async fn tgw_attachments(
        &self,
        cx: &CallCx,
        tgw: Option<&TransitGatewayId>,
        vpc: Option<&VpcId>,
    ) -> CloudResult<Vec<TgwAttachmentInfo>>;
    /// From the VPC's owner. `AlreadyExists` when the VPC already has a live attachment to
    /// the gateway; `NotFound` when the gateway is not visible to the caller.
    async fn tgw_attachment_create(
        &self,
        cx: &CallCx,
        req: &TgwAttachmentRequest,
    ) -> CloudResult<TgwAttachmentInfo>;
    /// From the gateway's owner, of a `pendingAcceptance` attachment.
    async fn tgw_attachment_accept(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()>;
    /// From either owner. Deleting a missing or deleted attachment is `Ok`.
    async fn tgw_attachment_delete(&self, cx: &CallCx, id: &TgwAttachmentId) -> CloudResult<()>;
    /// `AlreadyExists` when the attachment is associated with a route table already.
    async fn tgw_associate(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
    ) -> CloudResult<()>;
    /// The attachments propagating their routes into the table.
    async fn tgw_propagations(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
    ) -> CloudResult<Vec<TgwAttachmentId>>;
    /// `AlreadyExists` when it propagates already.
    async fn tgw_propagation_enable(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
        attachment: &TgwAttachmentId,
    ) -> CloudResult<()>;
    /// Every gateway the caller owns tagged with the key [`OWNER_TAG`], whatever its value (for
    /// the orphan listing), deleted ones left out.
    async fn tgws_owned(&self, cx: &CallCx) -> CloudResult<Vec<TransitGatewayInfo>>;
    /// The table's propagated routes: (destination, attachment).
    async fn tgw_routes(
        &self,
        cx: &CallCx,
        table: &TgwRouteTableId,
    ) -> CloudResult<Vec<(Ipv4Cidr, TgwAttachmentId)>>;
}

/// Every capability, as the workflows hold them.
#[derive(Clone)]
pub struct Cloud {
    pub credentials: Arc<dyn Credentials>,
    pub network: Arc<dyn Network>,
    pub firewall: Arc<dyn Firewall>,
    pub endpoints: Arc<dyn Endpoints>,
    pub dns: Arc<dyn Dns>,
    pub profiles: Arc<dyn Profiles>,
    pub sharing: Arc<dyn Sharing>,
    pub transit: Arc<dyn Transit>,
}

impl Cloud {
    /// One object implementing every capability.
    pub fn from_all<T>(all: Arc<T>) -> Cloud
    where
        T: Credentials
            + Network
            + Firewall
            + Endpoints
            + Dns
            + Profiles
            + Sharing
            + Transit
            + 'static,
    {
        Cloud {
            credentials: all.clone(),
            network: all.clone(),
            firewall: all.clone(),
            endpoints: all.clone(),
            dns: all.clone(),
            profiles: all.clone(),
            sharing: all.clone(),
            transit: all,
        }
    }

    /// Paces this cloud's Route 53 calls with `pacer`, one call being one request (see
    /// [`pacing::PacedDns`]; the AWS implementation paces its HTTP requests itself).
    pub fn paced(mut self, pacer: Arc<dyn pacing::Pacer>) -> Cloud {
        self.dns = Arc::new(pacing::PacedDns::new(self.dns, pacer));
        self
    }
}
