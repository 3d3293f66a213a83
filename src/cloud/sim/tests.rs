use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::cloud::{
    Cloud, Dns, EndpointRequest, EndpointServiceType, Endpoints, Firewall, Network, PeeringRequest,
    RouteTarget, ZoneVpc,
};
use crate::domain::RoleName;

#[derive(Default)]
struct MemRecorder(Mutex<Vec<CallRecord>>);

#[async_trait]
impl CallRecorder for MemRecorder {
    async fn record(&self, record: CallRecord) {
        self.0.lock().unwrap().push(record);
    }
}

fn account(digit: char) -> AccountId {
    digit.to_string().repeat(12).parse().unwrap()
}
fn region() -> Region {
    "eu-west-1".parse().unwrap()
}
fn cidr(s: &str) -> Ipv4Cidr {
    s.parse().unwrap()
}
fn cx(account: &AccountId) -> CallCx {
    let name: RoleName = "endpoint-hub".parse().unwrap();
    CallCx {
        account: account.clone(),
        region: region(),
        role: RoleArn::for_account(account, &name),
        external_id: None,
        job_id: None,
    }
}
fn zvpc(vpc: &VpcId) -> ZoneVpc {
    ZoneVpc {
        vpc_id: vpc.clone(),
        region: region(),
    }
}

fn sim_with(config: SimConfig) -> (Arc<SimCloud>, Arc<MemRecorder>) {
    let recorder = Arc::new(MemRecorder::default());
    (Arc::new(SimCloud::new(config, recorder.clone())), recorder)
}

/// Rate limits off: the tests below are about semantics.
fn sim() -> Arc<SimCloud> {
    sim_with(SimConfig {
        rate_limits: false,
        ..SimConfig::default()
    })
    .0
}

/// Hub (account 1, 10.0.0.0/16) and spoke (account 2, 10.1.0.0/16), an active peering between
/// them. Returns (hub vpc, hub tables, spoke vpc, spoke tables, peering).
async fn peered(
    sim: &SimCloud,
) -> (
    VpcId,
    Vec<RouteTableId>,
    VpcId,
    Vec<RouteTableId>,
    PeeringId,
) {
    let (hub, spoke) = (account('1'), account('2'));
    let (hub_vpc, _, hub_tables) = sim.vpc_add(&hub, &region(), &[cidr("10.0.0.0/16")], 2);
    let (spoke_vpc, _, spoke_tables) = sim.vpc_add(&spoke, &region(), &[cidr("10.1.0.0/16")], 1);
    let p = sim
        .peering_create(
            &cx(&hub),
            &PeeringRequest {
                vpc: hub_vpc.clone(),
                peer_vpc: spoke_vpc.clone(),
                peer_owner: spoke.clone(),
                peer_region: region(),
                owner_tag: "spoke:a".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p.status, PeeringStatus::PendingAcceptance);
    sim.peering_accept(&cx(&spoke), &p.id).await.unwrap();
    (hub_vpc, hub_tables, spoke_vpc, spoke_tables, p.id)
}

#[tokio::test]
async fn vpcs_and_tables_from_the_helper() {
    let sim = sim();
    let a = account('1');
    let (vpc, subnets, tables) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 3);
    assert_eq!(subnets.len(), 3);
    assert_eq!(tables.len(), 4, "main table plus one per subnet");
    let info = sim.vpc_get(&cx(&a), &vpc).await.unwrap().unwrap();
    assert_eq!(info.owner, a);
    assert_eq!(info.cidrs, vec![cidr("10.0.0.0/16")]);
    let listed: Vec<_> = sim
        .route_tables_list(&cx(&a), &vpc)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, tables);
    let infos = sim.subnets_get(&cx(&a), &subnets).await.unwrap();
    let zones: Vec<_> = infos.iter().map(|s| s.availability_zone.as_str()).collect();
    assert_eq!(zones, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
    let routes = sim.routes_list(&cx(&a), &tables[0]).await.unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].target, RouteTarget::Other("local".into()));
}

