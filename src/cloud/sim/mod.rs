//! An in-process simulated AWS with AWS's semantics, quotas, rate limits and fault injection.
//!
//! [`SimCloud`] implements every cloud capability ([`Credentials`], [`Network`], [`Firewall`],
//! [`Endpoints`], [`Dns`], and Route 53 Profiles, AWS RAM and Transit Gateways) over one `std::sync::Mutex`-guarded state (never held across an
//! `.await`), so workflow tests can run many jobs quickly and deterministically. Share it in an
//! `Arc` and hand it to [`crate::cloud::Cloud::from_all`]; keep a clone of the `Arc` for the test
//! helpers and the introspection views.
//!
//! # Model
//! - **Accounts**: every EC2 resource belongs to one account and region and is visible only to
//!   calls whose [`CallCx`] has that account and region (others get `None`/`NotFound`, as EC2
//!   does). Hosted zones belong to an account (Route 53 is global).
//! - **Roles**: a call succeeds only when `cx.role` lives in `cx.account`, is not denied
//!   ([`SimCloud::role_deny`]) and, if one is required ([`SimCloud::external_id_require`]),
//!   `cx.external_id` matches. Otherwise it fails with `AccessDenied` (operation `AssumeRole`,
//!   message `cannot assume <arn>: AccessDenied: ...`), for every operation.
//! - **VPCs** come from [`SimCloud::vpc_add`]: each VPC gets a *main* route table plus one route
//!   table per subnet (so `subnet_count + 1` tables, the main one first), subnets spread over the
//!   zones `<region>a`, `b`, `c`, and a `local` route per VPC CIDR in every table.
//! - **Ids** are derived from a counter through a mixing function: deterministic for a given
//!   sequence of calls, random-looking, in EC2's 17-hex-digit form.
//! - **Order of checks** in every call: count the call, injected latency, role, injected errors
//!   (faults, then [`SimCloud::fail_operation`]), rate limit, then the operation itself.
//!   [`SimCloud::calls`] counts every attempt, including failed ones.
//! - **Audit**: every attempt of a mutating operation is sent to the [`CallRecorder`] with AWS's
//!   operation name, the resource id (when known), `ok` or the error code, and a fake request id
//!   (also set on every error the simulator returns).
//!
//! See the submodules for each service's semantics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::cloud::pacing;
use crate::cloud::{
    AliasRecord, CallCx, CallRecord, CallRecorder, CloudError, CloudErrorKind, CloudResult,
    Credentials, EndpointInfo, PeeringInfo, PeeringStatus, PrefixListInfo, RouteInfo, RouteTarget,
    SecurityGroupInfo, ZoneInfo, ZoneVpc,
};
use crate::domain::{
    AccountId, EndpointId, ExternalId, HostedZoneId, Ipv4Cidr, PeeringId, PrefixListId, Region,
    RoleArn, RouteTableId, SecurityGroupId, SubnetId, VpcId,
};

mod dns;
mod endpoints;
mod firewall;
mod network;
mod profiles;
#[cfg(test)]
mod tests;
mod transit;

pub use endpoints::CATALOGUE;
pub use transit::SimAttachment;

// ---------------------------------------------------------------------------------------------
// Configuration, faults
// ---------------------------------------------------------------------------------------------

