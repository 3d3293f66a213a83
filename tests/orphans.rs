//! Orphans (`GET /v1/orphans`, `POST /v1/orphans/sweep`) against a real PostgreSQL and the
//! simulated cloud: what a registration gone by hand leaves is listed with its reason, a
//! dry-run sweep changes nothing, a sweep deletes in order, and a second sweep has nothing
//! left to do.

mod support;

use endpoint_hub::app::orphans::{
    OUTCOME_DELETED, OUTCOME_DELETING, OUTCOME_DRY_RUN, OUTCOME_IN_USE, OrphanKind, SweepReport,
};
use endpoint_hub::cloud::{EndpointRequest, PeeringStatus, RouteTarget, ZoneVpc};
use endpoint_hub::model::Hub;
use endpoint_hub::workflow::context::hub_call_cx;
use endpoint_hub::workflow::zone_names::zone_caller_reference;
use support::*;
use uuid::Uuid;

async fn cloud_calls(w: &World) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM cloud_calls")
        .fetch_one(&w.pool)
        .await
        .unwrap()
}

async fn orphan_audits(w: &World) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT principal, target FROM audit_log WHERE action = 'orphan.delete' ORDER BY id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap()
}

async fn sweep(w: &World, dry_run: bool) -> SweepReport {
    let r = w.app.orphans_sweep(&actor(), dry_run).await.unwrap();
    assert!(r.unreachable.is_empty(), "{:?}", r.unreachable);
    r
}

/// Removes a spoke's row (and the rows that refer to it), as a hand-made cleanup would.
/// Sweeps until a sweep finds nothing (what is in use waits for the next sweep).
async fn sweep_until_nothing_left(w: &World) {
    let mut sweeps = 0;
    loop {
        let r = sweep(w, false).await;
        if r.items.is_empty() {
            break;
        }
        sweeps += 1;
        assert!(sweeps < 30, "sweeps do not converge: {:?}", r.items);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn spoke_row_delete(w: &World, spoke: Uuid) {
    for sql in [
        "DELETE FROM drift_findings WHERE spoke_id = $1 \
         OR job_id IN (SELECT id FROM jobs WHERE spoke_id = $1)",
        "DELETE FROM jobs WHERE spoke_id = $1",
        "DELETE FROM cidr_claims WHERE owner_id = $1",
        "DELETE FROM spokes WHERE id = $1",
    ] {
        sqlx::query(sql).bind(spoke).execute(&w.pool).await.unwrap();
    }
}

#[tokio::test]
async fn a_hub_deleted_through_the_service_leaves_no_orphans() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "ssm"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    // A live hub and spoke own everything: nothing is an orphan.
    let listed = w.app.orphans_list().await.unwrap();
    assert!(listed.orphans.is_empty(), "{:?}", listed.orphans);

    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    w.run_until_idle().await;
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    assert_eq!(w.hub_status_row(hub.id).await.0, "deleted");

    let listed = w.app.orphans_list().await.unwrap();
    assert!(listed.orphans.is_empty(), "{:?}", listed.orphans);
    assert!(listed.unreachable.is_empty(), "{:?}", listed.unreachable);
    let before = cloud_calls(&w).await;
    let r = sweep(&w, false).await;
    assert!(r.items.is_empty(), "{:?}", r.items);
    assert_eq!(cloud_calls(&w).await, before, "nothing to change");
}

#[tokio::test]
async fn a_spoke_gone_by_hand_leaves_its_peering_listed_then_swept() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let detached = w.enroll(1, true).await;
    let removed = w.enroll(2, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, detached.id).await;
    w.assert_attached(&hub, removed.id).await;
    let detached = w.spoke(detached.id).await;
    let removed = w.spoke(removed.id).await;
    let pcx_detached = detached.peering_id.clone().unwrap();
    let pcx_removed = removed.peering_id.clone().unwrap();

    // One spoke marked detached by SQL, the other's rows deleted: their peerings stay.
    sqlx::query("UPDATE spokes SET status = 'detached' WHERE id = $1")
        .bind(detached.id)
        .execute(&w.pool)
        .await
        .unwrap();
    spoke_row_delete(&w, removed.id).await;

    let listed = w.app.orphans_list().await.unwrap();
    assert!(listed.unreachable.is_empty(), "{:?}", listed.unreachable);
    assert_eq!(listed.orphans.len(), 2, "{:?}", listed.orphans);
    for o in &listed.orphans {
        assert_eq!(o.kind, OrphanKind::Peering);
        assert_eq!(o.account_id.as_str(), HUB_ACCOUNT);
        assert_eq!(o.region.as_str(), REGION);
    }
    let of = |id: &str| listed.orphans.iter().find(|o| o.id == id).unwrap();
    let o = of(pcx_detached.as_str());
    assert_eq!(o.owner, format!("spoke:{}", detached.id));
    assert_eq!(o.reason, format!("spoke {} is detached", detached.id));
    let o = of(pcx_removed.as_str());
    assert_eq!(o.owner, format!("spoke:{}", removed.id));
    assert_eq!(
        o.reason,
        format!("spoke {} has no registration", removed.id)
    );

    // Dry run: the same two, in order, and no mutating call.
    let before = cloud_calls(&w).await;
    let r = sweep(&w, true).await;
    assert!(r.dry_run);
    assert_eq!(r.items.len(), 2);
    assert!(r.items.iter().all(|i| i.outcome == OUTCOME_DRY_RUN));
    assert_eq!(cloud_calls(&w).await, before, "a dry run changes nothing");
    assert!(orphan_audits(&w).await.is_empty());
    for p in [&pcx_detached, &pcx_removed] {
        assert_eq!(w.sim.peering(p).unwrap().status, PeeringStatus::Active);
    }

    // The sweep: routes through them in the hub's tables first, then the peerings.
    let r = sweep(&w, false).await;
    assert!(!r.dry_run);
    assert_eq!(r.items.len(), 2);
    for i in &r.items {
        assert_eq!(i.outcome, OUTCOME_DELETED, "{i:?}");
    }
    assert!(cloud_calls(&w).await > before);
    for p in [&pcx_detached, &pcx_removed] {
        assert!(w.sim.peering(p).unwrap().status.is_dead());
        for t in &hub.route_table_ids {
            assert!(
                !w.sim
                    .routes(t)
                    .iter()
                    .any(|r| r.target == RouteTarget::Peering(p.clone())),
                "route through {p} left in {t}"
            );
        }
    }
    let audits = orphan_audits(&w).await;
    assert_eq!(audits.len(), 2, "{audits:?}");
    assert!(audits.contains(&("system".into(), Some(format!("peering:{pcx_detached}")))));
    assert!(audits.contains(&("system".into(), Some(format!("peering:{pcx_removed}")))));

    // Idempotent: nothing left, nothing changed.
    let before = cloud_calls(&w).await;
    let r = sweep(&w, false).await;
    assert!(r.items.is_empty(), "{:?}", r.items);
    assert_eq!(cloud_calls(&w).await, before);
    assert_eq!(orphan_audits(&w).await.len(), 2);
    assert!(w.app.orphans_list().await.unwrap().orphans.is_empty());
}

