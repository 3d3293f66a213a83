//! Drift detection and repair (issue 9), in the simulated cloud: drift is made straight in the
//! cloud (never through the service), then reconciled and checked from outside.

mod support;

use std::time::{Duration, Instant};

use endpoint_hub::app::{ReconcileOptions, Reconciled};
use endpoint_hub::cloud::{PeeringStatus, RouteTarget};
use endpoint_hub::model::{DriftKind, DriftResource, JobKind, JobStatus, ReconcileMode};
use endpoint_hub::store;
use support::*;

/// Mutating AWS calls recorded so far (every one the cloud layer makes is a `cloud_calls` row).
async fn mutating_calls(w: &World) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM cloud_calls")
        .fetch_one(&w.pool)
        .await
        .unwrap()
}

async fn jobs_of(w: &World, kind: JobKind) -> Vec<endpoint_hub::model::Job> {
    w.app
        .job_list(
            store::jobs::JobFilter {
                kind: Some(kind),
                ..Default::default()
            },
            None,
            200,
        )
        .await
        .unwrap()
        .items
}

fn dry_run() -> ReconcileOptions {
    ReconcileOptions {
        dry_run: true,
        detect_only: false,
    }
}

/// A route to the spoke's CIDR through something that is not ours (a transit gateway someone
/// added) is reported as a conflict and left alone; the rest is repaired.
#[tokio::test]
async fn foreign_route_on_the_same_cidr_is_reported_and_left_alone() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    let spoke = w.spoke(spoke.id).await;
    let table = hub.route_table_ids[0].clone();
    w.sim
        .route_put_other(&hub.account_id, &table, &spoke.cidrs[0], "tgw-0foreign");
    let pl = w.app.hub_get(hub.id).await.unwrap().prefix_list_id.unwrap();
    w.sim.drift_prefix_list_entry_remove(&pl, &spoke.cidrs[0]);

    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;

    let routes = w.sim.routes(&table);
    let route = routes
        .iter()
        .find(|r| r.destination == spoke.cidrs[0])
        .unwrap();
    assert_eq!(route.target, RouteTarget::Other("tgw-0foreign".into()));
    assert!(w.sim.prefix_list_entries(&pl).contains(&spoke.cidrs[0]));
    let drift = w.spoke(spoke.id).await.drift.unwrap();
    assert_eq!(drift.differences.len(), 1, "{drift:?}");
    let d = &drift.differences[0];
    assert_eq!(
        (d.kind, d.resource),
        (DriftKind::Conflict, DriftResource::Route)
    );
    assert!(d.detail.contains("tgw-0foreign"), "{}", d.detail);
    assert!(d.repair.is_none());
    let job = jobs_of(&w, JobKind::ReconcileHub).await.remove(0);
    assert_eq!(job.status, JobStatus::Succeeded);
    // A second reconcile leaves it alone again: nothing mutating at all.
    let before = mutating_calls(&w).await;
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(mutating_calls(&w).await, before);
    let metrics = w.app.metrics().await.unwrap();
    assert!(
        metrics.contains("endpoint_hub_drift_conflicts_open{resource=\"route\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "endpoint_hub_drift_repaired_total{kind=\"missing\",resource=\"prefix_list_entry\"} 1"
        ),
        "{metrics}"
    );
}

