//! Behaviours of real AWS that the first emulators hid (issue 8), each reproduced in the
//! simulated cloud and failing on the code before its fix.

mod support;

use endpoint_hub::cloud::sim::{Fault, FaultKind};
use endpoint_hub::cloud::{CallCx, ZoneVpc};
use endpoint_hub::model::{JobKind, JobStatus};
use endpoint_hub::store;
use support::*;

/// A service added to the hub while one spoke's VPC already has its own private zone of that
/// name (its own endpoint with private DNS on): that spoke fails on its own with the reason and
/// an event on the job; the hub stays ready and every other spoke gets the new zone.
#[tokio::test]
async fn one_spokes_dns_conflict_does_not_fail_the_hub() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let spokes = [
        w.enroll(1, true).await,
        w.enroll(2, true).await,
        w.enroll(3, true).await,
    ];
    w.run_until_idle().await;
    for s in &spokes {
        w.assert_attached(&hub, s.id).await;
    }
    // Spoke 2's account made its own kms zone for its VPC.
    let own = &spokes[1];
    let scx = CallCx {
        account: own.account_id.clone(),
        region: own.region.clone(),
        role: role(own.account_id.as_str()),
        external_id: None,
        job_id: None,
    };
    w.cloud
        .dns
        .zone_create(
            &scx,
            "kms.eu-west-1.amazonaws.com",
            &ZoneVpc {
                vpc_id: own.vpc_id.clone(),
                region: own.region.clone(),
            },
            "spoke-owned-kms",
        )
        .await
        .unwrap();
    w.services_set(hub.id, &["sqs", "kms"]).await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let update = w
        .app
        .job_list(
            store::jobs::JobFilter {
                kind: Some(JobKind::UpdateHubServices),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .items
        .pop()
        .unwrap();
    assert_eq!(update.status, JobStatus::Succeeded);
    w.assert_attached(&hub, spokes[0].id).await;
    w.assert_attached(&hub, spokes[2].id).await;
    let failed = w.spoke(own.id).await;
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.unwrap();
    assert!(
        error.contains("kms") && error.contains(own.vpc_id.as_str()),
        "{error}"
    );
    let events = w.app.job_get(update.id).await.unwrap().events.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "spoke_failed"
            && e.message
                .as_deref()
                .unwrap_or("")
                .contains(&own.id.to_string())),
        "{events:?}"
    );
    // A later service change leaves the failed spoke alone and still succeeds.
    w.services_set(hub.id, &["sqs", "kms", "ssm"]).await;
    w.run_until_idle().await;
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    w.assert_attached(&hub, spokes[2].id).await;
}

/// Private zones resolve only in VPCs with `enableDnsSupport` and `enableDnsHostnames` on
/// (CreateVpc leaves the second off). A hub or spoke VPC without them fails with the fix
/// spelled out; once fixed, a retry ends right.
#[tokio::test]
async fn vpc_dns_attributes_are_checked_on_hub_and_spoke() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub_registered(&["sqs"]).await;
    w.sim.vpc_dns_set(&hub.vpc_id, false, true);
    w.run_until_idle().await;
    let failed = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.unwrap();
    assert!(
        error.contains("enableDnsSupport")
            && !error.contains("enableDnsHostnames")
            && error.contains(&format!("modify-vpc-attribute --vpc-id {}", hub.vpc_id)),
        "{error}"
    );
    w.sim.vpc_dns_set(&hub.vpc_id, true, true);
    w.app
        .job_retry(&actor(), failed.current_job_id.unwrap())
        .await
        .unwrap();
    w.run_until_idle().await;
    assert_eq!(
        w.app.hub_get(hub.id).await.unwrap().status.as_str(),
        "ready"
    );

    let spoke = w.enroll(1, true).await;
    w.sim.vpc_dns_set(&spoke.vpc_id, true, false);
    w.run_until_idle().await;
    let failed = w.spoke(spoke.id).await;
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.unwrap();
    assert!(
        error.contains("verify_spoke")
            && error.contains("enableDnsHostnames")
            && error.contains("--enable-dns-hostnames"),
        "{error}"
    );
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 0, "nothing made");
    w.sim.vpc_dns_set(&spoke.vpc_id, true, true);
    w.app
        .job_retry(&actor(), failed.current_job_id.unwrap())
        .await
        .unwrap();
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
}

