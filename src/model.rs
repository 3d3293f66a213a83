//! The records the service keeps (hubs, spokes, jobs, audit entries) as the application layer
//! hands them out. The store builds them from rows; the HTTP layer serialises them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{
    AccountId, EndpointId, ExternalId, HostedZoneId, HubName, Ipv4Cidr, PeeringId, PrefixListId,
    ProfileId, Region, RoleArn, RouteTableId, SecurityGroupId, ServiceName, SubnetId,
    TgwAttachmentId, TgwRouteTableId, TransitGatewayId, VpcId,
};

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err(format!(
                        "'{s}' is not one of: {}",
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        // Stored as TEXT (the database CHECKs the same list of values).
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
            fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }
        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(s.parse::<$name>()?)
            }
        }
    };
}

str_enum!(
    /// Lifecycle of a hub.
    HubStatus {
        Provisioning => "provisioning",
        Ready => "ready",
        Updating => "updating",
        Failed => "failed",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);

str_enum!(
    /// Lifecycle of a spoke: pending -> attaching -> attached, or failed; detaching -> detached.
    SpokeStatus {
        Pending => "pending",
        Attaching => "attaching",
        Attached => "attached",
        Failed => "failed",
        Detaching => "detaching",
        Detached => "detached",
    }
);

impl SpokeStatus {
    /// The statuses an attach job moves between; a spoke outside them (being detached) is not
    /// touched by its attach job.
    pub const ATTACH_PHASES: &'static [SpokeStatus] = &[
        SpokeStatus::Pending,
        SpokeStatus::Attaching,
        SpokeStatus::Failed,
    ];
}

str_enum!(
    /// What a job does.
    JobKind {
        ProvisionHub => "provision_hub",
        UpdateHubServices => "update_hub_services",
        DeleteHub => "delete_hub",
        AttachSpoke => "attach_spoke",
        DetachSpoke => "detach_spoke",
        ReconcileHub => "reconcile_hub",
        ReconcileSpoke => "reconcile_spoke",
    }
);

str_enum!(
    /// What a reconcile of a hub does with the differences it finds: `repair` what is ours
    /// (the default), or `detect` them only.
    ReconcileMode {
        Repair => "repair",
        Detect => "detect",
    }
);

str_enum!(
    /// How spoke VPCs resolve the hub's private DNS names. `zones` (the default): every spoke
    /// VPC is associated with every hub zone (three Route 53 calls per zone per spoke, at most
    /// 300 VPCs per zone). `profile`: the zones are in one Route 53 Profile, shared with the
    /// spoke accounts through AWS RAM, and each spoke VPC is associated with the Profile once
    /// (at most 1,000 VPCs per Profile by default).
    DnsMode {
        Zones => "zones",
        Profile => "profile",
    }
);

str_enum!(
    /// How spoke VPCs reach the hub VPC. `peering` (the default): one VPC peering per spoke
    /// (at most 125 per VPC). `transit_gateway`: the hub VPC and each spoke VPC are attached to
    /// one Transit Gateway of the hub account, shared with the spoke accounts through AWS RAM
    /// (at most 5,000 attachments per gateway).
    NetworkMode {
        Peering => "peering",
        TransitGateway => "transit_gateway",
    }
);

/// What a hub in `transit_gateway` network mode uses and made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct HubTransit {
    /// The Transit Gateway (given at registration, or made by provisioning; null until then).
    pub transit_gateway_id: Option<TransitGatewayId>,
    /// Given at registration: endpoint-hub never deletes it.
    pub given: bool,
    /// The hub VPC's attachment to the gateway.
    pub hub_attachment_id: Option<TgwAttachmentId>,
    /// The gateway route table the hub attachment is associated with; spoke attachments
    /// propagate their CIDRs into it.
    pub hub_route_table_id: Option<TgwRouteTableId>,
    /// The gateway route table spoke attachments are associated with; only the hub attachment
    /// propagates into it, so spokes reach the hub and not each other.
    pub spoke_route_table_id: Option<TgwRouteTableId>,
    /// The AWS RAM resource share of the gateway.
    pub share_arn: Option<String>,
}

