//! The engine's invariants, workflow by workflow: tests generated from each job kind's step
//! table (a failure injected after each step, then a retry; every step run twice; runners
//! aborted at random points), the per-hub ordering, fenced effects of a stalled runner,
//! bounded waits and poison jobs, and jobs stored before the upgrade.

mod support;

use std::time::{Duration, Instant};

use endpoint_hub::cloud::PeeringStatus;
use endpoint_hub::cloud::sim::{Fault, FaultKind, SimConfig};
use endpoint_hub::model::{DnsMode, Hub, JobKind, JobStatus, NetworkMode};
use endpoint_hub::store;
use endpoint_hub::workflow::{self, EngineConfig, RunOutcome, StepFault};
use support::*;
use uuid::Uuid;

const SERVICES: &[&str] = &["sqs", "ssm", "kms"];

async fn run(w: &World, cfg: &EngineConfig) {
    w.engine(cfg.clone())
        .run_until_idle(Duration::from_secs(120))
        .await
        .expect("jobs finish");
}

/// The latest job of a kind.
async fn last_job(w: &World, kind: JobKind) -> endpoint_hub::model::Job {
    let page = w
        .app
        .job_list(
            store::jobs::JobFilter {
                kind: Some(kind),
                ..Default::default()
            },
            None,
            500,
        )
        .await
        .unwrap();
    page.items.into_iter().last().expect("a job of that kind")
}

/// Checks that a hub holds exactly one of each resource it provisions, and nothing of removed
/// services.
async fn assert_provisioned_once(w: &World, hub: &Hub) {
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let tag = format!("hub:{}", hub.id);
    let groups = w
        .sim
        .security_groups()
        .into_iter()
        .filter(|g| g.owner_tag.as_deref() == Some(tag.as_str()))
        .count();
    assert_eq!(groups, 1, "one security group");
    assert_eq!(w.sim.prefix_lists().len(), 1, "one prefix list");
    let live: Vec<_> = w
        .sim
        .endpoints()
        .into_iter()
        .filter(|e| !matches!(e.state.as_str(), "deleted" | "deleting"))
        .collect();
    assert_eq!(live.len(), hub.services.len(), "one endpoint per service");
    assert_eq!(
        w.sim.zones().len(),
        hub.services.len(),
        "one zone per service"
    );
    for svc in &hub.services {
        assert_eq!(svc.state, "present");
        assert!(
            svc.zone_id.is_some() && svc.endpoint_id.is_some(),
            "{svc:?}"
        );
    }
}

async fn assert_hub_gone(w: &World, hub: &Hub) {
    let (status, error) = w.hub_status_row(hub.id).await;
    assert_eq!(status, "deleted", "{error:?}");
    assert!(w.sim.zones().is_empty());
    assert!(w.sim.profiles().is_empty(), "the hub's Profile is deleted");
    assert!(w.sim.share_principals_all().is_empty());
    assert!(w.sim.prefix_lists().is_empty());
    assert!(w.sim.tgws_live().is_empty(), "the hub's gateway is deleted");
    assert!(
        w.sim
            .security_groups()
            .iter()
            .all(|g| g.owner_tag.is_none())
    );
    assert!(
        w.sim
            .endpoints()
            .iter()
            .all(|e| matches!(e.state.as_str(), "deleted" | "deleting"))
    );
}

