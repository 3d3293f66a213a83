//! The `profile` DNS mode (issue 10), in the simulated cloud: the hub's zones in one Route 53
//! Profile shared through AWS RAM, each spoke VPC associated with it once, checked from outside
//! in the cloud; the limits refused at the door; and 500 spokes under AWS's published limits.

mod support;

use std::time::Duration;

use endpoint_hub::app::{AppError, HubUpdate, Limits};
use endpoint_hub::cloud::PrincipalStatus;
use endpoint_hub::cloud::sim::SimConfig;
use endpoint_hub::model::{DnsMode, Hub, NetworkMode, SpokeStatus};
use support::*;
use uuid::Uuid;

const SERVICES: [&str; 3] = ["sqs", "ssm", "kms"];

/// A provisioned hub in `profile` mode.
async fn profile_hub(w: &World, services: &[&str]) -> Hub {
    let (hub, _) = w
        .hub_registered_with(services, 3, &[0, 1, 2], DnsMode::Profile, 160)
        .await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    hub
}

/// A second VPC (10.200.n.0/24) in spoke `n`'s account, enrolled.
async fn enroll_second_vpc(w: &World, n: u32) -> Uuid {
    w.enroll_vpc(&format!("2{:011}", n), &format!("10.200.{n}.0/24"), 3)
        .await
}

fn principal_status(w: &World, account: &str) -> Option<PrincipalStatus> {
    w.sim
        .share_principals_all()
        .into_iter()
        .find(|(_, a, _)| a.as_str() == account)
        .map(|(_, _, s)| s)
}

#[tokio::test]
async fn a_profile_hub_shares_one_profile_and_attaches_each_vpc_once() {
    let w = World::new(sim_config(false)).await;
    let hub = profile_hub(&w, &SERVICES).await;
    let profile = hub.profile_id.clone().expect("the hub has a Profile");
    assert!(hub.share_arn.is_some(), "the Profile is shared through RAM");
    let zones: Vec<_> = hub
        .services
        .iter()
        .flat_map(|s| s.zone_ids())
        .cloned()
        .collect();
    assert_eq!(
        w.sim.profile_zones(&profile),
        zones,
        "every zone in the Profile"
    );
    assert_eq!(w.sim.profiles().len(), 1);
    assert!(
        w.sim.share_principals_all().is_empty(),
        "no principal before a spoke"
    );

    let hub_r53 = w.sim.route53_calls_in(&hub.account_id);
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, false).await;
    let a2 = enroll_second_vpc(&w, 1).await;
    w.run_until_idle().await;
    for id in [a.id, b.id, a2] {
        w.assert_attached(&hub, id).await;
    }
    assert_eq!(
        w.sim.route53_calls_in(&hub.account_id),
        hub_r53,
        "attaching in profile mode makes no Route 53 call in the hub account"
    );
    assert_eq!(w.sim.calls("AssociateVPCWithHostedZone"), 0);
    assert_eq!(w.sim.calls("CreateVPCAssociationAuthorization"), 0);
    assert_eq!(
        w.sim.calls("AssociateProfile"),
        3,
        "one association per VPC"
    );
    // Outside an organization each account accepts one invitation.
    assert_eq!(w.sim.calls("AcceptResourceShareInvitation"), 2);
    assert_eq!(
        principal_status(&w, &a.account_id.to_string()),
        Some(PrincipalStatus::Associated)
    );
    assert_eq!(
        principal_status(&w, &b.account_id.to_string()),
        Some(PrincipalStatus::Associated)
    );

    let got = w.app.hub_get(hub.id).await.unwrap();
    let dims: Vec<(&str, i64, i64)> = got
        .capacity
        .iter()
        .map(|c| (c.dimension.as_str(), c.used, c.limit))
        .collect();
    assert!(dims.contains(&("vpcs_per_profile", 3, 1000)), "{dims:?}");
    assert!(
        dims.contains(&("zones_per_profile", zones.len() as i64, 5000)),
        "{dims:?}"
    );
    assert!(!dims.iter().any(|d| d.0 == "vpcs_per_zone"), "{dims:?}");

    // Detaching one of account 1's two VPCs keeps the account in the share; the second
    // removes it.
    w.app.spoke_detach(&actor(), a.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, a.id).await;
    assert_eq!(
        principal_status(&w, &a.account_id.to_string()),
        Some(PrincipalStatus::Associated)
    );
    w.assert_attached(&hub, a2).await;
    w.app.spoke_detach(&actor(), a2).await.unwrap();
    w.app.spoke_detach(&actor(), b.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, a2).await;
    w.assert_detached(&hub, b.id).await;
    assert!(
        w.sim.share_principals_all().is_empty(),
        "no account left in the share"
    );

    // A second run of the hub's jobs finds everything and makes nothing new.
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    let (status, err) = w.hub_status_row(hub.id).await;
    assert_eq!(status, "deleted", "{err:?}");
    assert!(
        w.sim.profiles().is_empty(),
        "the Profile is deleted with the hub"
    );
    assert!(w.sim.zones().is_empty());
}