/// An endpoint and a zone of a generation of the service that is not the hub's current one
/// (as a crashed removal of the service leaves them).
async fn old_generation_left(w: &World, hub: &Hub) -> (String, String, String) {
    let hcx = hub_call_cx(hub, None);
    let old = Uuid::new_v4();
    let tag = format!("hub:{}:service:sqs:{}", hub.id, old.simple());
    let endpoint = w
        .cloud
        .endpoints
        .endpoint_create(
            &hcx,
            &EndpointRequest {
                vpc: hub.vpc_id.clone(),
                service_name: format!("com.amazonaws.{REGION}.sqs"),
                subnets: hub.subnet_ids.clone(),
                security_group: hub.security_group_id.clone().unwrap(),
                owner_tag: tag.clone(),
                supersedes: vec![],
            },
        )
        .await
        .unwrap();
    let reference = zone_caller_reference(hub.id, old, "old.sqs.eu-west-1.amazonaws.com");
    let zone = w
        .cloud
        .dns
        .zone_create(
            &hcx,
            "old.sqs.eu-west-1.amazonaws.com",
            &ZoneVpc {
                vpc_id: hub.vpc_id.clone(),
                region: hub.region.clone(),
            },
            &reference,
        )
        .await
        .unwrap();
    (endpoint.id.to_string(), tag, zone.id.to_string())
}