#[tokio::test]
async fn accounts_are_isolated() {
    let sim = sim();
    let (a, b) = (account('1'), account('2'));
    let (vpc, subnets, tables) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 1);
    assert!(sim.vpc_get(&cx(&b), &vpc).await.unwrap().is_none());
    assert!(
        sim.route_tables_list(&cx(&b), &vpc)
            .await
            .unwrap()
            .is_empty()
    );
    let e = sim.subnets_get(&cx(&b), &subnets).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound);
    let e = sim.routes_list(&cx(&b), &tables[0]).await.unwrap_err();
    assert_eq!(e.code, "InvalidRouteTableID.NotFound");
    // Another region of the same account doesn't see it either.
    let mut other_region = cx(&a);
    other_region.region = "us-east-1".parse().unwrap();
    assert!(sim.vpc_get(&other_region, &vpc).await.unwrap().is_none());

    let pl = sim
        .prefix_list_create(&cx(&a), "hub", 10, "hub:x")
        .await
        .unwrap();
    assert!(
        sim.prefix_list_get(&cx(&b), &pl.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sim.prefix_list_find(&cx(&b), "hub:x")
            .await
            .unwrap()
            .is_none()
    );
    let e = sim
        .prefix_list_modify(&cx(&b), &pl.id, 1, &[cidr("10.9.0.0/16")], &[])
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound);
    // Account B can't make a security group or zone in A's VPC.
    let e = sim
        .security_group_create(&cx(&b), &vpc, "sg", "hub:x")
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound);
    let e = sim
        .zone_create(&cx(&b), "sqs.eu-west-1.amazonaws.com", &zvpc(&vpc), "r1")
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidVPCId");
    // Route 53 makes no zone with a wildcard name.
    let e = sim
        .zone_create(&cx(&a), "*.s3.eu-west-1.amazonaws.com", &zvpc(&vpc), "r0")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (CloudErrorKind::Invalid, "InvalidDomainName")
    );
    let zone = sim
        .zone_create(&cx(&a), "sqs.eu-west-1.amazonaws.com", &zvpc(&vpc), "r1")
        .await
        .unwrap();
    assert!(sim.zone_get(&cx(&b), &zone.id).await.unwrap().is_none());
    assert!(sim.zone_find(&cx(&b), "r1").await.unwrap().is_none());
    assert_eq!(
        sim.zone_find(&cx(&a), "r1").await.unwrap().unwrap().id,
        zone.id
    );
}

#[tokio::test]
async fn roles_denied_and_external_ids() {
    let sim = sim();
    let a = account('1');
    let ok = cx(&a);
    assert_eq!(sim.caller_account(&ok).await.unwrap(), a);

    // A role in another account than the call's.
    let mut wrong = ok.clone();
    wrong.role = RoleArn::for_account(&account('2'), &"endpoint-hub".parse().unwrap());
    let e = sim.caller_account(&wrong).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AccessDenied);

    sim.role_deny(&ok.role);
    let e = sim.caller_account(&ok).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AccessDenied);
    assert!(
        e.message
            .starts_with(&format!("cannot assume {}: AccessDenied: ", ok.role)),
        "{e}"
    );
    // Every other call is refused too.
    let (vpc, _, _) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 1);
    let e = sim.vpc_get(&ok, &vpc).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AccessDenied);
    sim.role_allow(&ok.role);

    let ext: ExternalId = "vending-7f3a".parse().unwrap();
    sim.external_id_require(&ok.role, &ext);
    assert_eq!(
        sim.caller_account(&ok).await.unwrap_err().kind,
        CloudErrorKind::AccessDenied
    );
    let mut with_ext = ok.clone();
    with_ext.external_id = Some("other-id".parse().unwrap());
    assert!(sim.caller_account(&with_ext).await.is_err());
    with_ext.external_id = Some(ext);
    assert_eq!(sim.caller_account(&with_ext).await.unwrap(), a);
}

#[tokio::test]
async fn overlapping_cidr_peering_fails() {
    let sim = sim();
    let (hub, spoke) = (account('1'), account('2'));
    let (hub_vpc, _, _) = sim.vpc_add(&hub, &region(), &[cidr("10.0.0.0/16")], 1);
    let (spoke_vpc, _, _) = sim.vpc_add(
        &spoke,
        &region(),
        &[cidr("10.9.0.0/16"), cidr("10.0.128.0/17")],
        1,
    );
    let p = sim
        .peering_create(
            &cx(&hub),
            &PeeringRequest {
                vpc: hub_vpc.clone(),
                peer_vpc: spoke_vpc,
                peer_owner: spoke.clone(),
                peer_region: region(),
                owner_tag: "spoke:a".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p.status, PeeringStatus::Failed);
    assert_eq!(p.message.as_deref(), Some("overlapping CIDR"));
    // AWS shows a failed peering to the requester only (for about two hours).
    assert!(sim.peering_get(&cx(&spoke), &p.id).await.unwrap().is_none());
    let seen = sim.peering_get(&cx(&hub), &p.id).await.unwrap().unwrap();
    assert_eq!(seen.status, PeeringStatus::Failed);
    // ... and it can't be deleted: it expires.
    let e = sim.peering_delete(&cx(&hub), &p.id).await.unwrap_err();
    assert_eq!(e.code, "InvalidStateTransition");
    let found = sim.peering_find(&cx(&hub), "spoke:a").await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        sim.peering_list_for_vpc(&cx(&hub), &hub_vpc)
            .await
            .unwrap()
            .is_empty()
    );
    // The accepter can't see it, so can't accept it either.
    let e = sim.peering_accept(&cx(&spoke), &p.id).await.unwrap_err();
    assert_eq!(e.code, "InvalidVpcPeeringConnectionID.NotFound");
}

