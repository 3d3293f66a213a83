//! The `transit_gateway` network mode (issue 11), in the simulated cloud: the hub's Transit
//! Gateway, its two route tables and RAM share, each spoke VPC attached, accepted, associated
//! and propagated, routes both ways, checked from outside in the cloud; conflicts; a gateway
//! given at registration; limits at the door; and 1,000 spokes under EC2's published limits.

mod support;

use endpoint_hub::app::{AppError, HubCreate, HubUpdate, Limits};
use endpoint_hub::cloud::sim::{Fault, FaultKind, SimConfig};
use endpoint_hub::cloud::{PrincipalStatus, RouteTarget};
use endpoint_hub::domain::TransitGatewayId;
use endpoint_hub::model::{
    DnsMode, DriftKind, DriftResource, Hub, JobKind, NetworkMode, SpokeStatus,
};
use endpoint_hub::workflow::context::hub_call_cx;
use support::*;
use uuid::Uuid;

const SERVICES: [&str; 2] = ["sqs", "ssm"];

async fn transit_world(sim: SimConfig) -> World {
    let mut w = World::new(sim).await;
    w.network_mode = NetworkMode::TransitGateway;
    w
}

/// A provisioned hub in `transit_gateway` mode.
async fn transit_hub(w: &World, dns: DnsMode) -> Hub {
    let (hub, _) = w
        .hub_registered_with(&SERVICES, 3, &[0, 1, 2], dns, 160)
        .await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    hub
}

fn tgw(hub: &Hub) -> TransitGatewayId {
    hub.transit_gateway
        .as_ref()
        .and_then(|t| t.transit_gateway_id.clone())
        .expect("the hub has its Transit Gateway")
}

fn principal_status(w: &World, account: &str) -> Option<PrincipalStatus> {
    w.sim
        .share_principals_all()
        .into_iter()
        .find(|(_, a, _)| a.as_str() == account)
        .map(|(_, _, s)| s)
}

#[tokio::test]
async fn a_transit_hub_attaches_spokes_through_its_gateway_and_detaches_them() {
    let w = transit_world(sim_config(false)).await;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    let t = hub.transit_gateway.clone().unwrap();
    let gw = tgw(&hub);
    assert!(!t.given);
    assert!(t.share_arn.is_some(), "the gateway is shared through RAM");
    let (hub_rt, spoke_rt) = (
        t.hub_route_table_id.clone().unwrap(),
        t.spoke_route_table_id.clone().unwrap(),
    );
    // The hub VPC's attachment: associated with the hub table, propagating into the spokes'.
    let hub_att = w.sim.tgw_attachments_all(&gw);
    assert_eq!(hub_att.len(), 1);
    assert_eq!(hub_att[0].vpc, hub.vpc_id);
    assert_eq!(hub_att[0].state, "available");
    assert_eq!(hub_att[0].association.as_ref(), Some(&hub_rt));
    assert_eq!(hub_att[0].propagations, vec![spoke_rt.clone()]);
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 0);

    let a = w.enroll(1, true).await;
    let b = w.enroll(2, false).await;
    // A second VPC of spoke 1's account: its account stays in the share while it is attached.
    let a2 = w
        .enroll_vpc(&format!("2{:011}", 1), "10.200.1.0/24", 3)
        .await;
    w.run_until_idle().await;
    for id in [a.id, b.id, a2] {
        w.assert_attached(&hub, id).await;
    }
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 0, "no peering");
    assert_eq!(
        w.sim.calls("CreateRoute"),
        hub.route_table_ids.len() + 3 * 4,
        "one prefix-list route per hub table at provisioning, then only spoke routes (4 \
         tables per spoke VPC)"
    );
    assert_eq!(w.sim.calls("AcceptResourceShareInvitation"), 2);
    assert_eq!(
        principal_status(&w, &a.account_id.to_string()),
        Some(PrincipalStatus::Associated)
    );
    // The hub table learns every spoke CIDR; the spokes' table only the hub's.
    let hub_routes: Vec<_> = w
        .cloud
        .transit
        .tgw_routes(&hub_call_cx(&hub, None), &hub_rt)
        .await
        .unwrap()
        .into_iter()
        .map(|(c, _)| c.to_string())
        .collect();
    assert_eq!(hub_routes.len(), 3, "{hub_routes:?}");
    for c in ["10.1.0.0/16", "10.2.0.0/16", "10.200.1.0/24"] {
        assert!(hub_routes.contains(&c.to_owned()), "{c} in {hub_routes:?}");
    }
    let spoke_routes: Vec<_> = w
        .cloud
        .transit
        .tgw_routes(&hub_call_cx(&hub, None), &spoke_rt)
        .await
        .unwrap()
        .into_iter()
        .map(|(c, _)| c.to_string())
        .collect();
    assert_eq!(spoke_routes, vec!["10.0.0.0/16".to_owned()]);

    // Detach spoke 1's first VPC: its account stays in the share (the second VPC needs it).
    w.app.spoke_detach(&actor(), a.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, a.id).await;
    w.assert_attached(&hub, a2).await;
    assert_eq!(
        principal_status(&w, &a.account_id.to_string()),
        Some(PrincipalStatus::Associated)
    );
    for id in [a2, b.id] {
        w.app.spoke_detach(&actor(), id).await.unwrap();
    }
    w.run_until_idle().await;
    w.assert_detached(&hub, a2).await;
    w.assert_detached(&hub, b.id).await;
    assert!(
        w.sim
            .share_principals_all()
            .iter()
            .all(|(_, _, s)| *s != PrincipalStatus::Associated),
        "no account left in the share"
    );
    assert_eq!(w.sim.tgw_attachments_all(&gw).len(), 1, "the hub's only");

    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    assert_eq!(w.hub_status_row(hub.id).await.0, "deleted");
    assert!(
        !w.sim.tgw_exists(&gw),
        "the gateway made for the hub is deleted"
    );
    for table in &hub.route_table_ids {
        assert!(w.sim.prefix_list_routes_of(table).is_empty());
    }
}