/// `detect_only` (the request flag, or the hub's `reconcile_mode`) reports every difference,
/// stores it, and makes no mutating call.
#[tokio::test]
async fn detect_only_reports_and_changes_nothing() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    let made = w.drift_inject(&hub, spoke.id).await;
    let before = mutating_calls(&w).await;
    w.app
        .spoke_reconcile(
            &actor(),
            spoke.id,
            ReconcileOptions {
                dry_run: false,
                detect_only: true,
            },
        )
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(mutating_calls(&w).await, before);
    let (open, error) = w.drift_open(hub.id, Some(spoke.id)).await;
    assert_eq!(open.len(), made, "{open:?}");
    assert!(error.is_none());

    // The hub's setting does the same for every reconcile of the hub.
    let mut conn = w.pool.acquire().await.unwrap();
    store::hubs::hub_reconcile_mode_set(&mut conn, hub.id, ReconcileMode::Detect)
        .await
        .unwrap();
    drop(conn);
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(mutating_calls(&w).await, before);
    let (open, _) = w.drift_open(hub.id, Some(spoke.id)).await;
    assert_eq!(open.len(), made, "{open:?}");
    // Found twice (two jobs), repaired never.
    let metrics = w.app.metrics().await.unwrap();
    assert!(
        metrics
            .contains("endpoint_hub_drift_repaired_total{kind=\"missing\",resource=\"route\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("endpoint_hub_drift_found_total{kind=\"missing\",resource=\"route\"} 4"),
        "{metrics}"
    );
}

/// A dry run answers what a reconcile would find and change, in order, and makes no mutating
/// call, creates no job and records nothing.
#[tokio::test]
async fn dry_run_plans_without_changing_or_storing_anything() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.drift_inject(&hub, spoke.id).await;
    let peering = w.spoke(spoke.id).await.peering_id.unwrap();
    w.sim
        .peering_set_status(&peering, PeeringStatus::Deleted, None);
    let calls = mutating_calls(&w).await;
    let jobs = jobs_of(&w, JobKind::ReconcileHub).await.len();

    let Reconciled::Planned(plan) = w
        .app
        .hub_reconcile(&actor(), hub.id, dry_run())
        .await
        .unwrap()
    else {
        panic!("a dry run answers a plan");
    };
    assert_eq!(mutating_calls(&w).await, calls);
    assert_eq!(jobs_of(&w, JobKind::ReconcileHub).await.len(), jobs);
    assert!(w.spoke(spoke.id).await.drift.is_none(), "nothing recorded");
    let ops: Vec<&str> = plan.changes.iter().map(|c| c.operation.as_str()).collect();
    let first = |op: &str| {
        ops.iter()
            .position(|o| *o == op)
            .unwrap_or_else(|| panic!("{op} in {ops:?}"))
    };
    assert!(
        first("CreateVpcPeeringConnection") < first("ReplaceRoute"),
        "{ops:?}"
    );
    assert!(
        first("ReplaceRoute") < first("ModifyManagedPrefixList"),
        "{ops:?}"
    );
    first("CreateRoute");
    first("AssociateVPCWithHostedZone");
    first("DeleteVPCAssociationAuthorization");
    // Routes wait for the peering the plan makes first.
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.operation.ends_with("Route"))
            .all(|c| c.depends_on.is_some()),
        "{:?}",
        plan.changes
    );
    assert!(
        plan.differences
            .iter()
            .any(|d| d.kind == DriftKind::WrongTarget && d.resource == DriftResource::Route),
        "routes through the deleted peering: {:?}",
        plan.differences
    );
    // Detect-only plans list the differences and no change.
    let Reconciled::Planned(plan) = w
        .app
        .spoke_reconcile(
            &actor(),
            spoke.id,
            ReconcileOptions {
                dry_run: true,
                detect_only: true,
            },
        )
        .await
        .unwrap()
    else {
        panic!("plan");
    };
    assert!(plan.changes.is_empty());
    assert!(!plan.differences.is_empty());
    assert_eq!(mutating_calls(&w).await, calls);
}

/// A spoke whose role can no longer be assumed is reported (`access_denied`), not retried
/// forever; the other spokes of the pass are still checked and repaired.
#[tokio::test]
async fn a_spoke_that_cannot_be_read_is_reported_not_retried() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, true).await;
    w.run_until_idle().await;
    w.sim.role_deny(&a.role_arn);
    w.drift_inject_route(&hub, b.id).await;
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    let job = jobs_of(&w, JobKind::ReconcileHub).await.remove(0);
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert_eq!(job.attempts, 0, "not retried");
    let (open, error) = w.drift_open(hub.id, Some(a.id)).await;
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("access_denied")),
        "{error:?} {open:?}"
    );
    w.sim.role_allow(&a.role_arn);
    w.assert_attached(&hub, b.id).await;
    let (open, error) = w.drift_open(hub.id, Some(b.id)).await;
    assert!(open.is_empty() && error.is_none());
}

