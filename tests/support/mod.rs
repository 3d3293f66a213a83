//! Test support shared by every test binary: a fresh PostgreSQL database per test, checked and
//! dropped at teardown ([`db`]); the application layer ([`app`]); and, for the engine tests, a
//! [`World`] of the simulated cloud and engines wired to both.

#![allow(dead_code)]

pub mod db;
pub mod scale;

pub use db::TestDb;

use std::sync::Arc;
use std::time::Duration;

use endpoint_hub::app::{Actor, App, HubCreate, HubUpdate, Limits, SpokeEnroll};
use endpoint_hub::cloud::pacing::Pacer;
use endpoint_hub::cloud::sim::{SimCloud, SimConfig};
use endpoint_hub::cloud::{Cloud, PeeringStatus, RouteTarget};
use endpoint_hub::domain::{AccountId, Ipv4Cidr, Region, RoleArn, RouteTableId, VpcId};
use endpoint_hub::model::{DnsMode, Hub, JobKind, NetworkMode, Principal, Spoke};
use endpoint_hub::store;
use endpoint_hub::workflow::{Engine, EngineConfig, StepFault};
use sqlx::PgPool;
use uuid::Uuid;

pub const HUB_ACCOUNT: &str = "111111111111";
pub const REGION: &str = "eu-west-1";

/// The application layer on `pool`, as the service builds it.
/// AWS's limits, with the security-group rule quota raised to AWS's maximum (as the simulated
/// cloud's is) so that test hubs may have 160-entry prefix lists, even with SES SMTP's six ports.
pub fn test_limits() -> Limits {
    Limits {
        sg_inbound_rules: 1000,
        ..Limits::default()
    }
}

pub fn app(pool: &PgPool, limits: Limits, cloud: Cloud) -> App {
    App {
        pool: pool.clone(),
        cloud,
        limits,
        default_role_name: "endpoint-hub".parse().unwrap(),
        idempotency_ttl: store::idempotency::DEFAULT_TTL,
        live: Default::default(),
        prices: Default::default(),
    }
}

/// A migrated database that outlives the test: no job check at teardown, not dropped
/// (`scripts/test.sh` drops leftovers). Prefer [`World`] or [`TestDb::migrated`].
pub async fn fresh_db() -> PgPool {
    let (db, pool) = TestDb::migrated().await;
    db.keep();
    pool
}

pub fn test_engine_config() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
        max_attempts: 60,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(100),
        wait_interval: Duration::from_millis(5),
        repeat_steps: false,
        limits: Default::default(),
        ..Default::default()
    }
}

/// One engine test's world. Teardown fails the test if a job is left queued or running, unless
/// it calls [`World::allow_unfinished_jobs`] (see [`db`]).
pub struct World {
    /// The DNS mode of the hubs [`World::hub_registered`] registers (`zones` unless a test
    /// sets it).
    pub dns_mode: DnsMode,
    /// The network mode of the hubs [`World::hub_registered`] registers (`peering` unless a
    /// test sets it).
    pub network_mode: NetworkMode,
    pub pool: PgPool,
    pub app: App,
    pub sim: Arc<SimCloud>,
    pub cloud: Cloud,
    db: TestDb,
}

/// Route 53 pacing as a deployment has it: buckets in the test's database, shared by every
/// engine of the test (as by every process of a deployment), at 90% of the published limits
/// (the sim's buckets start when a request reaches them, a little after the reservation).
pub fn pacer(pool: &PgPool) -> Arc<dyn Pacer> {
    Arc::new(store::pacing::PgPacer::new(pool.clone(), 0.9))
}

pub fn sim_config(rate_limits: bool) -> SimConfig {
    SimConfig {
        rate_limits,
        ..SimConfig::default()
    }
}

impl World {
    pub async fn new(sim: SimConfig) -> World {
        Self::with_limits(sim, test_limits()).await
    }

