//! The provisioning engine against a real PostgreSQL (fresh database per test) and the
//! simulated cloud: workflows end to end, idempotency, failure and resume, aborted runners,
//! throttling storms, concurrent runners, quotas, and service-list changes.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use endpoint_hub::app::{HubUpdate, Limits};
use endpoint_hub::cloud::sim::{Fault, FaultKind};
use endpoint_hub::cloud::{CloudError, CloudErrorKind};
use endpoint_hub::model::JobStatus;
use endpoint_hub::store;
use support::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SERVICES: &[&str] = &["sqs", "ssm", "kms"];

#[tokio::test]
async fn provision_hub_creates_endpoints_zones_and_firewall() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "ssm", "ecr.api"]).await;
    assert!(hub.security_group_id.is_some() && hub.prefix_list_id.is_some());
    assert_eq!(w.sim.endpoints().len(), 3);
    assert_eq!(w.sim.zones().len(), 3);
    let ecr = hub
        .services
        .iter()
        .find(|s| s.name.as_str() == "ecr.api")
        .unwrap();
    // named from DescribeVpcEndpointServices, not by concatenation
    assert_eq!(
        ecr.zone_name.as_deref(),
        Some("api.ecr.eu-west-1.amazonaws.com")
    );
    for svc in &hub.services {
        let zone = svc.zone_id.clone().unwrap();
        let records = w.sim.zone_records(&zone);
        let name = svc.zone_name.clone().unwrap();
        let names: Vec<String> = records
            .iter()
            .map(|r| r.name.trim_end_matches('.').to_owned())
            .collect();
        assert!(
            names.contains(&name) && names.contains(&format!("*.{name}")),
            "{names:?}"
        );
        let endpoint = w
            .sim
            .endpoints()
            .into_iter()
            .find(|e| Some(&e.id) == svc.endpoint_id.as_ref())
            .unwrap();
        assert!(
            records
                .iter()
                .all(|r| r.target_dns_name.trim_end_matches('.')
                    == endpoint.dns_entries[0].dns_name.trim_end_matches('.'))
        );
    }
    let sg = w
        .sim
        .security_groups()
        .into_iter()
        .find(|g| Some(&g.id) == hub.security_group_id.as_ref())
        .unwrap();
    let pl = hub.prefix_list_id.clone().unwrap();
    assert!(sg.admits(443, &pl), "{sg:?}");
    assert_eq!(
        sg.ingress.len(),
        1,
        "one rule: TCP 443 from the spokes' prefix list"
    );
    // every mutating call is on record with its job
    let calls = store::audit::cloud_call_list(&w.pool, hub.current_job_id)
        .await
        .unwrap();
    assert!(
        calls
            .iter()
            .any(|c| c.operation == "CreateVpcEndpoint" && c.outcome == "ok")
    );
    assert!(
        calls
            .iter()
            .all(|c| c.job_id == hub.current_job_id && c.account_id == HUB_ACCOUNT)
    );
}

#[tokio::test]
async fn attach_and_detach_end_to_end() {
    let w = World::new(sim_config(true)).await;
    let hub = w.hub(SERVICES).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, false).await; // CIDRs read from AWS
    assert_eq!(a.status.as_str(), "pending");
    w.run_until_idle().await;
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
    assert_eq!(w.spoke(b.id).await.cidrs, vec![cidr_("10.2.0.0/16")]);

    w.app.spoke_detach(&actor(), a.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
}

#[tokio::test]
async fn every_step_run_twice_changes_nothing() {
    let w = World::new(sim_config(false)).await;
    let mut cfg = test_engine_config();
    cfg.repeat_steps = true;
    let engine = w.engine(cfg.clone());
    let hub = w.hub_registered(SERVICES).await;
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    let spoke = w.enroll(1, true).await;
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    w.assert_attached(&hub, spoke.id).await;
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 1);
    assert_eq!(w.sim.calls("CreateVpcEndpoint"), 3);
    assert_eq!(w.sim.calls("CreateHostedZone"), 3);
    assert_eq!(w.sim.calls("CreateSecurityGroup"), 1);
    assert_eq!(w.sim.calls("CreateManagedPrefixList"), 1);
    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    w.assert_detached(&hub, spoke.id).await;
}