/// A reconcile already queued is answered instead of a second one.
#[tokio::test]
async fn a_second_request_gets_the_reconcile_already_queued() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let first = w
        .app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    let second = w
        .app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    let (Reconciled::Accepted(a), Reconciled::Accepted(b)) = (first, second) else {
        panic!("accepted");
    };
    assert_eq!(a.job_id, b.job_id);
    w.run_until_idle().await;
}

/// Fifty attached spokes: a background pass without drift makes no mutating call (and prints
/// how long it took and how many reads it made); with ten drifts made by hand across the
/// spokes, one pass repairs all ten.
#[tokio::test]
async fn background_pass_over_fifty_spokes() {
    let w = World::new(sim_config(true)).await;
    let hub = w.hub_registered(&["sqs", "kms", "ssm"]).await;
    w.run_like_a_deployment().await;
    let mut spokes = Vec::new();
    for n in 1..=50 {
        spokes.push(w.enroll(n, true).await);
    }
    w.run_like_a_deployment().await;
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM spokes GROUP BY status")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    assert_eq!(statuses, vec![("attached".to_string(), 50)]);
    let calls = mutating_calls(&w).await;
    let reads = w.sim.calls_total();
    let ops = [
        "DescribeRouteTables",
        "DescribeVpcPeeringConnections",
        "GetHostedZone",
        "ListResourceRecordSets",
        "ListVPCAssociationAuthorizations",
        "DescribeVpcEndpoints",
        "AssumeRole",
    ];
    let counts_before: Vec<usize> = ops.iter().map(|o| w.sim.calls(o)).collect();
    let started = Instant::now();
    let jobs = w
        .app
        .reconcile_pass(Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one job per ready hub");
    w.run_like_a_deployment().await;
    let took = started.elapsed();
    let job = w.app.job_get(jobs[0]).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    for (o, b) in ops.iter().zip(counts_before) {
        println!("{o}: {}", w.sim.calls(o) - b);
    }
    assert_eq!(mutating_calls(&w).await, calls, "no drift, no change");
    println!(
        "no-drift pass over 50 spokes: {:.2} s, {} simulated AWS calls",
        took.as_secs_f64(),
        w.sim.calls_total() - reads
    );
    for s in &spokes {
        let d = w.spoke(s.id).await.drift.expect("checked");
        assert!(d.differences.is_empty());
    }

    // Ten drifts, straight in the cloud.
    let hub_now = w.app.hub_get(hub.id).await.unwrap();
    let pl = hub_now.prefix_list_id.clone().unwrap();
    let zone = hub_now.services[0].zones[0].id.clone().unwrap();
    for s in &spokes[0..3] {
        w.sim
            .drift_route_delete(&hub_now.route_table_ids[0], &s.cidrs[0]);
    }
    for s in &spokes[3..6] {
        w.sim.drift_prefix_list_entry_remove(&pl, &s.cidrs[0]);
    }
    for s in &spokes[6..9] {
        w.sim.drift_zone_disassociate(&zone, &s.vpc_id);
    }
    let gone = w.spoke(spokes[9].id).await.peering_id.unwrap();
    w.sim
        .peering_set_status(&gone, PeeringStatus::Deleted, None);
    let started = Instant::now();
    let jobs = w
        .app
        .reconcile_pass(Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    w.run_like_a_deployment().await;
    println!(
        "pass repairing 10 drifts over 50 spokes: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
        let d = w.spoke(s.id).await.drift.expect("checked");
        assert!(d.differences.is_empty(), "{:?}", d.differences);
    }
    let repaired: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM drift_findings WHERE job_id = $1 AND repaired_at IS NOT NULL",
    )
    .bind(jobs[0])
    .fetch_one(&w.pool)
    .await
    .unwrap();
    // The deleted peering is one difference and each of its routes (one hub table, the
    // spoke's tables) another: at least the ten made.
    assert!(repaired >= 10, "{repaired}");
    let metrics = w.app.metrics().await.unwrap();
    assert!(
        metrics.contains("endpoint_hub_reconcile_last_pass_seconds"),
        "{metrics}"
    );
}

/// Counts of each operation in a plan.
fn plan_counts(
    changes: &[endpoint_hub::model::PlannedChange],
) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for c in changes {
        *m.entry(c.operation.clone()).or_insert(0) += 1;
    }
    m
}