str_enum!(
    /// How what AWS has differs from what a registration wants. `missing`: ours and wanted, not
    /// there; `extra`: ours, there, not wanted; `wrong_target`: ours, there, pointing elsewhere;
    /// `conflict`: the destination or name is held by something that is not ours (reported,
    /// never overwritten); `unreadable`: the account could not be read (e.g. its role cannot be
    /// assumed).
    DriftKind {
        Missing => "missing",
        Extra => "extra",
        WrongTarget => "wrong_target",
        Conflict => "conflict",
        Unreadable => "unreadable",
    }
);

str_enum!(
    /// The kinds of AWS resource a reconcile compares.
    DriftResource {
        Account => "account",
        Peering => "peering",
        Route => "route",
        PrefixList => "prefix_list",
        PrefixListEntry => "prefix_list_entry",
        SecurityGroup => "security_group",
        IngressRule => "ingress_rule",
        Endpoint => "endpoint",
        Zone => "zone",
        AliasRecord => "alias_record",
        ZoneAssociation => "zone_association",
        ZoneAuthorization => "zone_authorization",
        Profile => "profile",
        ProfileZone => "profile_zone",
        ProfileAssociation => "profile_association",
        SharePrincipal => "share_principal",
        TransitGateway => "transit_gateway",
        TgwAttachment => "tgw_attachment",
    }
);

/// One AWS change a job would make (a plan's line): the operation, the account it is made in,
/// the resource and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlannedChange {
    /// The AWS API operation (`CreateRoute`, `AssociateVPCWithHostedZone`, ...).
    pub operation: String,
    pub account_id: AccountId,
    /// The resource changed, as AWS names it (`rtb-0abc 10.1.0.0/16`, `Z123 vpc-0def`).
    pub resource: String,
    pub reason: String,
    /// What the change needs that does not exist yet (`the peering made by
    /// CreateVpcPeeringConnection above`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<String>,
}

/// One difference between what AWS has and what a registration wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Difference {
    pub kind: DriftKind,
    pub resource: DriftResource,
    /// The spoke the difference belongs to; absent for the hub's own resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoke_id: Option<Uuid>,
    /// Identifies the difference across checks (`route:hub:rtb-0abc:10.1.0.0/16`).
    pub key: String,
    pub detail: String,
    /// What a repair does; absent when it is left alone (a conflict, something not ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<PlannedChange>,
}

/// What the last reconcile found on a hub or spoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Drift {
    /// When AWS was last read.
    pub checked_at: DateTime<Utc>,
    /// The differences still open after that check (repaired ones are not listed).
    pub differences: Vec<Difference>,
    /// Why the check could not finish (`access_denied: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

str_enum!(
    /// Lifecycle of a job. `canceled`: an attach that had not started when its spoke was
    /// deleted.
    JobStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Canceled => "canceled",
    }
);

str_enum!(
    /// Token scopes. `admin` may do everything, `read` may read everything,
    /// `spokes:write` may enrol, read and detach spokes and read their jobs.
    Scope {
        Admin => "admin",
        Read => "read",
        SpokesWrite => "spokes:write",
    }
);

/// Limits AWS would enforce later: checked at the door (app) and against AWS (engine).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Active VPC peering connections per VPC (AWS: 50 by default, 125 at most).
    pub peerings_per_vpc: i64,
    /// VPCs associated with one private hosted zone (AWS: 300); the hub's VPC is one of them.
    pub vpcs_per_zone: i64,
    /// Inbound rules per security group (AWS: 60 unless raised). A rule referencing a prefix
    /// list counts as the list's maximum size, so the hub's `prefix_list_max_entries` must fit.
    pub sg_inbound_rules: i64,
    /// VPCs associated with one Route 53 Profile (AWS: 1,000 by default, adjustable).
    pub vpcs_per_profile: i64,
    /// Resources (zones) associated with one Route 53 Profile (AWS: 5,000).
    pub zones_per_profile: i64,
    /// Attachments per Transit Gateway (AWS: 5,000); the hub VPC's is one of them.
    pub tgw_attachments: i64,
    /// Routes per Transit Gateway route table (AWS: 10,000).
    pub tgw_routes_per_table: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            peerings_per_vpc: 125,
            vpcs_per_zone: 300,
            sg_inbound_rules: 60,
            vpcs_per_profile: 1000,
            zones_per_profile: 5000,
            tgw_attachments: 5000,
            tgw_routes_per_table: 10_000,
        }
    }
}