/// A permanent failure injected at each operation the attach performs, in turn: the job fails
/// with the message, the spoke shows it, and `retry` resumes at the failed step and ends
/// attached with nothing duplicated.
#[tokio::test]
async fn failure_at_each_step_then_retry_ends_attached() {
    let operations = [
        "AssumeRole",
        "DescribeVpcs",
        "DescribeRouteTables",
        "CreateVpcPeeringConnection",
        "AcceptVpcPeeringConnection",
        "DescribeVpcPeeringConnections",
        "CreateRoute",
        "ModifyManagedPrefixList",
        "CreateVPCAssociationAuthorization",
        "AssociateVPCWithHostedZone",
        "DeleteVPCAssociationAuthorization",
    ];
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(SERVICES).await;
    for (i, op) in operations.iter().enumerate() {
        let spoke = w.enroll(i as u32 + 1, true).await;
        w.sim.fail_operation(
            op,
            1,
            CloudError::new(
                CloudErrorKind::Other,
                *op,
                "InjectedFailure",
                format!("{op} refused"),
            ),
        );
        w.run_until_idle().await;
        let failed = w.spoke(spoke.id).await;
        assert_eq!(failed.status.as_str(), "failed", "{op}");
        let msg = failed.last_error.clone().unwrap();
        assert!(msg.contains("InjectedFailure"), "{op}: {msg}");
        let job = w.app.job_get(failed.current_job_id.unwrap()).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        w.app.job_retry(&actor(), job.id).await.unwrap();
        w.run_until_idle().await;
        w.assert_attached(&hub, spoke.id).await;
    }
    // one live peering per spoke, although one create was refused and retried
    let live = w
        .sim
        .peerings()
        .into_iter()
        .filter(|p| !p.status.is_dead())
        .count();
    assert_eq!(live, operations.len());
}

#[tokio::test]
async fn aborted_runners_resume_and_create_nothing_twice() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(SERVICES).await;
    let mut spokes = vec![];
    for n in 1..=6 {
        spokes.push(w.enroll(n, n % 2 == 0).await);
    }
    let mut cfg = test_engine_config();
    cfg.lease = Duration::from_millis(300);
    // Abort runners at pseudo-random moments, each time starting a fresh runner that must
    // pick the job up after its lease expires.
    let mut rng = fastrand::Rng::with_seed(7);
    let started = Instant::now();
    let mut aborts = 0;
    while store::jobs::job_unfinished_count(&w.pool).await.unwrap() > 0 {
        if started.elapsed() > Duration::from_secs(120) {
            dump_jobs(&w.pool).await;
            panic!("did not converge");
        }
        let engine = w.engine(cfg.clone());
        let task = tokio::spawn(async move {
            loop {
                if engine.run_once(Uuid::new_v4()).await.unwrap().is_none() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(rng.u64(20..400))).await;
        task.abort();
        let _ = task.await;
        aborts += 1;
    }
    eprintln!(
        "converged after {aborts} aborted runners in {:?}",
        started.elapsed()
    );
    assert!(
        aborts > 3,
        "only {aborts} runners aborted: the test did not exercise crashes"
    );
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
    }
    let live: Vec<_> = w
        .sim
        .peerings()
        .into_iter()
        .filter(|p| !p.status.is_dead())
        .collect();
    assert_eq!(live.len(), spokes.len());
}

#[tokio::test]
async fn throttling_storm_ends_attached() {
    let w = World::new(sim_config(true)).await;
    let hub = w.hub(SERVICES).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, false).await;
    w.sim
        .fault_inject(Fault::new("*", FaultKind::Throttle).times(40));
    w.sim
        .fault_inject(Fault::new("CreateRoute", FaultKind::ServerError).times(3));
    w.run_until_idle().await;
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
    let job = w.app.job_get(a.current_job_id.unwrap()).await.unwrap();
    let events = job.events.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "step_retry"),
        "retries are visible on the job"
    );
}

