//! Issue 8, "Real AWS is less forgiving than our emulators": interface endpoints as AWS makes
//! them, against the simulated cloud. S3 and DynamoDB are listed as a Gateway service before
//! the Interface one; services offered in some availability zones only; endpoints that are
//! `pending`, end `failed`, or take a while `deleting`.

mod support;

use endpoint_hub::model::Hub;
use support::*;

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