#[tokio::test]
async fn accept_only_by_the_accepter() {
    let sim = sim();
    let (hub, spoke, stranger) = (account('1'), account('2'), account('3'));
    let (hub_vpc, _, _) = sim.vpc_add(&hub, &region(), &[cidr("10.0.0.0/16")], 1);
    let (spoke_vpc, _, _) = sim.vpc_add(&spoke, &region(), &[cidr("10.1.0.0/16")], 1);
    let p = sim
        .peering_create(
            &cx(&hub),
            &PeeringRequest {
                vpc: hub_vpc,
                peer_vpc: spoke_vpc,
                peer_owner: spoke.clone(),
                peer_region: region(),
                owner_tag: "spoke:a".into(),
            },
        )
        .await
        .unwrap();
    let e = sim.peering_accept(&cx(&hub), &p.id).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AccessDenied);
    assert_eq!(e.code, "OperationNotPermitted");
    let e = sim.peering_accept(&cx(&stranger), &p.id).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound);
    sim.peering_accept(&cx(&spoke), &p.id).await.unwrap();
    assert_eq!(sim.peering(&p.id).unwrap().status, PeeringStatus::Active);
    // Only the requester side finds it by tag.
    assert!(
        sim.peering_find(&cx(&spoke), "spoke:a")
            .await
            .unwrap()
            .is_empty()
    );
    // A second live peering between the same VPCs is refused.
    let e = sim
        .peering_create(
            &cx(&hub),
            &PeeringRequest {
                vpc: p.requester_vpc.clone(),
                peer_vpc: p.accepter_vpc.clone(),
                peer_owner: spoke.clone(),
                peer_region: region(),
                owner_tag: "spoke:a".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "VpcPeeringConnectionAlreadyExists");
    // Either side deletes; twice is fine.
    sim.peering_delete(&cx(&spoke), &p.id).await.unwrap();
    sim.peering_delete(&cx(&hub), &p.id).await.unwrap();
    assert_eq!(sim.peering(&p.id).unwrap().status, PeeringStatus::Deleted);
}