/// Detaching a spoke whose account can no longer be reached (role deleted, account closed):
/// everything the hub account can do is done (zones disassociated as their owner, prefix-list
/// entry, hub routes, the peering deleted as requester); the spoke's own routes are left with
/// a warning; the spoke ends `detached` with that noted and its CIDRs released.
#[tokio::test]
async fn detach_without_access_to_the_spoke_account() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs", "kms"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    w.sim.role_deny(&role(spoke.account_id.as_str()));
    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    w.run_until_idle().await;
    let detached = w.spoke(spoke.id).await;
    assert_eq!(
        detached.status.as_str(),
        "detached",
        "{:?}",
        detached.last_error
    );
    let note = detached.last_error.clone().unwrap();
    assert!(note.contains("could not be reached"), "{note}");
    let job = w
        .app
        .job_get(detached.current_job_id.unwrap())
        .await
        .unwrap();
    assert!(
        job.events
            .unwrap()
            .iter()
            .any(|e| e.kind == "step_warning" && e.step.as_deref() == Some("spoke_routes_delete"))
    );
    // The hub side is clean: no zone association, prefix-list entry, hub route or live peering.
    let hub = w.app.hub_get(hub.id).await.unwrap();
    for svc in &hub.services {
        let vpcs = w.sim.zone_vpcs(svc.zone_id.as_ref().unwrap());
        assert!(vpcs.iter().all(|v| v.vpc_id != spoke.vpc_id));
    }
    let entries = w
        .sim
        .prefix_list_entries(hub.prefix_list_id.as_ref().unwrap());
    assert!(entries.is_empty(), "{entries:?}");
    let tag = format!("spoke:{}", spoke.id);
    let peering = w
        .sim
        .peerings()
        .into_iter()
        .find(|p| p.owner_tag.as_deref() == Some(tag.as_str()))
        .unwrap();
    assert!(peering.status.is_dead(), "{:?}", peering.status);
    for t in &hub.route_table_ids {
        assert!(
            w.sim
                .routes(t)
                .iter()
                .all(|r| r.destination.to_string() != "10.1.0.0/16")
        );
    }
    // The CIDRs are free again: another VPC with them can enrol.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cidr_claims WHERE owner_id = $1")
        .bind(spoke.id)
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// A spoke VPC with a secondary CIDR block overlapping the hub VPC (not in its registration):
/// refused at `verify_spoke` naming both blocks, before any peering is requested.
#[tokio::test]
async fn secondary_cidr_overlap_is_found_before_peering() {
    let w = World::new(sim_config(false)).await;
    let _hub = w.hub(&["sqs"]).await;
    let spoke = w.enroll(1, true).await;
    w.sim.vpc_cidr_add(&spoke.vpc_id, cidr_("10.0.128.0/20"));
    w.run_until_idle().await;
    let failed = w.spoke(spoke.id).await;
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.unwrap();
    assert!(
        error.contains("verify_spoke")
            && error.contains("hub 10.0.0.0/16 overlaps spoke 10.0.128.0/20"),
        "{error}"
    );
    assert_eq!(w.sim.calls("CreateVpcPeeringConnection"), 0);
}