#[tokio::test]
async fn profile_dns_mode_works_over_a_transit_gateway() {
    let w = transit_world(sim_config(false)).await;
    let hub = transit_hub(&w, DnsMode::Profile).await;
    let a = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, a.id).await;
    // Two shares: the gateway's and the Profile's, each holding the spoke account.
    assert_eq!(
        w.sim
            .share_principals_all()
            .iter()
            .filter(|(_, acc, s)| acc == &a.account_id && *s == PrincipalStatus::Associated)
            .count(),
        2
    );
    w.app.spoke_detach(&actor(), a.id).await.unwrap();
    w.run_until_idle().await;
    w.assert_detached(&hub, a.id).await;
}

/// A gateway given at registration is used as it is and outlives the hub; one of another
/// account is refused.
#[tokio::test]
async fn a_given_gateway_is_used_and_kept() {
    let w = transit_world(sim_config(false)).await;
    let given = w.sim.tgw_add(&acct(HUB_ACCOUNT), &region());
    let (vpc, subnets, tables) = w.vpc(HUB_ACCOUNT, "10.0.0.0/16");
    let req = |vpc, tgw: TransitGatewayId, name: &str| HubCreate {
        name: name.parse().unwrap(),
        account_id: acct(HUB_ACCOUNT),
        region: region(),
        vpc_id: vpc,
        cidrs: vec![cidr_("10.0.0.0/16")],
        subnet_ids: subnets.clone(),
        route_table_ids: tables.clone(),
        services: vec!["sqs".parse().unwrap()],
        role_arn: Some(role(HUB_ACCOUNT)),
        role_name: None,
        external_id: None,
        prefix_list_max_entries: Some(100),
        reconcile_mode: None,
        dns_mode: None,
        network_mode: Some(NetworkMode::TransitGateway),
        transit_gateway_id: Some(tgw),
    };
    let hub = w
        .app
        .hub_create(&actor(), req(vpc, given.clone(), "main"))
        .await
        .unwrap()
        .resource;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(tgw(&hub), given);
    assert!(hub.transit_gateway.as_ref().unwrap().given);
    assert_eq!(w.sim.calls("CreateTransitGateway"), 0);
    let s = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, s.id).await;
    w.app.spoke_detach(&actor(), s.id).await.unwrap();
    w.run_until_idle().await;
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.run_until_idle().await;
    assert_eq!(w.hub_status_row(hub.id).await.0, "deleted");
    assert!(w.sim.tgw_exists(&given), "a given gateway is never deleted");
    assert!(w.sim.tgw_attachments_all(&given).is_empty());

    // A gateway of another account fails provisioning with a clear reason.
    let foreign = w.sim.tgw_add(&acct("999999999999"), &region());
    let (vpc2, subnets2, tables2) = w.vpc(HUB_ACCOUNT, "10.50.0.0/16");
    let mut r = req(vpc2, foreign.clone(), "other");
    r.cidrs = vec![cidr_("10.50.0.0/16")];
    r.subnet_ids = subnets2;
    r.route_table_ids = tables2;
    let other = w.app.hub_create(&actor(), r).await.unwrap().resource;
    w.run_until_idle().await;
    let (status, error) = w.hub_status_row(other.id).await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(error.contains(&foreign.to_string()), "{error}");

    // One that associates every attachment with its default route table can't keep spokes
    // apart: refused, naming the setting.
    let defaulting = w.sim.tgw_add_with(&acct(HUB_ACCOUNT), &region(), true);
    let (vpc3, subnets3, tables3) = w.vpc(HUB_ACCOUNT, "10.60.0.0/16");
    let mut r = req(vpc3, defaulting, "third");
    r.cidrs = vec![cidr_("10.60.0.0/16")];
    r.subnet_ids = subnets3;
    r.route_table_ids = tables3;
    let third = w.app.hub_create(&actor(), r).await.unwrap().resource;
    w.run_until_idle().await;
    let (status, error) = w.hub_status_row(third.id).await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(error.contains("DefaultRouteTableAssociation"), "{error}");
}