/// One endpoint service of a hub and what provisioning made for it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HubService {
    pub name: ServiceName,
    /// `present` (wanted) or `removing` (being torn down).
    pub state: String,
    pub endpoint_id: Option<EndpointId>,
    /// One private hosted zone per private DNS name of the service (a wildcard name `*.x` gives
    /// the zone `x`), in the order AWS lists the names; empty until the `endpoints` step has
    /// read them.
    pub zones: Vec<HubZone>,
    /// Deprecated: the id of the first of `zones`; kept for clients written before a service
    /// could have several zones.
    #[schema(deprecated)]
    pub zone_id: Option<HostedZoneId>,
    /// Deprecated: the name of the first of `zones`; kept for clients written before a service
    /// could have several zones.
    #[schema(deprecated)]
    pub zone_name: Option<String>,
    /// TCP ports the endpoints' security group admits from the spokes for this service (443
    /// unless AWS documents others, e.g. SES SMTP).
    pub ports: Vec<u16>,
    /// Set when the port catalogue does not know the service: 443 is assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports_note: Option<String>,
    /// Internal: tells a re-added service's resources from those of its earlier removal.
    #[serde(skip)]
    pub generation: Uuid,
}

impl HubService {
    /// [`HubService::ports`] and [`HubService::ports_note`] of a service.
    pub fn ports_of(name: &ServiceName) -> (Vec<u16>, Option<String>) {
        let (ports, known) = name.ports();
        let note = (!known).then(|| {
            format!(
                "endpoint-hub's port catalogue does not list {name}: the security group admits \
                 TCP 443 only; if the service is used on other ports, they stay closed"
            )
        });
        (ports.to_vec(), note)
    }

    /// The zones that are made (have an id).
    pub fn zone_ids(&self) -> impl Iterator<Item = &HostedZoneId> {
        self.zones.iter().filter_map(|z| z.id.as_ref())
    }
}

/// A private hosted zone of a hub service, holding the alias records of one private DNS name.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HubZone {
    /// The zone's name: the private DNS name without `*.` or the trailing dot, lower case.
    pub name: String,
    /// The Route 53 hosted zone id; null until the zone is made.
    pub id: Option<HostedZoneId>,
    /// Internal: the zone's Route 53 `CallerReference`, by which it is found before one is made.
    #[serde(skip)]
    pub caller_reference: String,
}