#[tokio::test]
async fn provisioning_lasts_the_configured_reads() {
    let (sim, _) = sim_with(SimConfig {
        rate_limits: false,
        peering_provisioning_reads: 2,
        ..SimConfig::default()
    });
    let (_, hub_tables, _, _, pcx) = peered(&sim).await;
    let hub = cx(&account('1'));
    let e = sim
        .route_create(
            &hub,
            &hub_tables[0],
            &cidr("10.1.0.0/16"),
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidVpcPeeringConnectionID.NotFound");
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(sim.peering_get(&hub, &pcx).await.unwrap().unwrap().status);
    }
    assert_eq!(
        seen,
        [
            PeeringStatus::Provisioning,
            PeeringStatus::Provisioning,
            PeeringStatus::Active
        ]
    );
    sim.route_create(
        &hub,
        &hub_tables[0],
        &cidr("10.1.0.0/16"),
        &RouteTarget::Peering(pcx.clone()),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn routes_semantics() {
    let sim = sim();
    let (hub_vpc, hub_tables, _, spoke_tables, pcx) = peered(&sim).await;
    let (hub, spoke) = (cx(&account('1')), cx(&account('2')));
    let dest = cidr("10.1.0.0/16");
    sim.route_create(
        &hub,
        &hub_tables[1],
        &dest,
        &RouteTarget::Peering(pcx.clone()),
    )
    .await
    .unwrap();
    let e = sim
        .route_create(
            &hub,
            &hub_tables[1],
            &dest,
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AlreadyExists);
    assert_eq!(e.code, "RouteAlreadyExists");
    assert!(e.request_id.is_some());
    // The spoke routes back through the same peering.
    sim.route_create(
        &spoke,
        &spoke_tables[0],
        &cidr("10.0.0.0/16"),
        &RouteTarget::Peering(pcx.clone()),
    )
    .await
    .unwrap();
    // A planted route to the destination conflicts too, and shows its target.
    sim.route_put_other(&account('1'), &hub_tables[2], &dest, "igw-0123abcd");
    let e = sim
        .route_create(
            &hub,
            &hub_tables[2],
            &dest,
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "RouteAlreadyExists");
    let routes = sim.routes_list(&hub, &hub_tables[2]).await.unwrap();
    assert!(routes.iter().any(|r| r.destination == dest
        && r.target == RouteTarget::Other("igw-0123abcd".into())));
    // The target must be a peering of this VPC that the caller sees.
    let (other_vpc, _, other_tables) =
        sim.vpc_add(&account('1'), &region(), &[cidr("10.5.0.0/16")], 0);
    let e = sim
        .route_create(
            &hub,
            &other_tables[0],
            &dest,
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Invalid);
    assert_ne!(other_vpc, hub_vpc);
    // Deleting: missing is fine; after the peering goes, routes are blackholes.
    sim.route_delete(&hub, &hub_tables[1], &cidr("10.7.0.0/16"))
        .await
        .unwrap();
    sim.peering_delete(&hub, &pcx).await.unwrap();
    let routes = sim.routes(&hub_tables[1]);
    let via: Vec<_> = routes
        .iter()
        .filter(|r| r.target == RouteTarget::Peering(pcx.clone()))
        .collect();
    assert_eq!(via.len(), 1);
    assert_eq!(via[0].state, "blackhole");
    sim.route_delete(&hub, &hub_tables[1], &dest).await.unwrap();
    assert_eq!(sim.routes(&hub_tables[1]).len(), 1);
}

#[tokio::test]
async fn route_limit() {
    let (sim, _) = sim_with(SimConfig {
        rate_limits: false,
        routes_per_table: 3,
        ..SimConfig::default()
    });
    let (_, hub_tables, _, _, pcx) = peered(&sim).await;
    let hub = cx(&account('1'));
    // One local route plus two.
    for c in ["10.1.0.0/24", "10.1.1.0/24"] {
        sim.route_create(
            &hub,
            &hub_tables[0],
            &cidr(c),
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap();
    }
    let e = sim
        .route_create(
            &hub,
            &hub_tables[0],
            &cidr("10.1.2.0/24"),
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::LimitExceeded);
    assert_eq!(e.code, "RouteLimitExceeded");
}

#[tokio::test]
async fn peering_quota_per_vpc() {
    let (sim, _) = sim_with(SimConfig {
        rate_limits: false,
        peerings_per_vpc: 2,
        ..SimConfig::default()
    });
    let hub = account('1');
    let (hub_vpc, _, _) = sim.vpc_add(&hub, &region(), &[cidr("10.0.0.0/16")], 1);
    for i in 0..3u8 {
        let spoke = account(char::from(b'2' + i));
        let (spoke_vpc, _, _) = sim.vpc_add(
            &spoke,
            &region(),
            &[cidr(&format!("10.{}.0.0/16", i + 1))],
            1,
        );
        let r = sim
            .peering_create(
                &cx(&hub),
                &PeeringRequest {
                    vpc: hub_vpc.clone(),
                    peer_vpc: spoke_vpc,
                    peer_owner: spoke,
                    peer_region: region(),
                    owner_tag: format!("spoke:{i}"),
                },
            )
            .await;
        if i < 2 {
            r.unwrap();
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.kind, CloudErrorKind::LimitExceeded);
        }
    }
}

#[tokio::test]
async fn prefix_list_versions_and_limits() {
    let sim = sim();
    let hub = cx(&account('1'));
    let pl = sim
        .prefix_list_create(&hub, "spokes", 2, "hub:x")
        .await
        .unwrap();
    assert_eq!(pl.version, 1);
    sim.prefix_list_modify(&hub, &pl.id, 1, &[cidr("10.1.0.0/16")], &[])
        .await
        .unwrap();
    // Stale version.
    let e = sim
        .prefix_list_modify(&hub, &pl.id, 1, &[cidr("10.2.0.0/16")], &[])
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Invalid);
    assert_eq!(e.code, "PrefixListVersionMismatch");
    // Duplicate entry.
    let e = sim
        .prefix_list_modify(&hub, &pl.id, 2, &[cidr("10.1.0.0/16")], &[])
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidPrefixListModification");
    // Removing a missing entry.
    let e = sim
        .prefix_list_modify(&hub, &pl.id, 2, &[], &[cidr("10.3.0.0/16")])
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Invalid);
    // Beyond MaxEntries.
    let e = sim
        .prefix_list_modify(
            &hub,
            &pl.id,
            2,
            &[cidr("10.2.0.0/16"), cidr("10.3.0.0/16")],
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::LimitExceeded);
    assert_eq!(e.code, "PrefixListMaxEntriesExceeded");
    // Replace one entry in one change.
    sim.prefix_list_modify(
        &hub,
        &pl.id,
        2,
        &[cidr("10.2.0.0/16"), cidr("10.3.0.0/16")],
        &[cidr("10.1.0.0/16")],
    )
    .await
    .unwrap();
    let now = sim.prefix_list_get(&hub, &pl.id).await.unwrap().unwrap();
    assert_eq!(now.version, 3);
    assert_eq!(now.entries, vec![cidr("10.2.0.0/16"), cidr("10.3.0.0/16")]);
    assert_eq!(sim.prefix_list_entries(&pl.id), now.entries);
}