/// Row counts a request could change.
async fn rows(w: &World) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "hubs",
        "hub_services",
        "spokes",
        "cidr_claims",
        "jobs",
        "audit_log",
    ] {
        out.push(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
                .fetch_one(&w.pool)
                .await
                .unwrap(),
        );
    }
    out
}

/// An enrolment's plan lists exactly the creating calls its attach then makes, and a
/// detach's plan exactly the deleting calls of the detach; neither plan changes or stores
/// anything, and a plan refuses what the real request refuses.
#[tokio::test]
async fn enrolment_and_detach_plans_match_what_the_jobs_do() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let first = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, first.id).await;

    let calls = mutating_calls(&w).await;
    let before = rows(&w).await;
    let plan = w
        .app
        .spoke_enroll_plan(&actor(), w.spoke_request(2, false))
        .await
        .unwrap();
    assert_eq!(mutating_calls(&w).await, calls, "a plan changes nothing");
    assert_eq!(rows(&w).await, before, "a plan stores nothing");
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    assert_eq!(plan.resource["cidrs"], serde_json::json!([]));
    let planned = plan_counts(&plan.changes);
    // The same request for real; its attach's creating calls are the plan's.
    let ops = [
        "CreateVpcPeeringConnection",
        "AcceptVpcPeeringConnection",
        "CreateRoute",
        "ModifyManagedPrefixList",
        "AssociateVPCWithHostedZone",
    ];
    let made_before: Vec<usize> = ops.iter().map(|o| w.sim.calls(o)).collect();
    let spoke = w.enroll(2, false).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    for (op, b) in ops.iter().zip(made_before) {
        assert_eq!(
            planned.get(*op).copied().unwrap_or(0),
            w.sim.calls(op) - b,
            "{op}: plan {planned:?}"
        );
    }
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.operation == "CreateRoute")
            .all(|c| c.depends_on.is_some())
    );
    // Refused as the real request is: the same VPC again.
    let mut again = w.spoke_request(3, false);
    again.vpc_id = spoke.vpc_id.clone();
    again.account_id = spoke.account_id.clone();
    let e = w.app.spoke_enroll_plan(&actor(), again).await.unwrap_err();
    assert!(e.to_string().contains("already enrolled"), "{e}");

    // Detach: the plan's deleting calls are the detach's.
    let calls = mutating_calls(&w).await;
    let before = rows(&w).await;
    let plan = w.app.spoke_detach_plan(&actor(), spoke.id).await.unwrap();
    assert_eq!(mutating_calls(&w).await, calls);
    assert_eq!(rows(&w).await, before);
    assert_eq!(plan.resource["status"], "detaching");
    let planned = plan_counts(&plan.changes);
    let ops = [
        "DeleteRoute",
        "DeleteVpcPeeringConnection",
        "DisassociateVPCFromHostedZone",
    ];
    let made_before: Vec<usize> = ops.iter().map(|o| w.sim.calls(o)).collect();
    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, spoke.id).await;
    for (op, b) in ops.iter().zip(made_before) {
        assert_eq!(
            planned.get(*op).copied().unwrap_or(0),
            w.sim.calls(op) - b,
            "{op}: plan {planned:?}"
        );
    }
    assert_eq!(planned["ModifyManagedPrefixList"], 1);
}