#[tokio::test]
async fn an_endpoint_and_zone_of_an_old_generation_are_listed_and_swept() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let (endpoint, tag, zone) = old_generation_left(&w, &hub).await;

    let listed = w.app.orphans_list().await.unwrap();
    assert_eq!(listed.orphans.len(), 2, "{:?}", listed.orphans);
    // Zones first, then endpoints.
    let z = &listed.orphans[0];
    assert_eq!(
        (z.kind, z.id.as_str()),
        (OrphanKind::HostedZone, zone.as_str())
    );
    assert!(z.owner.starts_with("endpoint-hub:"), "{z:?}");
    assert!(z.reason.contains("has generation"), "{z:?}");
    let e = &listed.orphans[1];
    assert_eq!(
        (e.kind, e.id.as_str()),
        (OrphanKind::Endpoint, endpoint.as_str())
    );
    assert_eq!(e.owner, tag);
    assert!(
        e.reason.contains("generation") && e.reason.contains("is not hub"),
        "{e:?}"
    );

    let r = sweep(&w, false).await;
    assert_eq!(r.items.len(), 2, "{:?}", r.items);
    assert_eq!(r.items[0].outcome, OUTCOME_DELETED);
    assert!(
        [OUTCOME_DELETED, OUTCOME_DELETING].contains(&r.items[1].outcome.as_str()),
        "{:?}",
        r.items[1]
    );
    assert!(w.sim.zones().iter().all(|z| z.id.to_string() != zone));
    // The hub's own resources are untouched.
    let hub_now = w.app.hub_get(hub.id).await.unwrap();
    let current = hub_now.services[0].endpoint_id.clone().unwrap();
    assert!(
        w.sim
            .endpoints()
            .iter()
            .any(|e| e.id == current && e.state == "available")
    );
    assert_eq!(w.sim.zones().len(), 1);
    // A second sweep finds nothing, or the endpoint still deleting is not listed.
    let r = sweep(&w, false).await;
    assert!(r.items.is_empty(), "{:?}", r.items);
}

