//! Issue 8, "Real AWS is less forgiving than our emulators": interface endpoints as AWS makes
//! them, against the simulated cloud. S3 and DynamoDB are listed as a Gateway service before
//! the Interface one; services offered in some availability zones only; endpoints that are
//! `pending`, end `failed`, or take a while `deleting`.

mod support;

use std::time::Duration;

use endpoint_hub::app::HubUpdate;
use endpoint_hub::cloud::sim::SimConfig;
use endpoint_hub::model::Hub;
use endpoint_hub::workflow::EngineConfig;
use support::*;

async fn run(w: &World, cfg: &EngineConfig) {
    w.engine(cfg.clone())
        .run_until_idle(Duration::from_secs(120))
        .await
        .expect("jobs finish");
}

/// A world whose simulated cloud has rate limits off and `config` applied.
async fn world(config: impl FnOnce(&mut SimConfig)) -> World {
    let mut sim = sim_config(false);
    config(&mut sim);
    World::new(sim).await
}

/// The test engine with a short endpoint wait deadline.
fn short_endpoint_wait() -> EngineConfig {
    let mut cfg = test_engine_config();
    cfg.waits.endpoint = Duration::from_millis(500);
    cfg
}

/// Fails unless `error` mentions every one of `needles`.
fn assert_mentions(error: &str, needles: &[&str]) {
    for needle in needles {
        assert!(error.contains(needle), "{needle} in {error}");
    }
}

/// The hub's failure message; panics unless it failed.
async fn hub_error(w: &World, hub: &Hub) -> String {
    let hub = hub_now(w, hub).await;
    assert_eq!(hub.status.as_str(), "failed", "{hub:?}");
    hub.last_error.unwrap()
}

/// The endpoint recorded for a service of the hub.
fn endpoint_of(hub: &Hub, service: &str) -> endpoint_hub::domain::EndpointId {
    hub.services
        .iter()
        .find(|s| s.name.to_string() == service)
        .and_then(|s| s.endpoint_id.clone())
        .unwrap_or_else(|| panic!("no endpoint for {service}: {hub:?}"))
}