/// A service change's plan and a hub deletion's plan: validated as for real (a hub with
/// spokes cannot be deleted), nothing changed or stored.
#[tokio::test]
async fn service_change_and_hub_delete_plans() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, true).await;
    w.run_until_idle().await;
    let calls = mutating_calls(&w).await;
    let before = rows(&w).await;
    let plan = w
        .app
        .hub_update_plan(
            &actor(),
            hub.id,
            endpoint_hub::app::HubUpdate {
                network_mode: None,
                services: vec!["kms".parse().unwrap(), "ssm".parse().unwrap()],
                reconcile_mode: None,
                dns_mode: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(mutating_calls(&w).await, calls);
    assert_eq!(rows(&w).await, before);
    assert_eq!(
        w.app.hub_get(hub.id).await.unwrap().status.as_str(),
        "ready"
    );
    let planned = plan_counts(&plan.changes);
    assert_eq!(planned["CreateVpcEndpoint"], 1, "{planned:?}");
    assert_eq!(planned["DeleteVpcEndpoint"], 1);
    let zones_made = planned["CreateHostedZone"];
    assert!(zones_made >= 1);
    assert_eq!(
        planned["AssociateVPCWithHostedZone"],
        2 * zones_made,
        "two spokes"
    );
    assert_eq!(planned["DisassociateVPCFromHostedZone"], 2);
    assert_eq!(planned["DeleteHostedZone"], 1);
    // Refused as for real.
    let e = w.app.hub_delete_plan(&actor(), hub.id).await.unwrap_err();
    assert!(e.to_string().contains("still has 2 spoke"), "{e}");
    for s in [&a, &b] {
        w.app.spoke_detach(&actor(), s.id).await.unwrap();
    }
    w.run_until_idle().await;
    let plan = w.app.hub_delete_plan(&actor(), hub.id).await.unwrap();
    let planned = plan_counts(&plan.changes);
    assert_eq!(planned["DeleteVpcEndpoint"], 2);
    assert_eq!(planned["DeleteSecurityGroup"], 1);
    assert_eq!(planned["DeleteManagedPrefixList"], 1);
    assert_eq!(
        w.app.hub_get(hub.id).await.unwrap().status.as_str(),
        "ready"
    );
}

/// The hub's own resources drifted: an ingress rule revoked, an entry no spoke claims added
/// to the prefix list, an endpoint deleted, the hub VPC disassociated from a zone. A reconcile
/// of the hub repairs each once; a second reconcile makes no mutating call.
#[tokio::test]
async fn hub_resources_drift_is_repaired_once() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    let sg = hub.security_group_id.clone().unwrap();
    let pl = hub.prefix_list_id.clone().unwrap();
    w.sim.drift_ingress_revoke(&sg, 443);
    w.sim
        .drift_prefix_list_entry_add(&pl, cidr_("10.99.0.0/16"));
    let endpoint = hub.services[1].endpoint_id.clone().unwrap();
    w.sim.drift_endpoint_delete(&endpoint);
    let zone = hub.services[0].zones[0].id.clone().unwrap();
    w.sim.drift_zone_disassociate(&zone, &hub.vpc_id);
    let created = w.sim.calls("CreateVpcEndpoint");
    let authorized = w.sim.calls("AuthorizeSecurityGroupIngress");

    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    let after = w.app.hub_get(hub.id).await.unwrap();
    let (open, error) = w.drift_open(hub.id, None).await;
    assert!(open.is_empty() && error.is_none(), "{open:?} {error:?}");
    assert!(
        w.sim
            .security_groups()
            .iter()
            .any(|g| g.id == sg && g.admits(443, &pl))
    );
    assert!(
        !w.sim
            .prefix_list_entries(&pl)
            .contains(&cidr_("10.99.0.0/16"))
    );
    assert_eq!(
        w.sim.calls("CreateVpcEndpoint"),
        created + 1,
        "one new endpoint"
    );
    // The group is read before it is written: the one rule missing is authorized, once.
    assert_eq!(w.sim.calls("AuthorizeSecurityGroupIngress"), authorized + 1);
    assert_ne!(after.services[1].endpoint_id.as_ref(), Some(&endpoint));
    assert!(
        w.sim
            .zone_vpcs(&zone)
            .iter()
            .any(|v| v.vpc_id == hub.vpc_id)
    );
    w.assert_attached(&after, spoke.id).await;
    let found: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT kind, resource, repaired_at IS NOT NULL FROM drift_findings ORDER BY id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    for (kind, resource) in [
        ("missing", "ingress_rule"),
        ("extra", "prefix_list_entry"),
        ("missing", "endpoint"),
        ("missing", "zone_association"),
    ] {
        assert!(
            found
                .iter()
                .any(|(k, r, repaired)| k == kind && r == resource && *repaired),
            "{kind} {resource} found and repaired: {found:?}"
        );
    }

    let calls = mutating_calls(&w).await;
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(mutating_calls(&w).await, calls, "nothing left to repair");

    // Only an endpoint gone: the hub's provisioning steps run again, and the group, read
    // first, is not written (every port is admitted already).
    let authorized = w.sim.calls("AuthorizeSecurityGroupIngress");
    let endpoint = w.app.hub_get(hub.id).await.unwrap().services[0]
        .endpoint_id
        .clone()
        .unwrap();
    w.sim.drift_endpoint_delete(&endpoint);
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(w.sim.calls("CreateVpcEndpoint"), created + 2);
    assert_eq!(w.sim.calls("AuthorizeSecurityGroupIngress"), authorized);
}