#[tokio::test]
async fn two_runners_share_fifty_jobs_without_running_any_twice() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(SERVICES).await;
    let mut spokes = vec![];
    for n in 1..=50 {
        spokes.push(w.enroll(n, true).await);
    }
    let started = Instant::now();
    let stop = CancellationToken::new();
    let e1 = w.engine(test_engine_config());
    let e2 = w.engine(test_engine_config());
    let t1 = tokio::spawn(e1.clone().run(3, stop.clone()));
    let t2 = tokio::spawn(e2.clone().run(3, stop.clone()));
    while store::jobs::job_unfinished_count(&w.pool).await.unwrap() > 0 {
        assert!(started.elapsed() < Duration::from_secs(180));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let _ = tokio::join!(t1, t2);
    let elapsed = started.elapsed();
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
    }
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 50);
    // No step ran to completion twice: one step_succeeded event per step per job.
    let dupes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT job_id, step FROM job_events WHERE kind = 'step_succeeded' \
         GROUP BY job_id, step HAVING count(*) > 1) d",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(dupes, 0);
    let calls = w.sim.calls_total();
    eprintln!("50 spokes attached in {elapsed:?} by two runners; {calls} cloud calls in all");
}

#[tokio::test]
async fn detach_after_partial_attach_cleans_up() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(SERVICES).await;
    let spoke = w.enroll(1, true).await;
    w.sim.fail_operation(
        "AssociateVPCWithHostedZone",
        1,
        CloudError::new(
            CloudErrorKind::AccessDenied,
            "AssociateVPCWithHostedZone",
            "AccessDenied",
            "no",
        ),
    );
    w.run_until_idle().await;
    assert_eq!(w.spoke(spoke.id).await.status.as_str(), "failed");
    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, spoke.id).await;
    // the VPC can be enrolled again afterwards
    let again = w.app.spoke_get(spoke.id).await.unwrap();
    assert_eq!(again.status.as_str(), "detached");
}

#[tokio::test]
async fn overlapping_peering_fails_with_the_reason_and_denied_role_is_explained() {
    let w = World::new(sim_config(false)).await;
    let _hub = w.hub(SERVICES).await;
    // spoke given 10.9.0.0/16, but the VPC actually is 10.0.0.0/16: overlap with the hub
    let account = "222222222222";
    let (vpc, _, _) = w.vpc(account, "10.9.0.0/16");
    let req = endpoint_hub::app::SpokeEnroll {
        hub: "main".into(),
        account_id: acct(account),
        region: region(),
        vpc_id: vpc,
        cidrs: Some(vec![cidr_("10.8.0.0/16")]),
        route_table_ids: None,
        transit_subnet_ids: None,
        role_arn: None,
        role_name: None,
        external_id: None,
        labels: None,
    };
    let r = w.app.spoke_enroll(&actor(), req, None).await.unwrap();
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    w.run_until_idle().await;
    let s = w.spoke(id).await;
    assert_eq!(s.status.as_str(), "failed");
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("10.8.0.0/16 is not a CIDR block"),
        "{:?}",
        s.last_error
    );

    let denied = w.enroll(3, true).await;
    w.sim.role_deny(&denied.role_arn);
    w.run_until_idle().await;
    let s = w.spoke(denied.id).await;
    let msg = s.last_error.unwrap();
    assert!(
        msg.contains("cannot assume arn:aws:iam::200000000003:role/endpoint-hub"),
        "{msg}"
    );
}

