//! Orphans end to end: the real `endpoint-hub` binary against the AWS emulator (the SDK path
//! of the listing methods: `tag-key` filters on EC2, `ListHostedZones` caller references).
//! A hub with an attached spoke has its rows marked `deleted`/`detached` by hand; everything
//! it made is then listed with its reason, a dry-run sweep makes no mutating call, and sweeps
//! delete it all. Needs what `tests/e2e.rs` needs (PostgreSQL, Python for the emulator).

#[path = "e2e/aws.rs"]
mod aws;
#[path = "e2e/harness.rs"]
mod harness;
mod support;
#[path = "e2e/world.rs"]
mod world;

use std::time::Duration;

use serde_json::Value;
use world::{HUB_ACCOUNT, World};

const MUTATING: &[&str] = &[
    "Create",
    "Delete",
    "Modify",
    "Accept",
    "Reject",
    "Associate",
    "Disassociate",
    "Authorize",
    "Revoke",
    "Replace",
    "Change",
];

fn kinds(items: &Value) -> Vec<(String, String, String)> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
                o["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_listed_with_reasons_then_swept_over_the_emulator() {
    orphans_over_the_emulator("orphans", "peering").await;
}

/// The same for a hub in `transit_gateway` network mode: its gateway (with the hub VPC's
/// attachment, the spoke's, the route tables and the hub VPC's route to it) and the gateway's
/// RAM share are listed and swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_gateway_orphans_listed_then_swept_over_the_emulator() {
    orphans_over_the_emulator("orphans-transit", "transit_gateway").await;
}

async fn orphans_over_the_emulator(name: &str, network_mode: &str) {
    let transit = network_mode == "transit_gateway";
    let w = World::start(name, 1, &[]).await;
    let spokes = aws::seed_spokes(&w.aws, &[("222222222222".into(), "10.1.0.0/16".into())]).await;
    let hub_id = w.hub_register_modes("main", "zones", network_mode).await;
    let hub = w.hub_wait_ready(&hub_id, Duration::from_secs(120)).await;
    let spoke_id = w.spoke_enroll("main", &spokes[0]).await;
    w.api
        .wait_spokes(
            std::slice::from_ref(&spoke_id),
            "attached",
            Duration::from_secs(120),
        )
        .await;
    let pcx = w.spoke_get(&spoke_id).await["peering_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tgw = hub["transit_gateway"]["transit_gateway_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let zones: usize = hub["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["zones"].as_array().unwrap().len())
        .sum();

    // Everything has a live owner: nothing is an orphan.
    let listed = w.api.get("/v1/orphans").await;
    assert_eq!(listed["orphans"], serde_json::json!([]), "{listed}");
    assert_eq!(listed["unreachable"], serde_json::json!([]), "{listed}");

    // The registrations end by hand; what they made stays.
    let pool = sqlx::PgPool::connect(&w.db.url).await.unwrap();
    sqlx::query("UPDATE spokes SET status = 'detached' WHERE id = $1::uuid")
        .bind(&spoke_id)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE hubs SET status = 'deleted' WHERE id = $1::uuid")
        .bind(&hub_id)
        .execute(&pool)
        .await
        .unwrap();

    let listed = w.api.get("/v1/orphans").await;
    assert_eq!(listed["unreachable"], serde_json::json!([]), "{listed}");
    let found = kinds(&listed["orphans"]);
    let count = |k: &str| found.iter().filter(|(kind, _, _)| kind == k).count();
    assert_eq!(count("hosted_zone"), zones, "{found:?}");
    assert_eq!(count("endpoint"), world::SERVICES.len(), "{found:?}");
    assert_eq!(count("peering"), usize::from(!transit), "{found:?}");
    assert_eq!(count("transit_gateway"), usize::from(transit), "{found:?}");
    assert_eq!(count("resource_share"), usize::from(transit), "{found:?}");
    assert_eq!(count("security_group"), 1, "{found:?}");
    assert_eq!(count("prefix_list"), 1, "{found:?}");
    let hub_gone = format!("hub {hub_id} is deleted");
    for (kind, id, reason) in &found {
        if kind == "peering" {
            assert_eq!(id, &pcx);
            assert_eq!(reason, &format!("spoke {spoke_id} is detached"));
        } else {
            assert_eq!(reason, &hub_gone, "{kind} {id}");
        }
    }
    assert_eq!(listed["orphans"][0]["account_id"], HUB_ACCOUNT, "{listed}");

    // A dry run answers the same, in order, and makes no mutating call.
    w.emu.calls_clear().await;
    let (status, plan) = w.api.post_empty("/v1/orphans/sweep?dry_run=true").await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        kinds(&plan["items"]),
        found,
        "the dry run lists what GET does"
    );
    let calls = w.emu.calls().await;
    let mutating: Vec<_> = calls
        .iter()
        .filter(|c| MUTATING.iter().any(|m| c.operation.starts_with(m)))
        .map(|c| c.operation.clone())
        .collect();
    assert!(mutating.is_empty(), "a dry run called {mutating:?}");

    // Sweeps until nothing is left; no item ends in an error.
    let mut sweeps = 0;
    loop {
        let (status, report) = w.api.post_empty("/v1/orphans/sweep").await;
        assert_eq!(status, 200, "{report}");
        let items = report["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        for i in items {
            let outcome = i["outcome"].as_str().unwrap();
            assert!(
                ["deleted", "deleting", "in_use: retry later"].contains(&outcome),
                "{i}"
            );
        }
        sweeps += 1;
        assert!(sweeps < 20, "sweeps do not converge: {report}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Nothing of the hub is left, and no hub route goes through the peering.
    let acct = w.aws.account(HUB_ACCOUNT).await;
    for t in &w.hub.route_table_ids {
        let through: Vec<_> = aws::routes(&acct, t)
            .await
            .into_iter()
            .filter(|(_, target)| target == &pcx || target == &tgw)
            .collect();
        assert!(through.is_empty(), "{t}: {through:?}");
    }
    let ours: Vec<String> = acct
        .r53
        .list_hosted_zones()
        .send()
        .await
        .unwrap()
        .hosted_zones()
        .iter()
        .filter(|z| z.caller_reference().starts_with("endpoint-hub:"))
        .map(|z| z.id().to_owned())
        .collect();
    assert!(ours.is_empty(), "zones left: {ours:?}");
    let gateways: Vec<_> = acct
        .ec2
        .describe_transit_gateways()
        .send()
        .await
        .unwrap()
        .transit_gateways()
        .iter()
        .filter(|g| g.state().map(|s| s.as_str()) != Some("deleted"))
        .filter_map(|g| g.transit_gateway_id().map(str::to_owned))
        .collect();
    assert!(gateways.is_empty(), "gateways left: {gateways:?}");
    let audits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'orphan.delete'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audits as usize, found.len());
}