/// Quotas and switches of the simulator. `SimConfig::default()` has AWS's values (with the
/// peering quota raised to its adjustable maximum) and rate limits on.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Enforce the API rate limits (token buckets per account, region and operation for EC2,
    /// per account and per operation for Route 53). Default on.
    pub rate_limits: bool,
    /// Live (pending-acceptance, provisioning, active) peerings per VPC; checked on the
    /// requester VPC at create and on the accepter VPC at accept. Code
    /// `ActiveVpcPeeringConnectionPerVpcLimitExceeded`. Default 125 (AWS: 50, adjustable to 125).
    pub peerings_per_vpc: usize,
    /// Outstanding (pending-acceptance) peering requests per requester account and region
    /// (AWS: 25), code `OutstandingVpcPeeringConnectionLimitExceeded`. Default `None` (off).
    pub peering_outstanding_limit: Option<usize>,
    /// An accepted peering shows `provisioning` for this many reads (describes, by either side)
    /// before it becomes `active`. Default 0 (active at once).
    pub peering_provisioning_reads: u32,
    /// Routes per route table, `local` routes included. Default 500.
    pub routes_per_table: usize,
    /// Inbound rules per security group; a referenced prefix list counts as its `MaxEntries`.
    /// Default 1000 (AWS: 60, adjustable up to 1000).
    pub sg_inbound_rules: usize,
    /// Interface endpoints per VPC. Default 50.
    pub endpoints_per_vpc: usize,
    /// A new endpoint shows `pending` for this many reads before `available` (or `failed`,
    /// see [`SimCloud::endpoints_fail`]). Default 0.
    pub endpoint_pending_reads: u32,
    /// A deleted endpoint shows `deleting` for this many reads before `deleted`; its security
    /// group stays in use meanwhile. Default 0.
    pub endpoint_deleting_reads: u32,
    /// VPCs associated with one private hosted zone. Default 300.
    pub vpcs_per_zone: usize,
    /// Hosted zones per account. Default 500.
    pub zones_per_account: usize,
    /// Route 53 Profiles per account and region. Default 5 (AWS's default).
    pub profiles_per_account: usize,
    /// VPCs associated with one Profile. Default 1,000 (AWS's default, adjustable).
    pub vpcs_per_profile: usize,
    /// Resources (zones) associated with one Profile. Default 5,000.
    pub zones_per_profile: usize,
    /// A new Profile–VPC association, and a new zone in a Profile, reads `CREATING` in this
    /// many listings before `COMPLETE` (AWS associates asynchronously). Default 0.
    pub profile_association_creating_reads: u32,
    /// The accounts form one AWS Organization with RAM sharing enabled: a principal added to
    /// a share is `ASSOCIATED` at once, without an invitation. Default off (every account is
    /// external and must accept an invitation).
    pub ram_organization: bool,
    /// Transit Gateways per account and region (AWS: 5).
    pub tgws_per_account: usize,
    /// Attachments per Transit Gateway (AWS: 5,000).
    pub tgw_attachments_per_tgw: usize,
    /// Route tables per Transit Gateway (AWS: 20).
    pub tgw_route_tables_per_tgw: usize,
    /// Routes per Transit Gateway route table, propagated ones included (AWS: 10,000).
    pub tgw_routes_per_table: usize,
    /// A new gateway, and a VPC attachment once created (same account) or accepted, reads
    /// `pending` for this many describes before `available`. Default 0.
    pub tgw_pending_reads: u32,
    /// EC2's eventual consistency: a security group or prefix list just created answers
    /// NotFound (to reads by id or tag, and as a reference in another call) for this long.
    /// Default zero.
    pub propagation: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rate_limits: true,
            peerings_per_vpc: 125,
            peering_outstanding_limit: None,
            peering_provisioning_reads: 0,
            routes_per_table: 500,
            sg_inbound_rules: 1000,
            endpoints_per_vpc: 50,
            endpoint_pending_reads: 0,
            endpoint_deleting_reads: 0,
            vpcs_per_zone: 300,
            zones_per_account: 500,
            profiles_per_account: 5,
            vpcs_per_profile: 1000,
            zones_per_profile: 5000,
            profile_association_creating_reads: 0,
            ram_organization: false,
            tgws_per_account: 5,
            tgw_attachments_per_tgw: 5000,
            tgw_route_tables_per_tgw: 20,
            tgw_routes_per_table: 10_000,
            tgw_pending_reads: 0,
            propagation: Duration::ZERO,
        }
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Fails with the service's throttling error (`RequestLimitExceeded` for EC2, `Throttling`
    /// for Route 53 and STS), kind `Throttled`.
    Throttle,
    /// Fails with a server error (`InternalError` for EC2, `InternalFailure` for Route 53,
    /// `ServiceUnavailable` for STS), kind `Transient`.
    ServerError,
    /// Delays the call (tokio's clock), then lets it proceed.
    Latency(Duration),
    /// Blocks the calling thread, then lets the call proceed: the caller's whole process
    /// stalls (its heartbeats too), as in a long GC pause or a SIGSTOP.
    Freeze(Duration),
    /// The request is applied, its response lost, and the SDK sends it again: the caller gets
    /// the second answer (`HostedZoneAlreadyExists`, `InvalidGroup.Duplicate`, a second pending
    /// peering, `DuplicateTransitGatewayAttachment`). Applies to CreateHostedZone,
    /// CreateSecurityGroup, CreateVpcPeeringConnection and CreateTransitGatewayVpcAttachment.
    LostResponse,
}

/// An injected fault: `kind` applies to calls of `operation` (AWS's name, e.g. `CreateRoute`,
/// or `*` for every operation), from `account` if given, `count` times (or forever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub operation: String,
    pub kind: FaultKind,
    pub count: Option<usize>,
    pub account: Option<AccountId>,
}