/// A profile hub with `sqs` in a simulated cloud set up as `sim`, and one spoke attached.
async fn one_spoke_attached(sim: SimConfig) -> World {
    let w = World::new(sim).await;
    let hub = profile_hub(&w, &["sqs"]).await;
    let s = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, s.id).await;
    w
}

/// AWS associates a VPC with a Profile asynchronously: the attach waits until the association
/// is COMPLETE before it calls the spoke attached, and associates once.
#[tokio::test]
async fn the_attach_waits_for_the_association_to_complete() {
    let w = one_spoke_attached(SimConfig {
        rate_limits: false,
        profile_association_creating_reads: 3,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(w.sim.calls("AssociateProfile"), 1);
    assert!(
        w.sim.calls("ListProfileAssociations") >= 4,
        "read until COMPLETE: {}",
        w.sim.calls("ListProfileAssociations")
    );
}

#[tokio::test]
async fn inside_an_organization_no_invitation_is_accepted() {
    let w = one_spoke_attached(SimConfig {
        rate_limits: false,
        ram_organization: true,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(w.sim.calls("AcceptResourceShareInvitation"), 0);
}

#[tokio::test]
async fn a_vpc_with_another_profile_fails_naming_it() {
    let w = World::new(sim_config(false)).await;
    let _hub = profile_hub(&w, &["sqs"]).await;
    let req = w.spoke_request(1, true);
    let theirs = w
        .sim
        .profile_add_foreign(&req.account_id, &req.region, "their-own");
    w.sim.drift_profile_associate(&theirs, &req.vpc_id);
    let r = w.app.spoke_enroll(&actor(), req, None).await.unwrap();
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    w.run_until_idle().await;
    let s = w.spoke(id).await;
    assert_eq!(s.status, SpokeStatus::Failed);
    let err = s.last_error.unwrap_or_default();
    assert!(
        err.contains(theirs.as_str()) && err.contains("one Profile"),
        "the error names the other Profile: {err}"
    );
    assert_eq!(w.sim.profile_of_vpc(&s.vpc_id), Some(theirs));
}

#[tokio::test]
async fn every_step_survives_a_crash_after_it_runs() {
    // The attach of a profile hub, failed after each of its steps in turn and run again: one
    // association, one principal, nothing made twice.
    for step in ["share_with_spoke", "accept_share", "associate_profile"] {
        let w = World::new(sim_config(false)).await;
        let hub = profile_hub(&w, &["sqs"]).await;
        let s = w.enroll(1, true).await;
        w.engine_failing_after(endpoint_hub::model::JobKind::AttachSpoke, step)
            .run_until_idle(Duration::from_secs(60))
            .await
            .unwrap();
        let job = w.spoke(s.id).await.current_job_id.unwrap();
        w.app.job_retry(&actor(), job).await.unwrap();
        w.run_until_idle().await;
        w.assert_attached(&hub, s.id).await;
        assert_eq!(w.sim.calls("AssociateResourceShare"), 1, "{step}");
        assert!(w.sim.calls("AssociateProfile") <= 2, "{step}");
    }
    for step in ["profile", "profile_zones", "profile_share"] {
        let w = World::new(sim_config(false)).await;
        let (hub, _) = w
            .hub_registered_with(&SERVICES, 3, &[0, 1, 2], DnsMode::Profile, 160)
            .await;
        w.engine_failing_after(endpoint_hub::model::JobKind::ProvisionHub, step)
            .run_until_idle(Duration::from_secs(60))
            .await
            .unwrap();
        let job = w.app.hub_get(hub.id).await.unwrap().current_job_id.unwrap();
        w.app.job_retry(&actor(), job).await.unwrap();
        w.run_until_idle().await;
        let hub = w.app.hub_get(hub.id).await.unwrap();
        assert_eq!(hub.status.as_str(), "ready", "{step}: {:?}", hub.last_error);
        assert_eq!(w.sim.profiles().len(), 1, "{step}: one Profile");
        assert_eq!(w.sim.calls("CreateResourceShare"), 1, "{step}");
    }
}

#[tokio::test]
async fn services_added_and_removed_touch_the_profile_only() {
    let w = World::new(sim_config(false)).await;
    let hub = profile_hub(&w, &["sqs"]).await;
    let s = w.enroll(1, true).await;
    w.run_until_idle().await;
    let spoke_r53 = w.sim.route53_calls_in(&s.account_id);
    w.services_set(hub.id, &["ssm"]).await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let zones: Vec<_> = hub
        .services
        .iter()
        .flat_map(|s| s.zone_ids())
        .cloned()
        .collect();
    assert_eq!(w.sim.profile_zones(hub.profile_id.as_ref().unwrap()), zones);
    assert_eq!(
        w.sim.route53_calls_in(&s.account_id),
        spoke_r53,
        "no call in the spoke account"
    );
    w.assert_attached(&hub, s.id).await;
}

#[tokio::test]
async fn limits_and_mode_changes_are_refused_at_the_door() {
    let w = World::with_limits(
        sim_config(false),
        Limits {
            vpcs_per_profile: 2,
            ..test_limits()
        },
    )
    .await;
    let hub = profile_hub(&w, &["sqs"]).await;
    w.enroll(1, true).await;
    w.enroll(2, true).await;
    let err = w
        .app
        .spoke_enroll(&actor(), w.spoke_request(3, true), None)
        .await
        .unwrap_err();
    match err {
        AppError::Quota(m) => assert!(m.contains("Route 53 Profile"), "{m}"),
        other => panic!("expected a quota error, got {other:?}"),
    }
    let err = w
        .app
        .hub_update(
            &actor(),
            hub.id,
            HubUpdate {
                network_mode: None,
                services: vec!["sqs".parse().unwrap()],
                reconcile_mode: None,
                dns_mode: Some(DnsMode::Zones),
            },
        )
        .await
        .unwrap_err();
    match err {
        AppError::Conflict { message, .. } => assert!(message.contains("DNS mode"), "{message}"),
        other => panic!("expected 409, got {other:?}"),
    }
    assert_eq!(
        w.app.hub_get(hub.id).await.unwrap().dns_mode,
        DnsMode::Profile
    );
    w.run_until_idle().await;
}

/// Issue 10's acceptance run: 500 spokes into one `profile` hub under AWS's published limits
/// (beyond zone mode's 300 VPCs per zone), every one checked in the cloud.
#[tokio::test]
async fn five_hundred_spokes_into_one_profile_hub() {
    let (per_min, r53, calls) = w_throughput(DnsMode::Profile, 500).await;
    assert_eq!(
        r53, 0.0,
        "no hub-account Route 53 call per spoke in profile mode"
    );
    eprintln!(
        "[profiles] 500 spokes, profile mode: {per_min:.0} spokes/min sustained, {r53:.1} \
         hub-account Route 53 calls and {calls:.1} AWS calls per spoke"
    );
}

/// The same run in both modes, 200 spokes each, for the note (not in CI: about 10 minutes).
#[tokio::test]
#[ignore]
async fn bench_spokes_per_minute_by_dns_mode() {
    for mode in [DnsMode::Zones, DnsMode::Profile] {
        let (per_min, r53, calls) = w_throughput(mode, 200).await;
        eprintln!(
            "[profiles] 200 spokes, {mode} mode: {per_min:.0} spokes/min sustained, {r53:.1} \
             hub-account Route 53 calls and {calls:.1} AWS calls per spoke"
        );
    }
}

/// AWS adds a zone to a Profile asynchronously: provisioning waits until every zone reads
/// COMPLETE before the hub is ready, and adds each zone once.
#[tokio::test]
async fn provisioning_waits_for_the_zones_to_be_in_the_profile() {
    let w = World::new(SimConfig {
        rate_limits: false,
        profile_association_creating_reads: 2,
        ..SimConfig::default()
    })
    .await;
    let hub = profile_hub(&w, &SERVICES).await;
    let zones = hub.services.iter().flat_map(|s| s.zone_ids()).count();
    assert_eq!(w.sim.calls("AssociateResourceToProfile"), zones);
    assert!(
        w.sim.calls("ListProfileResourceAssociations") >= 3,
        "read until COMPLETE: {}",
        w.sim.calls("ListProfileResourceAssociations")
    );
}

/// [`support::scale::throughput`] in `peering` network mode: (spokes per minute, hub-account
/// Route 53 calls per spoke, AWS calls per spoke).
async fn w_throughput(mode: DnsMode, n: u32) -> (f64, f64, f64) {
    let t = support::scale::throughput(mode, NetworkMode::Peering, n).await;
    (t.per_min, t.hub_route53, t.calls)
}