/// How far into a hub's life a scenario goes before the job kind under test runs.
async fn setup_for(w: &World, kind: JobKind, cfg: &EngineConfig) -> (Hub, Option<Uuid>) {
    match kind {
        JobKind::ProvisionHub => (w.hub_registered(SERVICES).await, None),
        JobKind::AttachSpoke => {
            let hub = w.hub_registered(SERVICES).await;
            run(w, cfg).await;
            let spoke = w.enroll(1, false).await;
            (hub, Some(spoke.id))
        }
        JobKind::DetachSpoke | JobKind::UpdateHubServices => {
            let hub = w.hub_registered(SERVICES).await;
            run(w, cfg).await;
            let spoke = w.enroll(1, true).await;
            run(w, cfg).await;
            w.assert_attached(&hub, spoke.id).await;
            (hub, Some(spoke.id))
        }
        JobKind::DeleteHub => {
            let hub = w.hub_registered(SERVICES).await;
            run(w, cfg).await;
            (hub, None)
        }
        JobKind::ReconcileHub | JobKind::ReconcileSpoke => {
            let hub = w.hub_registered(SERVICES).await;
            run(w, cfg).await;
            let spoke = w.enroll(1, true).await;
            run(w, cfg).await;
            w.assert_attached(&hub, spoke.id).await;
            w.drift_inject(&hub, spoke.id).await;
            // The spoke's peering (or gateway attachment) deleted by hand too: repaired by a
            // new one.
            let s = w.spoke(spoke.id).await;
            match (&s.peering_id, &s.tgw_attachment_id) {
                (Some(peering), _) => {
                    w.sim
                        .peering_set_status(peering, PeeringStatus::Deleted, None)
                }
                (None, Some(attachment)) => w.sim.drift_tgw_attachment_delete(attachment),
                (None, None) => panic!("spoke {} has no peering and no attachment", s.id),
            }
            if kind == JobKind::ReconcileHub {
                let endpoint = w.app.hub_get(hub.id).await.unwrap().services[0]
                    .endpoint_id
                    .clone()
                    .unwrap();
                w.sim.drift_endpoint_delete(&endpoint);
                // And a zone deleted by hand: made again, every spoke re-associated.
                let zone = w.app.hub_get(hub.id).await.unwrap().services[1].zones[0]
                    .id
                    .clone()
                    .unwrap();
                w.sim.drift_zone_delete(&zone);
            }
            (hub, Some(spoke.id))
        }
    }
}

/// Starts the job of `kind` (provisioning and attaching start at registration).
async fn start(w: &World, kind: JobKind, hub: &Hub, spoke: Option<Uuid>) {
    match kind {
        JobKind::ProvisionHub | JobKind::AttachSpoke => {}
        JobKind::DetachSpoke => {
            w.app.spoke_detach(&actor(), spoke.unwrap()).await.unwrap();
        }
        JobKind::UpdateHubServices => {
            w.services_set(hub.id, &["sqs", "kms", "ecr.api"]).await;
        }
        JobKind::DeleteHub => {
            w.app.hub_delete(&actor(), hub.id).await.unwrap();
        }
        JobKind::ReconcileHub => {
            w.app
                .hub_reconcile(&actor(), hub.id, Default::default())
                .await
                .unwrap();
        }
        JobKind::ReconcileSpoke => {
            w.app
                .spoke_reconcile(&actor(), spoke.unwrap(), Default::default())
                .await
                .unwrap();
        }
    }
}

async fn assert_done(w: &World, kind: JobKind, hub: &Hub, spoke: Option<Uuid>) {
    match kind {
        JobKind::ProvisionHub => assert_provisioned_once(w, hub).await,
        JobKind::AttachSpoke => w.assert_attached(hub, spoke.unwrap()).await,
        JobKind::DetachSpoke => w.assert_detached(hub, spoke.unwrap()).await,
        JobKind::UpdateHubServices => {
            assert_provisioned_once(w, hub).await;
            let names: Vec<String> = w
                .app
                .hub_get(hub.id)
                .await
                .unwrap()
                .services
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            assert_eq!(names, vec!["ecr.api", "kms", "sqs"]);
            w.assert_attached(hub, spoke.unwrap()).await;
        }
        JobKind::DeleteHub => assert_hub_gone(w, hub).await,
        JobKind::ReconcileHub | JobKind::ReconcileSpoke => {
            w.assert_attached(hub, spoke.unwrap()).await;
            let (open, error) = w.drift_open(hub.id, spoke).await;
            assert!(open.is_empty() && error.is_none(), "{open:?} {error:?}");
            if kind == JobKind::ReconcileHub {
                assert_provisioned_once(w, hub).await;
                let (open, _) = w.drift_open(hub.id, None).await;
                assert!(open.is_empty(), "{open:?}");
            }
        }
    }
    assert_eq!(store::jobs::job_unfinished_count(&w.pool).await.unwrap(), 0);
}

