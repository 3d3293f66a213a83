//! Orphans (`GET /v1/orphans`, `POST /v1/orphans/sweep`): AWS resources tagged as
//! endpoint-hub's whose owner has no live registration any more, and their removal.
//!
//! Every hub account the database knows (the distinct account and region of every `hubs` row,
//! deleted hubs included) is listed by tag key [`OWNER_TAG`](crate::cloud::OWNER_TAG)
//! (peerings, security groups, prefix lists, interface endpoints) and by caller reference
//! (hosted zones, `endpoint-hub:{hub}:{generation}...`). A resource is an orphan when the
//! owner it names is not live: its hub row is missing or `deleted`, its spoke row is missing
//! or `detached`, its endpoint's service is not on the hub or has another generation now, or
//! no zone row of a live hub holds its caller reference.
//!
//! AWS is read before the registrations: a resource made by a registration created while the
//! listing runs is then seen with its owner. Orphan-ness only grows (a deleted hub, a detached
//! spoke, a replaced generation never come back), so what is listed stays an orphan. As a
//! last guard, a resource a live registration records by id (a hub's security group, a
//! spoke's peering, a service's endpoint or zone) is never an orphan.
//!
//! A resource whose tag is ours but does not parse is left alone (not listed): it is not known
//! whose it is.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{HubStatus, SpokeStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, App, AppError};
use crate::cloud::{CallCx, CloudError, CloudErrorKind, CloudResult, RouteTarget};
use crate::domain::{
    AccountId, EndpointId, HostedZoneId, PeeringId, PrefixListId, ProfileId, Region,
    SecurityGroupId, TransitGatewayId, VpcId,
};
use crate::store::{self, audit::NewAudit};

/// What kind of resource an orphan is. Sweeps delete them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrphanKind {
    /// A RAM share of a hub's Route 53 Profile (`profile` DNS mode).
    ResourceShare,
    /// A hub's Route 53 Profile: deleted once no VPC is associated with it.
    Profile,
    /// A Transit Gateway made for a hub (`transit_gateway` network mode): its attachments,
    /// route tables and the hub VPC's routes to it deleted first.
    TransitGateway,
    HostedZone,
    Endpoint,
    Peering,
    SecurityGroup,
    PrefixList,
}

impl OrphanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResourceShare => "resource_share",
            Self::Profile => "profile",
            Self::TransitGateway => "transit_gateway",
            Self::HostedZone => "hosted_zone",
            Self::Endpoint => "endpoint",
            Self::Peering => "peering",
            Self::SecurityGroup => "security_group",
            Self::PrefixList => "prefix_list",
        }
    }
}

/// A resource tagged as endpoint-hub's whose owner has no live registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Orphan {
    pub kind: OrphanKind,
    /// The AWS id (`pcx-...`, `sg-...`, `pl-...`, `vpce-...`, or the hosted zone id).
    pub id: String,
    /// The hub account holding it.
    #[schema(value_type = String)]
    pub account_id: AccountId,
    #[schema(value_type = String)]
    pub region: Region,
    /// The value of its `endpoint-hub:owner` tag, or a zone's caller reference.
    pub owner: String,
    /// Why it is an orphan.
    pub reason: String,
}

/// A hub account that could not be listed (role gone, access denied, throttled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrphanAccountError {
    #[schema(value_type = String)]
    pub account_id: AccountId,
    #[schema(value_type = String)]
    pub region: Region,
    pub error: String,
}

/// `GET /v1/orphans`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrphanList {
    /// When AWS was read.
    pub checked_at: DateTime<Utc>,
    /// In the order a sweep deletes them: zones, endpoints, peerings, security groups,
    /// prefix lists.
    pub orphans: Vec<Orphan>,
    /// Hub accounts that could not be listed: their orphans, if any, are not in `orphans`.
    pub unreachable: Vec<OrphanAccountError>,
}

/// One orphan of a sweep and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SweptOrphan {
    #[serde(flatten)]
    pub orphan: Orphan,
    /// `deleted`; `deleting` (an endpoint, gone once its interfaces are); `in_use: retry later`
    /// (a security group or prefix list still held by endpoints being deleted: sweep again
    /// later); `would delete` (`dry_run`); or `error: ...`.
    pub outcome: String,
}