#[tokio::test]
async fn security_group_rules_and_dependencies() {
    let (sim, _) = sim_with(SimConfig {
        rate_limits: false,
        sg_inbound_rules: 60,
        ..SimConfig::default()
    });
    let a = account('1');
    let hub = cx(&a);
    let (vpc, subnets, _) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 2);
    let sg = sim
        .security_group_create(&hub, &vpc, "endpoints", "hub:x")
        .await
        .unwrap();
    let e = sim
        .security_group_create(&hub, &vpc, "endpoints", "hub:x")
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidGroup.Duplicate");
    let pl = sim
        .prefix_list_create(&hub, "s", 50, "hub:x")
        .await
        .unwrap();
    sim.security_group_allow(&hub, &sg.id, &pl.id, 443)
        .await
        .unwrap();
    // Already there: success (AWS's InvalidPermission.Duplicate, as the AWS implementation maps it).
    sim.security_group_allow(&hub, &sg.id, &pl.id, 443)
        .await
        .unwrap();
    let big = sim
        .prefix_list_create(&hub, "b", 20, "hub:y")
        .await
        .unwrap();
    let e = sim
        .security_group_allow(&hub, &sg.id, &big.id, 443)
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::LimitExceeded);
    // Each port's rule counts the list's MaxEntries again: 50 + 50 > 60.
    let e = sim
        .security_group_allow(&hub, &sg.id, &pl.id, 587)
        .await
        .unwrap_err();
    assert_eq!(e.code, "RulesPerSecurityGroupLimitExceeded");
    let found = sim
        .security_group_find(&hub, &vpc, "hub:x")
        .await
        .unwrap()
        .unwrap();
    assert!(found.admits(443, &pl.id) && !found.admits(587, &pl.id));
    assert_eq!(found.ingress.len(), 1);
    // Revoking is idempotent.
    sim.security_group_revoke(&hub, &sg.id, &pl.id, 443)
        .await
        .unwrap();
    sim.security_group_revoke(&hub, &sg.id, &pl.id, 443)
        .await
        .unwrap();
    let found = sim
        .security_group_find(&hub, &vpc, "hub:x")
        .await
        .unwrap()
        .unwrap();
    assert!(found.ingress.is_empty());
    sim.security_group_allow(&hub, &sg.id, &pl.id, 443)
        .await
        .unwrap();

    let e = sim.prefix_list_delete(&hub, &pl.id).await.unwrap_err();
    assert_eq!(e.code, "DependencyViolation");
    let ep = sim
        .endpoint_create(
            &hub,
            &EndpointRequest {
                vpc: vpc.clone(),
                service_name: "com.amazonaws.eu-west-1.sqs".into(),
                subnets: subnets.clone(),
                security_group: sg.id.clone(),
                owner_tag: "hub:x:service:sqs".into(),
                supersedes: vec![],
            },
        )
        .await
        .unwrap();
    let e = sim.security_group_delete(&hub, &sg.id).await.unwrap_err();
    assert_eq!(e.code, "DependencyViolation");
    sim.endpoint_delete(&hub, &ep.id).await.unwrap();
    sim.security_group_delete(&hub, &sg.id).await.unwrap();
    sim.security_group_delete(&hub, &sg.id).await.unwrap();
    sim.prefix_list_delete(&hub, &pl.id).await.unwrap();
    sim.prefix_list_delete(&hub, &pl.id).await.unwrap();
}

#[tokio::test]
async fn endpoints_catalogue_and_dns() {
    let (sim, _) = sim_with(SimConfig {
        rate_limits: false,
        endpoints_per_vpc: 2,
        ..SimConfig::default()
    });
    let a = account('1');
    let hub = cx(&a);
    let svc = sim
        .endpoint_services_get(&hub, "com.amazonaws.eu-west-1.ecr.api")
        .await
        .unwrap();
    assert_eq!(svc.len(), 1);
    assert_eq!(svc[0].service_type, EndpointServiceType::Interface);
    assert_eq!(
        svc[0].private_dns_names,
        ["api.ecr.eu-west-1.amazonaws.com"]
    );
    assert_eq!(
        svc[0].availability_zones,
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    );
    let svc = sim
        .endpoint_services_get(&hub, "com.amazonaws.eu-west-1.ecr.dkr")
        .await
        .unwrap();
    assert_eq!(
        svc[0].private_dns_names,
        ["*.dkr.ecr.eu-west-1.amazonaws.com."]
    );
    let svc = sim
        .endpoint_services_get(&hub, "com.amazonaws.eu-west-1.kinesis-streams")
        .await
        .unwrap();
    assert_eq!(
        svc[0].private_dns_names,
        [
            "kinesis.eu-west-1.amazonaws.com",
            "*.data-kinesis.eu-west-1.amazonaws.com",
            "*.control-kinesis.eu-west-1.amazonaws.com"
        ]
    );
    // S3 and DynamoDB: a Gateway entry (no private DNS name) first, then the Interface one.
    for (short, dns) in [
        ("s3", "*.s3.eu-west-1.amazonaws.com"),
        ("dynamodb", "dynamodb.eu-west-1.amazonaws.com"),
    ] {
        let svc = sim
            .endpoint_services_get(&hub, &format!("com.amazonaws.eu-west-1.{short}"))
            .await
            .unwrap();
        let types: Vec<_> = svc.iter().map(|e| e.service_type).collect();
        assert_eq!(
            types,
            [EndpointServiceType::Gateway, EndpointServiceType::Interface]
        );
        assert!(svc[0].private_dns_names.is_empty());
        assert_eq!(svc[1].private_dns_names, [dns]);
    }
    let svc = sim
        .endpoint_services_get(&hub, "com.amazonaws.eu-west-1.email-smtp")
        .await
        .unwrap();
    assert_eq!(svc[0].availability_zones, ["eu-west-1a", "eu-west-1b"]);
    for unknown in [
        "com.amazonaws.eu-west-1.nope",
        "com.amazonaws.us-east-1.sqs",
    ] {
        assert!(
            sim.endpoint_services_get(&hub, unknown)
                .await
                .unwrap()
                .is_empty()
        );
    }

    let (vpc, subnets, _) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 4);
    let sg = sim
        .security_group_create(&hub, &vpc, "endpoints", "hub:x")
        .await
        .unwrap();
    let req = |service: &str, subnets: &[SubnetId]| EndpointRequest {
        vpc: vpc.clone(),
        service_name: format!("com.amazonaws.eu-west-1.{service}"),
        subnets: subnets.to_vec(),
        security_group: sg.id.clone(),
        owner_tag: format!("hub:x:service:{service}"),
        supersedes: vec![],
    };
    // Two subnets in zone a.
    let e = sim
        .endpoint_create(&hub, &req("sqs", &subnets))
        .await
        .unwrap_err();
    assert_eq!(e.code, "DuplicateSubnetsInSameZone");
    assert!(e.message.contains(subnets[3].as_str()), "{}", e.message);
    // email-smtp is not offered in zone c (subnets[2]).
    let e = sim
        .endpoint_create(&hub, &req("email-smtp", &subnets[..3]))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (CloudErrorKind::Invalid, "InvalidParameter")
    );
    assert!(
        e.message
            .contains("does not support the availability zone of the subnet")
            && e.message.contains(subnets[2].as_str()),
        "{}",
        e.message
    );
    let e = sim
        .endpoint_create(&hub, &req("nope", &subnets[..3]))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidServiceName");
    let ep = sim
        .endpoint_create(&hub, &req("ecr.api", &subnets[..3]))
        .await
        .unwrap();
    assert_eq!(ep.state, "available");
    assert_eq!(ep.dns_entries.len(), 4);
    let regional = &ep.dns_entries[0].dns_name;
    assert!(regional.starts_with(&format!("{}-", ep.id)), "{regional}");
    assert!(
        regional.ends_with(".api.ecr.eu-west-1.vpce.amazonaws.com"),
        "{regional}"
    );
    assert!(ep.dns_entries[0].hosted_zone_id.starts_with('Z'));
    let found = sim
        .endpoints_find(&hub, &vpc, "hub:x:service:ecr.api")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, ep.id);
    assert_eq!(sim.endpoint_zones(&ep.id).len(), 3);
    sim.endpoint_create(&hub, &req("sqs", &subnets[..1]))
        .await
        .unwrap();
    let e = sim
        .endpoint_create(&hub, &req("kms", &subnets[..1]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::LimitExceeded);
    sim.endpoint_delete(&hub, &ep.id).await.unwrap();
    assert!(
        sim.endpoints_find(&hub, &vpc, "hub:x:service:ecr.api")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        sim.endpoint_get(&hub, &ep.id).await.unwrap().unwrap().state,
        "deleted"
    );
    sim.endpoint_create(&hub, &req("kms", &subnets[..1]))
        .await
        .unwrap();
}