/// A zone deleted by hand is made again (Route 53 never takes a caller reference twice: a new
/// one), gets its records, and every attached spoke is associated with it again.
#[tokio::test]
async fn a_zone_deleted_by_hand_is_made_again_and_reassociated() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, true).await;
    w.run_until_idle().await;
    let before = w.app.hub_get(hub.id).await.unwrap();
    let gone = before.services[0].zones[0].id.clone().unwrap();
    w.sim.drift_zone_delete(&gone);
    let made = w.sim.calls("CreateHostedZone");

    // A spoke's reconcile reports it and leaves it to the hub's.
    w.app
        .spoke_reconcile(&actor(), a.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(w.sim.calls("CreateHostedZone"), made);
    let (open, _) = w.drift_open(hub.id, Some(a.id)).await;
    assert!(
        open.iter().any(|d| d.starts_with("missing zone")),
        "{open:?}"
    );

    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(w.sim.calls("CreateHostedZone"), made + 1);
    let after = w.app.hub_get(hub.id).await.unwrap();
    let remade = after.services[0].zones[0].id.clone().unwrap();
    assert_ne!(remade, gone);
    assert_eq!(w.sim.zone_records(&remade).len(), 2, "apex and wildcard");
    for s in [&a, &b] {
        w.assert_attached(&after, s.id).await;
    }
    let (open, error) = w.drift_open(hub.id, None).await;
    assert!(open.is_empty() && error.is_none(), "{open:?}");
    // The remade zone is not an orphan, and nothing else is.
    let orphans = w.app.orphans_list().await.unwrap();
    assert!(orphans.orphans.is_empty(), "{:?}", orphans.orphans);
}

/// Detaching a spoke cancels a reconcile of it that has not started.
#[tokio::test]
async fn detach_cancels_a_reconcile_not_started() {
    let w = World::new(sim_config(false)).await;
    let _hub = w.hub(&["sqs"]).await;
    let a = w.enroll(1, true).await;
    w.run_until_idle().await;
    let Reconciled::Accepted(r) = w
        .app
        .spoke_reconcile(&actor(), a.id, Default::default())
        .await
        .unwrap()
    else {
        panic!("accepted");
    };
    w.app.spoke_detach(&actor(), a.id).await.unwrap();
    w.run_until_idle().await;
    let job = w.app.job_get(r.job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Canceled);
    assert_eq!(w.spoke(a.id).await.status.as_str(), "detached");
}