/// For each step of `kind`'s table: a failure right after the step ran and before its
/// checkpoint (the cloud has the step's changes, the database does not). The job fails and
/// its subject shows it; a retry resumes at that step and ends right, nothing duplicated.
async fn failure_after_each_step_then_retry(kind: JobKind) {
    failure_after_each_step_then_retry_in(kind, DnsMode::Zones, NetworkMode::Peering).await
}

async fn failure_after_each_step_then_retry_in(kind: JobKind, mode: DnsMode, net: NetworkMode) {
    for step in workflow::steps_of(kind) {
        let mut w = World::new(sim_config(false)).await;
        w.dns_mode = mode;
        w.network_mode = net;
        let mut cfg = test_engine_config();
        let (hub, spoke) = setup_for(&w, kind, &cfg).await;
        cfg.fault_after_step = Some(StepFault::new(kind, step, 1));
        start(&w, kind, &hub, spoke).await;
        run(&w, &cfg).await;
        let job = last_job(&w, kind).await;
        assert_eq!(job.status, JobStatus::Failed, "{kind} {step}");
        assert_eq!(job.current_step.as_deref(), Some(step));
        let error = job.last_error.clone().unwrap();
        assert!(error.contains("injected failure"), "{kind} {step}: {error}");
        match spoke {
            // A failed reconcile leaves statuses alone and says why on the drift.
            Some(id) if matches!(kind, JobKind::ReconcileHub | JobKind::ReconcileSpoke) => {
                let (_, error) = w
                    .drift_open(hub.id, (kind == JobKind::ReconcileSpoke).then_some(id))
                    .await;
                assert!(
                    error
                        .as_deref()
                        .is_some_and(|e| e.contains("injected failure")),
                    "{kind} {step}: {error:?}"
                );
                assert_eq!(w.spoke(id).await.status.as_str(), "attached");
            }
            Some(id) if kind != JobKind::UpdateHubServices => {
                let s = w.spoke(id).await;
                assert_eq!(s.status.as_str(), "failed", "{kind} {step}");
            }
            _ => {
                let h = w.app.hub_get(hub.id).await.unwrap();
                assert_eq!(h.status.as_str(), "failed", "{kind} {step}");
            }
        }
        w.app.job_retry(&actor(), job.id).await.unwrap();
        run(&w, &cfg).await;
        let job = w.app.job_get(job.id).await.unwrap();
        assert_eq!(
            job.status,
            JobStatus::Succeeded,
            "{kind} {step}: {:?}",
            job.last_error
        );
        assert_done(&w, kind, &hub, spoke).await;
    }
}

#[tokio::test]
async fn provision_hub_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::ProvisionHub).await;
}

#[tokio::test]
async fn update_hub_services_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::UpdateHubServices).await;
}

#[tokio::test]
async fn delete_hub_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::DeleteHub).await;
}

#[tokio::test]
async fn attach_spoke_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::AttachSpoke).await;
}

#[tokio::test]
async fn detach_spoke_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::DetachSpoke).await;
}

#[tokio::test]
async fn reconcile_hub_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::ReconcileHub).await;
}

#[tokio::test]
async fn reconcile_spoke_failure_after_each_step_then_retry() {
    failure_after_each_step_then_retry(JobKind::ReconcileSpoke).await;
}