#[tokio::test]
async fn quotas_are_refused_early() {
    // peering quota at the door
    let w = World::with_limits(
        sim_config(false),
        Limits {
            peerings_per_vpc: 2,
            ..test_limits()
        },
    )
    .await;
    // Only the admission is tested: the attach jobs are never run.
    w.allow_unfinished_jobs();
    let _hub = w.hub(SERVICES).await;
    w.enroll(1, true).await;
    w.enroll(2, true).await;
    let req = w.spoke_request(3, false);
    let err = w.app.spoke_enroll(&actor(), req, None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("at most 2 active peering connections"),
        "{err}"
    );

    // zone association quota at the door
    let w = World::with_limits(
        sim_config(false),
        Limits {
            vpcs_per_zone: 2,
            ..test_limits()
        },
    )
    .await;
    w.allow_unfinished_jobs();
    let _hub = w.hub(SERVICES).await;
    w.enroll(1, true).await;
    let req = w.spoke_request(2, false);
    let err = w.app.spoke_enroll(&actor(), req, None).await.unwrap_err();
    assert!(err.to_string().contains("at most 2 VPCs"), "{err}");

    // the engine's own check against AWS, for peerings made outside endpoint-hub's knowledge
    let w = World::new(sim_config(false)).await;
    let _hub = w.hub(SERVICES).await;
    w.enroll(1, true).await;
    w.run_until_idle().await;
    let mut cfg = test_engine_config();
    cfg.limits.peerings_per_vpc = 1;
    let second = w.enroll(3, true).await;
    w.engine(cfg)
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    let second = w.spoke(second.id).await;
    assert_eq!(second.status.as_str(), "failed");
    let msg = second.last_error.unwrap();
    assert!(
        msg.contains("already has 1 peering connections: at most 1 per VPC"),
        "{msg}"
    );
}

#[tokio::test]
async fn prefix_list_capacity_is_checked_when_cidrs_come_from_aws() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(SERVICES).await;
    sqlx::query("UPDATE hubs SET prefix_list_max_entries = 1 WHERE id = $1")
        .bind(hub.id)
        .execute(&w.pool)
        .await
        .unwrap();
    w.run_until_idle().await;
    let a = w.enroll(1, false).await;
    let b = w.enroll(2, false).await;
    w.run_until_idle().await;
    assert_eq!(w.spoke(a.id).await.status.as_str(), "attached");
    let b = w.spoke(b.id).await;
    assert_eq!(b.status.as_str(), "failed");
    assert!(
        b.last_error
            .unwrap()
            .contains("prefix list holds at most 1")
    );
}

#[tokio::test]
async fn service_change_reaches_every_attached_spoke() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "ssm"]).await;
    let spokes = [
        w.enroll(1, true).await,
        w.enroll(2, true).await,
        w.enroll(3, false).await,
    ];
    w.run_until_idle().await;
    let ssm_zone = hub
        .services
        .iter()
        .find(|s| s.name.as_str() == "ssm")
        .unwrap()
        .zone_id
        .clone()
        .unwrap();
    w.app
        .hub_update(
            &actor(),
            hub.id,
            HubUpdate {
                network_mode: None,
                services: vec!["sqs".parse().unwrap(), "kms".parse().unwrap()],
                reconcile_mode: None,
                dns_mode: None,
            },
        )
        .await
        .unwrap();
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let names: Vec<&str> = hub.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["kms", "sqs"]);
    assert!(
        w.sim.zones().iter().all(|z| z.id != ssm_zone),
        "ssm zone deleted"
    );
    assert_eq!(
        w.sim
            .endpoints()
            .iter()
            .filter(|e| !matches!(e.state.as_str(), "deleted" | "deleting"))
            .count(),
        2
    );
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
    }
    // and the hub can be deleted once every spoke is detached
    for s in &spokes {
        w.app.spoke_detach(&actor(), s.id).await.unwrap();
    }
    w.run_until_idle().await;
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    assert!(w.sim.zones().is_empty());
    assert!(w.sim.prefix_lists().is_empty());
    assert!(
        w.sim
            .security_groups()
            .iter()
            .all(|g| g.owner_tag.is_none())
    );
}