    pub async fn with_limits(sim: SimConfig, limits: Limits) -> World {
        let (db, pool) = TestDb::migrated().await;
        let recorder = Arc::new(store::audit::DbRecorder(pool.clone()));
        let sim = Arc::new(SimCloud::new(sim, recorder));
        let cloud = Cloud::from_all(sim.clone()).paced(pacer(&pool));
        World {
            dns_mode: DnsMode::Zones,
            network_mode: NetworkMode::Peering,
            app: app(&pool, limits, cloud.clone()),
            pool,
            sim,
            cloud,
            db,
        }
    }

    /// The test database's URL (for a second connection pool, as another process has).
    pub fn db_url(&self) -> &str {
        &self.db.url
    }

    /// The test leaves jobs queued or running on purpose: teardown does not fail for them.
    pub fn allow_unfinished_jobs(&self) {
        self.db.allow_unfinished_jobs();
    }

    pub fn engine(&self, config: EngineConfig) -> Arc<Engine> {
        Arc::new(Engine::new(self.pool.clone(), self.cloud.clone(), config))
    }

    /// An engine that fails `step` of `kind` once, right after it ran and before its
    /// checkpoint (see `StepFault`).
    pub fn engine_failing_after(&self, kind: JobKind, step: &'static str) -> Arc<Engine> {
        let mut cfg = test_engine_config();
        cfg.fault_after_step = Some(StepFault::new(kind, step, 1));
        self.engine(cfg)
    }

    /// Sets the hub's services (PATCH), without running the job.
    pub async fn services_set(&self, hub: Uuid, names: &[&str]) {
        self.app
            .hub_update(
                &actor(),
                hub,
                HubUpdate {
                    network_mode: None,
                    reconcile_mode: None,
                    dns_mode: None,
                    services: names.iter().map(|s| s.parse().unwrap()).collect(),
                },
            )
            .await
            .expect("hub update");
    }

    /// Runs jobs with a deployment's pacing of waits and retries (the test default polls every
    /// 5 ms and backs off at most 100 ms, which EC2's buckets in a rate-limited sim throttle
    /// into failure over many spokes; EC2 is not paced client-side).
    pub async fn run_like_a_deployment(&self) {
        let config = EngineConfig {
            lease: Duration::from_secs(5),
            poll_interval: Duration::from_millis(100),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            wait_interval: Duration::from_millis(500),
            ..EngineConfig::default()
        };
        self.engine(config)
            .run_until_idle(Duration::from_secs(400))
            .await
            .expect("jobs finish");
    }

    pub async fn run_until_idle(&self) {
        self.engine(test_engine_config())
            .run_until_idle(Duration::from_secs(120))
            .await
            .expect("jobs finish");
    }

    /// A VPC in `account` with 3 subnets; returns it and its route tables.
    pub fn vpc(
        &self,
        account: &str,
        cidr: &str,
    ) -> (
        VpcId,
        Vec<endpoint_hub::domain::SubnetId>,
        Vec<RouteTableId>,
    ) {
        self.sim
            .vpc_add(&acct(account), &region(), &[cidr_(cidr)], 3)
    }

    /// Registers a hub in the hub account (VPC 10.0.0.0/16) and provisions it.
    pub async fn hub(&self, services: &[&str]) -> Hub {
        let hub = self.hub_registered(services).await;
        self.run_until_idle().await;
        let hub = self.app.hub_get(hub.id).await.unwrap();
        assert_eq!(hub.status.as_str(), "ready", "hub: {:?}", hub.last_error);
        hub
    }

    pub async fn hub_registered(&self, services: &[&str]) -> Hub {
        self.hub_registered_on(services, 3, &[0, 1, 2]).await.0
    }

    /// Registers hub "main" on a new hub-account VPC (10.0.0.0/16) with `subnet_count` subnets
    /// (zones a, b, c, a, ...), of which it uses those at `use_subnets`; returns the hub and
    /// every subnet of the VPC.
    pub async fn hub_registered_on(
        &self,
        services: &[&str],
        subnet_count: usize,
        use_subnets: &[usize],
    ) -> (Hub, Vec<endpoint_hub::domain::SubnetId>) {
        self.hub_registered_with(services, subnet_count, use_subnets, self.dns_mode, 160)
            .await
    }