/// A hub: the VPC holding the shared interface endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Hub {
    pub id: Uuid,
    pub name: HubName,
    pub account_id: AccountId,
    pub region: Region,
    pub vpc_id: VpcId,
    pub cidrs: Vec<Ipv4Cidr>,
    pub subnet_ids: Vec<SubnetId>,
    pub route_table_ids: Vec<RouteTableId>,
    pub services: Vec<HubService>,
    pub role_arn: RoleArn,
    pub external_id: Option<ExternalId>,
    /// Maximum entries of the managed prefix list admitting spoke CIDRs.
    pub prefix_list_max_entries: i32,
    pub status: HubStatus,
    pub security_group_id: Option<SecurityGroupId>,
    pub prefix_list_id: Option<PrefixListId>,
    /// What a reconcile does with differences: `repair` or `detect` only.
    pub reconcile_mode: ReconcileMode,
    /// How spoke VPCs resolve the hub's zones: `zones` or `profile` (fixed at registration).
    pub dns_mode: DnsMode,
    /// `profile` mode: the Route 53 Profile holding the hub's zones; null until made.
    pub profile_id: Option<ProfileId>,
    /// `profile` mode: the Profile's ARN.
    pub profile_arn: Option<String>,
    /// `profile` mode: the AWS RAM resource share of the Profile.
    pub share_arn: Option<String>,
    /// How spoke VPCs reach the hub VPC: `peering` or `transit_gateway` (fixed at
    /// registration).
    pub network_mode: NetworkMode,
    /// `transit_gateway` mode: the gateway and what provisioning made; null in `peering` mode.
    pub transit_gateway: Option<HubTransit>,
    /// How much of each AWS limit that applies to the hub's modes its spokes use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity: Vec<CapacityUse>,
    /// The hub's spokes by status (answers of `GET /v1/hubs` and `GET /v1/hubs/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spoke_counts: Option<SpokeCounts>,
    /// What the last reconcile found on the hub's own resources; null until checked.
    pub drift: Option<Drift>,
    pub last_error: Option<String>,
    /// The hub's latest job.
    pub current_job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One AWS limit a hub is bound by and how much of it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CapacityUse {
    /// `peerings_per_vpc` or `tgw_attachments` and `tgw_routes`, `vpcs_per_zone`,
    /// `vpcs_per_profile`, `zones_per_profile`, `prefix_list_entries`.
    pub dimension: String,
    pub used: i64,
    pub limit: i64,
    /// What counts and where the limit comes from.
    pub detail: String,
}

/// How many spokes of a hub are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SpokeCounts {
    pub pending: i64,
    pub attaching: i64,
    pub attached: i64,
    pub failed: i64,
    pub detaching: i64,
    pub detached: i64,
}

impl SpokeCounts {
    /// Adds `n` spokes of `status`.
    pub fn add(&mut self, status: SpokeStatus, n: i64) {
        let slot = match status {
            SpokeStatus::Pending => &mut self.pending,
            SpokeStatus::Attaching => &mut self.attaching,
            SpokeStatus::Attached => &mut self.attached,
            SpokeStatus::Failed => &mut self.failed,
            SpokeStatus::Detaching => &mut self.detaching,
            SpokeStatus::Detached => &mut self.detached,
        };
        *slot += n;
    }

    /// The spokes not detached (those holding a peering or attachment, a zone association...).
    pub fn live(&self) -> i64 {
        self.pending + self.attaching + self.attached + self.failed + self.detaching
    }
}

/// `GET /v1/hubs/{id}/topology`: every live (not detached) spoke of a hub in a compact form, for
/// drawing the hub and its spokes at once, with the hub's spokes counted by status.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Topology {
    pub hub_id: Uuid,
    /// Every spoke of the hub by status, detached ones included.
    pub counts: SpokeCounts,
    /// The live spokes, by id.
    pub spokes: Vec<TopologySpoke>,
}

/// One spoke of a [`Topology`].
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TopologySpoke {
    pub id: Uuid,
    pub account_id: AccountId,
    pub vpc_id: VpcId,
    pub cidrs: Vec<Ipv4Cidr>,
    pub status: SpokeStatus,
    /// The last reconcile left differences open or could not finish.
    pub drifted: bool,
    /// Open differences of kind `conflict` (something not ours in the way).
    pub conflicts: i64,
    pub last_error: Option<String>,
}

/// `GET /v1/whoami`: the calling token's name and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Whoami {
    pub name: String,
    /// `admin`, `read`, `spokes:write`.
    #[schema(example = json!(["read"]))]
    pub scopes: Vec<String>,
}