/// The acceptance run: 50 spokes enrolled into one hub, runners killed and restarted
/// while they attach, then all deleted. Prints the time and the calls per spoke.
#[tokio::test]
async fn fifty_spokes_with_runner_restarts_then_deleted() {
    let w = World::new(sim_config(false)).await;
    let hub = w
        .hub(&["sqs", "ssm", "ssmmessages", "ec2messages", "kms"])
        .await;
    let before = w.sim.calls_total();
    let mut spokes = vec![];
    for n in 1..=50 {
        spokes.push(w.enroll(n, n % 3 != 0).await);
    }
    let mut cfg = test_engine_config();
    cfg.lease = Duration::from_millis(800);
    let mut rng = fastrand::Rng::with_seed(42);
    let started = Instant::now();
    let mut restarts = 0;
    while store::jobs::job_unfinished_count(&w.pool).await.unwrap() > 0 {
        if started.elapsed() > Duration::from_secs(420) {
            dump_jobs(&w.pool).await;
            panic!("did not converge");
        }
        let stop = CancellationToken::new();
        let engine = w.engine(cfg.clone());
        let task = tokio::spawn(engine.run(4, stop.clone()));
        tokio::time::sleep(Duration::from_millis(rng.u64(500..3000))).await;
        task.abort(); // a crash, not a graceful stop
        let _ = task.await;
        restarts += 1;
        if restarts % 10 == 0 {
            let left = store::jobs::job_unfinished_count(&w.pool).await.unwrap();
            eprintln!(
                "after {restarts} crashes ({:?}): {left} jobs unfinished",
                started.elapsed()
            );
        }
    }
    let elapsed = started.elapsed();
    let calls = w.sim.calls_total() - before;
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
    }
    let live: Vec<_> = w
        .sim
        .peerings()
        .into_iter()
        .filter(|p| !p.status.is_dead())
        .collect();
    assert_eq!(live.len(), 50);
    let mut per_op: HashMap<String, usize> = HashMap::new();
    for c in store::audit::cloud_call_list(&w.pool, None).await.unwrap() {
        *per_op.entry(c.operation).or_default() += 1;
    }
    eprintln!(
        "50 spokes attached in {elapsed:?} with {restarts} runner crashes; {calls} cloud calls ({:.1} per spoke); mutating: {per_op:?}",
        calls as f64 / 50.0
    );
    for s in &spokes {
        w.app.spoke_detach(&actor(), s.id).await.unwrap();
    }
    w.run_until_idle().await;
    for s in &spokes {
        w.assert_detached(&hub, s.id).await;
    }
    assert!(w.sim.peerings().iter().all(|p| p.status.is_dead()));
    let pl = hub.prefix_list_id.clone().unwrap();
    assert!(w.sim.prefix_list_entries(&pl).is_empty());
    for z in w.sim.zones() {
        assert_eq!(
            w.sim.zone_vpcs(&z.id).len(),
            1,
            "only the hub is left on {}",
            z.name
        );
    }
    let _ = Arc::clone(&w.sim);
}

async fn dump_jobs(pool: &sqlx::PgPool) {
    let rows: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT to_jsonb(j) - 'state' FROM jobs j WHERE status IN ('queued', 'running')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for r in rows {
        eprintln!("unfinished: {r}");
    }
}

/// Throttling slows a job down but does not fail it; other transient errors have the normal
/// budget of attempts.
#[tokio::test]
async fn throttling_has_a_larger_budget_than_other_transient_errors() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(SERVICES).await;
    let mut cfg = test_engine_config();
    cfg.max_attempts = 2;
    let engine = w.engine(cfg);
    let a = w.enroll(1, true).await;
    w.sim
        .fault_inject(Fault::new("CreateVpcPeeringConnection", FaultKind::Throttle).times(6));
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    w.assert_attached(&hub, a.id).await;

    let b = w.enroll(2, true).await;
    w.sim
        .fault_inject(Fault::new("CreateVpcPeeringConnection", FaultKind::ServerError).times(6));
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    let b = w.spoke(b.id).await;
    assert_eq!(b.status.as_str(), "failed");
    assert!(
        b.last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 2 attempts"),
        "{:?}",
        b.last_error
    );
}