/// `POST /v1/orphans/sweep`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SweepReport {
    /// True when nothing was changed (`dry_run=true`).
    pub dry_run: bool,
    /// When AWS was read.
    pub checked_at: DateTime<Utc>,
    /// Every orphan found, in the order they were (or would be) deleted.
    pub items: Vec<SweptOrphan>,
    /// Hub accounts that could not be listed, and so were not swept.
    pub unreachable: Vec<OrphanAccountError>,
}

pub const OUTCOME_DELETED: &str = "deleted";
pub const OUTCOME_DELETING: &str = "deleting";
pub const OUTCOME_IN_USE: &str = "in_use: retry later";
pub const OUTCOME_DRY_RUN: &str = "would delete";

// ---------------------------------------------------------------------------------------------
// Owners as tags name them
// ---------------------------------------------------------------------------------------------

/// The owner an [`OWNER_TAG`](crate::cloud::OWNER_TAG) value names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// `hub:<uuid>`: a hub's security group or prefix list.
    Hub(Uuid),
    /// `hub:<uuid>:service:<name>:<generation>`; the generation is absent in tags of
    /// versions before generations.
    Service {
        hub: Uuid,
        service: String,
        generation: Option<Uuid>,
    },
    /// `spoke:<uuid>`: a spoke's peering.
    Spoke(Uuid),
}