    /// [`World::hub_registered_on`] in a DNS mode, with a prefix list of `max_entries`.
    pub async fn hub_registered_with(
        &self,
        services: &[&str],
        subnet_count: usize,
        use_subnets: &[usize],
        dns_mode: DnsMode,
        max_entries: i32,
    ) -> (Hub, Vec<endpoint_hub::domain::SubnetId>) {
        let (vpc, subnets, tables) = self.sim.vpc_add(
            &acct(HUB_ACCOUNT),
            &region(),
            &[cidr_("10.0.0.0/16")],
            subnet_count,
        );
        let req = HubCreate {
            name: "main".parse().unwrap(),
            account_id: acct(HUB_ACCOUNT),
            region: region(),
            vpc_id: vpc,
            cidrs: vec![cidr_("10.0.0.0/16")],
            subnet_ids: use_subnets.iter().map(|i| subnets[*i].clone()).collect(),
            route_table_ids: tables,
            services: services.iter().map(|s| s.parse().unwrap()).collect(),
            role_arn: Some(role(HUB_ACCOUNT)),
            role_name: None,
            external_id: None,
            prefix_list_max_entries: Some(max_entries),
            reconcile_mode: None,
            dns_mode: Some(dns_mode),
            network_mode: Some(self.network_mode),
            transit_gateway_id: None,
        };
        let hub = self
            .app
            .hub_create(&actor(), req)
            .await
            .expect("hub create")
            .resource;
        (hub, subnets)
    }

    /// A VPC for spoke number `n` (account 2000000000nn, 10.n.0.0/16) and its enrolment request.
    pub fn spoke_request(&self, n: u32, give_cidrs: bool) -> SpokeEnroll {
        let account = format!("2{:011}", n);
        let cidr = format!("10.{}.0.0/16", n);
        let (vpc, _, _) = self.vpc(&account, &cidr);
        SpokeEnroll {
            hub: "main".into(),
            account_id: acct(&account),
            region: region(),
            vpc_id: vpc,
            cidrs: give_cidrs.then(|| vec![cidr_(&cidr)]),
            route_table_ids: None,
            transit_subnet_ids: None,
            role_arn: None,
            role_name: None,
            external_id: None,
            labels: None,
        }
    }