/// A spoke VPC attached to another gateway, and a spoke route to the hub CIDR through something
/// else, are conflicts: the attach fails naming them and changes nothing of theirs.
#[tokio::test]
async fn conflicts_are_reported_not_overwritten() {
    let w = transit_world(sim_config(false)).await;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    let spoke = w.enroll(1, true).await;
    let other = w.sim.tgw_add(&spoke.account_id, &region());
    let subnets = w.sim.subnets_of(&spoke.vpc_id);
    w.sim
        .tgw_attach_by_hand(&other, &spoke.vpc_id, &subnets[..1]);
    w.run_until_idle().await;
    let s = w.spoke(spoke.id).await;
    assert_eq!(s.status, SpokeStatus::Failed);
    let err = s.last_error.unwrap();
    assert!(err.contains(&other.to_string()), "{err}");
    assert_eq!(
        w.sim.calls("CreateTransitGatewayVpcAttachment"),
        1,
        "the hub's only"
    );

    let s2 = w.enroll(2, true).await;
    let table = w.sim.route_tables_of(&s2.vpc_id)[0].clone();
    w.sim.route_put_other(
        &s2.account_id,
        &table,
        &hub.cidrs[0],
        "pcx-0123456789abcdef0",
    );
    w.run_until_idle().await;
    let s2 = w.spoke(s2.id).await;
    assert_eq!(s2.status, SpokeStatus::Failed);
    let err = s2.last_error.unwrap();
    assert!(err.contains("pcx-0123456789abcdef0"), "{err}");
    assert_eq!(
        w.sim
            .routes(&table)
            .iter()
            .find(|r| r.destination == hub.cidrs[0])
            .unwrap()
            .target,
        RouteTarget::Other("pcx-0123456789abcdef0".into())
    );
}

/// AWS makes gateways and attachments `pending` before `available`, and a response can be lost
/// after the attachment was made (the SDK's resend answers DuplicateTransitGatewayAttachment):
/// the jobs wait, adopt, and make each resource once.
#[tokio::test]
async fn pending_states_and_a_lost_response_make_nothing_twice() {
    let w = transit_world(SimConfig {
        rate_limits: false,
        tgw_pending_reads: 2,
        ..SimConfig::default()
    })
    .await;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    w.sim.fault_inject(
        Fault::new("CreateTransitGatewayVpcAttachment", FaultKind::LostResponse).times(1),
    );
    let s = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, s.id).await;
    assert_eq!(w.sim.calls("CreateTransitGateway"), 1);
    assert_eq!(w.sim.calls("AcceptTransitGatewayVpcAttachment"), 1);
    assert_eq!(
        w.sim.tgw_attachments_all(&tgw(&hub)).len(),
        2,
        "hub + spoke"
    );
}