#[tokio::test]
async fn cross_account_association_needs_an_authorization() {
    let sim = sim();
    let (hub_account, spoke_account) = (account('1'), account('2'));
    let (hub, spoke) = (cx(&hub_account), cx(&spoke_account));
    let (hub_vpc, _, _) = sim.vpc_add(&hub_account, &region(), &[cidr("10.0.0.0/16")], 1);
    let (spoke_vpc, _, _) = sim.vpc_add(&spoke_account, &region(), &[cidr("10.1.0.0/16")], 1);
    let zone = sim
        .zone_create(
            &hub,
            "sqs.eu-west-1.amazonaws.com.",
            &zvpc(&hub_vpc),
            "ref-1",
        )
        .await
        .unwrap();
    assert_eq!(zone.name, "sqs.eu-west-1.amazonaws.com");
    assert!(zone.private);
    let e = sim
        .zone_create(&hub, "other.example", &zvpc(&hub_vpc), "ref-1")
        .await
        .unwrap_err();
    assert_eq!(e.code, "HostedZoneAlreadyExists");

    sim.alias_records_upsert(
        &hub,
        &zone.id,
        &[AliasRecord {
            name: "*.sqs.eu-west-1.amazonaws.com".into(),
            target_dns_name: "vpce-1.sqs.eu-west-1.vpce.amazonaws.com".into(),
            target_zone_id: "Z1".into(),
        }],
    )
    .await
    .unwrap();
    let e = sim
        .alias_records_upsert(
            &hub,
            &zone.id,
            &[AliasRecord {
                name: "sqs.example.com".into(),
                target_dns_name: "x".into(),
                target_zone_id: "Z1".into(),
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidChangeBatch");
    assert_eq!(
        sim.alias_records_list(&hub, &zone.id).await.unwrap().len(),
        1
    );

    // Without authorization.
    let e = sim
        .vpc_associate(&spoke, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AccessDenied);
    assert_eq!(e.code, "NotAuthorizedException");
    // Only the zone owner authorizes.
    let e = sim
        .association_authorize(&spoke, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::NotFound);
    sim.association_authorize(&hub, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    sim.association_authorize(&hub, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    assert_eq!(
        sim.association_authorizations_list(&hub, &zone.id)
            .await
            .unwrap(),
        vec![zvpc(&spoke_vpc)]
    );
    // Only the VPC owner associates.
    let e = sim
        .vpc_associate(&hub, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidVPCId");
    sim.vpc_associate(&spoke, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    let e = sim
        .vpc_associate(&spoke, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::AlreadyExists);
    assert_eq!(e.code, "ConflictingDomainExists");
    assert_eq!(
        sim.zones_by_vpc(&spoke, &zvpc(&spoke_vpc)).await.unwrap(),
        vec![zone.id.clone()]
    );
    assert_eq!(sim.zone_vpcs(&zone.id).len(), 2);
    sim.association_deauthorize(&hub, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    sim.association_deauthorize(&hub, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    assert!(sim.authorizations().is_empty());

    // Disassociate: the spoke can, twice; the last VPC can't go.
    sim.vpc_disassociate(&spoke, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    sim.vpc_disassociate(&spoke, &zone.id, &zvpc(&spoke_vpc))
        .await
        .unwrap();
    let e = sim
        .vpc_disassociate(&hub, &zone.id, &zvpc(&hub_vpc))
        .await
        .unwrap_err();
    assert_eq!(e.code, "LastVPCAssociation");
    sim.zone_delete(&hub, &zone.id).await.unwrap();
    sim.zone_delete(&hub, &zone.id).await.unwrap();
    assert!(sim.zones().is_empty());
}

#[tokio::test]
async fn association_limit() {
    let (sim, _) = sim_with(SimConfig {
        rate_limits: false,
        vpcs_per_zone: 3,
        ..SimConfig::default()
    });
    let a = account('1');
    let hub = cx(&a);
    let vpcs: Vec<VpcId> = (0..4)
        .map(|i| {
            sim.vpc_add(&a, &region(), &[cidr(&format!("10.{i}.0.0/16"))], 0)
                .0
        })
        .collect();
    let zone = sim
        .zone_create(&hub, "kms.eu-west-1.amazonaws.com", &zvpc(&vpcs[0]), "r")
        .await
        .unwrap();
    // The owner of both needs no authorization.
    for vpc in &vpcs[1..3] {
        sim.vpc_associate(&hub, &zone.id, &zvpc(vpc)).await.unwrap();
    }
    let e = sim
        .vpc_associate(&hub, &zone.id, &zvpc(&vpcs[3]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::LimitExceeded);
    assert_eq!(e.code, "LimitsExceeded");
}

#[test]
fn token_bucket_refills_on_the_clock() {
    let t0 = Instant::now();
    let mut b = TokenBucket::new(Ec2Bucket::CreateVpcEndpoint.limits(), t0);
    for _ in 0..4 {
        assert!(b.take(t0));
    }
    assert!(!b.take(t0));
    assert!(!b.take(t0 + Duration::from_secs(3)));
    assert!(b.take(t0 + Duration::from_secs(4)));
    let mut r = TokenBucket::new(route53_operation_limits("CreateHostedZone"), t0);
    for _ in 0..40 {
        assert!(r.take(t0));
    }
    assert!(!r.take(t0));
    assert!(r.take(t0 + Duration::from_millis(500)));
}

#[tokio::test]
async fn rate_limits_throttle_a_burst() {
    let (sim, _) = sim_with(SimConfig::default());
    let a = account('1');
    let hub = cx(&a);
    let (vpc, subnets, _) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 1);
    let sg = sim
        .security_group_create(&hub, &vpc, "endpoints", "hub:x")
        .await
        .unwrap();
    // CreateVpcEndpoint: a bucket of 4, refilled at 0.3/s.
    let mut throttled = 0;
    for service in ["sqs", "ssm", "kms", "sts", "logs", "monitoring"] {
        let r = sim
            .endpoint_create(
                &hub,
                &EndpointRequest {
                    vpc: vpc.clone(),
                    service_name: format!("com.amazonaws.eu-west-1.{service}"),
                    subnets: subnets.clone(),
                    security_group: sg.id.clone(),
                    owner_tag: service.into(),
                    supersedes: vec![],
                },
            )
            .await;
        if let Err(e) = r {
            assert_eq!(e.kind, CloudErrorKind::Throttled);
            assert_eq!(e.code, "RequestLimitExceeded");
            assert!(e.is_retryable());
            throttled += 1;
        }
    }
    assert_eq!(throttled, 2);
    // Another account has its own bucket.
    let b = account('2');
    let (vpc_b, _, _) = sim.vpc_add(&b, &region(), &[cidr("10.0.0.0/16")], 0);
    assert!(sim.vpc_get(&cx(&b), &vpc_b).await.is_ok());

    // Route 53: per account, a bucket of 50 (10/s) for every call together and one per
    // operation; AssociateVPCWithHostedZone's is 20 (5/s).
    let mut codes = Vec::new();
    for i in 0..70 {
        match sim.zone_find(&hub, &format!("ref-{i}")).await {
            Ok(_) => codes.push("ok".to_owned()),
            Err(e) => codes.push(e.code),
        }
    }
    assert_eq!(codes[..50], ["ok"; 50]);
    assert!(codes[50..].iter().any(|c| c == "Throttling"), "{codes:?}");
    let c = account('3');
    let other = cx(&c);
    let (vpc_c, _, _) = sim.vpc_add(&c, &region(), &[cidr("10.9.0.0/16")], 0);
    let zone = ZoneVpc {
        vpc_id: vpc_c,
        region: region(),
    };
    let mut codes = Vec::new();
    for _ in 0..25 {
        // Not associated with anything: answers fail, but each takes its tokens first.
        match sim
            .vpc_associate(&other, &"Z0000000000000000000".parse().unwrap(), &zone)
            .await
        {
            Err(e) if e.code == "Throttling" => codes.push("throttled"),
            _ => codes.push("answered"),
        }
    }
    assert_eq!(codes[..20], ["answered"; 20]);
    assert!(codes[20..].contains(&"throttled"), "{codes:?}");
}

#[tokio::test]
async fn fault_injection_counts() {
    let sim = sim();
    let (_, hub_tables, _, _, pcx) = peered(&sim).await;
    let hub = cx(&account('1'));
    let spoke_account = account('2');
    sim.fault_inject(Fault::new("CreateRoute", FaultKind::Throttle).times(2));
    let dest = cidr("10.1.0.0/16");
    for _ in 0..2 {
        let e = sim
            .route_create(
                &hub,
                &hub_tables[0],
                &dest,
                &RouteTarget::Peering(pcx.clone()),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, "RequestLimitExceeded");
        assert_eq!(e.kind, CloudErrorKind::Throttled);
    }
    sim.route_create(
        &hub,
        &hub_tables[0],
        &dest,
        &RouteTarget::Peering(pcx.clone()),
    )
    .await
    .unwrap();
    assert_eq!(sim.calls("CreateRoute"), 3);

    // Server errors, per service, only for one account.
    sim.fault_inject(Fault::new("*", FaultKind::ServerError).for_account(spoke_account.clone()));
    let e = sim
        .zones_by_vpc(
            &cx(&spoke_account),
            &ZoneVpc {
                vpc_id: "vpc-12345678".parse().unwrap(),
                region: region(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Transient);
    assert_eq!(e.code, "InternalFailure");
    let e = sim.caller_account(&cx(&spoke_account)).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Transient);
    assert!(sim.caller_account(&hub).await.is_ok());
    sim.fault_inject(Fault::new("ListHostedZones", FaultKind::Throttle).times(1));
    assert_eq!(
        sim.zone_find(&hub, "x").await.unwrap_err().code,
        "Throttling"
    );
    sim.faults_clear();
    assert!(sim.caller_account(&cx(&spoke_account)).await.is_ok());

    // Latency delays the call and then lets it run.
    sim.fault_inject(
        Fault::new(
            "DescribeRouteTables",
            FaultKind::Latency(Duration::from_millis(30)),
        )
        .times(1),
    );
    let start = std::time::Instant::now();
    sim.routes_list(&hub, &hub_tables[0]).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));

    // Arbitrary permanent failures.
    sim.fail_operation(
        "DeleteRoute",
        1,
        CloudError::new(
            CloudErrorKind::Other,
            "DeleteRoute",
            "UnauthorizedOperation",
            "no",
        ),
    );
    let e = sim
        .route_delete(&hub, &hub_tables[0], &dest)
        .await
        .unwrap_err();
    assert_eq!(e.code, "UnauthorizedOperation");
    sim.route_delete(&hub, &hub_tables[0], &dest).await.unwrap();
    assert_eq!(sim.calls("DeleteRoute"), 2);
    assert!(sim.calls_total() > 10);
}

#[tokio::test]
async fn mutating_calls_are_recorded() {
    let (sim, recorder) = sim_with(SimConfig {
        rate_limits: false,
        ..SimConfig::default()
    });
    let (_, hub_tables, _, _, pcx) = peered(&sim).await;
    let mut hub = cx(&account('1'));
    hub.job_id = Some(Uuid::new_v4());
    let dest = cidr("10.1.0.0/16");
    sim.route_create(
        &hub,
        &hub_tables[0],
        &dest,
        &RouteTarget::Peering(pcx.clone()),
    )
    .await
    .unwrap();
    let e = sim
        .route_create(
            &hub,
            &hub_tables[0],
            &dest,
            &RouteTarget::Peering(pcx.clone()),
        )
        .await
        .unwrap_err();
    sim.vpc_get(&hub, &"vpc-12345678".parse().unwrap())
        .await
        .unwrap();
    let records = recorder.0.lock().unwrap().clone();
    let ops: Vec<_> = records.iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        [
            "CreateVpcPeeringConnection",
            "AcceptVpcPeeringConnection",
            "CreateRoute",
            "CreateRoute"
        ]
    );
    assert_eq!(records[0].resource_id.as_deref(), Some(pcx.as_str()));
    assert_eq!(records[2].outcome, "ok");
    assert_eq!(records[2].job_id, hub.job_id);
    assert_eq!(records[3].outcome, "RouteAlreadyExists");
    assert_eq!(records[3].request_id, e.request_id);
    assert_eq!(
        records[3].resource_id.as_deref(),
        Some(hub_tables[0].as_str())
    );
}

#[tokio::test]
async fn usable_as_a_cloud() {
    let sim = sim();
    let cloud = Cloud::from_all(sim.clone());
    let a = account('1');
    let (vpc, _, _) = sim.vpc_add(&a, &region(), &[cidr("10.0.0.0/16")], 1);
    assert!(
        cloud
            .network
            .vpc_get(&cx(&a), &vpc)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(cloud.credentials.caller_account(&cx(&a)).await.unwrap(), a);
    assert_eq!(sim.calls("DescribeVpcs"), 1);
}