    /// Enrols a VPC with `subnets` subnets and CIDR `cidr` in `account` into hub `main` (no job
    /// run); returns the spoke's id.
    pub async fn enroll_vpc(&self, account: &str, cidr: &str, subnets: usize) -> Uuid {
        let (vpc, _, _) = self
            .sim
            .vpc_add(&acct(account), &region(), &[cidr_(cidr)], subnets);
        let req = SpokeEnroll {
            hub: "main".into(),
            account_id: acct(account),
            region: region(),
            vpc_id: vpc,
            cidrs: Some(vec![cidr_(cidr)]),
            route_table_ids: None,
            transit_subnet_ids: None,
            role_arn: None,
            role_name: None,
            external_id: None,
            labels: None,
        };
        let r = self.app.spoke_enroll(&actor(), req, None).await.unwrap();
        r.body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Enrols spoke number `n` without running jobs.
    pub async fn enroll(&self, n: u32, give_cidrs: bool) -> Spoke {
        let req = self.spoke_request(n, give_cidrs);
        let r = self
            .app
            .spoke_enroll(&actor(), req, None)
            .await
            .expect("enroll");
        let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
        self.app.spoke_get(id).await.unwrap()
    }

    /// A hub's status and last error from its row (a deleted hub is not served by the API).
    pub async fn hub_status_row(&self, id: Uuid) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, last_error FROM hubs WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn spoke(&self, id: Uuid) -> Spoke {
        self.app.spoke_get(id).await.unwrap()
    }

    /// Checks, in the simulated cloud, everything an attached spoke must have, exactly once.
    pub async fn assert_attached(&self, hub: &Hub, spoke_id: Uuid) {
        let hub = self.app.hub_get(hub.id).await.unwrap();
        let spoke = self.spoke(spoke_id).await;
        assert_eq!(
            spoke.status.as_str(),
            "attached",
            "spoke {spoke_id}: {:?}",
            spoke.last_error
        );
        if hub.network_mode == NetworkMode::TransitGateway {
            self.assert_transit_attached(&hub, &spoke);
        } else {
            let tag = format!("spoke:{}", spoke.id);
            let mine: Vec<_> = self
                .sim
                .peerings()
                .into_iter()
                .filter(|p| p.owner_tag.as_deref() == Some(tag.as_str()) && !p.status.is_dead())
                .collect();
            assert_eq!(
                mine.len(),
                1,
                "exactly one live peering for {tag}: {mine:?}"
            );
            let pcx = &mine[0];
            assert_eq!(pcx.status, PeeringStatus::Active);
            assert_eq!(Some(&pcx.id), spoke.peering_id.as_ref());
            assert_eq!(pcx.accepter_vpc, spoke.vpc_id);
            for t in &hub.route_table_ids {
                let routes = self.sim.routes(t);
                for c in &spoke.cidrs {
                    let found: Vec<_> = routes.iter().filter(|r| &r.destination == c).collect();
                    assert_eq!(found.len(), 1, "hub table {t} route to {c}");
                    assert_eq!(found[0].target, RouteTarget::Peering(pcx.id.clone()));
                }
            }
            // Every table of the spoke VPC routes the hub CIDRs through the peering.
            let spoke_tables: Vec<RouteTableId> = self.sim.route_tables_of(&spoke.vpc_id);
            assert!(!spoke_tables.is_empty());
            for t in &spoke_tables {
                let routes = self.sim.routes(t);
                for c in &hub.cidrs {
                    let found: Vec<_> = routes.iter().filter(|r| &r.destination == c).collect();
                    assert_eq!(found.len(), 1, "spoke table {t} route to {c}");
                    assert_eq!(found[0].target, RouteTarget::Peering(pcx.id.clone()));
                }
            }
        }
        let pl = hub.prefix_list_id.clone().unwrap();
        let entries = self.sim.prefix_list_entries(&pl);
        for c in &spoke.cidrs {
            assert_eq!(
                entries.iter().filter(|e| *e == c).count(),
                1,
                "prefix list entry {c}"
            );
        }
        let profile = hub.dns_mode == DnsMode::Profile;
        if profile {
            let id = hub.profile_id.clone().expect("the hub has its Profile");
            assert_eq!(
                self.sim.profile_of_vpc(&spoke.vpc_id),
                Some(id.clone()),
                "spoke VPC {} associated with the hub's Profile",
                spoke.vpc_id
            );
            let held = self.sim.profile_zones(&id);
            for z in hub.services.iter().flat_map(|s| s.zone_ids()) {
                assert!(held.contains(z), "Profile {id} holds zone {z}");
            }
        }
        for svc in hub.services.iter().filter(|s| s.state == "present") {
            assert!(!svc.zones.is_empty(), "{} has zones", svc.name);
            for z in &svc.zones {
                let zone = z.id.clone().unwrap();
                let vpcs = self.sim.zone_vpcs(&zone);
                assert_eq!(
                    vpcs.iter().filter(|v| v.vpc_id == spoke.vpc_id).count(),
                    usize::from(!profile),
                    "zone {zone} {} ({}) associated once with {}",
                    z.name,
                    svc.name,
                    spoke.vpc_id
                );
            }
        }
        assert!(
            self.sim.authorizations().is_empty(),
            "no authorizations left"
        );
    }

    /// Drift made straight in the simulated cloud, as by hand in the accounts: the hub's route
    /// to the spoke's first CIDR and the spoke's route to the hub deleted, the spoke's
    /// prefix-list entries removed, the spoke VPC disassociated from the hub's first zone, and
    /// an association authorization left behind. Returns the number of differences made.
    pub async fn drift_inject(&self, hub: &Hub, spoke_id: Uuid) -> usize {
        let hub = self.app.hub_get(hub.id).await.unwrap();
        let spoke = self.spoke(spoke_id).await;
        let hub_table = &hub.route_table_ids[0];
        self.sim.drift_route_delete(hub_table, &spoke.cidrs[0]);
        let spoke_table = self.sim.route_tables_of(&spoke.vpc_id)[0].clone();
        self.sim.drift_route_delete(&spoke_table, &hub.cidrs[0]);
        let pl = hub.prefix_list_id.clone().unwrap();
        for c in &spoke.cidrs {
            self.sim.drift_prefix_list_entry_remove(&pl, c);
        }
        let zone = hub.services[0].zones[0].id.clone().unwrap();
        if hub.dns_mode == DnsMode::Profile {
            // The spoke VPC's Profile association removed by hand.
            self.sim.drift_profile_disassociate(&spoke.vpc_id);
        } else {
            self.sim.drift_zone_disassociate(&zone, &spoke.vpc_id);
        }
        let zone2 = hub.services[1].zones[0].id.clone().unwrap();
        self.sim.drift_authorization_add(
            &zone2,
            endpoint_hub::cloud::ZoneVpc {
                vpc_id: spoke.vpc_id.clone(),
                region: spoke.region.clone(),
            },
        );
        4 + spoke.cidrs.len()
    }

    /// Drift: the hub's route to the spoke's first CIDR deleted by hand.
    pub async fn drift_inject_route(&self, hub: &Hub, spoke_id: Uuid) {
        let spoke = self.spoke(spoke_id).await;
        self.sim
            .drift_route_delete(&hub.route_table_ids[0], &spoke.cidrs[0]);
    }

    /// The drift recorded on the hub and on a spoke: (differences open, error).
    pub async fn drift_open(
        &self,
        hub: Uuid,
        spoke: Option<Uuid>,
    ) -> (Vec<String>, Option<String>) {
        let drift = match spoke {
            None => self.app.hub_get(hub).await.unwrap().drift,
            Some(s) => self.spoke(s).await.drift,
        };
        let drift = drift.expect("checked");
        (
            drift
                .differences
                .iter()
                .map(|d| format!("{} {} {}", d.kind, d.resource, d.detail))
                .collect(),
            drift.error,
        )
    }

    /// Checks that nothing of a detached spoke is left in the cloud.
    /// `transit_gateway` mode: the spoke VPC's one attachment `available`, associated with the
    /// spokes' table and propagating into the hub's; the spoke's tables route the hub CIDRs
    /// through the gateway; the hub's tables route the prefix list through it; no peering.
    pub fn assert_transit_attached(&self, hub: &Hub, spoke: &Spoke) {
        let t = hub.transit_gateway.clone().expect("transit");
        let tgw = t
            .transit_gateway_id
            .clone()
            .expect("the hub has its gateway");
        let mine: Vec<_> = self
            .sim
            .tgw_attachments_all(&tgw)
            .into_iter()
            .filter(|a| a.vpc == spoke.vpc_id)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "one attachment of {}: {mine:?}",
            spoke.vpc_id
        );
        let a = &mine[0];
        assert_eq!(a.state, "available");
        assert_eq!(Some(&a.id), spoke.tgw_attachment_id.as_ref());
        assert_eq!(a.association.as_ref(), t.spoke_route_table_id.as_ref());
        assert_eq!(a.propagations, vec![t.hub_route_table_id.clone().unwrap()]);
        let tag = format!("spoke:{}", spoke.id);
        assert!(
            !self
                .sim
                .peerings()
                .iter()
                .any(|p| p.owner_tag.as_deref() == Some(tag.as_str())),
            "no peering in transit_gateway mode"
        );
        for table in self.sim.route_tables_of(&spoke.vpc_id) {
            let routes = self.sim.routes(&table);
            for c in &hub.cidrs {
                let found: Vec<_> = routes.iter().filter(|r| &r.destination == c).collect();
                assert_eq!(found.len(), 1, "spoke table {table} route to {c}");
                assert_eq!(found[0].target, RouteTarget::TransitGateway(tgw.clone()));
                assert_eq!(found[0].state, "active");
            }
        }
        let pl = hub.prefix_list_id.clone().unwrap();
        for table in &hub.route_table_ids {
            assert_eq!(
                self.sim.prefix_list_routes_of(table),
                vec![(pl.clone(), RouteTarget::TransitGateway(tgw.clone()))],
                "hub table {table} routes the prefix list through the gateway"
            );
        }
    }