/// A hub's whole life, every job kind once: provision, attach two spokes, change the
/// services, detach both, delete. Checks the end state of each.
async fn lifecycle(w: &World, drive: impl AsyncFn(&World)) {
    let hub = w.hub_registered(SERVICES).await;
    drive(w).await;
    assert_provisioned_once(w, &hub).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, false).await;
    drive(w).await;
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
    w.services_set(hub.id, &["sqs", "ecr.api"]).await;
    drive(w).await;
    assert_provisioned_once(w, &hub).await;
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
    // Drift made by hand, repaired by a reconcile of the hub and one of a spoke.
    w.drift_inject(&hub, a.id).await;
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    drive(w).await;
    w.drift_inject(&hub, b.id).await;
    w.app
        .spoke_reconcile(&actor(), b.id, Default::default())
        .await
        .unwrap();
    drive(w).await;
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
    w.app.spoke_detach(&actor(), a.id).await.unwrap();
    w.app.spoke_detach(&actor(), b.id).await.unwrap();
    drive(w).await;
    w.assert_detached(&hub, a.id).await;
    w.assert_detached(&hub, b.id).await;
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    drive(w).await;
    assert_hub_gone(w, &hub).await;
    // each create happened once per thing created
    assert_eq!(w.sim.calls("CreateSecurityGroup"), 1);
    assert_eq!(w.sim.calls("CreateManagedPrefixList"), 1);
    let transit = w.network_mode == NetworkMode::TransitGateway;
    assert_eq!(
        w.sim.calls("CreateVpcPeeringConnection"),
        if transit { 0 } else { 2 }
    );
    assert_eq!(
        w.sim.calls("CreateTransitGatewayVpcAttachment"),
        if transit { 3 } else { 0 },
        "the hub's and one per spoke"
    );
    assert_eq!(
        w.sim.calls("CreateVpcEndpoint"),
        4,
        "sqs ssm kms, then ecr.api"
    );
    assert_eq!(w.sim.calls("CreateHostedZone"), 4);
}

/// Every step of every job kind run a second time from the state it started with, as after a
/// crash just before its checkpoint: the second run changes nothing.
#[tokio::test]
async fn every_step_of_every_kind_run_twice_changes_nothing() {
    let w = World::new(sim_config(false)).await;
    let mut cfg = test_engine_config();
    cfg.repeat_steps = true;
    lifecycle(&w, async |w: &World| run(w, &cfg).await).await;
}

/// The same in `profile` DNS mode: one Profile, one share, each VPC associated once.
#[tokio::test]
async fn profile_mode_every_step_run_twice_changes_nothing() {
    let mut w = World::new(sim_config(false)).await;
    w.dns_mode = DnsMode::Profile;
    let mut cfg = test_engine_config();
    cfg.repeat_steps = true;
    lifecycle(&w, async |w: &World| run(w, &cfg).await).await;
    assert_eq!(w.sim.calls("CreateResourceShare"), 1);
    assert_eq!(w.sim.calls("AssociateVPCWithHostedZone"), 0);
}

/// The same in `transit_gateway` network mode: one gateway, one attachment per VPC, no peering.
#[tokio::test]
async fn transit_mode_every_step_run_twice_changes_nothing() {
    let mut w = World::new(sim_config(false)).await;
    w.network_mode = NetworkMode::TransitGateway;
    let mut cfg = test_engine_config();
    cfg.repeat_steps = true;
    lifecycle(&w, async |w: &World| run(w, &cfg).await).await;
    assert_eq!(w.sim.calls("CreateTransitGateway"), 1);
    assert_eq!(w.sim.calls("CreateTransitGatewayRouteTable"), 2);
}

/// Each job kind of a `transit_gateway` hub failed after each of its steps, then retried.
#[tokio::test]
async fn transit_mode_failure_after_each_step_then_retry() {
    for kind in [
        JobKind::ProvisionHub,
        JobKind::AttachSpoke,
        JobKind::DetachSpoke,
        JobKind::UpdateHubServices,
        JobKind::DeleteHub,
        JobKind::ReconcileHub,
        JobKind::ReconcileSpoke,
    ] {
        failure_after_each_step_then_retry_in(kind, DnsMode::Zones, NetworkMode::TransitGateway)
            .await;
    }
}

/// Each job kind of a `profile` hub failed after each of its steps, then retried.
#[tokio::test]
async fn profile_mode_failure_after_each_step_then_retry() {
    for kind in [
        JobKind::ProvisionHub,
        JobKind::AttachSpoke,
        JobKind::DetachSpoke,
        JobKind::UpdateHubServices,
        JobKind::DeleteHub,
        JobKind::ReconcileHub,
        JobKind::ReconcileSpoke,
    ] {
        failure_after_each_step_then_retry_in(kind, DnsMode::Profile, NetworkMode::Peering).await;
    }
}