fn owner_parse(tag: &str) -> Option<Owner> {
    if let Some(rest) = tag.strip_prefix("spoke:") {
        return Uuid::parse_str(rest).ok().map(Owner::Spoke);
    }
    let rest = tag.strip_prefix("hub:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    let hub = Uuid::parse_str(parts[0]).ok()?;
    match parts.as_slice() {
        [_] => Some(Owner::Hub(hub)),
        // The RAM share and the route tables of the hub's Transit Gateway.
        [_, "tgw-share"] | [_, "tgw-rtb", _] => Some(Owner::Hub(hub)),
        [_, "service", name] if !name.is_empty() => Some(Owner::Service {
            hub,
            service: (*name).to_owned(),
            generation: None,
        }),
        [_, "service", name, generation] if !name.is_empty() => Some(Owner::Service {
            hub,
            service: (*name).to_owned(),
            generation: Some(Uuid::parse_str(generation).ok()?),
        }),
        _ => None,
    }
}

/// The hub and generation a zone's caller reference names
/// (`endpoint-hub:{hub}:{generation}` or `endpoint-hub:{hub}:{generation}:{zone name}`).
fn zone_reference_parse(reference: &str) -> Option<(Uuid, Uuid)> {
    let rest = reference.strip_prefix("endpoint-hub:")?;
    let mut parts = rest.splitn(3, ':');
    let hub = Uuid::parse_str(parts.next()?).ok()?;
    let generation = Uuid::parse_str(parts.next()?).ok()?;
    Some((hub, generation))
}

// ---------------------------------------------------------------------------------------------
// The registrations
// ---------------------------------------------------------------------------------------------

struct HubRow {
    status: String,
    vpc_id: String,
}

/// What the database holds, read after AWS.
#[derive(Default)]
struct Registry {
    hubs: HashMap<Uuid, HubRow>,
    /// Spoke id to status.
    spokes: HashMap<Uuid, String>,
    /// (hub, service) to the service's current generation.
    services: HashMap<(Uuid, String), Uuid>,
    /// Caller references of the zones of live hubs.
    zone_references: HashSet<String>,
    /// Ids recorded by live registrations: never orphans.
    recorded: HashSet<String>,
}

impl Registry {
    async fn load(pool: &sqlx::PgPool) -> Result<Registry, sqlx::Error> {
        let mut reg = Registry::default();
        for h in store::orphans::hubs_all(pool).await? {
            if h.status != HubStatus::Deleted {
                reg.recorded.extend(
                    h.security_group_id
                        .into_iter()
                        .chain(h.prefix_list_id)
                        .chain(h.profile_id)
                        .chain(h.share_arn),
                );
            }
            reg.hubs.insert(
                h.id,
                HubRow {
                    status: h.status.to_string(),
                    vpc_id: h.vpc_id,
                },
            );
        }
        for s in store::orphans::spokes_all(pool).await? {
            if s.status != SpokeStatus::Detached {
                reg.recorded.extend(s.peering_id);
            }
            reg.spokes.insert(s.id, s.status.to_string());
        }
        for s in store::orphans::services_of_live_hubs(pool).await? {
            reg.recorded.extend(s.endpoint_id);
            reg.services.insert((s.hub_id, s.service), s.generation);
        }
        for z in store::orphans::zones_of_live_hubs(pool).await? {
            reg.zone_references.insert(z.caller_reference);
            reg.recorded.extend(z.zone_id);
        }
        Ok(reg)
    }

    /// Why the hub is not live, if it is not.
    fn hub_gone(&self, hub: Uuid) -> Option<String> {
        match self.hubs.get(&hub) {
            None => Some(format!("hub {hub} has no registration")),
            Some(h) if h.status == "deleted" => Some(format!("hub {hub} is deleted")),
            Some(_) => None,
        }
    }

    /// Why the owner is not live, if it is not.
    fn owner_gone(&self, owner: &Owner) -> Option<String> {
        match owner {
            Owner::Hub(hub) => self.hub_gone(*hub),
            Owner::Spoke(spoke) => match self.spokes.get(spoke).map(String::as_str) {
                None => Some(format!("spoke {spoke} has no registration")),
                Some("detached") => Some(format!("spoke {spoke} is detached")),
                Some(_) => None,
            },
            Owner::Service {
                hub,
                service,
                generation,
            } => {
                if let Some(why) = self.hub_gone(*hub) {
                    return Some(why);
                }
                match (self.services.get(&(*hub, service.clone())), generation) {
                    (None, _) => Some(format!("service {service} is not on hub {hub}")),
                    (Some(current), Some(g)) if current != g => Some(format!(
                        "generation {} of service {service} is not hub {hub}'s current one ({})",
                        g.simple(),
                        current.simple()
                    )),
                    _ => None,
                }
            }
        }
    }

    /// Why no live zone row holds the caller reference, if none does.
    fn zone_gone(&self, reference: &str) -> Option<String> {
        if self.zone_references.contains(reference) {
            return None;
        }
        let (hub, generation) = zone_reference_parse(reference)?;
        if let Some(why) = self.hub_gone(hub) {
            return Some(why);
        }
        let service = self
            .services
            .iter()
            .find(|((h, _), g)| *h == hub && **g == generation)
            .map(|((_, s), _)| s.clone());
        Some(match service {
            Some(s) => format!(
                "no zone of service {s} (generation {}) of hub {hub} has this caller reference",
                generation.simple()
            ),
            None => format!(
                "no service of hub {hub} has generation {} (removed or re-added since)",
                generation.simple()
            ),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

/// What the cloud answered in one hub account.
#[derive(Default)]
struct Seen {
    peerings: Vec<crate::cloud::PeeringInfo>,
    security_groups: Vec<crate::cloud::SecurityGroupInfo>,
    prefix_lists: Vec<crate::cloud::PrefixListInfo>,
    endpoints: Vec<crate::cloud::EndpointInfo>,
    zones: Vec<crate::cloud::ZoneInfo>,
    profiles: Vec<crate::cloud::ProfileInfo>,
    shares: Vec<crate::cloud::ShareInfo>,
    tgws: Vec<crate::cloud::TransitGatewayInfo>,
}

/// An orphan with what deleting it needs.
struct Found {
    orphan: Orphan,
    cx: CallCx,
    /// A peering's requester VPC (the hub VPC), whose route tables may route through it; a
    /// zone's hub VPC, the one association kept until the zone is deleted.
    vpc: Option<VpcId>,
}

struct Listing {
    checked_at: DateTime<Utc>,
    found: Vec<Found>,
    unreachable: Vec<OrphanAccountError>,
}

impl App {
    /// The hub accounts to list: one role per account and region, a live hub's when there is
    /// one (a deleted hub's role may be gone), the newest otherwise.
    async fn orphan_accounts(&self) -> Result<Vec<CallCx>, AppError> {
        Ok(store::orphans::hub_accounts(&self.pool)
            .await?
            .into_iter()
            .map(|a| CallCx {
                account: a.account_id,
                region: a.region,
                role: a.role_arn,
                external_id: a.external_id,
                job_id: None,
            })
            .collect())
    }

    async fn orphan_seen(&self, cx: &CallCx, zones: bool) -> CloudResult<Seen> {
        Ok(Seen {
            peerings: self.cloud.network.peerings_owned(cx).await?,
            security_groups: self.cloud.firewall.security_groups_owned(cx).await?,
            prefix_lists: self.cloud.firewall.prefix_lists_owned(cx).await?,
            endpoints: self.cloud.endpoints.endpoints_owned(cx).await?,
            profiles: self.cloud.profiles.profiles_owned(cx).await?,
            tgws: self.cloud.transit.tgws_owned(cx).await?,
            shares: self.cloud.sharing.shares_owned(cx).await?,
            // Route 53 is global: an account's zones are listed once.
            zones: if zones {
                self.cloud.dns.zones_list(cx).await?
            } else {
                Vec::new()
            },
        })
    }

    async fn orphans_find(&self) -> Result<Listing, AppError> {
        let accounts = self.orphan_accounts().await?;
        let checked_at = Utc::now();
        let mut seen = Vec::new();
        let mut unreachable = Vec::new();
        let mut zones_listed: HashSet<AccountId> = HashSet::new();
        for cx in accounts {
            let zones = !zones_listed.contains(&cx.account);
            match self.orphan_seen(&cx, zones).await {
                Ok(s) => {
                    if zones {
                        zones_listed.insert(cx.account.clone());
                    }
                    seen.push((cx, s));
                }
                Err(e) => unreachable.push(OrphanAccountError {
                    account_id: cx.account.clone(),
                    region: cx.region.clone(),
                    error: e.to_string(),
                }),
            }
        }
        // After AWS: see the module doc.
        let reg = Registry::load(&self.pool).await?;
        let mut found = Vec::new();
        for (cx, s) in seen {
            let mut add = |kind: OrphanKind,
                           id: String,
                           owner: String,
                           reason: String,
                           vpc: Option<VpcId>| {
                if reg.recorded.contains(&id) {
                    return;
                }
                found.push(Found {
                    orphan: Orphan {
                        kind,
                        id,
                        account_id: cx.account.clone(),
                        region: cx.region.clone(),
                        owner,
                        reason,
                    },
                    cx: cx.clone(),
                    vpc,
                });
            };
            let gone = |tag: &Option<String>| -> Option<(String, String)> {
                let tag = tag.as_ref()?;
                let why = reg.owner_gone(&owner_parse(tag)?)?;
                Some((tag.clone(), why))
            };
            for z in s.zones {
                if let Some(why) = reg.zone_gone(&z.caller_reference) {
                    let hub_vpc = zone_reference_parse(&z.caller_reference)
                        .and_then(|(hub, _)| reg.hubs.get(&hub))
                        .and_then(|h| h.vpc_id.parse().ok());
                    add(
                        OrphanKind::HostedZone,
                        z.id.to_string(),
                        z.caller_reference,
                        why,
                        hub_vpc,
                    );
                }
            }
            for e in s.endpoints {
                if crate::workflow::ops::endpoint_gone(&e.state) {
                    continue;
                }
                if let Some((tag, why)) = gone(&e.owner_tag) {
                    add(OrphanKind::Endpoint, e.id.to_string(), tag, why, None);
                }
            }
            for p in s.peerings {
                if p.status.is_dead() {
                    continue;
                }
                if let Some((tag, why)) = gone(&p.owner_tag) {
                    add(
                        OrphanKind::Peering,
                        p.id.to_string(),
                        tag,
                        why,
                        Some(p.requester_vpc),
                    );
                }
            }
            for g in s.security_groups {
                if let Some((tag, why)) = gone(&g.owner_tag) {
                    add(OrphanKind::SecurityGroup, g.id.to_string(), tag, why, None);
                }
            }
            for l in s.prefix_lists {
                if let Some((tag, why)) = gone(&l.owner_tag) {
                    add(OrphanKind::PrefixList, l.id.to_string(), tag, why, None);
                }
            }
            for x in s.shares {
                if let Some((tag, why)) = gone(&x.owner_tag) {
                    add(OrphanKind::ResourceShare, x.arn, tag, why, None);
                }
            }
            for t in s.tgws {
                if let Some((tag, why)) = gone(&t.owner_tag) {
                    let hub_vpc = match owner_parse(&tag) {
                        Some(Owner::Hub(hub)) => {
                            reg.hubs.get(&hub).and_then(|h| h.vpc_id.parse().ok())
                        }
                        _ => None,
                    };
                    add(
                        OrphanKind::TransitGateway,
                        t.id.to_string(),
                        tag,
                        why,
                        hub_vpc,
                    );
                }
            }
            // A hub's Profile is named for it (`endpoint-hub-<hub id>`).
            for p in s.profiles {
                let Some(hub) = p
                    .name
                    .strip_prefix("endpoint-hub-")
                    .and_then(|h| Uuid::parse_str(h).ok())
                else {
                    continue;
                };
                if let Some(why) = reg.hub_gone(hub) {
                    add(OrphanKind::Profile, p.id.to_string(), p.name, why, None);
                }
            }
        }
        // Sweep order; stable, so each account's resources stay together within a kind.
        found.sort_by_key(|f| f.orphan.kind);
        Ok(Listing {
            checked_at,
            found,
            unreachable,
        })
    }

    /// `GET /v1/orphans`: reads AWS and the registrations, changes nothing.
    pub async fn orphans_list(&self) -> Result<OrphanList, AppError> {
        let l = self.orphans_find().await?;
        Ok(OrphanList {
            checked_at: l.checked_at,
            orphans: l.found.into_iter().map(|f| f.orphan).collect(),
            unreachable: l.unreachable,
        })
    }

    /// `POST /v1/orphans/sweep`: deletes every orphan in order (zones, endpoints, peerings,
    /// security groups, prefix lists), one audit row per deletion; with `dry_run`, answers
    /// what it would delete and changes nothing.
    pub async fn orphans_sweep(
        &self,
        actor: &Actor,
        dry_run: bool,
    ) -> Result<SweepReport, AppError> {
        let l = self.orphans_find().await?;
        let mut items = Vec::new();
        for f in l.found {
            let outcome = if dry_run {
                OUTCOME_DRY_RUN.to_owned()
            } else {
                let outcome = match self.orphan_delete(&f).await {
                    Ok(o) => o.to_owned(),
                    Err(e) => format!("error: {e}"),
                };
                if outcome == OUTCOME_DELETED || outcome == OUTCOME_DELETING {
                    let mut conn = self.pool.acquire().await?;
                    store::audit::audit_insert(
                        &mut conn,
                        &NewAudit {
                            principal: &actor.principal.name,
                            action: "orphan.delete",
                            target: Some(&format!("{}:{}", f.orphan.kind.as_str(), f.orphan.id)),
                            request_id: actor.request_id.as_deref(),
                            outcome: "accepted",
                            detail: Some(serde_json::json!({
                                "kind": f.orphan.kind,
                                "id": f.orphan.id,
                                "account_id": f.orphan.account_id,
                                "region": f.orphan.region,
                                "owner": f.orphan.owner,
                                "reason": f.orphan.reason,
                                "result": outcome,
                            })),
                        },
                    )
                    .await?;
                }
                outcome
            };
            items.push(SweptOrphan {
                orphan: f.orphan,
                outcome,
            });
        }
        Ok(SweepReport {
            dry_run,
            checked_at: l.checked_at,
            items,
            unreachable: l.unreachable,
        })
    }

    /// Deletes one orphan; answers `deleted`, `deleting` or `in_use: retry later`.
    async fn orphan_delete(&self, f: &Found) -> CloudResult<&'static str> {
        let cx = &f.cx;
        let id = f.orphan.id.as_str();
        match f.orphan.kind {
            OrphanKind::HostedZone => {
                let zone: HostedZoneId = parse_id(id)?;
                self.orphan_zone_delete(cx, &zone, f.vpc.as_ref()).await
            }
            OrphanKind::Endpoint => {
                let e: EndpointId = parse_id(id)?;
                self.cloud.endpoints.endpoint_delete(cx, &e).await?;
                match self.cloud.endpoints.endpoint_get(cx, &e).await? {
                    Some(now) if !now.state.eq_ignore_ascii_case("deleted") => Ok(OUTCOME_DELETING),
                    _ => Ok(OUTCOME_DELETED),
                }
            }
            OrphanKind::Peering => {
                let p: PeeringId = parse_id(id)?;
                if let Some(vpc) = &f.vpc {
                    self.orphan_routes_delete(cx, vpc, &p).await?;
                }
                self.cloud.network.peering_delete(cx, &p).await?;
                Ok(OUTCOME_DELETED)
            }
            OrphanKind::SecurityGroup => {
                let sg: SecurityGroupId = parse_id(id)?;
                in_use(self.cloud.firewall.security_group_delete(cx, &sg).await)
            }
            OrphanKind::PrefixList => {
                let pl: PrefixListId = parse_id(id)?;
                in_use(self.cloud.firewall.prefix_list_delete(cx, &pl).await)
            }
            OrphanKind::ResourceShare => {
                self.cloud.sharing.share_delete(cx, id).await?;
                Ok(OUTCOME_DELETED)
            }
            OrphanKind::TransitGateway => {
                let tgw: TransitGatewayId = parse_id(id)?;
                self.orphan_tgw_delete(cx, &tgw, f.vpc.as_ref()).await
            }
            OrphanKind::Profile => {
                let p: ProfileId = parse_id(id)?;
                // Only a VPC's owner can disassociate it: a Profile still in use stays.
                if !self
                    .cloud
                    .profiles
                    .profile_vpcs(cx, Some(&p), None)
                    .await?
                    .is_empty()
                {
                    return Ok(OUTCOME_IN_USE);
                }
                for r in self.cloud.profiles.profile_resources(cx, &p).await? {
                    if let Some(zone) = r.zone {
                        self.cloud
                            .profiles
                            .profile_zone_remove(cx, &p, &zone)
                            .await?;
                    }
                }
                in_use(self.cloud.profiles.profile_delete(cx, &p).await)
            }
        }
    }

    /// The hub VPC's routes to the gateway (they name the hub's prefix list, which is deleted
    /// later), every attachment (spokes' too: the gateway's owner may delete them), the route
    /// tables, then the gateway; `deleting` while attachments are on their way out.
    async fn orphan_tgw_delete(
        &self,
        cx: &CallCx,
        tgw: &TransitGatewayId,
        hub_vpc: Option<&VpcId>,
    ) -> CloudResult<&'static str> {
        if let Some(vpc) = hub_vpc {
            let through = RouteTarget::TransitGateway(tgw.clone());
            for t in self.cloud.network.route_tables_list(cx, vpc).await? {
                for r in self.cloud.network.prefix_list_routes(cx, &t.id).await? {
                    if r.target == through {
                        self.cloud
                            .network
                            .prefix_list_route_delete(cx, &t.id, &r.prefix_list)
                            .await?;
                    }
                }
            }
        }
        let attachments = self
            .cloud
            .transit
            .tgw_attachments(cx, Some(tgw), None)
            .await?;
        for a in attachments.iter().filter(|a| a.state != "deleting") {
            self.cloud.transit.tgw_attachment_delete(cx, &a.id).await?;
        }
        if !self
            .cloud
            .transit
            .tgw_attachments(cx, Some(tgw), None)
            .await?
            .is_empty()
        {
            return Ok(OUTCOME_DELETING);
        }
        for t in self.cloud.transit.tgw_route_tables(cx, tgw).await? {
            if let Err(e) = self.cloud.transit.tgw_route_table_delete(cx, &t.id).await {
                return in_use(Err(e));
            }
        }
        in_use(self.cloud.transit.tgw_delete(cx, tgw).await)
    }

    /// A private zone keeps at least one VPC (the hub's when known): every other is
    /// disassociated (by the zone owner), every authorization deleted, then the zone with its
    /// records.
    async fn orphan_zone_delete(
        &self,
        cx: &CallCx,
        zone: &HostedZoneId,
        hub_vpc: Option<&VpcId>,
    ) -> CloudResult<&'static str> {
        let dns = &self.cloud.dns;
        let Some(info) = dns.zone_get(cx, zone).await? else {
            return Ok(OUTCOME_DELETED);
        };
        let keep = info
            .vpcs
            .iter()
            .find(|v| Some(&v.vpc_id) == hub_vpc)
            .or(info.vpcs.first())
            .cloned();
        for vpc in info.vpcs.iter().filter(|v| Some(*v) != keep.as_ref()) {
            match dns.vpc_disassociate(cx, zone, vpc).await {
                Ok(()) => {}
                Err(e) if e.is(CloudErrorKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        for auth in dns.association_authorizations_list(cx, zone).await? {
            dns.association_deauthorize(cx, zone, &auth).await?;
        }
        dns.zone_delete(cx, zone).await?;
        Ok(OUTCOME_DELETED)
    }

    /// Deletes the routes through the peering in every route table of its requester VPC.
    async fn orphan_routes_delete(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        peering: &PeeringId,
    ) -> CloudResult<()> {
        let tables = match self.cloud.network.route_tables_list(cx, vpc).await {
            Ok(t) => t,
            Err(e) if e.is(CloudErrorKind::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let through = RouteTarget::Peering(peering.clone());
        for t in tables {
            let dests: BTreeSet<_> = t
                .routes
                .iter()
                .filter(|r| r.target == through)
                .map(|r| r.destination)
                .collect();
            for d in dests {
                self.cloud.network.route_delete(cx, &t.id, &d).await?;
            }
        }
        Ok(())
    }
}

fn parse_id<T: std::str::FromStr>(id: &str) -> CloudResult<T> {
    id.parse().map_err(|_| {
        CloudError::new(
            CloudErrorKind::Invalid,
            "OrphanSweep",
            "InvalidId",
            format!("'{id}' is not a valid id"),
        )
    })
}

/// `DependencyViolation` (endpoint interfaces still hold the group, a group still references
/// the list) is no error: a later sweep deletes it.
fn in_use(r: CloudResult<()>) -> CloudResult<&'static str> {
    match r {
        Ok(()) => Ok(OUTCOME_DELETED),
        // EC2's code for a group or list still referenced; Route 53 Profiles' for a Profile
        // still associated with a VPC; EC2's for a gateway or gateway route table still in use.
        Err(e)
            if e.code.eq_ignore_ascii_case("DependencyViolation")
                || e.code.eq_ignore_ascii_case("ConflictException")
                || e.code.eq_ignore_ascii_case("IncorrectState") =>
        {
            Ok(OUTCOME_IN_USE)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tags_parse() {
        let hub = Uuid::new_v4();
        let generation = Uuid::new_v4();
        assert_eq!(owner_parse(&format!("hub:{hub}")), Some(Owner::Hub(hub)));
        assert_eq!(
            owner_parse(&format!("spoke:{hub}")),
            Some(Owner::Spoke(hub))
        );
        assert_eq!(
            owner_parse(&format!(
                "hub:{hub}:service:ecr.api:{}",
                generation.simple()
            )),
            Some(Owner::Service {
                hub,
                service: "ecr.api".into(),
                generation: Some(generation)
            })
        );
        assert_eq!(
            owner_parse(&format!("hub:{hub}:service:sqs")),
            Some(Owner::Service {
                hub,
                service: "sqs".into(),
                generation: None
            })
        );
        assert_eq!(
            owner_parse(&format!("hub:{hub}:tgw-share")),
            Some(Owner::Hub(hub))
        );
        assert_eq!(
            owner_parse(&format!("hub:{hub}:tgw-rtb:spokes")),
            Some(Owner::Hub(hub))
        );
        assert_eq!(owner_parse("hub:x"), None);
        assert_eq!(owner_parse(&format!("hub:{hub}:other")), None);
        assert_eq!(owner_parse("someone-else"), None);
    }

    #[test]
    fn zone_references_parse() {
        let hub = Uuid::new_v4();
        let generation = Uuid::new_v4();
        let r = crate::workflow::zone_names::zone_caller_reference(
            hub,
            generation,
            "sqs.eu-west-1.amazonaws.com",
        );
        assert_eq!(zone_reference_parse(&r), Some((hub, generation)));
        let old = format!("endpoint-hub:{}:{}", hub.simple(), generation.simple());
        assert_eq!(zone_reference_parse(&old), Some((hub, generation)));
        assert_eq!(zone_reference_parse("someone-else"), None);
    }
}