async fn hub_now(w: &World, hub: &Hub) -> Hub {
    w.app.hub_get(hub.id).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. S3 and DynamoDB: the Interface entry, not the Gateway one listed first
// ---------------------------------------------------------------------------------------------

/// `DescribeVpcEndpointServices` lists S3 and DynamoDB as Gateway (no private DNS name) then
/// Interface: the hub gets interface endpoints and zones named by the Interface entry.
#[tokio::test]
async fn s3_and_dynamodb_use_the_interface_service() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(&["s3", "dynamodb", "sqs"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let zone = |name: &str| {
        hub.services
            .iter()
            .find(|s| s.name.to_string() == name)
            .and_then(|s| s.zone_name.clone())
    };
    assert_eq!(zone("s3").as_deref(), Some("s3.eu-west-1.amazonaws.com"));
    assert_eq!(
        zone("dynamodb").as_deref(),
        Some("dynamodb.eu-west-1.amazonaws.com")
    );
    assert_eq!(w.sim.endpoints().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// 2. Availability zones: one subnet per zone the service is offered in
// ---------------------------------------------------------------------------------------------

/// `email-smtp` is offered in zones a and b only: its endpoint gets the hub's subnets there
/// (a subnet in zone c would be refused with `InvalidParameter`); `sqs` gets all three.
#[tokio::test]
async fn endpoints_use_the_hub_subnets_in_the_zones_the_service_offers() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(&["email-smtp", "sqs"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(
        w.sim.endpoint_zones(&endpoint_of(&hub, "email-smtp")),
        ["eu-west-1a", "eu-west-1b"]
    );
    assert_eq!(
        w.sim.endpoint_zones(&endpoint_of(&hub, "sqs")),
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    );
}

/// Two hub subnets in one zone: refused when the hub is verified, naming them and the zone,
/// before any endpoint is attempted.
#[tokio::test]
async fn two_hub_subnets_in_one_zone_are_refused_at_verify_hub() {
    let w = World::new(sim_config(false)).await;
    let (hub, subnets) = w.hub_registered_on(&["sqs"], 4, &[0, 1, 2, 3]).await;
    w.run_until_idle().await;
    let error = hub_error(&w, &hub).await;
    assert!(error.starts_with("verify_hub:"), "{error}");
    assert_mentions(
        &error,
        &[
            subnets[0].as_str(),
            subnets[3].as_str(),
            "eu-west-1a",
            "one subnet per availability zone",
        ],
    );
    assert_eq!(w.sim.calls("CreateVpcEndpoint"), 0);
}

/// A service offered in none of the hub's zones fails provisioning for good, naming the
/// service, its zones and the hub's.
#[tokio::test]
async fn a_service_offered_in_none_of_the_hub_zones_is_a_clear_error() {
    let w = World::new(sim_config(false)).await;
    // Only the subnet in zone c; email-smtp is offered in a and b.
    let (hub, _) = w.hub_registered_on(&["email-smtp"], 3, &[2]).await;
    w.run_until_idle().await;
    let error = hub_error(&w, &hub).await;
    assert_mentions(
        &error,
        &[
            "com.amazonaws.eu-west-1.email-smtp",
            "eu-west-1a, eu-west-1b",
            "eu-west-1c",
        ],
    );
    assert_eq!(w.sim.calls("CreateVpcEndpoint"), 0);
}

// ---------------------------------------------------------------------------------------------
// 3. Endpoint states: pending, failed, deleting
// ---------------------------------------------------------------------------------------------

/// The hub is ready only once every endpoint is `available`.
#[tokio::test]
async fn the_hub_is_ready_only_when_every_endpoint_is_available() {
    let w = world(|c| c.endpoint_pending_reads = 5).await;
    let hub = w.hub_registered(&["sqs", "kms"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let states: Vec<String> = w.sim.endpoints().into_iter().map(|e| e.state).collect();
    assert_eq!(states, ["available", "available"]);
}

/// An endpoint that stays `pending` fails the hub at the endpoint wait deadline.
#[tokio::test]
async fn an_endpoint_pending_for_ever_fails_at_the_endpoint_deadline() {
    let w = world(|c| c.endpoint_pending_reads = u32::MAX).await;
    let cfg = short_endpoint_wait();
    let hub = w.hub_registered(&["sqs"]).await;
    run(&w, &cfg).await;
    let error = hub_error(&w, &hub).await;
    assert!(
        error.contains("gave up after waiting") && error.contains("pending"),
        "{error}"
    );
}

/// A `failed` endpoint is not adopted: a new one is created and becomes the service's; the
/// failed one is left (AWS keeps it listed) and reported in the job's events.
#[tokio::test]
async fn a_failed_endpoint_is_replaced_and_reported() {
    let w = world(|c| c.endpoint_pending_reads = 2).await;
    w.sim.endpoints_fail("sqs", 1);
    let hub = w.hub_registered(&["sqs", "kms"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let endpoints = w.sim.endpoints();
    let failed: Vec<_> = endpoints.iter().filter(|e| e.state == "failed").collect();
    assert_eq!(failed.len(), 1, "{endpoints:?}");
    let sqs = endpoint_of(&hub, "sqs");
    assert_ne!(sqs, failed[0].id);
    assert!(
        endpoints
            .iter()
            .any(|e| e.id == sqs && e.state == "available")
    );
    let notes: Vec<String> = sqlx::query_scalar(
        "SELECT message FROM job_events WHERE kind = 'step_note' AND message IS NOT NULL",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.contains(failed[0].id.as_str()) && n.contains("simulated failure")),
        "{notes:?}"
    );
    // Deleting the hub deletes the failed endpoint too.
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    assert!(w.sim.endpoints().iter().all(|e| e.state == "deleted"));
}

/// Endpoints that keep failing fail the hub, naming them and why, instead of making more.
#[tokio::test]
async fn endpoints_that_keep_failing_fail_the_hub() {
    let w = World::new(sim_config(false)).await;
    w.sim.endpoints_fail("sqs", 10);
    let hub = w.hub_registered(&["sqs"]).await;
    w.run_until_idle().await;
    let error = hub_error(&w, &hub).await;
    let failed: Vec<_> = w.sim.endpoints();
    assert!(failed.len() < 10, "{failed:?}");
    for e in &failed {
        assert_eq!(e.state, "failed");
        assert!(error.contains(e.id.as_str()), "{} in {error}", e.id);
    }
    assert!(error.contains("simulated failure"), "{error}");
}

/// Hub deletion and service removal wait for endpoints `deleting` to be gone, rather than
/// spending the retry budget on `DependencyViolation` from the security group.
#[tokio::test]
async fn deletion_waits_for_endpoints_to_be_deleted() {
    let w = world(|c| c.endpoint_deleting_reads = 8).await;
    let mut cfg = test_engine_config();
    cfg.max_attempts = 2;
    let hub = w.hub_registered(&["sqs", "kms"]).await;
    run(&w, &cfg).await;
    let kms = endpoint_of(&hub_now(&w, &hub).await, "kms");
    w.app
        .hub_update(
            &actor(),
            hub.id,
            HubUpdate {
                network_mode: None,
                reconcile_mode: None,
                dns_mode: None,
                services: vec!["sqs".parse().unwrap()],
            },
        )
        .await
        .unwrap();
    run(&w, &cfg).await;
    let after = hub_now(&w, &hub).await;
    assert_eq!(after.status.as_str(), "ready", "{:?}", after.last_error);
    let state = |id: &endpoint_hub::domain::EndpointId| {
        w.sim
            .endpoints()
            .into_iter()
            .find(|e| &e.id == id)
            .unwrap()
            .state
    };
    assert_eq!(state(&kms), "deleted");

    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    run(&w, &cfg).await;
    let (status, error) = w.hub_status_row(hub.id).await;
    assert_eq!(status, "deleted", "{error:?}");
    assert!(w.sim.endpoints().iter().all(|e| e.state == "deleted"));
    assert_eq!(
        w.sim.calls("DeleteSecurityGroup"),
        1,
        "no DependencyViolation"
    );
}

/// An endpoint that never finishes deleting fails the deletion at the endpoint deadline.
#[tokio::test]
async fn an_endpoint_deleting_for_ever_fails_at_the_endpoint_deadline() {
    let w = world(|c| c.endpoint_deleting_reads = u32::MAX).await;
    let cfg = short_endpoint_wait();
    let hub = w.hub_registered(&["sqs"]).await;
    run(&w, &cfg).await;
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    run(&w, &cfg).await;
    let error = hub_error(&w, &hub).await;
    assert!(
        error.contains("gave up after waiting") && error.contains("deleting"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. One private hosted zone per private DNS name
// ---------------------------------------------------------------------------------------------

const KINESIS_ZONES: [&str; 3] = [
    "kinesis.eu-west-1.amazonaws.com",
    "data-kinesis.eu-west-1.amazonaws.com",
    "control-kinesis.eu-west-1.amazonaws.com",
];

/// The service's zones, by name, as the hub reports them.
fn zones_of(hub: &Hub, service: &str) -> Vec<endpoint_hub::model::HubZone> {
    hub.services
        .iter()
        .find(|s| s.name.to_string() == service)
        .map(|s| s.zones.clone())
        .unwrap_or_else(|| panic!("no service {service}: {hub:?}"))
}

/// Checks each zone of `service` exists in the cloud with exactly the apex and `*.` alias
/// records to the service's endpoint, and returns the zones' ids.
fn assert_zone_records(
    w: &World,
    hub: &Hub,
    service: &str,
    names: &[&str],
) -> Vec<endpoint_hub::domain::HostedZoneId> {
    let zones = zones_of(hub, service);
    let got: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(got, names, "zones of {service}");
    let endpoint = endpoint_of(hub, service);
    let regional = w
        .sim
        .endpoints()
        .into_iter()
        .find(|e| e.id == endpoint)
        .unwrap()
        .dns_entries[0]
        .dns_name
        .clone();
    let svc = hub
        .services
        .iter()
        .find(|s| s.name.to_string() == service)
        .unwrap();
    // The deprecated single-zone fields show the first zone.
    assert_eq!(svc.zone_name.as_deref(), Some(names[0]));
    assert_eq!(svc.zone_id, zones[0].id);
    let mut ids = Vec::new();
    for z in zones {
        let id =
            z.id.clone()
                .unwrap_or_else(|| panic!("zone {} made", z.name));
        let cloud_zone = w.sim.zones().into_iter().find(|c| c.id == id).unwrap();
        assert_eq!(cloud_zone.name, z.name);
        let mut records: Vec<(String, String)> = w
            .sim
            .zone_records(&id)
            .into_iter()
            .map(|r| (r.name, r.target_dns_name))
            .collect();
        records.sort();
        assert_eq!(
            records,
            [
                (format!("*.{}", z.name), regional.clone()),
                (z.name.clone(), regional.clone()),
            ],
            "records of {}",
            z.name
        );
        ids.push(id);
    }
    ids
}

/// Kinesis Data Streams lists three private DNS names, two of them wildcards: the hub gets
/// three zones, each with its apex and `*.` records; a spoke is associated with all three,
/// detaching removes it from all three, and removing the service deletes all three.
#[tokio::test]
async fn kinesis_streams_gets_one_zone_per_name_for_its_whole_life() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(&["kinesis-streams", "sqs"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let kinesis = assert_zone_records(&w, &hub, "kinesis-streams", &KINESIS_ZONES);
    assert_zone_records(&w, &hub, "sqs", &["sqs.eu-west-1.amazonaws.com"]);
    assert_eq!(w.sim.zones().len(), 4);
    assert_eq!(w.sim.calls("CreateHostedZone"), 4);

    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    for id in &kinesis {
        assert!(
            w.sim.zone_vpcs(id).iter().any(|v| v.vpc_id == spoke.vpc_id),
            "zone {id} holds the spoke"
        );
    }
    assert_eq!(w.sim.calls("AssociateVPCWithHostedZone"), 4);

    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, spoke.id).await;

    w.services_set(hub.id, &["sqs"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(hub.services.len(), 1);
    let left: Vec<_> = w.sim.zones().into_iter().map(|z| z.name).collect();
    assert_eq!(left, ["sqs.eu-west-1.amazonaws.com"]);
    assert_eq!(w.sim.calls("DeleteHostedZone"), 3);
}

/// Adding kinesis-streams to a hub with an attached spoke associates the spoke with each of
/// its three zones; a spoke attached afterwards gets all of them too, and deleting the hub
/// deletes every zone.
#[tokio::test]
async fn a_service_change_associates_every_new_zone_with_every_spoke() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let early = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, early.id).await;

    w.services_set(hub.id, &["sqs", "kinesis-streams"]).await;
    w.run_until_idle().await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let kinesis = assert_zone_records(&w, &hub, "kinesis-streams", &KINESIS_ZONES);
    w.assert_attached(&hub, early.id).await;
    let late = w.enroll(2, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, late.id).await;
    for id in &kinesis {
        assert_eq!(w.sim.zone_vpcs(id).len(), 3, "hub and both spokes in {id}");
    }

    for s in [&early, &late] {
        w.app.spoke_detach(&actor(), s.id).await.unwrap();
    }
    w.run_until_idle().await;
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    let (status, error) = w.hub_status_row(hub.id).await;
    assert_eq!(status, "deleted", "{error:?}");
    assert!(w.sim.zones().is_empty(), "{:?}", w.sim.zones());
}

/// A crash right after the `zones` step made its zones and before its checkpoint, then a
/// retry, and every step run twice: no zone is made twice (each is found by its caller
/// reference).
#[tokio::test]
async fn zones_are_made_once_across_crashes_and_reruns() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(&["kinesis-streams", "ecr.dkr"]).await;
    let engine = w.engine_failing_after(endpoint_hub::model::JobKind::ProvisionHub, "zones");
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    let job = hub_now(&w, &hub).await.current_job_id.unwrap();
    w.app.job_retry(&actor(), job).await.unwrap();
    engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(w.sim.zones().len(), 4);
    assert_eq!(w.sim.calls("CreateHostedZone"), 4, "no zone made twice");
    assert_zone_records(&w, &hub, "kinesis-streams", &KINESIS_ZONES);

    // Every step of attach, service change and delete run twice.
    let mut cfg = test_engine_config();
    cfg.repeat_steps = true;
    let spoke = w.enroll(1, true).await;
    run(&w, &cfg).await;
    w.assert_attached(&hub, spoke.id).await;
    w.services_set(hub.id, &["kinesis-streams", "ecr.dkr", "s3"])
        .await;
    run(&w, &cfg).await;
    let hub = hub_now(&w, &hub).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(w.sim.calls("CreateHostedZone"), 5);
    w.assert_attached(&hub, spoke.id).await;
    w.services_set(hub.id, &["ecr.dkr"]).await;
    run(&w, &cfg).await;
    assert_eq!(w.sim.zones().len(), 1);
    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    run(&w, &cfg).await;
    w.assert_detached(&hub, spoke.id).await;
}

/// ECR's registry hosts are `<account>.dkr.ecr.<region>.amazonaws.com`, and AWS lists only
/// the wildcard (with a trailing dot): one zone `dkr.ecr...`, with the `*.` and apex records.
#[tokio::test]
async fn a_wildcard_only_name_gets_its_zone_with_the_wildcard_and_apex_records() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["ecr.dkr", "s3"]).await;
    let hub = hub_now(&w, &hub).await;
    assert_zone_records(&w, &hub, "ecr.dkr", &["dkr.ecr.eu-west-1.amazonaws.com"]);
    assert_zone_records(&w, &hub, "s3", &["s3.eu-west-1.amazonaws.com"]);
}
