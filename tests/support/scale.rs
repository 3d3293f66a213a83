//! Many spokes into one hub under AWS's published rate limits, run by two engines standing for
//! two processes of a deployment: the shared loop of the scale tests and benches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use endpoint_hub::app::Limits;
use endpoint_hub::cloud::Cloud;
use endpoint_hub::cloud::sim::SimConfig;
use endpoint_hub::model::{DnsMode, NetworkMode};
use endpoint_hub::store;
use endpoint_hub::store::pacing::PgPacer;
use endpoint_hub::workflow::{Engine, EngineConfig};
use tokio_util::sync::CancellationToken;

use super::{World, test_limits};

/// What a scale run measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Spokes attached per minute, from the hub being ready to the last spoke attached.
    pub per_min: f64,
    /// Route 53 calls in the hub account per spoke.
    pub hub_route53: f64,
    /// AWS calls (every account, throttled attempts included) per spoke.
    pub calls: f64,
    /// Calls refused by the simulated rate limits per spoke.
    pub throttled: f64,
}

/// Enrols `n` spokes (spoke `i` in its own account, 172.16.0.0/12 cut into /24s) into a hub in
/// `dns`/`network` mode with five services, runs them with two engines under AWS's published
/// rate limits, checks every spoke in the cloud, and returns what it measured.
pub async fn throughput(dns: DnsMode, network: NetworkMode, n: u32) -> Throughput {
    // AWS's limits except where a network mode's would stop the run: 125 peerings per VPC cap
    // peering mode at 125 spokes; a route table takes at most 1,000 routes once raised, and
    // 1,000 spoke CIDRs (routes to each in peering mode, a prefix list of 1,000 entries in
    // transit_gateway mode) plus the local route make 1,001. The security group's rule quota
    // is at its maximum (1,000) so the prefix list can hold the spokes' CIDRs.
    let limits = Limits {
        peerings_per_vpc: 5000,
        ..test_limits()
    };
    let mut w = World::with_limits(
        SimConfig {
            peerings_per_vpc: 5000,
            routes_per_table: 1001,
            ..SimConfig::default()
        },
        limits.clone(),
    )
    .await;
    w.network_mode = network;
    let services = ["sqs", "ssm", "ssmmessages", "ec2messages", "kms"];
    let (hub, _) = w
        .hub_registered_with(&services, 3, &[0, 1, 2], dns, 1000)
        .await;
    let mut spokes = Vec::new();
    for i in 0..n {
        let account = format!("3{:011}", i);
        let cidr = format!("172.{}.{}.0/24", 16 + i / 256, i % 256);
        spokes.push(w.enroll_vpc(&account, &cidr, 1).await);
    }
    let config = EngineConfig {
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(100),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(10),
        wait_interval: Duration::from_millis(500),
        limits,
        ..EngineConfig::default()
    };
    let stop = CancellationToken::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let pool = store::connect(w.db_url(), 10).await.unwrap();
        let cloud = Cloud::from_all(w.sim.clone()).paced(Arc::new(PgPacer::new(pool.clone(), 0.9)));
        let engine = Arc::new(Engine::new(pool, cloud, config.clone()));
        tasks.push(tokio::spawn(engine.run(4, stop.clone())));
    }
    let mut ready: Option<(Instant, usize, usize, usize)> = None;
    while store::jobs::job_unfinished_count(&w.pool).await.unwrap() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(1500),
            "{n} spokes did not attach in 25 minutes"
        );
        if ready.is_none() && w.app.hub_get(hub.id).await.unwrap().status.as_str() == "ready" {
            ready = Some((
                Instant::now(),
                w.sim.calls_total(),
                w.sim.route53_calls_in(&hub.account_id),
                w.sim.rate_limited_total(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    let (t_ready, calls_before, r53_before, throttled_before) =
        ready.expect("the hub became ready");
    let elapsed = t_ready.elapsed().as_secs_f64();
    let hub = w.app.hub_get(hub.id).await.unwrap();
    for id in &spokes {
        w.assert_attached(&hub, *id).await;
    }
    assert_eq!(w.sim.route53_rate_limited(), 0, "Route 53 is paced");
    let n = f64::from(n);
    Throughput {
        per_min: n / elapsed * 60.0,
        hub_route53: (w.sim.route53_calls_in(&hub.account_id) - r53_before) as f64 / n,
        calls: (w.sim.calls_total() - calls_before) as f64 / n,
        throttled: (w.sim.rate_limited_total() - throttled_before) as f64 / n,
    }
}
