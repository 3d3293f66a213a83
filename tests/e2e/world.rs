//! One test's world: the emulator, a fresh database, one or more service processes, an admin
//! token, SDK access to every account, and the seeded hub.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::aws::{Aws, Vpc, role_arn, seed_vpc};
use super::harness::{Api, Emulator, REGION, Service, admin_token, log_dir};
use super::support::TestDb;

pub const HUB_ACCOUNT: &str = "111111111111";
pub const HUB_CIDR: &str = "10.0.0.0/16";
pub const SERVICES: &[&str] = &["sqs", "ssm", "ssmmessages", "ec2messages", "kms"];

/// How long teardown waits for the services to finish their jobs (a job ends in a transaction
/// after the one making its spoke or hub ready).
const JOBS_SETTLE: Duration = Duration::from_secs(30);

/// Dropping it first fails the test if a job is left queued or running (checked while the
/// services still run, see [`JOBS_SETTLE`]); then the fields drop in order: the services die,
/// the database goes, then the emulator.
pub struct World {
    pub services: Vec<Service>,
    pub db: TestDb,
    pub emu: Emulator,
    pub aws: Arc<Aws>,
    pub api: Api,
    pub logs: PathBuf,
    pub hub: Vpc,
}

impl World {
    /// Starts everything with `n_services` service processes (each given `extra` env) and seeds
    /// the hub account's VPC.
    pub async fn start(test: &str, n_services: usize, extra: &[(&str, &str)]) -> World {
        let logs = log_dir(test);
        let emu = Emulator::start(&logs).await;
        let db = TestDb::create().await;
        let token = admin_token(&db.url, &emu.url);
        let mut services = Vec::new();
        for i in 0..n_services {
            services.push(
                Service::start(&logs, &format!("service-{i}"), &db.url, &emu.url, extra).await,
            );
        }
        let api = Api::new(&services[0].base, &token);
        let aws = Arc::new(Aws::new(&emu.url).await);
        let hub_account = aws.account(HUB_ACCOUNT).await;
        let hub = seed_vpc(&hub_account, HUB_CIDR, "hub", true).await;
        World {
            services,
            db,
            emu,
            aws,
            api,
            logs,
            hub,
        }
    }

    /// `POST /v1/hubs` for the seeded hub VPC with [`SERVICES`]; returns the hub's id.
    pub async fn hub_register(&self, name: &str) -> String {
        self.hub_register_mode(name, "zones").await
    }

    /// [`World::hub_register`] in a DNS mode (`zones` or `profile`).
    pub async fn hub_register_mode(&self, name: &str, dns_mode: &str) -> String {
        self.hub_register_modes(name, dns_mode, "peering").await
    }

    /// Registers a hub in a DNS mode and a network mode.
    pub async fn hub_register_modes(
        &self,
        name: &str,
        dns_mode: &str,
        network_mode: &str,
    ) -> String {
        let body = json!({
            "dns_mode": dns_mode,
            "network_mode": network_mode,
            "name": name,
            "account_id": self.hub.account,
            "region": REGION,
            "vpc_id": self.hub.vpc_id,
            "cidrs": [self.hub.cidr],
            "subnet_ids": self.hub.subnet_ids,
            "route_table_ids": self.hub.route_table_ids,
            "services": SERVICES,
            "role_arn": role_arn(&self.hub.account),
        });
        let v = self.api.post_accepted("/v1/hubs", &body).await;
        v["id"].as_str().unwrap().to_owned()
    }

    pub async fn hub_wait_ready(&self, id: &str, timeout: Duration) -> Value {
        self.api
            .wait_status(&format!("/v1/hubs/{id}"), "ready", timeout)
            .await
    }

    pub async fn hub_get(&self, id: &str) -> Value {
        self.api.get(&format!("/v1/hubs/{id}")).await
    }

    /// `POST /v1/spokes` for a seeded spoke VPC (CIDRs left to be read from AWS); returns the
    /// spoke's id.
    pub async fn spoke_enroll(&self, hub: &str, spoke: &Vpc) -> String {
        let body = json!({
            "hub": hub,
            "account_id": spoke.account,
            "region": REGION,
            "vpc_id": spoke.vpc_id,
            "role_arn": role_arn(&spoke.account),
        });
        let v = self.api.post_accepted("/v1/spokes", &body).await;
        v["id"].as_str().unwrap().to_owned()
    }

    /// Registers the hub as `main`, waits until it is ready, enrols `spokes` and waits until
    /// every one is attached; returns the hub's id and the spokes' ids.
    pub async fn hub_with_spokes(
        &self,
        spokes: &[Vpc],
        timeout: Duration,
    ) -> (String, Vec<String>) {
        let hub_id = self.hub_register("main").await;
        self.hub_wait_ready(&hub_id, Duration::from_secs(120)).await;
        let mut ids = Vec::new();
        for s in spokes {
            ids.push(self.spoke_enroll("main", s).await);
        }
        self.api.wait_spokes(&ids, "attached", timeout).await;
        (hub_id, ids)
    }

    pub async fn spoke_get(&self, id: &str) -> Value {
        self.api.get(&format!("/v1/spokes/{id}")).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.db.check_jobs_finished(JOBS_SETTLE);
    }
}

/// `n` spoke accounts `<base+1>..` with CIDRs `10.<first_octet+i>.0.0/16`.
pub fn spoke_specs(base: u64, first_octet: u32, n: u32) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("{:012}", base + u64::from(i) + 1),
                format!("10.{}.0.0/16", first_octet + i),
            )
        })
        .collect()
}