/// The whole life of a hub with runners aborted at pseudo-random moments: each time a fresh
/// runner picks the job up after its lease expires.
#[tokio::test]
async fn every_kind_survives_runners_aborted_at_random_points() {
    let w = World::new(sim_config(false)).await;
    let mut cfg = test_engine_config();
    cfg.lease = Duration::from_millis(300);
    let rng = std::sync::Mutex::new(fastrand::Rng::with_seed(11));
    let aborts = std::sync::atomic::AtomicUsize::new(0);
    lifecycle(&w, async |w: &World| {
        let started = Instant::now();
        while store::jobs::job_unfinished_count(&w.pool).await.unwrap() > 0 {
            assert!(started.elapsed() < Duration::from_secs(120), "converges");
            let engine = w.engine(cfg.clone());
            let task = tokio::spawn(async move {
                loop {
                    if engine.run_once(Uuid::new_v4()).await.unwrap().is_none() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
            let pause = rng.lock().unwrap().u64(20..1500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            task.abort();
            let _ = task.await;
            aborts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .await;
    assert!(aborts.into_inner() > 5);
}

/// The per-hub ordering: attaches held in `wait_peering` (the peerings stay `provisioning`),
/// a PATCH of the hub's services meanwhile. The service update starts only after every
/// started attach has finished, and every spoke ends associated with every zone, the new
/// service's included.
#[tokio::test]
async fn service_update_waits_for_attaches_held_in_wait_peering() {
    let w = World::new(SimConfig {
        rate_limits: false,
        peering_provisioning_reads: 40,
        ..SimConfig::default()
    })
    .await;
    let mut cfg = test_engine_config();
    // Long enough for the single runner below to take every attach to its wait in turn.
    cfg.wait_interval = Duration::from_millis(100);
    let hub = w.hub_registered(&["sqs"]).await;
    run(&w, &cfg).await;
    let spokes = [
        w.enroll(1, true).await,
        w.enroll(2, false).await,
        w.enroll(3, true).await,
    ];
    let engine = w.engine(cfg.clone());
    let runner = Uuid::new_v4();
    // Run until every attach waits for its peering.
    let started = Instant::now();
    loop {
        let ran = engine.run_once(runner).await.unwrap();
        if started.elapsed() > Duration::from_secs(30) {
            for s in &spokes {
                let job = w
                    .app
                    .job_get(w.spoke(s.id).await.current_job_id.unwrap())
                    .await
                    .unwrap();
                eprintln!(
                    "{:?} {:?} {:?} {:?} {:?}",
                    job.status, job.current_step, job.last_error, ran, job.events
                );
            }
            panic!("attaches did not all reach wait_peering");
        }
        let mut waiting = 0;
        for s in &spokes {
            let job = w
                .app
                .job_get(w.spoke(s.id).await.current_job_id.unwrap())
                .await
                .unwrap();
            if job.current_step.as_deref() == Some("wait_peering") {
                waiting += 1;
            }
        }
        if waiting == spokes.len() {
            break;
        }
    }
    w.services_set(hub.id, &["sqs", "kms"]).await;
    let update = last_job(&w, JobKind::UpdateHubServices).await;
    // Every time the update job is claimed, no attach of the hub may be started and unfinished.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store::jobs::job_unfinished_count(&w.pool).await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "converges");
        if let Some((id, _)) = engine.run_once(runner).await.unwrap()
            && id == update.id
        {
            for s in &spokes {
                let job = w
                    .app
                    .job_get(w.spoke(s.id).await.current_job_id.unwrap())
                    .await
                    .unwrap();
                assert_eq!(
                    job.status,
                    JobStatus::Succeeded,
                    "the service update ran while attach {} was {}: {:?}",
                    job.id,
                    job.status,
                    job.last_error
                );
            }
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let update = w.app.job_get(update.id).await.unwrap();
    assert_eq!(
        update.status,
        JobStatus::Succeeded,
        "{:?}",
        update.last_error
    );
    // The update's first step came after the last attach finished.
    let first_update_step: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT min(at) FROM job_events WHERE job_id = $1 AND kind = 'step_succeeded'",
    )
    .bind(update.id)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    let last_attach_done: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT max(e.at) FROM job_events e JOIN jobs j ON j.id = e.job_id \
         WHERE j.kind = 'attach_spoke' AND e.kind = 'job_succeeded'",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert!(first_update_step > last_attach_done);
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.services.len(), 2);
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
    }
}

/// A runner that stalls (its heartbeat too) inside a step loses its lease; another runner
/// finishes the job. When the stalled one wakes and ends its step, it writes nothing: its
/// effects (the hub's security group, from a snapshot without the prefix list) and its
/// checkpoint are fenced out.
#[tokio::test]
async fn stalled_runner_commits_nothing_after_losing_its_lease() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(SERVICES).await;
    w.sim.fault_inject(
        Fault::new(
            "DescribeSecurityGroups",
            FaultKind::Freeze(Duration::from_secs(3)),
        )
        .times(1),
    );
    let mut cfg = test_engine_config();
    cfg.lease = Duration::from_millis(400);
    // A runner on its own single-threaded runtime (and its own connections): freezing its
    // thread stalls all of it.
    let options = (*w.pool.connect_options()).clone();
    let cloud = w.cloud.clone();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let pool = sqlx::PgPool::connect_with(options).await.unwrap();
                let stalled = endpoint_hub::workflow::Engine::new(pool, cloud, cfg);
                stalled.run_once(Uuid::new_v4()).await.unwrap()
            })
    });
    // The other runner starts once the stalled one holds the job.
    loop {
        let held: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE locked_by IS NOT NULL)")
                .fetch_one(&w.pool)
                .await
                .unwrap();
        if held {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run(&w, &test_engine_config()).await;
    let done = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(done.status.as_str(), "ready");
    let outcome = thread.join().unwrap();
    assert_eq!(outcome.map(|(_, o)| o), Some(RunOutcome::LeaseLost));
    let after = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(after.prefix_list_id, done.prefix_list_id);
    assert!(after.prefix_list_id.is_some());
    assert_eq!(after.security_group_id, done.security_group_id);
    assert_eq!(
        after.updated_at, done.updated_at,
        "the stalled runner wrote nothing"
    );
    assert_provisioned_once(&w, &hub).await;
}

/// A peering that never becomes active fails its attach after the peering wait deadline,
/// saying what it waited for; the job shows in the failed jobs.
#[tokio::test]
async fn a_wait_has_a_deadline() {
    let w = World::new(SimConfig {
        rate_limits: false,
        peering_provisioning_reads: u32::MAX,
        ..SimConfig::default()
    })
    .await;
    let mut cfg = test_engine_config();
    cfg.waits.peering = Duration::from_millis(500);
    let _hub = w.hub_registered(SERVICES).await;
    run(&w, &cfg).await;
    let spoke = w.enroll(1, true).await;
    run(&w, &cfg).await;
    let spoke = w.spoke(spoke.id).await;
    assert_eq!(spoke.status.as_str(), "failed");
    let error = spoke.last_error.unwrap();
    assert!(
        error.contains("wait_peering") && error.contains("gave up after waiting"),
        "{error}"
    );
    assert!(error.contains("not active yet"), "{error}");
    let failed = w
        .app
        .job_list(
            store::jobs::JobFilter {
                status: Some(JobStatus::Failed),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 1);
    assert_eq!(Some(failed.items[0].id), spoke.current_job_id);
}

/// A step that keeps failing on the database counts attempts like any transient failure and
/// ends `failed` (it used to be claimed again every lease, forever); once the database is
/// right again, a retry finishes it.
#[tokio::test]
async fn database_errors_count_against_the_attempt_budget() {
    let w = World::new(sim_config(false)).await;
    let mut cfg = test_engine_config();
    let hub = w.hub_registered(SERVICES).await;
    run(&w, &cfg).await;
    let spoke = w.enroll(1, true).await;
    // Every step loads its hub with its services: make that fail.
    sqlx::query("ALTER TABLE hub_services RENAME TO hub_services_away")
        .execute(&w.pool)
        .await
        .unwrap();
    cfg.max_attempts = 3;
    run(&w, &cfg).await;
    sqlx::query("ALTER TABLE hub_services_away RENAME TO hub_services")
        .execute(&w.pool)
        .await
        .unwrap();
    let spoke = w.spoke(spoke.id).await;
    let job = w.app.job_get(spoke.current_job_id.unwrap()).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.last_error.unwrap();
    assert!(
        error.contains("gave up after 3 attempts") && error.contains("database"),
        "{error}"
    );
    assert_eq!(spoke.status.as_str(), "failed");
    w.app.job_retry(&actor(), job.id).await.unwrap();
    run(&w, &cfg).await;
    w.assert_attached(&hub, spoke.id).await;
}

/// Jobs stored by the previous release keep running: zone-association progress saved under
/// the old per-spoke state keys is carried over by the migration, so no zone is associated
/// twice.
#[tokio::test]
async fn jobs_stored_before_the_upgrade_resume() {
    let w = World::new(sim_config(false)).await;
    let cfg = test_engine_config();
    let hub = w.hub_registered(SERVICES).await;
    run(&w, &cfg).await;
    let spoke = w.enroll(1, true).await;
    run(&w, &cfg).await;
    w.assert_attached(&hub, spoke.id).await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    let zones: Vec<String> = hub
        .services
        .iter()
        .map(|s| s.zone_id.clone().unwrap().to_string())
        .collect();
    let job_id = w.spoke(spoke.id).await.current_job_id.unwrap();
    let associate = workflow::steps_of(JobKind::AttachSpoke)
        .iter()
        .position(|s| *s == "associate_zones")
        .unwrap() as i32;
    // As the previous release left a job that failed in associate_zones after every zone.
    let state = serde_json::json!({
        "spoke_cidrs": ["10.1.0.0/16"],
        "spoke_route_tables": [],
        "peering_id": w.spoke(spoke.id).await.peering_id.unwrap().to_string(),
        format!("zones_associated:{}", spoke.id): zones,
    });
    sqlx::query(
        "UPDATE jobs SET status = 'failed', next_step = $2, state = $3, finished_at = now() \
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(associate)
    .bind(&state)
    .execute(&w.pool)
    .await
    .unwrap();
    // Downgrade the schema, then upgrade it again.
    sqlx::query("ALTER TABLE jobs DROP COLUMN waiting_since")
        .execute(&w.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 3")
        .execute(&w.pool)
        .await
        .unwrap();
    store::migrate(&w.pool).await.unwrap();
    let associations = w.sim.calls("AssociateVPCWithHostedZone");
    w.app.job_retry(&actor(), job_id).await.unwrap();
    run(&w, &cfg).await;
    let job = w.app.job_get(job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert_eq!(
        w.sim.calls("AssociateVPCWithHostedZone"),
        associations,
        "no zone associated again"
    );
    w.assert_attached(&hub, spoke.id).await;
}

/// Zones made by the previous release (one per service, found by the caller reference
/// `endpoint-hub:{hub}:{generation}`, recorded in `hub_services.zone_id`/`zone_name`) are
/// carried into `hub_service_zones` by migration 0004: readable after the upgrade, and found
/// by their old caller reference instead of being made again.
#[tokio::test]
async fn zones_stored_before_zones_per_name_are_kept() {
    use endpoint_hub::cloud::{CallCx, ZoneVpc};
    let w = World::new(sim_config(false)).await;
    let cfg = test_engine_config();
    let hub = w.hub_registered(&["kms", "sqs"]).await;
    run(&w, &cfg).await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    // The zones as the previous release made them: with the old caller reference.
    let hcx = CallCx {
        account: hub.account_id.clone(),
        region: hub.region.clone(),
        role: hub.role_arn.clone(),
        external_id: None,
        job_id: None,
    };
    let hub_vpc = ZoneVpc {
        vpc_id: hub.vpc_id.clone(),
        region: hub.region.clone(),
    };
    let mut old = std::collections::BTreeMap::new();
    for svc in &hub.services {
        let zone = &svc.zones[0];
        w.cloud
            .dns
            .zone_delete(&hcx, zone.id.as_ref().unwrap())
            .await
            .unwrap();
        let reference = format!(
            "endpoint-hub:{}:{}",
            hub.id.simple(),
            svc.generation.simple()
        );
        let made = w
            .cloud
            .dns
            .zone_create(&hcx, &zone.name, &hub_vpc, &reference)
            .await
            .unwrap();
        old.insert(svc.name.to_string(), (zone.name.clone(), made.id));
    }
    // Downgrade the schema: kms's zone recorded, sqs's made but not recorded yet (a run that
    // stopped before its checkpoint).
    sqlx::query("ALTER TABLE hub_services ADD COLUMN zone_id text, ADD COLUMN zone_name text")
        .execute(&w.pool)
        .await
        .unwrap();
    for (service, (name, id)) in &old {
        sqlx::query(
            "UPDATE hub_services SET zone_name = $3, zone_id = $4 \
             WHERE hub_id = $1 AND service = $2",
        )
        .bind(hub.id)
        .bind(service)
        .bind(name)
        .bind((service == "kms").then(|| id.to_string()))
        .execute(&w.pool)
        .await
        .unwrap();
    }
    for statement in [
        "DROP TABLE hub_service_zones",
        "DELETE FROM _sqlx_migrations WHERE version = 4",
    ] {
        sqlx::query(statement).execute(&w.pool).await.unwrap();
    }
    store::migrate(&w.pool).await.unwrap();

    let after = w.app.hub_get(hub.id).await.unwrap();
    for svc in &after.services {
        let (name, id) = &old[&svc.name.to_string()];
        assert_eq!(svc.zones.len(), 1, "{svc:?}");
        assert_eq!(&svc.zones[0].name, name);
        assert_eq!(svc.zone_name.as_ref(), Some(name));
        let recorded = (svc.name.to_string() == "kms").then(|| id.clone());
        assert_eq!(svc.zones[0].id, recorded, "{svc:?}");
    }
    // A service change runs `zones` over every present service: the old zones are found by
    // their old caller reference; only the new service's zone is made.
    let created = w.sim.calls("CreateHostedZone");
    w.services_set(hub.id, &["kms", "sqs", "ssm"]).await;
    run(&w, &cfg).await;
    let after = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(after.status.as_str(), "ready", "{:?}", after.last_error);
    assert_eq!(
        w.sim.calls("CreateHostedZone"),
        created + 1,
        "only ssm's zone"
    );
    for (service, (_, id)) in &old {
        let svc = after
            .services
            .iter()
            .find(|s| &s.name.to_string() == service)
            .unwrap();
        assert_eq!(svc.zones[0].id.as_ref(), Some(id), "{service}");
        assert_eq!(w.sim.zone_records(id).len(), 2, "records made in {id}");
    }
    assert_eq!(w.sim.zones().len(), 3);
}

/// Every step name stored in a job row resolves in its kind's table, and the tables hold no
/// duplicate names.
#[test]
fn step_tables_are_consistent() {
    for kind in JobKind::ALL {
        let steps = workflow::steps_of(*kind);
        let unique: std::collections::BTreeSet<_> = steps.iter().collect();
        assert_eq!(unique.len(), steps.len(), "{kind}");
        assert!(!steps.is_empty());
    }
    // Names earlier releases stored in job rows, which must keep resolving (new steps may be
    // added: a job keeps the step list it was enqueued with).
    let stored: &[(JobKind, &[&str])] = &[
        (
            JobKind::AttachSpoke,
            &[
                "verify_hub_ready",
                "verify_spoke",
                "check_quotas",
                "request_peering",
                "accept_peering",
                "wait_peering",
                "hub_routes",
                "spoke_routes",
                "admit_cidrs",
                "associate_zones",
                "finish_attach",
            ],
        ),
        (
            JobKind::UpdateHubServices,
            &[
                "verify_hub",
                "endpoints",
                "zones",
                "associate_spokes",
                "remove_services",
                "finish_hub",
            ],
        ),
    ];
    for (kind, names) in stored {
        let steps = workflow::steps_of(*kind);
        for name in *names {
            assert!(
                steps.contains(name),
                "{kind}: step {name} no longer resolves"
            );
        }
    }
    // A service change opens the new services' ports before making their endpoints.
    let update = workflow::steps_of(JobKind::UpdateHubServices);
    let at = |name: &str| update.iter().position(|s| *s == name).unwrap();
    assert!(at("ingress_ports") < at("endpoints"));
}