impl Fault {
    /// A fault on every call of `operation` (`*` for all), from any account, until cleared.
    pub fn new(operation: impl Into<String>, kind: FaultKind) -> Fault {
        Fault {
            operation: operation.into(),
            kind,
            count: None,
            account: None,
        }
    }
    /// Only the next `n` matching calls.
    pub fn times(mut self, n: usize) -> Fault {
        self.count = Some(n);
        self
    }
    /// Only calls made in `account`.
    pub fn for_account(mut self, account: AccountId) -> Fault {
        self.account = Some(account);
        self
    }
    fn matches(&self, op: &str, account: &AccountId) -> bool {
        (self.operation == "*" || self.operation == op)
            && self.account.as_ref().is_none_or(|a| a == account)
            && self.count != Some(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Services and rate limits
// ---------------------------------------------------------------------------------------------

/// EC2's token bucket sizes by category. EC2 evaluates each API on its own ("each API is
/// evaluated individually, and you are throttled on the number of requests you make on a
/// per-API basis": the EC2 developer guide, "Request throttling for the Amazon EC2 API"): every
/// operation has a bucket of its category's size, per account and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ec2Bucket {
    NonMutating,
    Mutating,
    /// Peering create/accept/delete and security group authorize/revoke.
    PeeringSg,
    CreateVpcEndpoint,
}

impl Ec2Bucket {
    /// (burst capacity, refill per second)
    fn limits(self) -> (f64, f64) {
        match self {
            Ec2Bucket::NonMutating => (100.0, 20.0),
            Ec2Bucket::Mutating => (50.0, 5.0),
            Ec2Bucket::PeeringSg => (50.0, 5.0),
            Ec2Bucket::CreateVpcEndpoint => (4.0, 0.3),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Sts,
    Ec2(Ec2Bucket),
    Route53,
    /// Route 53 Profiles (`route53profiles`).
    Profiles,
    /// AWS RAM.
    Ram,
}

/// Route 53's published throttling: the buckets of [`crate::cloud::pacing`] (the same numbers
/// the pacer paces to), as (burst, per second). (The separate change-throughput bucket for
/// record changes is not modelled.)
const ROUTE53_ACCOUNT_LIMITS: (f64, f64) = (
    pacing::ROUTE53_ACCOUNT_LIMITS.burst,
    pacing::ROUTE53_ACCOUNT_LIMITS.per_second,
);

fn route53_operation_limits(op: &str) -> (f64, f64) {
    let limits = pacing::Route53Bucket::of_operation(op).limits();
    (limits.burst, limits.per_second)
}

const ROUTE53_OPERATIONS: &[&str] = &[
    "CreateHostedZone",
    "DeleteHostedZone",
    "GetHostedZone",
    "ListHostedZones",
    "ListHostedZonesByVPC",
    "ChangeResourceRecordSets",
    "ListResourceRecordSets",
    "CreateVPCAssociationAuthorization",
    "DeleteVPCAssociationAuthorization",
    "ListVPCAssociationAuthorizations",
    "AssociateVPCWithHostedZone",
    "DisassociateVPCFromHostedZone",
];

const PROFILES_OPERATIONS: &[&str] = &[
    "CreateProfile",
    "GetProfile",
    "ListProfiles",
    "DeleteProfile",
    "AssociateResourceToProfile",
    "DisassociateResourceFromProfile",
    "ListProfileResourceAssociations",
    "AssociateProfile",
    "DisassociateProfile",
    "ListProfileAssociations",
];

const RAM_OPERATIONS: &[&str] = &[
    "CreateResourceShare",
    "DeleteResourceShare",
    "GetResourceShares",
    "AssociateResourceShare",
    "DisassociateResourceShare",
    "GetResourceShareAssociations",
    "GetResourceShareInvitations",
    "AcceptResourceShareInvitation",
];

fn service_of(op: &str) -> Service {
    match op {
        "AssumeRole" => Service::Sts,
        op if PROFILES_OPERATIONS.contains(&op) => Service::Profiles,
        op if RAM_OPERATIONS.contains(&op) => Service::Ram,
        "CreateVpcPeeringConnection"
        | "AcceptVpcPeeringConnection"
        | "DeleteVpcPeeringConnection"
        | "AuthorizeSecurityGroupIngress"
        | "RevokeSecurityGroupIngress" => Service::Ec2(Ec2Bucket::PeeringSg),
        "CreateVpcEndpoint" => Service::Ec2(Ec2Bucket::CreateVpcEndpoint),
        op if ROUTE53_OPERATIONS.contains(&op) => Service::Route53,
        op if op.starts_with("Describe") || op.starts_with("Get") || op.starts_with("Search") => {
            Service::Ec2(Ec2Bucket::NonMutating)
        }
        _ => Service::Ec2(Ec2Bucket::Mutating),
    }
}

fn throttle_error(op: &str) -> CloudError {
    match service_of(op) {
        Service::Ec2(_) => CloudError::new(
            CloudErrorKind::Throttled,
            op,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        Service::Route53 | Service::Sts => {
            CloudError::new(CloudErrorKind::Throttled, op, "Throttling", "Rate exceeded")
        }
        Service::Profiles | Service::Ram => CloudError::new(
            CloudErrorKind::Throttled,
            op,
            "ThrottlingException",
            "Rate exceeded",
        ),
    }
}

fn server_error(op: &str) -> CloudError {
    let (code, message) = match service_of(op) {
        Service::Ec2(_) => (
            "InternalError",
            "An internal error has occurred. Please try again.",
        ),
        Service::Route53 => ("InternalFailure", "An internal failure occurred."),
        Service::Sts => ("ServiceUnavailable", "Service is unavailable."),
        Service::Profiles => (
            "InternalServiceErrorException",
            "An internal server error occurred.",
        ),
        Service::Ram => (
            "ServerInternalException",
            "An internal server error occurred.",
        ),
    };
    CloudError::new(CloudErrorKind::Transient, op, code, message)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketKey {
    /// EC2 evaluates each API on its own (per account and region), with the bucket sizes of
    /// its category.
    Ec2(AccountId, Region, &'static str),
    Route53(AccountId),
    Route53Operation(AccountId, &'static str),
}

/// A token bucket on tokio's clock (so tests with paused time work).
#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    fn new((capacity, per_second): (f64, f64), now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            capacity,
            per_second,
            last: now,
        }
    }

    /// Takes one token if there is one.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Operations whose calls go to the [`CallRecorder`].
const MUTATING_OPERATIONS: &[&str] = &[
    "CreateVpcPeeringConnection",
    "AcceptVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "CreateRoute",
    "DeleteRoute",
    "CreateManagedPrefixList",
    "ModifyManagedPrefixList",
    "DeleteManagedPrefixList",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "DeleteSecurityGroup",
    "CreateVpcEndpoint",
    "DeleteVpcEndpoints",
    "CreateHostedZone",
    "DeleteHostedZone",
    "ChangeResourceRecordSets",
    "CreateVPCAssociationAuthorization",
    "DeleteVPCAssociationAuthorization",
    "AssociateVPCWithHostedZone",
    "DisassociateVPCFromHostedZone",
    "CreateProfile",
    "DeleteProfile",
    "AssociateResourceToProfile",
    "DisassociateResourceFromProfile",
    "AssociateProfile",
    "DisassociateProfile",
    "CreateResourceShare",
    "DeleteResourceShare",
    "AssociateResourceShare",
    "DisassociateResourceShare",
    "AcceptResourceShareInvitation",
    "CreateTransitGateway",
    "DeleteTransitGateway",
    "CreateTransitGatewayRouteTable",
    "DeleteTransitGatewayRouteTable",
    "CreateTransitGatewayVpcAttachment",
    "AcceptTransitGatewayVpcAttachment",
    "DeleteTransitGatewayVpcAttachment",
    "AssociateTransitGatewayRouteTable",
    "EnableTransitGatewayRouteTablePropagation",
];

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Vpc {
    id: VpcId,
    account: AccountId,
    region: Region,
    cidrs: Vec<Ipv4Cidr>,
    /// Main table first.
    tables: Vec<RouteTableId>,
    dns_support: bool,
    dns_hostnames: bool,
}

#[derive(Debug, Clone)]
struct Subnet {
    id: SubnetId,
    vpc: VpcId,
    account: AccountId,
    region: Region,
    availability_zone: String,
}

#[derive(Debug, Clone)]
struct Table {
    vpc: VpcId,
    account: AccountId,
    region: Region,
    routes: Vec<(Ipv4Cidr, RouteTarget)>,
    /// Routes whose destination is a managed prefix list.
    pl_routes: Vec<(PrefixListId, RouteTarget)>,
    /// An edge association with an internet or virtual private gateway.
    gateway: Option<String>,
}

#[derive(Debug, Clone)]
struct Peering {
    id: PeeringId,
    status: PeeringStatus,
    message: Option<String>,
    requester_vpc: VpcId,
    requester_owner: AccountId,
    requester_region: Region,
    accepter_vpc: VpcId,
    accepter_owner: AccountId,
    accepter_region: Region,
    owner_tag: String,
    /// Reads left showing `provisioning`.
    provisioning_left: u32,
}

#[derive(Debug, Clone)]
struct PrefixList {
    id: PrefixListId,
    name: String,
    account: AccountId,
    region: Region,
    version: i64,
    max_entries: i32,
    entries: Vec<Ipv4Cidr>,
    owner_tag: String,
    /// Eventual consistency: reads and references answer NotFound before this.
    visible_at: std::time::Instant,
}

#[derive(Debug, Clone)]
struct SecurityGroup {
    id: SecurityGroupId,
    account: AccountId,
    region: Region,
    vpc: VpcId,
    name: String,
    owner_tag: String,
    /// Ingress rules: (TCP port, prefix list).
    ingress: Vec<(u16, PrefixListId)>,
    /// Eventual consistency: reads and references answer NotFound before this.
    visible_at: std::time::Instant,
}

#[derive(Debug, Clone)]
struct Endpoint {
    id: EndpointId,
    account: AccountId,
    region: Region,
    vpc: VpcId,
    service_name: String,
    state: String,
    /// Set when the endpoint is to end (or has ended) `failed`.
    last_error: Option<String>,
    dns_entries: Vec<crate::cloud::DnsEntry>,
    subnets: Vec<SubnetId>,
    security_group: SecurityGroupId,
    owner_tag: String,
    pending_left: u32,
    deleting_left: u32,
}

#[derive(Debug, Clone)]
struct Zone {
    id: HostedZoneId,
    owner: AccountId,
    name: String,
    caller_reference: String,
    vpcs: Vec<ZoneVpc>,
    records: Vec<AliasRecord>,
    authorizations: Vec<ZoneVpc>,
}

#[derive(Default)]
struct State {
    seq: u64,
    calls: HashMap<String, usize>,
    calls_total: usize,
    /// Calls by (account, operation).
    account_calls: HashMap<(AccountId, &'static str), usize>,
    denied: HashSet<RoleArn>,
    external_ids: HashMap<RoleArn, ExternalId>,
    faults: Vec<Fault>,
    failures: Vec<(String, usize, CloudError)>,
    /// (service short name, count): endpoints to create `failed`.
    endpoint_failures: Vec<(String, usize)>,
    buckets: HashMap<BucketKey, TokenBucket>,
    /// Requests refused by the rate limits, by operation.
    rate_limited: HashMap<&'static str, usize>,
    vpcs: BTreeMap<VpcId, Vpc>,
    subnets: BTreeMap<SubnetId, Subnet>,
    tables: BTreeMap<RouteTableId, Table>,
    peerings: BTreeMap<PeeringId, Peering>,
    prefix_lists: BTreeMap<PrefixListId, PrefixList>,
    security_groups: BTreeMap<SecurityGroupId, SecurityGroup>,
    endpoints: BTreeMap<EndpointId, Endpoint>,
    /// In creation order.
    zones: Vec<Zone>,
    /// Every (account, caller reference) ever used: Route 53 never takes one twice, even after
    /// the zone is deleted.
    caller_references: std::collections::BTreeSet<(AccountId, String)>,
    profiles: Vec<profiles::Profile>,
    profile_vpcs: Vec<profiles::ProfileVpc>,
    shares: Vec<profiles::Share>,
    invitations: Vec<profiles::Invitation>,
    tgws: BTreeMap<crate::domain::TransitGatewayId, transit::Tgw>,
    tgw_tables: BTreeMap<crate::domain::TgwRouteTableId, transit::TgwTable>,
    tgw_attachments: BTreeMap<crate::domain::TgwAttachmentId, transit::TgwAttachment>,
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl State {
    fn random(&mut self) -> u64 {
        self.seq += 1;
        splitmix64(self.seq)
    }

    /// `prefix-` and 17 lowercase hex digits.
    fn ec2_id(&mut self, prefix: &str) -> String {
        let a = self.random();
        let b = self.random();
        format!("{prefix}-{a:016x}{:x}", b & 0xf)
    }

    /// 8 lowercase hex digits.
    fn hex8(&mut self) -> String {
        format!("{:08x}", self.random() & 0xffff_ffff)
    }

    /// `Z` and 20 upper-case hex digits.
    fn zone_id(&mut self) -> HostedZoneId {
        let a = self.random();
        let b = self.random();
        format!("Z{a:016X}{:04X}", b & 0xffff)
            .parse()
            .expect("generated zone id")
    }

    fn request_id(&mut self) -> String {
        let a = self.random();
        let b = self.random();
        Uuid::from_u64_pair(a, b).to_string()
    }

    fn vpc_in(&self, account: &AccountId, region: &Region, id: &VpcId) -> Option<&Vpc> {
        self.vpcs
            .get(id)
            .filter(|v| &v.account == account && &v.region == region)
    }

    fn role_check(&self, cx: &CallCx) -> CloudResult<()> {
        let denied = |why: String| {
            CloudError::new(
                CloudErrorKind::AccessDenied,
                "AssumeRole",
                "AccessDenied",
                format!("cannot assume {}: AccessDenied: {why}", cx.role),
            )
        };
        let role_account = cx.role.account();
        if role_account != cx.account {
            return Err(denied(format!(
                "the role is in account {role_account}, not in {}",
                cx.account
            )));
        }
        if self.denied.contains(&cx.role) {
            return Err(denied(format!(
                "endpoint-hub is not authorized to perform: sts:AssumeRole on resource: {}",
                cx.role
            )));
        }
        if let Some(required) = self.external_ids.get(&cx.role)
            && cx.external_id.as_ref() != Some(required)
        {
            return Err(denied(format!(
                "endpoint-hub is not authorized to perform: sts:AssumeRole on resource: {} \
                 (the external id does not match the role's trust policy)",
                cx.role
            )));
        }
        Ok(())
    }

    /// Total injected latency for this call (consuming the faults' counts), and whether it
    /// blocks the thread.
    fn injected_latency(&mut self, op: &str, account: &AccountId) -> (Duration, bool) {
        let mut total = Duration::ZERO;
        let freeze = self
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Freeze(_)) && f.matches(op, account));
        for fault in &mut self.faults {
            if let FaultKind::Latency(d) | FaultKind::Freeze(d) = fault.kind
                && fault.matches(op, account)
            {
                total += d;
                if let Some(n) = &mut fault.count {
                    *n -= 1;
                }
            }
        }
        self.faults.retain(|f| f.count != Some(0));
        (total, freeze)
    }

    /// Whether this call's response is lost (consuming the fault's count).
    fn response_lost(&mut self, op: &str, account: &AccountId) -> bool {
        let hit = self
            .faults
            .iter_mut()
            .find(|f| f.kind == FaultKind::LostResponse && f.matches(op, account));
        let Some(fault) = hit else {
            return false;
        };
        if let Some(n) = &mut fault.count {
            *n -= 1;
        }
        self.faults.retain(|f| f.count != Some(0));
        true
    }

    /// The first injected error for this call, if any (consuming its count).
    fn injected_error(&mut self, op: &str, account: &AccountId) -> CloudResult<()> {
        let hit = self.faults.iter_mut().find(|f| {
            matches!(f.kind, FaultKind::Throttle | FaultKind::ServerError) && f.matches(op, account)
        });
        if let Some(fault) = hit {
            if let Some(n) = &mut fault.count {
                *n -= 1;
            }
            let error = match fault.kind {
                FaultKind::Throttle => throttle_error(op),
                _ => server_error(op),
            };
            self.faults.retain(|f| f.count != Some(0));
            return Err(error);
        }
        if let Some(i) = self.failures.iter().position(|(o, n, _)| o == op && *n > 0) {
            let failure = &mut self.failures[i];
            failure.1 -= 1;
            let error = failure.2.clone();
            if failure.1 == 0 {
                self.failures.remove(i);
            }
            return Err(error);
        }
        Ok(())
    }

    fn rate_limit(&mut self, op: &'static str, cx: &CallCx) -> CloudResult<()> {
        let (key, limits) = match service_of(op) {
            // Neither publishes per-operation request rates (see the module documentation).
            Service::Sts | Service::Profiles | Service::Ram => return Ok(()),
            Service::Ec2(bucket) => (
                BucketKey::Ec2(cx.account.clone(), cx.region.clone(), op),
                bucket.limits(),
            ),
            Service::Route53 => return self.route53_rate_limit(op, cx),
        };
        let now = Instant::now();
        let bucket = self
            .buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(limits, now));
        if bucket.take(now) {
            Ok(())
        } else {
            *self.rate_limited.entry(op).or_default() += 1;
            Err(throttle_error(op))
        }
    }

    /// A token from the account's bucket and from the operation's, or `Throttling`.
    fn route53_rate_limit(&mut self, op: &'static str, cx: &CallCx) -> CloudResult<()> {
        let now = Instant::now();
        let keys = [
            (
                BucketKey::Route53(cx.account.clone()),
                ROUTE53_ACCOUNT_LIMITS,
            ),
            (
                BucketKey::Route53Operation(cx.account.clone(), op),
                route53_operation_limits(op),
            ),
        ];
        for (key, limits) in &keys {
            let bucket = self
                .buckets
                .entry(key.clone())
                .or_insert_with(|| TokenBucket::new(*limits, now));
            bucket.refill(now);
            if bucket.tokens < 1.0 {
                *self.rate_limited.entry(op).or_default() += 1;
                return Err(throttle_error(op));
            }
        }
        for (key, _) in &keys {
            if let Some(b) = self.buckets.get_mut(key) {
                b.tokens -= 1.0;
            }
        }
        Ok(())
    }
}

/// Shorthand for an error of the simulated services.
fn fail<T>(
    kind: CloudErrorKind,
    op: &str,
    code: &str,
    message: impl Into<String>,
) -> CloudResult<T> {
    Err(CloudError::new(kind, op, code, message))
}

/// The resource a mutating call acted on, for the audit.
trait ResourceId {
    fn resource_id(&self) -> Option<String>;
}

impl ResourceId for () {
    fn resource_id(&self) -> Option<String> {
        None
    }
}
impl ResourceId for PeeringInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for PrefixListInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for SecurityGroupInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for EndpointInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for crate::cloud::ProfileInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for crate::cloud::ShareInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.arn.clone())
    }
}
impl ResourceId for crate::cloud::TransitGatewayInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for crate::cloud::TgwRouteTableInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for crate::cloud::TgwAttachmentInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
impl ResourceId for ZoneInfo {
    fn resource_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// SimCloud
// ---------------------------------------------------------------------------------------------

/// The simulated cloud. See the module documentation.
pub struct SimCloud {
    config: SimConfig,
    recorder: Arc<dyn CallRecorder>,
    state: Mutex<State>,
}

impl SimCloud {
    pub fn new(config: SimConfig, recorder: Arc<dyn CallRecorder>) -> SimCloud {
        SimCloud {
            config,
            recorder,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one call: count, latency, role, injected errors, rate limit, then `f` under the lock.
    /// Returns the result (errors carry the request id) and the request id.
    async fn exec<T>(
        &self,
        cx: &CallCx,
        op: &'static str,
        f: impl FnOnce(&mut State) -> CloudResult<T>,
    ) -> (CloudResult<T>, String) {
        let (delay, freeze) = {
            let mut s = self.lock();
            *s.calls.entry(op.to_owned()).or_default() += 1;
            *s.account_calls.entry((cx.account.clone(), op)).or_default() += 1;
            s.calls_total += 1;
            s.injected_latency(op, &cx.account)
        };
        if freeze {
            std::thread::sleep(delay);
        } else if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (result, request_id) = {
            let mut s = self.lock();
            let request_id = s.request_id();
            let result = s
                .role_check(cx)
                .and_then(|()| s.injected_error(op, &cx.account))
                .and_then(|()| {
                    if self.config.rate_limits {
                        s.rate_limit(op, cx)
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| f(&mut s));
            (result, request_id)
        };
        let result = result.map_err(|mut e| {
            if e.request_id.is_none() {
                e.request_id = Some(request_id.clone());
            }
            e
        });
        (result, request_id)
    }

    /// A non-mutating call.
    async fn read<T>(
        &self,
        cx: &CallCx,
        op: &'static str,
        f: impl FnOnce(&mut State) -> CloudResult<T>,
    ) -> CloudResult<T> {
        debug_assert!(!MUTATING_OPERATIONS.contains(&op));
        self.exec(cx, op, f).await.0
    }

    /// A mutating call, recorded. `resource` names the resource acted on when the result does
    /// not (or the call fails).
    async fn write<T: ResourceId>(
        &self,
        cx: &CallCx,
        op: &'static str,
        resource: Option<String>,
        f: impl FnOnce(&mut State) -> CloudResult<T>,
    ) -> CloudResult<T> {
        debug_assert!(
            MUTATING_OPERATIONS.contains(&op),
            "{op} is not listed as mutating"
        );
        let (result, request_id) = self.exec(cx, op, f).await;
        let (outcome, resource_id) = match &result {
            Ok(v) => ("ok".to_owned(), v.resource_id().or(resource)),
            Err(e) => (e.code.clone(), resource),
        };
        self.recorder
            .record(CallRecord {
                account: cx.account.clone(),
                region: cx.region.clone(),
                operation: op,
                resource_id,
                outcome,
                request_id: Some(request_id),
                job_id: cx.job_id,
            })
            .await;
        result
    }

    // -----------------------------------------------------------------------------------------
    // Test helpers
    // -----------------------------------------------------------------------------------------

    /// Creates an `available` VPC with `cidrs` in `account`/`region`, `subnet_count` subnets (one
    /// per zone `<region>a`, `b`, `c`, cycling) and `subnet_count + 1` route tables: the main
    /// table first, then one per subnet. Every table holds a `local` route per VPC CIDR.
    pub fn vpc_add(
        &self,
        account: &AccountId,
        region: &Region,
        cidrs: &[Ipv4Cidr],
        subnet_count: usize,
    ) -> (VpcId, Vec<SubnetId>, Vec<RouteTableId>) {
        let mut s = self.lock();
        let vpc_id: VpcId = s.ec2_id("vpc").parse().expect("generated vpc id");
        let mut subnets = Vec::new();
        let mut tables = Vec::new();
        for _ in 0..=subnet_count {
            let id: RouteTableId = s.ec2_id("rtb").parse().expect("generated rtb id");
            s.tables.insert(
                id.clone(),
                Table {
                    vpc: vpc_id.clone(),
                    account: account.clone(),
                    region: region.clone(),
                    routes: cidrs
                        .iter()
                        .map(|c| (*c, RouteTarget::Other("local".to_owned())))
                        .collect(),
                    pl_routes: Vec::new(),
                    gateway: None,
                },
            );
            tables.push(id);
        }
        for i in 0..subnet_count {
            let id: SubnetId = s.ec2_id("subnet").parse().expect("generated subnet id");
            let zone = ['a', 'b', 'c'][i % 3];
            s.subnets.insert(
                id.clone(),
                Subnet {
                    id: id.clone(),
                    vpc: vpc_id.clone(),
                    account: account.clone(),
                    region: region.clone(),
                    availability_zone: format!("{region}{zone}"),
                },
            );
            subnets.push(id);
        }
        s.vpcs.insert(
            vpc_id.clone(),
            Vpc {
                id: vpc_id.clone(),
                account: account.clone(),
                region: region.clone(),
                cidrs: cidrs.to_vec(),
                tables: tables.clone(),
                // As account vending and the console's VPC wizard make them (CreateVpc alone
                // leaves DNS hostnames off: see `vpc_dns_set`).
                dns_support: true,
                dns_hostnames: true,
            },
        );
        (vpc_id, subnets, tables)
    }

    /// Associates another IPv4 CIDR block with a VPC (AssociateVpcCidrBlock), with its
    /// `local` route in every table of the VPC.
    pub fn vpc_cidr_add(&self, vpc: &VpcId, cidr: Ipv4Cidr) {
        let mut s = self.lock();
        let Some(v) = s.vpcs.get_mut(vpc) else {
            return;
        };
        v.cidrs.push(cidr);
        let tables = v.tables.clone();
        for t in tables {
            if let Some(table) = s.tables.get_mut(&t) {
                table
                    .routes
                    .push((cidr, RouteTarget::Other("local".to_owned())));
            }
        }
    }

    /// Adds a gateway route table to a VPC: associated with `gateway` (an internet or virtual
    /// private gateway) by an edge association, no subnet. Returns its id.
    pub fn gateway_table_add(&self, vpc: &VpcId, gateway: &str) -> RouteTableId {
        let mut s = self.lock();
        let id: RouteTableId = s.ec2_id("rtb").parse().expect("generated rtb id");
        let v = s.vpcs.get(vpc).expect("vpc_add made it").clone();
        s.tables.insert(
            id.clone(),
            Table {
                vpc: v.id.clone(),
                account: v.account.clone(),
                region: v.region.clone(),
                routes: v
                    .cidrs
                    .iter()
                    .map(|c| (*c, RouteTarget::Other("local".to_owned())))
                    .collect(),
                pl_routes: Vec::new(),
                gateway: Some(gateway.to_owned()),
            },
        );
        s.vpcs
            .get_mut(vpc)
            .expect("checked")
            .tables
            .push(id.clone());
        id
    }

    /// Sets a VPC's `enableDnsSupport` and `enableDnsHostnames` (ModifyVpcAttribute).
    pub fn vpc_dns_set(&self, vpc: &VpcId, support: bool, hostnames: bool) {
        if let Some(v) = self.lock().vpcs.get_mut(vpc) {
            v.dns_support = support;
            v.dns_hostnames = hostnames;
        }
    }

    /// After a successful create: whether a `LostResponse` fault makes the SDK send it again.
    pub(super) fn resend(&self, op: &str, cx: &CallCx) -> bool {
        self.lock().response_lost(op, &cx.account)
    }

    /// Makes AssumeRole of `role` (and so every call made with it) fail with `AccessDenied`.
    pub fn role_deny(&self, role: &RoleArn) {
        self.lock().denied.insert(role.clone());
    }

    /// Undoes [`SimCloud::role_deny`].
    pub fn role_allow(&self, role: &RoleArn) {
        self.lock().denied.remove(role);
    }

    /// Makes AssumeRole of `role` fail with `AccessDenied` unless `cx.external_id` is `id`.
    pub fn external_id_require(&self, role: &RoleArn, id: &ExternalId) {
        self.lock().external_ids.insert(role.clone(), id.clone());
    }

    /// Plants a route to `destination` via a non-peering `target` (`igw-...`, `tgw-...`),
    /// replacing any route to that destination. Panics if `account` does not own `table`.
    pub fn route_put_other(
        &self,
        account: &AccountId,
        table: &RouteTableId,
        destination: &Ipv4Cidr,
        target: &str,
    ) {
        let mut s = self.lock();
        let t = s
            .tables
            .get_mut(table)
            .filter(|t| &t.account == account)
            .unwrap_or_else(|| panic!("route table {table} is not in account {account}"));
        t.routes.retain(|(d, _)| d != destination);
        t.routes
            .push((*destination, RouteTarget::Other(target.to_owned())));
    }

    /// Drift, as someone acting in the account by hand would make it: deletes a route.
    pub fn drift_route_delete(&self, table: &RouteTableId, destination: &Ipv4Cidr) {
        let mut s = self.lock();
        let t = s
            .tables
            .get_mut(table)
            .unwrap_or_else(|| panic!("no route table {table}"));
        t.routes.retain(|(d, _)| d != destination);
    }

    /// Drift: removes an entry of a prefix list (its version moves on, as AWS's does).
    pub fn drift_prefix_list_entry_remove(&self, id: &PrefixListId, cidr: &Ipv4Cidr) {
        let mut s = self.lock();
        let pl = s
            .prefix_lists
            .get_mut(id)
            .unwrap_or_else(|| panic!("no prefix list {id}"));
        pl.entries.retain(|c| c != cidr);
        pl.version += 1;
    }

    /// Drift: adds an entry to a prefix list.
    pub fn drift_prefix_list_entry_add(&self, id: &PrefixListId, cidr: Ipv4Cidr) {
        let mut s = self.lock();
        let pl = s
            .prefix_lists
            .get_mut(id)
            .unwrap_or_else(|| panic!("no prefix list {id}"));
        pl.entries.push(cidr);
        pl.version += 1;
    }

    /// Drift: disassociates a VPC from a zone.
    pub fn drift_zone_disassociate(&self, zone: &HostedZoneId, vpc: &VpcId) {
        let mut s = self.lock();
        let z = s
            .zones
            .iter_mut()
            .find(|z| &z.id == zone)
            .unwrap_or_else(|| panic!("no zone {zone}"));
        z.vpcs.retain(|v| &v.vpc_id != vpc);
    }

    /// Drift: a zone deleted by hand (its caller reference stays spent, as in Route 53).
    pub fn drift_zone_delete(&self, zone: &HostedZoneId) {
        let mut s = self.lock();
        s.zones.retain(|z| &z.id != zone);
    }

    /// Drift: an association authorization left behind.
    pub fn drift_authorization_add(&self, zone: &HostedZoneId, vpc: ZoneVpc) {
        let mut s = self.lock();
        let z = s
            .zones
            .iter_mut()
            .find(|z| &z.id == zone)
            .unwrap_or_else(|| panic!("no zone {zone}"));
        z.authorizations.push(vpc);
    }

    /// Drift: an endpoint deleted by hand (gone at once).
    pub fn drift_endpoint_delete(&self, id: &EndpointId) {
        let mut s = self.lock();
        let e = s
            .endpoints
            .get_mut(id)
            .unwrap_or_else(|| panic!("no endpoint {id}"));
        e.state = "deleted".into();
    }

    /// Drift: an ingress rule of a security group revoked by hand.
    pub fn drift_ingress_revoke(&self, sg: &SecurityGroupId, port: u16) {
        let mut s = self.lock();
        let g = s
            .security_groups
            .get_mut(sg)
            .unwrap_or_else(|| panic!("no security group {sg}"));
        g.ingress.retain(|(p, _)| *p != port);
    }

    /// Forces a peering's status (e.g. `Rejected`, `Expired`) and message. Panics if missing.
    pub fn peering_set_status(&self, id: &PeeringId, status: PeeringStatus, message: Option<&str>) {
        let mut s = self.lock();
        let p = s
            .peerings
            .get_mut(id)
            .unwrap_or_else(|| panic!("no peering {id}"));
        p.status = status;
        p.message = message.map(str::to_owned);
        p.provisioning_left = 0;
    }

    /// Makes the next `n` endpoints created for the service `short` (`sqs`) end `failed` (after
    /// their `pending` reads) with a `LastError`, as AWS reports an endpoint it could not make.
    pub fn endpoints_fail(&self, short: &str, n: usize) {
        if n > 0 {
            self.lock().endpoint_failures.push((short.to_owned(), n));
        }
    }

    /// Adds a fault (see [`Fault`]); faults apply in the order added.
    pub fn fault_inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every injected fault and pending [`SimCloud::fail_operation`] failure.
    pub fn faults_clear(&self) {
        let mut s = self.lock();
        s.faults.clear();
        s.failures.clear();
    }

    /// Makes the next `n` calls of `operation` fail with `error` (its request id is filled in
    /// when empty). Checked after the [`Fault`]s.
    pub fn fail_operation(&self, operation: &str, n: usize, error: CloudError) {
        if n > 0 {
            self.lock().failures.push((operation.to_owned(), n, error));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Introspection (no side effects: reads here do not advance `provisioning`/`pending`)
    // -----------------------------------------------------------------------------------------

    /// Calls (attempts, failed ones included) of an operation, by AWS's name.
    pub fn calls(&self, operation: &str) -> usize {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// Calls of every operation.
    pub fn calls_total(&self) -> usize {
        self.lock().calls_total
    }

    /// Route 53 calls (attempts) made in `account`, every operation together.
    pub fn route53_calls_in(&self, account: &AccountId) -> usize {
        self.lock()
            .account_calls
            .iter()
            .filter(|((a, op), _)| a == account && ROUTE53_OPERATIONS.contains(op))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests of `operation` refused by the rate limits (token buckets, not injected faults).
    pub fn rate_limited(&self, operation: &str) -> usize {
        self.lock()
            .rate_limited
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Requests refused by the rate limits, every operation together.
    pub fn rate_limited_total(&self) -> usize {
        self.lock().rate_limited.values().sum()
    }

    /// Route 53 requests refused by the rate limits, every operation together.
    pub fn route53_rate_limited(&self) -> usize {
        let state = self.lock();
        ROUTE53_OPERATIONS
            .iter()
            .map(|op| state.rate_limited.get(op).copied().unwrap_or(0))
            .sum()
    }

    /// Every peering, any state, with its tag.
    pub fn peerings(&self) -> Vec<PeeringInfo> {
        self.lock()
            .peerings
            .values()
            .map(|p| p.info(None))
            .collect()
    }

    /// One peering, with its tag.
    pub fn peering(&self, id: &PeeringId) -> Option<PeeringInfo> {
        self.lock().peerings.get(id).map(|p| p.info(None))
    }

    /// The routes of a table (empty if there is no such table).
    /// The route tables of a VPC that its subnets use (gateway route tables left out).
    pub fn route_tables_of(&self, vpc: &VpcId) -> Vec<RouteTableId> {
        let s = self.lock();
        s.tables
            .iter()
            .filter(|(_, t)| &t.vpc == vpc && t.gateway.is_none())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn routes(&self, table: &RouteTableId) -> Vec<RouteInfo> {
        let s = self.lock();
        s.tables
            .get(table)
            .map(|t| s.route_infos(t))
            .unwrap_or_default()
    }

    /// A VPC's subnets, by id.
    pub fn subnets_of(&self, vpc: &VpcId) -> Vec<SubnetId> {
        self.lock()
            .subnets
            .values()
            .filter(|n| &n.vpc == vpc)
            .map(|n| n.id.clone())
            .collect()
    }

    /// A table's routes to managed prefix lists: (list, target).
    pub fn prefix_list_routes_of(&self, table: &RouteTableId) -> Vec<(PrefixListId, RouteTarget)> {
        self.lock()
            .tables
            .get(table)
            .map(|t| t.pl_routes.clone())
            .unwrap_or_default()
    }

    /// Every prefix list.
    pub fn prefix_lists(&self) -> Vec<PrefixListInfo> {
        self.lock()
            .prefix_lists
            .values()
            .map(PrefixList::info)
            .collect()
    }

    /// The entries of a prefix list (empty if there is no such list).
    pub fn prefix_list_entries(&self, id: &PrefixListId) -> Vec<Ipv4Cidr> {
        self.lock()
            .prefix_lists
            .get(id)
            .map(|p| p.entries.clone())
            .unwrap_or_default()
    }

    /// Every security group.
    pub fn security_groups(&self) -> Vec<SecurityGroupInfo> {
        self.lock()
            .security_groups
            .values()
            .map(SecurityGroup::info)
            .collect()
    }

    /// Every endpoint, deleted ones included.
    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        self.lock().endpoints.values().map(Endpoint::info).collect()
    }

    /// The availability zones of an endpoint's subnets (empty if there is no such endpoint).
    pub fn endpoint_zones(&self, id: &EndpointId) -> Vec<String> {
        let s = self.lock();
        let Some(e) = s.endpoints.get(id) else {
            return Vec::new();
        };
        e.subnets
            .iter()
            .filter_map(|n| s.subnets.get(n).map(|n| n.availability_zone.clone()))
            .collect()
    }

    /// Every hosted zone, in creation order.
    pub fn zones(&self) -> Vec<ZoneInfo> {
        self.lock().zones.iter().map(Zone::info).collect()
    }

    /// The VPCs associated with a zone (empty if there is no such zone).
    pub fn zone_vpcs(&self, zone: &HostedZoneId) -> Vec<ZoneVpc> {
        self.lock()
            .zones
            .iter()
            .find(|z| &z.id == zone)
            .map(|z| z.vpcs.clone())
            .unwrap_or_default()
    }

    /// The alias records of a zone (empty if there is no such zone).
    pub fn zone_records(&self, zone: &HostedZoneId) -> Vec<AliasRecord> {
        self.lock()
            .zones
            .iter()
            .find(|z| &z.id == zone)
            .map(|z| z.records.clone())
            .unwrap_or_default()
    }

    /// Every outstanding VPC association authorization, by zone.
    pub fn authorizations(&self) -> Vec<(HostedZoneId, ZoneVpc)> {
        self.lock()
            .zones
            .iter()
            .flat_map(|z| z.authorizations.iter().map(|a| (z.id.clone(), a.clone())))
            .collect()
    }
}

#[async_trait::async_trait]
impl Credentials for SimCloud {
    /// `AssumeRole`: the role must live in `cx.account`, not be denied, and get the external id
    /// it requires; the credentials then act in `cx.account`.
    async fn caller_account(&self, cx: &CallCx) -> CloudResult<AccountId> {
        self.read(cx, "AssumeRole", |_| Ok(cx.account.clone()))
            .await
    }
}