/// Every step of provisioning, attach, detach and deletion in `transit_gateway` mode failed
/// once right after it ran (before its checkpoint) and retried: nothing is made twice.
#[tokio::test]
async fn each_transit_step_is_idempotent_when_rerun() {
    let w = transit_world(sim_config(false)).await;
    let (hub, _) = w
        .hub_registered_with(&SERVICES, 3, &[0, 1, 2], DnsMode::Zones, 160)
        .await;
    for step in [
        "transit_gateway",
        "transit_route_tables",
        "transit_hub_attachment",
        "transit_share",
        "transit_hub_routes",
    ] {
        w.engine_failing_after(JobKind::ProvisionHub, step)
            .run_until_idle(std::time::Duration::from_secs(60))
            .await
            .unwrap();
        retry_failed(&w).await;
    }
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    assert_eq!(w.sim.calls("CreateTransitGateway"), 1);
    assert_eq!(w.sim.calls("CreateTransitGatewayRouteTable"), 2);
    assert_eq!(w.sim.calls("CreateResourceShare"), 1);
    let mut spokes = Vec::new();
    for (n, step) in [
        "transit_share_spoke",
        "transit_accept_share",
        "transit_attach",
        "transit_accept",
        "spoke_routes",
        "admit_cidrs",
    ]
    .iter()
    .enumerate()
    {
        let s = w.enroll(n as u32 + 1, true).await;
        w.engine_failing_after(JobKind::AttachSpoke, step)
            .run_until_idle(std::time::Duration::from_secs(60))
            .await
            .unwrap();
        retry_failed(&w).await;
        w.run_until_idle().await;
        w.assert_attached(&hub, s.id).await;
        spokes.push(s);
    }
    assert_eq!(
        w.sim.calls("CreateTransitGatewayVpcAttachment"),
        1 + spokes.len(),
        "one attachment per VPC"
    );
    for (s, step) in spokes.iter().zip([
        "spoke_routes_delete",
        "remove_cidrs",
        "transit_detach",
        "transit_unshare",
        "finish_detach",
        "transit_detach",
    ]) {
        w.app.spoke_detach(&actor(), s.id).await.unwrap();
        w.engine_failing_after(JobKind::DetachSpoke, step)
            .run_until_idle(std::time::Duration::from_secs(60))
            .await
            .unwrap();
        retry_failed(&w).await;
        w.run_until_idle().await;
        w.assert_detached(&hub, s.id).await;
    }
    w.app.hub_delete(&actor(), hub.id).await.unwrap();
    w.engine_failing_after(JobKind::DeleteHub, "transit_delete")
        .run_until_idle(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    retry_failed(&w).await;
    w.run_until_idle().await;
    assert_eq!(w.hub_status_row(hub.id).await.0, "deleted");
    assert!(!w.sim.tgw_exists(&tgw(&hub)));
}

/// Retries every failed job (as an operator would), without running it.
async fn retry_failed(w: &World) {
    let failed: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM jobs WHERE status = 'failed'")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    for (id,) in failed {
        w.app.job_retry(&actor(), id).await.unwrap();
    }
}