/// A peering that fails (here: the hub VPC gained an overlapping CIDR block after the spoke was
/// checked) is visible to the requester only: the accepter's NotFound must not be waited on
/// forever. The attach fails at once with the reason read from the hub side; once the cause is
/// gone, a retry requests a new peering and ends attached, and the failed one (which can't be
/// deleted) is left to expire.
#[tokio::test]
async fn a_failed_peering_fails_the_attach_with_its_reason() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let spoke = w.enroll(1, true).await;
    let engine = w.engine_failing_after(JobKind::AttachSpoke, "check_quotas");
    engine
        .run_until_idle(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    // The hub VPC gets a block overlapping the spoke (10.1.0.0/16) after the check.
    w.sim.vpc_cidr_add(&hub.vpc_id, cidr_("10.1.64.0/20"));
    let job = w.spoke(spoke.id).await.current_job_id.unwrap();
    w.app.job_retry(&actor(), job).await.unwrap();
    // Within 60 s, far below the 5-minute peering wait deadline: no waiting on the NotFound.
    engine
        .run_until_idle(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let failed = w.spoke(spoke.id).await;
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.unwrap();
    assert!(
        error.contains("accept_peering")
            && error.contains("failed")
            && error.contains("hub 10.1.64.0/20 overlaps spoke 10.1.0.0/16"),
        "{error}"
    );
    // Detaching copes with the failed peering (which can't be deleted).
    w.app.spoke_detach(&actor(), spoke.id).await.unwrap();
    engine
        .run_until_idle(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    w.assert_detached(&hub, spoke.id).await;
}

/// A spoke VPC with a gateway route table (an edge association with its internet gateway):
/// that table accepts no peering route, so routes go to the main and subnet tables only; a
/// gateway table named in `route_table_ids` is refused with the reason.
#[tokio::test]
async fn gateway_route_tables_are_left_out() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let req = w.spoke_request(1, true);
    let gateway_table = w
        .sim
        .gateway_table_add(&req.vpc_id, "igw-0123456789abcdef0");
    let r = w.app.spoke_enroll(&actor(), req, None).await.unwrap();
    let id: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    w.run_until_idle().await;
    w.assert_attached(&hub, id).await;
    assert!(
        w.sim
            .routes(&gateway_table)
            .iter()
            .all(|r| r.target == endpoint_hub::cloud::RouteTarget::Other("local".into())),
        "no peering route in the gateway table"
    );

    let mut req = w.spoke_request(2, true);
    let gateway_table = w
        .sim
        .gateway_table_add(&req.vpc_id, "vgw-0123456789abcdef0");
    req.route_table_ids = Some(vec![gateway_table.clone()]);
    let r = w.app.spoke_enroll(&actor(), req, None).await.unwrap();
    let id: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    w.run_until_idle().await;
    let failed = w.spoke(id).await;
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.unwrap();
    assert!(
        error.contains(gateway_table.as_str()) && error.contains("vgw-0123456789abcdef0"),
        "{error}"
    );
}

/// EC2 is eventually consistent: a security group or prefix list just created answers
/// NotFound for a while, to reads and as a reference. Provisioning waits for them instead of
/// failing, and a run that crashed right after creating the group (its find by tag still
/// blind) adopts it rather than making a second one.
#[tokio::test]
async fn just_created_resources_may_not_be_visible_yet() {
    let w = World::new(endpoint_hub::cloud::sim::SimConfig {
        rate_limits: false,
        propagation: std::time::Duration::from_millis(400),
        ..Default::default()
    })
    .await;
    let hub = w.hub_registered(&["sqs"]).await;
    let engine = w.engine_failing_after(JobKind::ProvisionHub, "security_group");
    engine
        .run_until_idle(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let job = w.app.hub_get(hub.id).await.unwrap().current_job_id.unwrap();
    w.app.job_retry(&actor(), job).await.unwrap();
    engine
        .run_until_idle(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let hub = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let ours = format!("hub:{}", hub.id);
    let groups = w
        .sim
        .security_groups()
        .into_iter()
        .filter(|g| g.owner_tag.as_deref() == Some(ours.as_str()))
        .count();
    assert_eq!(groups, 1);
    assert_eq!(w.sim.prefix_lists().len(), 1);
    assert!(hub.security_group_id.is_some());
}

/// A create whose response is lost after AWS applied it, sent again by the SDK: the second
/// answer is `InvalidGroup.Duplicate`, `HostedZoneAlreadyExists` (same caller reference) or a
/// second pending peering. Each is adopted (or the duplicate peering deleted): one of each
/// thing in the end, and everything attached.
#[tokio::test]
async fn lost_create_responses_are_adopted() {
    let w = World::new(sim_config(false)).await;
    for op in [
        "CreateSecurityGroup",
        "CreateHostedZone",
        "CreateVpcPeeringConnection",
    ] {
        w.sim
            .fault_inject(Fault::new(op, FaultKind::LostResponse).times(1));
    }
    let hub = w.hub(&["sqs", "kms"]).await;
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    assert_eq!(w.sim.calls("CreateSecurityGroup"), 2);
    assert_eq!(w.sim.zones().len(), 2, "one zone per service");
    let ours = format!("hub:{}", hub.id);
    assert_eq!(
        w.sim
            .security_groups()
            .iter()
            .filter(|g| g.owner_tag.as_deref() == Some(ours.as_str()))
            .count(),
        1
    );
    // Two peerings were made; the extra one is deleted, one is live (assert_attached).
    assert_eq!(w.sim.peerings().len(), 2);
    assert_eq!(
        w.sim
            .peerings()
            .iter()
            .filter(|p| !p.status.is_dead())
            .count(),
        1
    );
}

/// #14, ports: a service's endpoint is reached on the ports AWS documents for it (SES SMTP on
/// 25, 465, 587, 2465 and 2587), one security-group rule each from the spokes' prefix list, each
/// counted as the list's MaxEntries against the group's quota; ports no service uses any more
/// are revoked; a change that cannot fit is refused with 422 and changes nothing.
#[tokio::test]
async fn service_ports_come_from_the_catalogue_and_count_against_the_quota() {
    // The test hubs' quota is AWS's maximum (1,000) and their prefix lists hold 160 entries.
    let w = World::new(sim_config(false)).await;
    // 6 ports x 160 entries = 960 rules: fits.
    let hub = w.hub(&["sqs", "email-smtp"]).await;
    assert_eq!(hub.status.as_str(), "ready", "{:?}", hub.last_error);
    let smtp = hub
        .services
        .iter()
        .find(|s| s.name.as_str() == "email-smtp")
        .unwrap();
    assert_eq!(smtp.ports, [25, 465, 587, 2465, 2587]);
    assert!(smtp.ports_note.is_none());
    let sg_of = |w: &World| {
        w.sim
            .security_groups()
            .into_iter()
            .find(|g| Some(&g.id) == hub.security_group_id.as_ref())
            .unwrap()
    };
    let pl = hub.prefix_list_id.clone().unwrap();
    let sg = sg_of(&w);
    for port in [443, 25, 465, 587, 2465, 2587] {
        assert!(sg.admits(port, &pl), "port {port}: {sg:?}");
    }
    assert_eq!(sg.ingress.len(), 6);

    // A seventh port (CodeCommit's SSH) would make 1,120 rules: refused, nothing changes.
    let err = w
        .app
        .hub_update(
            &actor(),
            hub.id,
            endpoint_hub::app::HubUpdate {
                network_mode: None,
                reconcile_mode: None,
                dns_mode: None,
                services: ["sqs", "email-smtp", "git-codecommit"]
                    .iter()
                    .map(|s| s.parse().unwrap())
                    .collect(),
            },
        )
        .await
        .unwrap_err();
    let endpoint_hub::app::AppError::Invalid(fields) = &err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert_eq!(fields[0].field, "services", "{fields:?}");
    assert!(
        fields[0].message.contains("1120 inbound rules"),
        "{fields:?}"
    );
    let unchanged = w.app.hub_get(hub.id).await.unwrap();
    assert_eq!(unchanged.services.len(), 2);
    assert_eq!(unchanged.status.as_str(), "ready");

    // SMTP removed: its ports are revoked, 443 stays.
    w.services_set(hub.id, &["sqs"]).await;
    w.run_until_idle().await;
    let sg = sg_of(&w);
    assert!(sg.admits(443, &pl));
    assert_eq!(sg.ingress.len(), 1, "{sg:?}");
}

/// #14: a service the port catalogue does not know gets 443 and a note in the API response.
#[tokio::test]
async fn an_unknown_service_gets_443_and_a_note() {
    let w = World::new(sim_config(false)).await;
    w.allow_unfinished_jobs();
    let hub = w.hub_registered(&["sqs", "aps-workspaces"]).await;
    let aps = hub
        .services
        .iter()
        .find(|s| s.name.as_str() == "aps-workspaces")
        .unwrap();
    assert_eq!(aps.ports, [443]);
    assert!(
        aps.ports_note
            .as_deref()
            .is_some_and(|n| n.contains("does not list aps-workspaces")),
        "{aps:?}"
    );
    let sqs = hub
        .services
        .iter()
        .find(|s| s.name.as_str() == "sqs")
        .unwrap();
    assert!(sqs.ports_note.is_none());
    // In JSON, the note is there for the unknown service only.
    let json = serde_json::to_value(&hub).unwrap();
    for s in json["services"].as_array().unwrap() {
        assert_eq!(
            s.get("ports_note").is_some(),
            s["name"] == "aps-workspaces",
            "{s}"
        );
    }
}

/// An attach reads the DNS attributes of the spoke's VPC only (two DescribeVpcAttribute, one
/// per attribute): the hub's were checked when it was provisioned, and its CIDR blocks come
/// from one DescribeVpcs.
#[tokio::test]
async fn an_attach_reads_the_dns_attributes_of_the_spoke_vpc_only() {
    let w = World::new(sim_config(false)).await;
    let hub = w.hub(&["sqs"]).await;
    let attributes = w.sim.calls("DescribeVpcAttribute");
    let spoke = w.enroll(1, true).await;
    w.run_until_idle().await;
    w.assert_attached(&hub, spoke.id).await;
    assert_eq!(w.sim.calls("DescribeVpcAttribute") - attributes, 2);
}