    pub async fn assert_detached(&self, hub: &Hub, spoke_id: Uuid) {
        let hub = self.app.hub_get(hub.id).await.unwrap();
        let spoke = self.spoke(spoke_id).await;
        assert_eq!(spoke.status.as_str(), "detached", "{:?}", spoke.last_error);
        let tag = format!("spoke:{}", spoke.id);
        for p in self.sim.peerings() {
            if p.owner_tag.as_deref() == Some(tag.as_str()) {
                assert!(p.status.is_dead(), "peering {} left {:?}", p.id, p.status);
            }
        }
        for t in hub
            .route_table_ids
            .iter()
            .chain(self.sim.route_tables_of(&spoke.vpc_id).iter())
        {
            for r in self.sim.routes(t) {
                if let RouteTarget::Peering(p) = &r.target {
                    let info = self.sim.peering(p).unwrap();
                    assert_ne!(
                        info.owner_tag.as_deref(),
                        Some(tag.as_str()),
                        "route {r:?} left in {t}"
                    );
                }
            }
        }
        let entries = self
            .sim
            .prefix_list_entries(hub.prefix_list_id.as_ref().unwrap());
        for c in &spoke.cidrs {
            assert!(!entries.contains(c), "prefix list still holds {c}");
        }
        for z in hub.services.iter().flat_map(|s| s.zone_ids()) {
            assert!(
                !self
                    .sim
                    .zone_vpcs(z)
                    .iter()
                    .any(|v| v.vpc_id == spoke.vpc_id),
                "zone {z} still holds {}",
                spoke.vpc_id
            );
        }
        assert!(self.sim.authorizations().is_empty());
        if let Some(tgw) = hub
            .transit_gateway
            .as_ref()
            .and_then(|t| t.transit_gateway_id.clone())
        {
            assert!(
                !self
                    .sim
                    .tgw_attachments_all(&tgw)
                    .iter()
                    .any(|a| a.vpc == spoke.vpc_id),
                "attachment of {} left",
                spoke.vpc_id
            );
            for t in self.sim.route_tables_of(&spoke.vpc_id) {
                for r in self.sim.routes(&t) {
                    assert_ne!(
                        r.target,
                        RouteTarget::TransitGateway(tgw.clone()),
                        "route {r:?} left in {t}"
                    );
                }
            }
            assert_eq!(spoke.tgw_attachment_id, None);
        }
        assert_eq!(
            self.sim.profile_of_vpc(&spoke.vpc_id),
            None,
            "spoke VPC {} still associated with a Profile",
            spoke.vpc_id
        );
    }
}

pub fn actor() -> Actor {
    Actor {
        principal: Principal::system(),
        request_id: None,
    }
}

pub fn acct(s: &str) -> AccountId {
    s.parse().unwrap()
}

pub fn region() -> Region {
    REGION.parse().unwrap()
}

pub fn cidr_(s: &str) -> Ipv4Cidr {
    s.parse().unwrap()
}

pub fn role(account: &str) -> RoleArn {
    format!("arn:aws:iam::{account}:role/endpoint-hub")
        .parse()
        .unwrap()
}