/// A spoke: a VPC in some account that uses the hub's endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Spoke {
    pub id: Uuid,
    pub hub_id: Uuid,
    pub account_id: AccountId,
    pub region: Region,
    pub vpc_id: VpcId,
    /// The spoke's CIDRs; empty until read from AWS when the registration left them out.
    pub cidrs: Vec<Ipv4Cidr>,
    /// Route tables to route to the hub; absent means every route table of the VPC.
    pub route_table_ids: Option<Vec<RouteTableId>>,
    pub role_arn: RoleArn,
    pub external_id: Option<ExternalId>,
    pub labels: BTreeMap<String, String>,
    pub status: SpokeStatus,
    pub peering_id: Option<PeeringId>,
    /// `transit_gateway` network mode: the spoke VPC's attachment to the hub's gateway.
    pub tgw_attachment_id: Option<TgwAttachmentId>,
    /// `transit_gateway` network mode: the subnets (one per availability zone) the attachment
    /// uses; absent means the lowest subnet id of each zone of the VPC.
    pub transit_subnet_ids: Option<Vec<SubnetId>>,
    /// What the last reconcile found on the spoke's resources; null until checked.
    pub drift: Option<Drift>,
    pub last_error: Option<String>,
    pub current_job_id: Option<Uuid>,
    /// Progress of the current job.
    pub job: Option<JobProgress>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobProgress {
    pub id: Uuid,
    pub kind: JobKind,
    pub status: JobStatus,
    /// The step running or next to run; `null` when the job has finished.
    pub current_step: Option<String>,
    pub steps_done: i32,
    pub steps_total: i32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobStep {
    pub name: String,
    /// `done`, `running`, `failed` or `pending`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct JobEvent {
    pub at: DateTime<Utc>,
    pub step: Option<String>,
    pub kind: String,
    pub message: Option<String>,
}

/// A position in the event stream (`GET /v1/events`): the inserting transaction's id and the
/// event's id, written `<txid>-<id>` (the SSE event id, sent back as `Last-Event-ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor {
    pub txid: i64,
    pub id: i64,
}

impl std::fmt::Display for EventCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.txid, self.id)
    }
}

impl std::str::FromStr for EventCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not an event id of this stream (<number>-<number>)");
        let (txid, id) = s.split_once('-').ok_or_else(bad)?;
        match (txid.parse::<i64>(), id.parse::<i64>()) {
            (Ok(txid), Ok(id)) if txid >= 0 && id >= 0 => Ok(EventCursor { txid, id }),
            _ => Err(bad()),
        }
    }
}

impl Serialize for EventCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One event of `GET /v1/events`: a job event with the job it belongs to. `job_status`,
/// `steps_done` and `steps_total` are the job's progress when the event was sent, not when it
/// happened (they differ when a stream is resumed).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StreamEvent {
    /// The event's id in the stream (also its SSE `id:`), `<txid>-<id>`.
    #[schema(value_type = String, example = "7412-93")]
    pub cursor: EventCursor,
    pub job_id: Uuid,
    pub job_kind: JobKind,
    pub hub_id: Uuid,
    pub spoke_id: Option<Uuid>,
    pub step: Option<String>,
    /// `job_queued`, `step_succeeded`, `step_retry`, `step_failed`, `step_note`,
    /// `job_succeeded`, `job_failed`, `job_canceled`, `job_retried`, ...
    pub kind: String,
    pub message: Option<String>,
    pub at: DateTime<Utc>,
    pub job_status: JobStatus,
    pub steps_done: i32,
    pub steps_total: i32,
}

/// A unit of background work and its checkpointed progress.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    pub status: JobStatus,
    pub hub_id: Uuid,
    pub spoke_id: Option<Uuid>,
    pub steps: Vec<JobStep>,
    pub current_step: Option<String>,
    /// Transient-failure retries of the current step.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub run_after: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Present on `GET /v1/jobs/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<JobEvent>>,
}

/// One audit record: an API mutation or a mutating AWS call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub principal: String,
    pub action: String,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// An AWS API call made by a job.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct CloudCall {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account_id: String,
    pub region: String,
    pub operation: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub aws_request_id: Option<String>,
    pub job_id: Option<Uuid>,
}

/// An API token as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who is calling, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
    /// The CLI and the workers act as `system`.
    pub fn system() -> Principal {
        Principal {
            name: "system".into(),
            scopes: vec![Scope::Admin],
        }
    }
}

/// One page of a list plus the cursor for the next one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