/// A service removed and added again gets a new endpoint and zone (Route 53 never takes a
/// caller reference twice), and every attached spoke is associated with the new zone.
#[tokio::test]
async fn service_removed_then_added_again() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "ssm"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    let services = |names: &[&str]| HubUpdate {
        network_mode: None,
        services: names.iter().map(|s| s.parse().unwrap()).collect(),
        reconcile_mode: None,
        dns_mode: None,
    };
    w.app
        .hub_update(&actor(), hub.id, services(&["sqs"]))
        .await
        .unwrap();
    w.run_until_idle().await;
    w.app
        .hub_update(&actor(), hub.id, services(&["sqs", "ssm"]))
        .await
        .unwrap();
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(w.sim.zones().len(), 2);
    assert_eq!(w.sim.calls("CreateHostedZone"), 3);
    w.assert_attached(&hub, spoke.id).await;
}

/// A DELETE before the attach started cancels the attach; a DELETE while it runs lets it
/// finish first. Either way the spoke stays `detaching` (never flips back to `attached`) and
/// ends detached with nothing left.
#[tokio::test]
async fn delete_before_or_during_attach_ends_detached() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(SERVICES).await;
    let engine = w.engine(test_engine_config());

    // Not started: canceled, no peering ever requested.
    let early = w.enroll(1, true).await;
    w.app.spoke_detach(&actor(), early.id).await.unwrap();
    let attach = w.app.job_get(early.current_job_id.unwrap()).await.unwrap();
    assert_eq!(attach.status, JobStatus::Canceled);
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    w.assert_detached(&hub, early.id).await;
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 0);

    // Started: the attach job runs on (jobs of one spoke run in order), then the detach.
    let late = w.enroll(2, true).await;
    let runner = Uuid::new_v4();
    let claimed = store::jobs::job_claim(&w.pool, runner, 30.0, 16)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(claimed.id), late.current_job_id);
    w.app.spoke_detach(&actor(), late.id).await.unwrap();
    let attach = w.app.job_get(claimed.id).await.unwrap();
    assert_eq!(
        attach.status,
        JobStatus::Running,
        "a claimed job is not canceled"
    );
    sqlx::query("UPDATE jobs SET locked_by = NULL, lease_until = NULL WHERE id = $1")
        .bind(claimed.id)
        .execute(&w.pool)
        .await
        .unwrap();
    engine.run_once(runner).await.unwrap();
    let mid = w.spoke(late.id).await;
    assert_eq!(mid.status.as_str(), "detaching");
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    w.assert_detached(&hub, late.id).await;
    assert_eq!(
        w.app.job_get(claimed.id).await.unwrap().status,
        JobStatus::Succeeded
    );
}

/// At most `spoke_jobs_per_hub` jobs of one hub's spokes are started at once: a job deferred
/// on a wait keeps its place, and the next enrolment queues until one finishes.
#[tokio::test]
async fn spoke_jobs_of_one_hub_are_capped() {
    let w = World::new(sim_config(false)).await;
    let _hub = w.hub(&["sqs"]).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, true).await;
    let runner = Uuid::new_v4();
    let first = store::jobs::job_claim(&w.pool, runner, 30.0, 1)
        .await
        .unwrap()
        .expect("the first attach is claimed");
    assert_eq!(Some(first.id), a.current_job_id);
    // Released as a deferred job is (status running, lease gone): it still counts.
    sqlx::query("UPDATE jobs SET locked_by = NULL, lease_until = NULL, run_after = now() + interval '1 hour' WHERE id = $1")
        .bind(first.id)
        .execute(&w.pool)
        .await
        .unwrap();
    assert!(
        store::jobs::job_claim(&w.pool, runner, 30.0, 1)
            .await
            .unwrap()
            .is_none(),
        "a second attach of the hub waits while one is in flight"
    );
    let second = store::jobs::job_claim(&w.pool, runner, 30.0, 2)
        .await
        .unwrap()
        .expect("with room for two, the second is claimed");
    assert_eq!(Some(second.id), b.current_job_id);
    sqlx::query("UPDATE jobs SET locked_by = NULL, lease_until = NULL, run_after = now() WHERE status = 'running'")
        .execute(&w.pool)
        .await
        .unwrap();
    w.run_until_idle().await;
    let hub = w.app.hub_get(_hub.id).await.unwrap();
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
}