/// `profile` DNS mode: a spoke VPC's Profile association removed, a zone taken out of the
/// Profile, a spoke account removed from the share and a stranger's account added, all by
/// hand: a reconcile of the hub finds each and repairs it; the next one changes nothing.
#[tokio::test]
async fn profile_drift_is_found_and_repaired_then_left_alone() {
    let mut w = World::new(sim_config(false)).await;
    w.dns_mode = endpoint_hub::model::DnsMode::Profile;
    let hub = w.hub(&["sqs", "kms"]).await;
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, true).await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    let profile = hub.profile_id.clone().unwrap();
    let zone = hub.services[0].zones[0].id.clone().unwrap();
    w.sim.drift_profile_disassociate(&a.vpc_id);
    w.sim.drift_profile_zone_remove(&profile, &zone);
    w.sim.drift_share_principal_remove(&b.account_id);
    let stranger = acct("999999999999");
    w.sim
        .drift_share_principal_add(hub.share_arn.as_deref().unwrap(), &stranger);

    // A plan first: every difference, nothing changed.
    let before = mutating_calls(&w).await;
    let plan = match w
        .app
        .hub_reconcile(&actor(), hub.id, dry_run())
        .await
        .unwrap()
    {
        Reconciled::Planned(p) => p,
        Reconciled::Accepted(_) => panic!("expected a plan"),
    };
    assert_eq!(mutating_calls(&w).await, before);
    let kinds: Vec<(DriftKind, DriftResource)> = plan
        .differences
        .iter()
        .map(|d| (d.kind, d.resource))
        .collect();
    for want in [
        (DriftKind::Missing, DriftResource::ProfileAssociation),
        (DriftKind::Missing, DriftResource::ProfileZone),
        (DriftKind::Missing, DriftResource::SharePrincipal),
        (DriftKind::Extra, DriftResource::SharePrincipal),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
    }

    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    w.assert_attached(&hub, a.id).await;
    w.assert_attached(&hub, b.id).await;
    assert!(w.sim.profile_zones(&profile).contains(&zone));
    let principals: Vec<_> = w
        .sim
        .share_principals_all()
        .into_iter()
        .map(|(_, acc, _)| acc)
        .collect();
    assert!(principals.contains(&b.account_id), "{principals:?}");
    assert!(!principals.contains(&stranger), "{principals:?}");
    let (open, error) = w.drift_open(hub.id, None).await;
    assert!(open.is_empty() && error.is_none(), "{open:?} {error:?}");
    assert_eq!(
        w.sim.calls("AssociateVPCWithHostedZone"),
        0,
        "no direct zone association in profile mode"
    );

    let before = mutating_calls(&w).await;
    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(mutating_calls(&w).await, before, "nothing left to repair");
}

/// `profile` mode: an enrolment's plan lists the share, the invitation and the one Profile
/// association, and no zone association; the attach then makes exactly those calls.
#[tokio::test]
async fn profile_enrolment_plan_matches_the_attach() {
    let mut w = World::new(sim_config(false)).await;
    w.dns_mode = endpoint_hub::model::DnsMode::Profile;
    let hub = w.hub(&["sqs", "kms"]).await;
    let plan = w
        .app
        .spoke_enroll_plan(&actor(), w.spoke_request(1, true))
        .await
        .unwrap();
    let ops: Vec<&str> = plan.changes.iter().map(|c| c.operation.as_str()).collect();
    assert!(ops.contains(&"AssociateResourceShare"), "{ops:?}");
    assert!(ops.contains(&"AssociateProfile"), "{ops:?}");
    assert!(!ops.contains(&"AssociateVPCWithHostedZone"), "{ops:?}");
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    for op in ["AssociateResourceShare", "AssociateProfile"] {
        assert_eq!(
            w.sim.calls(op),
            ops.iter().filter(|o| **o == op).count(),
            "{op}"
        );
    }
}