/// The enrolment may name the attachment's subnets (one per zone); they are checked at attach:
/// two in one zone fail naming the zone, and the named ones are used.
#[tokio::test]
async fn named_transit_subnets_are_checked_and_used() {
    let w = transit_world(sim_config(false)).await;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    let account = format!("2{:011}", 7);
    // Five subnets: zones a, b, c, a, b.
    let (vpc, subnets, _) = w
        .sim
        .vpc_add(&acct(&account), &region(), &[cidr_("10.7.0.0/16")], 5);
    let mut req = w.spoke_request(9, true);
    req.account_id = acct(&account);
    req.vpc_id = vpc.clone();
    req.cidrs = Some(vec![cidr_("10.7.0.0/16")]);
    req.transit_subnet_ids = Some(vec![subnets[0].clone(), subnets[3].clone()]);
    let r = w
        .app
        .spoke_enroll(&actor(), req.clone(), None)
        .await
        .unwrap();
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    w.run_until_idle().await;
    let s = w.spoke(id).await;
    assert_eq!(s.status, SpokeStatus::Failed);
    let err = s.last_error.unwrap();
    assert!(err.contains("two subnets in eu-west-1a"), "{err}");
    assert_eq!(
        w.sim.calls("CreateTransitGatewayVpcAttachment"),
        1,
        "the hub's only"
    );

    w.app.spoke_detach(&actor(), id).await.unwrap();
    w.run_until_idle().await;
    req.transit_subnet_ids = Some(vec![subnets[3].clone(), subnets[4].clone()]);
    let r = w.app.spoke_enroll(&actor(), req, None).await.unwrap();
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    w.run_until_idle().await;
    w.assert_attached(&hub, id).await;
    let mine: Vec<_> = w
        .sim
        .tgw_attachments_all(&tgw(&hub))
        .into_iter()
        .filter(|a| a.vpc == vpc)
        .collect();
    assert_eq!(
        mine[0].subnets,
        vec![subnets[3].clone(), subnets[4].clone()]
    );

    // On a peering hub the field is refused at the door.
    let w2 = World::new(sim_config(false)).await;
    w2.hub(&["sqs"]).await;
    let mut req = w2.spoke_request(1, true);
    req.transit_subnet_ids = Some(vec![subnets[0].clone()]);
    match w2.app.spoke_enroll(&actor(), req, None).await.unwrap_err() {
        AppError::Invalid(v) => assert!(format!("{v:?}").contains("transit_subnet_ids")),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// `network_mode` at the door: validated, fixed once registered, and the gateway's attachment
/// quota refused early.
#[tokio::test]
async fn network_mode_is_checked_at_the_door() {
    let mut w = World::with_limits(
        sim_config(false),
        Limits {
            tgw_attachments: 3,
            ..test_limits()
        },
    )
    .await;
    w.network_mode = NetworkMode::TransitGateway;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    assert_eq!(hub.network_mode, NetworkMode::TransitGateway);
    let cap: Vec<_> = hub.capacity.iter().map(|c| c.dimension.as_str()).collect();
    assert!(cap.contains(&"tgw_attachments"), "{cap:?}");
    assert!(!cap.contains(&"peerings_per_vpc"), "{cap:?}");
    w.enroll(1, true).await;
    w.enroll(2, true).await;
    let refused = w
        .app
        .spoke_enroll(&actor(), w.spoke_request(3, true), None)
        .await
        .unwrap_err();
    match refused {
        AppError::Quota(m) => assert!(m.contains("at most 3 attachments"), "{m}"),
        other => panic!("expected a quota error, got {other:?}"),
    }
    let change = w
        .app
        .hub_update(
            &actor(),
            hub.id,
            HubUpdate {
                services: SERVICES.iter().map(|s| s.parse().unwrap()).collect(),
                reconcile_mode: None,
                dns_mode: None,
                network_mode: Some(NetworkMode::Peering),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(change, AppError::Conflict { .. }), "{change:?}");
    w.run_until_idle().await;
}

/// Drift in `transit_gateway` mode, made by hand in the cloud: a spoke's attachment deleted, a
/// spoke route to the hub deleted, a hub table's route to the prefix list deleted, and a VPC
/// that is no spoke attached by hand. A reconcile finds each, repairs what is ours, reports the
/// stranger, and a second pass finds only the stranger.
#[tokio::test]
async fn transit_drift_is_found_and_repaired() {
    let w = transit_world(sim_config(false)).await;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    let gw = tgw(&hub);
    let a = w.enroll(1, true).await;
    let b = w.enroll(2, true).await;
    w.run_until_idle().await;
    let a = w.spoke(a.id).await;
    let b = w.spoke(b.id).await;
    w.sim
        .drift_tgw_attachment_delete(a.tgw_attachment_id.as_ref().unwrap());
    let b_table = w.sim.route_tables_of(&b.vpc_id)[0].clone();
    w.sim.drift_route_delete(&b_table, &hub.cidrs[0]);
    let pl = hub.prefix_list_id.clone().unwrap();
    w.sim
        .drift_prefix_list_route_delete(&hub.route_table_ids[0], &pl);
    let (stranger, subnets, _) = w.vpc("444444444444", "10.44.0.0/16");
    let share_it = w.sim.tgw_attach_by_hand(&gw, &stranger, &subnets[..1]);

    w.app
        .hub_reconcile(&actor(), hub.id, Default::default())
        .await
        .unwrap();
    w.run_until_idle().await;
    for id in [a.id, b.id] {
        w.assert_attached(&hub, id).await;
    }
    let found: Vec<(DriftKind, DriftResource)> = w
        .app
        .hub_get(hub.id)
        .await
        .unwrap()
        .drift
        .unwrap()
        .differences
        .iter()
        .map(|d| (d.kind, d.resource))
        .collect();
    assert_eq!(
        found,
        vec![(DriftKind::Extra, DriftResource::TgwAttachment)],
        "only the stranger is left after the repair"
    );
    assert!(
        w.sim
            .tgw_attachments_all(&gw)
            .iter()
            .any(|x| x.id == share_it),
        "a stranger's attachment is left alone"
    );
    assert_eq!(
        w.sim.calls("CreateTransitGatewayVpcAttachment"),
        4,
        "hub, two spokes, and the deleted one once more"
    );
}

/// Plans in `transit_gateway` mode name the gateway's calls and no peering: the enrolment plan
/// lists what the attach then makes, the detach and hub-deletion plans what they remove.
#[tokio::test]
async fn plans_follow_the_network_mode() {
    let w = transit_world(sim_config(false)).await;
    let hub = transit_hub(&w, DnsMode::Zones).await;
    let plan = w
        .app
        .spoke_enroll_plan(&actor(), w.spoke_request(1, true))
        .await
        .unwrap();
    let ops: Vec<&str> = plan.changes.iter().map(|c| c.operation.as_str()).collect();
    for op in [
        "AssociateResourceShare",
        "CreateTransitGatewayVpcAttachment",
        "AcceptTransitGatewayVpcAttachment",
        "AssociateTransitGatewayRouteTable",
        "EnableTransitGatewayRouteTablePropagation",
        "CreateRoute",
        "ModifyManagedPrefixList",
    ] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    assert!(!ops.iter().any(|o| o.contains("Peering")), "{ops:?}");
    assert_eq!(
        ops.iter().filter(|o| **o == "CreateRoute").count(),
        4,
        "one route per spoke table, none in the hub's: {ops:?}"
    );

    let s = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, s.id).await;
    let calls = w.sim.calls_total();
    let plan = w.app.spoke_detach_plan(&actor(), s.id).await.unwrap();
    let ops: Vec<&str> = plan.changes.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        ops.iter().filter(|o| **o == "DeleteRoute").count(),
        4,
        "{ops:?}"
    );
    assert!(
        ops.contains(&"DeleteTransitGatewayVpcAttachment"),
        "{ops:?}"
    );
    assert!(ops.contains(&"ModifyManagedPrefixList"), "{ops:?}");
    assert!(w.sim.calls_total() > calls, "the plan reads AWS");
    w.assert_attached(&hub, s.id).await;
    w.app.spoke_detach(&actor(), s.id).await.unwrap();
    w.run_until_idle().await;
    let plan = w.app.hub_delete_plan(&actor(), hub.id).await.unwrap();
    let ops: Vec<&str> = plan.changes.iter().map(|c| c.operation.as_str()).collect();
    for op in [
        "DeleteTransitGatewayVpcAttachment",
        "DeleteTransitGatewayRouteTable",
        "DeleteTransitGateway",
        "DeleteResourceShare",
    ] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
}

/// Issue 11's acceptance run: 1,000 spokes into one `transit_gateway` hub under EC2's published
/// rate limits (past peering's 125 per VPC), every one checked in the cloud.
#[tokio::test]
async fn a_thousand_spokes_into_one_transit_gateway_hub() {
    let t = support::scale::throughput(DnsMode::Profile, NetworkMode::TransitGateway, 1000).await;
    eprintln!(
        "[transit] 1000 spokes, transit_gateway + profile: {:.0} spokes/min sustained, {:.1} \
         AWS calls ({:.1} throttled) and {:.1} hub-account Route 53 calls per spoke",
        t.per_min, t.calls, t.throttled, t.hub_route53
    );
}

/// Both network modes side by side, 120 spokes each (peering stops at 125), for the note.
#[tokio::test]
#[ignore]
async fn bench_spokes_per_minute_by_network_mode() {
    for mode in [NetworkMode::Peering, NetworkMode::TransitGateway] {
        let t = support::scale::throughput(DnsMode::Profile, mode, 120).await;
        eprintln!(
            "[transit] 120 spokes, {} + profile: {:.0} spokes/min, {:.1} AWS calls ({:.1} \
             throttled) per spoke",
            mode.as_str(),
            t.per_min,
            t.calls,
            t.throttled
        );
    }
}