#[tokio::test]
async fn a_hub_marked_deleted_by_hand_is_swept_in_order_over_several_sweeps() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "ssm"]).await;
    sqlx::query("UPDATE hubs SET status = 'deleted' WHERE id = $1")
        .bind(hub.id)
        .execute(&w.pool)
        .await
        .unwrap();

    let listed = w.app.orphans_list().await.unwrap();
    let kinds: Vec<OrphanKind> = listed.orphans.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        vec![
            OrphanKind::HostedZone,
            OrphanKind::HostedZone,
            OrphanKind::Endpoint,
            OrphanKind::Endpoint,
            OrphanKind::SecurityGroup,
            OrphanKind::PrefixList,
        ],
        "{:?}",
        listed.orphans
    );
    let why = format!("hub {} is deleted", hub.id);
    assert!(
        listed.orphans.iter().all(|o| o.reason == why),
        "{:?}",
        listed.orphans
    );

    // First sweep: zones deleted, endpoints deleting, the group (and the list it references)
    // still in use.
    let r = sweep(&w, false).await;
    let outcome = |kind| {
        r.items
            .iter()
            .filter(|i| i.orphan.kind == kind)
            .map(|i| i.outcome.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(outcome(OrphanKind::HostedZone), vec![OUTCOME_DELETED; 2]);
    assert!(w.sim.zones().is_empty());
    for o in outcome(OrphanKind::Endpoint) {
        assert!(
            [OUTCOME_DELETED, OUTCOME_DELETING].contains(&o.as_str()),
            "{o}"
        );
    }
    if outcome(OrphanKind::Endpoint)
        .iter()
        .any(|o| o == OUTCOME_DELETING)
    {
        assert_eq!(outcome(OrphanKind::SecurityGroup), vec![OUTCOME_IN_USE]);
        assert_eq!(outcome(OrphanKind::PrefixList), vec![OUTCOME_IN_USE]);
    }

    // Later sweeps finish: nothing of the hub is left.
    let mut sweeps = 1;
    loop {
        let r = sweep(&w, false).await;
        if r.items.is_empty() {
            break;
        }
        for i in &r.items {
            assert!(
                [OUTCOME_DELETED, OUTCOME_IN_USE].contains(&i.outcome.as_str()),
                "{i:?}"
            );
        }
        sweeps += 1;
        assert!(sweeps < 30, "sweeps do not converge: {:?}", r.items);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(w.sim.prefix_lists().is_empty());
    assert!(w.sim.security_groups().iter().all(|g| {
        g.owner_tag
            .as_deref()
            .is_none_or(|t| !t.starts_with("hub:"))
    }));
    assert!(
        w.sim
            .endpoints()
            .iter()
            .all(|e| e.state == "deleted" || e.state == "deleting")
    );
    // One audit row per deletion: 2 zones, 2 endpoints, the group, the list.
    assert_eq!(orphan_audits(&w).await.len(), 6);
}

#[tokio::test]
async fn an_account_that_cannot_be_read_is_named_and_nothing_is_swept_there() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    sqlx::query("UPDATE hubs SET status = 'deleted' WHERE id = $1")
        .bind(hub.id)
        .execute(&w.pool)
        .await
        .unwrap();
    w.sim.role_deny(&hub.role_arn);

    let listed = w.app.orphans_list().await.unwrap();
    assert!(listed.orphans.is_empty(), "{:?}", listed.orphans);
    assert_eq!(listed.unreachable.len(), 1, "{:?}", listed.unreachable);
    assert_eq!(listed.unreachable[0].account_id.as_str(), HUB_ACCOUNT);
    assert_eq!(listed.unreachable[0].region.as_str(), REGION);
    let before = cloud_calls(&w).await;
    let r = w.app.orphans_sweep(&actor(), false).await.unwrap();
    assert!(r.items.is_empty(), "{:?}", r.items);
    assert_eq!(r.unreachable.len(), 1);
    assert_eq!(cloud_calls(&w).await, before);

    // Reachable again: everything of the hub is listed.
    w.sim.role_allow(&hub.role_arn);
    let listed = w.app.orphans_list().await.unwrap();
    assert!(listed.unreachable.is_empty(), "{:?}", listed.unreachable);
    assert_eq!(listed.orphans.len(), 4, "{:?}", listed.orphans);
}

/// `profile` mode: a hub marked deleted by hand leaves its RAM share and its Route 53 Profile
/// (named for the hub) besides the rest: both listed, swept first (share, then Profile with
/// its zones taken out), and nothing of the hub left after the sweeps.
#[tokio::test]
async fn a_profile_hub_marked_deleted_by_hand_leaves_its_share_and_profile_swept() {
    let mut w = World::new(sim_config(false)).await;
    w.dns_mode = endpoint_hub::model::DnsMode::Profile;
    let hub = w.hub(&["sqs"]).await;
    assert!(w.app.orphans_list().await.unwrap().orphans.is_empty());
    sqlx::query("UPDATE hubs SET status = 'deleted' WHERE id = $1")
        .bind(hub.id)
        .execute(&w.pool)
        .await
        .unwrap();
    let listed = w.app.orphans_list().await.unwrap();
    let kinds: Vec<OrphanKind> = listed.orphans.iter().map(|o| o.kind).collect();
    assert_eq!(
        &kinds[..3],
        &[
            OrphanKind::ResourceShare,
            OrphanKind::Profile,
            OrphanKind::HostedZone
        ],
        "{:?}",
        listed.orphans
    );
    sweep_until_nothing_left(&w).await;
    assert!(w.sim.profiles().is_empty(), "the Profile is swept");
    assert!(w.sim.zones().is_empty());
    assert!(w.sim.prefix_lists().is_empty());
}

/// A `transit_gateway` hub with a spoke, both marked gone by hand: the gateway's share and the
/// gateway are listed, and sweeps remove the hub VPC's route to it, every attachment (the
/// spoke's too), its route tables and the gateway, then the prefix list the route named.
#[tokio::test]
async fn a_transit_hub_marked_deleted_by_hand_leaves_its_gateway_swept() {
    let mut w = World::new(sim_config(false)).await;
    w.network_mode = endpoint_hub::model::NetworkMode::TransitGateway;
    let hub = w.hub(&["sqs"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    assert!(w.app.orphans_list().await.unwrap().orphans.is_empty());
    let tgw = w
        .app
        .hub_get(hub.id)
        .await
        .unwrap()
        .transit_gateway
        .unwrap()
        .transit_gateway_id
        .unwrap();
    sqlx::query("UPDATE spokes SET status = 'detached' WHERE id = $1")
        .bind(spoke.id)
        .execute(&w.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE hubs SET status = 'deleted' WHERE id = $1")
        .bind(hub.id)
        .execute(&w.pool)
        .await
        .unwrap();
    let listed = w.app.orphans_list().await.unwrap();
    let kinds: Vec<OrphanKind> = listed.orphans.iter().map(|o| o.kind).collect();
    assert_eq!(
        &kinds[..2],
        &[OrphanKind::ResourceShare, OrphanKind::TransitGateway],
        "{:?}",
        listed.orphans
    );
    sweep_until_nothing_left(&w).await;
    assert!(!w.sim.tgw_exists(&tgw), "the gateway is swept");
    assert!(w.sim.tgw_attachments_all(&tgw).is_empty());
    for table in &hub.route_table_ids {
        assert!(w.sim.prefix_list_routes_of(table).is_empty());
    }
    assert!(w.sim.prefix_lists().is_empty());
}
