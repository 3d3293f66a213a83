//! `GET /v1/hubs/{id}/cost`: the figures of known hubs against hand computations with the
//! built-in eu-west-1 prices, the modes' lines, estimates, refusals, and an overriding price
//! table.
//!
//! Built-in eu-west-1 prices used below (prices/aws-prices.json): interface endpoint 0.01 USD
//! per AZ-hour and 0.01 per GB; hosted zone 0.50 per month (first 25); Route 53 Profiles 0.75
//! per hour for up to 100 associations; Transit Gateway 0.05 per attachment-hour and 0.02 per
//! GB; data across AZs 0.01 per GB each way. A month is 730 hours.

use serde_json::{Value, json};

use endpoint_hub::app::prices::{PriceTable, parse};

use super::helpers::*;

/// Registers hub `name` (VPC `n`) in eu-west-1 with 3 services and 2 subnets (2 AZs), in the
/// given modes, and returns its id.
async fn hub3x2(app: &TestApp, name: &str, n: u32, modes: Value) -> String {
    hub3x2_in(app, name, n, modes, "eu-west-1").await
}

async fn hub3x2_in(app: &TestApp, name: &str, n: u32, modes: Value, region: &str) -> String {
    let mut body = hub_body(name, n);
    body["region"] = json!(region);
    body["services"] = json!(["sqs", "ssm", "kms"]);
    body["subnet_ids"] = json!([format!("subnet-{n:08x}"), format!("subnet-{:08x}", n + 1)]);
    for (k, v) in modes.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = app.post("/v1/hubs", &app.admin, &body).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let hub: Value = res.json().await.unwrap();
    hub["id"].as_str().unwrap().to_owned()
}

/// Enrols `count` spokes into `hub` and marks them attached, as finished jobs would; and one
/// more left `attaching` (enrolled, not counted).
async fn spokes(app: &TestApp, hub: &str, count: u32) {
    for i in 0..=count {
        let spoke = app
            .spoke_enroll(hub, 100 + i, &[&format!("10.{}.0.0/16", 100 + i)])
            .await;
        if i < count {
            sqlx::query("UPDATE spokes SET status = 'attached' WHERE id = $1::uuid")
                .bind(spoke["id"].as_str().unwrap())
                .execute(&app.pool)
                .await
                .unwrap();
        }
    }
}

async fn cost(app: &TestApp, hub: &str, query: &str) -> Value {
    let res = app
        .get(&format!("/v1/hubs/{hub}/cost{query}"), &app.read)
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

fn line<'a>(report: &'a Value, side: &str, item: &str) -> &'a Value {
    report[side]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == item)
        .unwrap_or_else(|| panic!("no {side} line {item}: {report:#}"))
}

fn items(report: &Value, side: &str) -> Vec<String> {
    report[side]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["item"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_zones_peering_hub_with_four_spokes_against_a_hand_computation() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({})).await;
    spokes(&app, "h1", 4).await;
    let r = cost(&app, &hub, "").await;

    assert_eq!(r["currency"], "USD");
    assert_eq!(r["region"], "eu-west-1");
    assert_eq!(r["hours_per_month"], 730.0);
    assert_eq!(r["inputs"]["services"], 3);
    assert_eq!(r["inputs"]["hub_azs"], 2);
    assert_eq!(r["inputs"]["zones"], 3);
    assert_eq!(
        r["inputs"]["zones_assumed"], 3,
        "no provisioning ran: names unknown"
    );
    assert_eq!(r["inputs"]["attached_spokes"], 4);
    assert_eq!(r["inputs"]["enrolled_spokes"], 5);
    assert_eq!(r["inputs"]["spoke_azs"], 2);
    assert_eq!(r["inputs"]["spoke_azs_from"], "hub");

    // Hub: 3 services x 2 AZs x 730 h = 4,380 endpoint-AZ hours x 0.01 = 43.80 USD.
    let l = line(&r, "hub", "interface_endpoints");
    assert_eq!(l["quantity"], 4380.0);
    assert_eq!(l["unit_price"], 0.01);
    assert_eq!(l["unit"], "endpoint-AZ hour");
    assert_eq!(l["monthly"], 43.8);
    assert_eq!(l["estimate"], false);
    assert_eq!(l["source"], "https://aws.amazon.com/privatelink/pricing/");
    // 3 zones (one per service) x 0.50 = 1.50 USD.
    let l = line(&r, "hub", "hosted_zones");
    assert_eq!(l["quantity"], 3.0);
    assert_eq!(l["unit_price"], 0.5);
    assert_eq!(l["monthly"], 1.5);
    assert_eq!(l["source"], "https://aws.amazon.com/route53/pricing/");
    // Peering and zones mode: nothing else. 43.80 + 1.50 = 45.30.
    assert_eq!(
        items(&r, "hub"),
        vec!["interface_endpoints", "hosted_zones"]
    );
    assert_eq!(r["hub"]["monthly_total"], 45.3);

    // Alternative: 4 spokes x 3 services x 2 AZs x 730 h = 17,520 hours x 0.01 = 175.20.
    assert_eq!(items(&r, "alternative"), vec!["interface_endpoints"]);
    let l = line(&r, "alternative", "interface_endpoints");
    assert_eq!(l["quantity"], 17520.0);
    assert_eq!(l["monthly"], 175.2);
    assert_eq!(r["alternative"]["monthly_total"], 175.2);

    // Saving 175.20 - 45.30 = 129.90; break-even: 43.80 per spoke against 45.30 from 2.
    assert_eq!(r["monthly_saving"], 129.9);
    assert_eq!(r["break_even_spokes"], 2);
    let verdict = r["verdict"].as_str().unwrap();
    assert!(verdict.contains("saves 129.90 USD a month"), "{verdict}");

    // The table and its sources; eu-west-1's endpoint-hour price is not confirmed.
    assert!(
        r["prices"]["table"]
            .as_str()
            .unwrap()
            .contains("prices/aws-prices.json")
    );
    assert_eq!(r["prices"]["overridden"], false);
    assert!(
        r["prices"]["unconfirmed"]
            .as_array()
            .unwrap()
            .contains(&json!("interface_endpoint_hour"))
    );
    for s in r["prices"]["sources"].as_array().unwrap() {
        assert!(s["url"].as_str().unwrap().starts_with("https://"), "{s}");
        assert!(s["read"].is_string(), "{s}");
    }
    let assumptions = r["assumptions"].to_string();
    assert!(assumptions.contains("730 hours"), "{assumptions}");
    assert!(assumptions.contains("give spoke_azs"), "{assumptions}");
}

#[tokio::test]
async fn spoke_azs_changes_the_alternative_and_says_so() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({})).await;
    spokes(&app, "h1", 4).await;
    let r = cost(&app, &hub, "?spoke_azs=3").await;
    assert_eq!(r["inputs"]["spoke_azs"], 3);
    assert_eq!(r["inputs"]["spoke_azs_from"], "query");
    // 4 x 3 x 3 x 730 = 26,280 hours x 0.01 = 262.80; saving 262.80 - 45.30 = 217.50.
    assert_eq!(
        line(&r, "alternative", "interface_endpoints")["quantity"],
        26280.0
    );
    assert_eq!(r["alternative"]["monthly_total"], 262.8);
    assert_eq!(r["monthly_saving"], 217.5);
    assert!(r["assumptions"].to_string().contains("spoke_azs given"));
}

#[tokio::test]
async fn profile_mode_adds_the_profiles_charge_and_may_cost_more() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({"dns_mode": "profile"})).await;
    spokes(&app, "h1", 4).await;
    let r = cost(&app, &hub, "").await;
    // 730 h x 0.75 = 547.50 (up to 100 associations: no per-association line).
    let l = line(&r, "hub", "route53_profile");
    assert_eq!(l["quantity"], 730.0);
    assert_eq!(l["unit_price"], 0.75);
    assert_eq!(l["monthly"], 547.5);
    assert_eq!(
        items(&r, "hub"),
        vec!["interface_endpoints", "hosted_zones", "route53_profile"]
    );
    // The zones are still billed. Hub 43.80 + 1.50 + 547.50 = 592.80 against 175.20:
    // -417.60; break-even at 14 spokes (14 x 43.80 = 613.20, 13 x 43.80 = 569.40).
    assert_eq!(r["hub"]["monthly_total"], 592.8);
    assert_eq!(r["monthly_saving"], -417.6);
    assert_eq!(r["break_even_spokes"], 14);
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("costs 417.60 USD a month more"),
        "{verdict}"
    );
}

#[tokio::test]
async fn transit_gateway_mode_adds_attachments_and_one_spoke_costs_more() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({"network_mode": "transit_gateway"})).await;
    spokes(&app, "h1", 4).await;
    let r = cost(&app, &hub, "").await;
    // (4 spokes + the hub) x 730 h = 3,650 attachment-hours x 0.05 = 182.50.
    let l = line(&r, "hub", "tgw_attachments");
    assert_eq!(l["quantity"], 3650.0);
    assert_eq!(l["unit_price"], 0.05);
    assert_eq!(l["monthly"], 182.5);
    // Hub 43.80 + 1.50 + 182.50 = 227.80 against 175.20: -52.60. Break-even: 43.80 n >=
    // 45.30 + 36.50 (n + 1) from n = 12.
    assert_eq!(r["hub"]["monthly_total"], 227.8);
    assert_eq!(r["monthly_saving"], -52.6);
    assert_eq!(r["break_even_spokes"], 12);

    // One attached spoke: hub 43.80 + 1.50 + 2 x 730 x 0.05 = 73.00 -> 118.30; alternative
    // 3 x 2 x 730 x 0.01 = 43.80; the hub costs 74.50 more, and says so.
    let one = hub3x2(&app, "h2", 7, json!({"network_mode": "transit_gateway"})).await;
    let spoke = app.spoke_enroll("h2", 200, &["10.200.0.0/16"]).await;
    sqlx::query("UPDATE spokes SET status = 'attached' WHERE id = $1::uuid")
        .bind(spoke["id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let r = cost(&app, &one, "").await;
    assert_eq!(r["hub"]["monthly_total"], 118.3);
    assert_eq!(r["alternative"]["monthly_total"], 43.8);
    assert_eq!(r["monthly_saving"], -74.5);
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("costs 74.50 USD a month more"),
        "{verdict}"
    );
    assert!(verdict.contains("breaks even at 12"), "{verdict}");
}

#[tokio::test]
async fn gb_per_spoke_month_adds_lines_labelled_estimates() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({"network_mode": "transit_gateway"})).await;
    spokes(&app, "h1", 4).await;
    let r = cost(&app, &hub, "?gb_per_spoke_month=100").await;
    assert_eq!(r["inputs"]["gb_per_spoke_month"], 100.0);
    // 4 spokes x 100 GB = 400 GB: endpoints 400 x 0.01 = 4.00 (both sides); the gateway
    // 400 x 0.02 = 8.00; across AZs (2 AZs: half of it, charged out and in) 400 GB charged
    // x 0.01 = 4.00 (both sides).
    let l = line(&r, "hub", "endpoint_data_processing");
    assert_eq!(
        (l["quantity"].clone(), l["monthly"].clone()),
        (json!(400.0), json!(4.0))
    );
    assert_eq!(line(&r, "hub", "tgw_data_processing")["monthly"], 8.0);
    assert_eq!(line(&r, "hub", "inter_az_transfer")["monthly"], 4.0);
    assert_eq!(
        line(&r, "alternative", "endpoint_data_processing")["monthly"],
        4.0
    );
    assert_eq!(line(&r, "alternative", "inter_az_transfer")["monthly"], 4.0);
    // Every data line is an estimate, and only those.
    for side in ["hub", "alternative"] {
        for l in r[side]["lines"].as_array().unwrap() {
            let data = l["item"].as_str().unwrap().contains("data_processing")
                || l["item"] == "inter_az_transfer";
            assert_eq!(l["estimate"], data, "{l}");
        }
    }
    // Hub 227.80 + 4 + 8 + 4 = 243.80; alternative 175.20 + 4 + 4 = 183.20.
    assert_eq!(r["hub"]["monthly_total"], 243.8);
    assert_eq!(r["alternative"]["monthly_total"], 183.2);
    assert_eq!(r["monthly_saving"], -60.6);

    // Peering has no gateway line.
    let peering = hub3x2(&app, "h2", 7, json!({})).await;
    let r = cost(&app, &peering, "?gb_per_spoke_month=2.5").await;
    assert!(!items(&r, "hub").contains(&"tgw_data_processing".to_owned()));
    assert!(items(&r, "hub").contains(&"inter_az_transfer".to_owned()));
}

#[tokio::test]
async fn bad_query_values_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({})).await;
    for (query, field) in [
        ("spoke_azs=0", "spoke_azs"),
        ("spoke_azs=11", "spoke_azs"),
        ("spoke_azs=two", "spoke_azs"),
        ("spoke_azs=1.5", "spoke_azs"),
        ("spoke_azs=1&spoke_azs=2", "spoke_azs"),
        ("gb_per_spoke_month=-1", "gb_per_spoke_month"),
        ("gb_per_spoke_month=NaN", "gb_per_spoke_month"),
        ("gb_per_spoke_month=inf", "gb_per_spoke_month"),
        ("gb_per_spoke_month=lots", "gb_per_spoke_month"),
        ("gb_per_spoke_month=20000000", "gb_per_spoke_month"),
        ("gbs=1", "gbs"),
    ] {
        let res = app
            .get(&format!("/v1/hubs/{hub}/cost?{query}"), &app.read)
            .await;
        let p = problem(res, 400).await;
        assert_eq!(fields(&p), vec![field], "{query}: {p}");
    }
    let p = problem(app.get("/v1/hubs/not-a-uuid/cost", &app.read).await, 400).await;
    assert_eq!(fields(&p), vec!["id"], "{p}");
}

#[tokio::test]
async fn unknown_hub_is_404_and_tokens_are_checked() {
    let app = spawn_app().await;
    let hub = hub3x2(&app, "h1", 1, json!({})).await;
    problem(
        app.get(
            "/v1/hubs/0192d7c4-0000-7000-8000-000000000000/cost",
            &app.read,
        )
        .await,
        404,
    )
    .await;
    let res = app
        .client
        .get(app.url(&format!("/v1/hubs/{hub}/cost")))
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    problem(app.get(&format!("/v1/hubs/{hub}/cost"), "nope").await, 401).await;
    // spokes:write does not read hubs.
    let p = problem(
        app.get(&format!("/v1/hubs/{hub}/cost"), &app.spokes).await,
        403,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("'read'"), "{p}");
    // admin does.
    let res = app.get(&format!("/v1/hubs/{hub}/cost"), &app.admin).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_region_without_prices_is_a_clear_problem() {
    let app = spawn_app().await;
    let hub = hub3x2_in(&app, "h1", 1, json!({}), "ap-southeast-4").await;
    let p = problem(
        app.get(&format!("/v1/hubs/{hub}/cost"), &app.read).await,
        409,
    )
    .await;
    assert_eq!(
        p["type"],
        "https://endpoint-hub.dev/problems/prices-missing"
    );
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("ap-southeast-4"), "{detail}");
    assert!(detail.contains("EH_PRICES_FILE"), "{detail}");
}

#[tokio::test]
async fn an_override_price_file_takes_effect() {
    // A file of the built-in format giving eu-west-1 a negotiated endpoint price of 0.008 and
    // adding ap-southeast-4 (as EH_PRICES_FILE would).
    let mut file = parse(endpoint_hub::app::prices::BUILTIN_JSON).unwrap();
    let mut eu = file.regions.remove("eu-west-1").unwrap();
    file.regions.clear();
    eu.interface_endpoint_hour.usd = 0.008;
    eu.interface_endpoint_hour.confirmed = true;
    file.regions.insert("eu-west-1".into(), eu.clone());
    file.regions.insert("ap-southeast-4".into(), eu);
    let prices = PriceTable::builtin()
        .merged(file, "EH_PRICES_FILE /etc/endpoint-hub/prices.json")
        .unwrap();
    let app = spawn_app_with_prices(prices).await;
    let hub = hub3x2(&app, "h1", 1, json!({})).await;
    spokes(&app, "h1", 4).await;
    let r = cost(&app, &hub, "").await;
    // 4,380 hours x 0.008 = 35.04; alternative 17,520 x 0.008 = 140.16; + zones 1.50:
    // saving 140.16 - 36.54 = 103.62.
    assert_eq!(line(&r, "hub", "interface_endpoints")["monthly"], 35.04);
    assert_eq!(r["hub"]["monthly_total"], 36.54);
    assert_eq!(r["alternative"]["monthly_total"], 140.16);
    assert_eq!(r["monthly_saving"], 103.62);
    assert_eq!(r["prices"]["overridden"], true);
    assert!(
        r["prices"]["table"]
            .as_str()
            .unwrap()
            .starts_with("EH_PRICES_FILE /etc/endpoint-hub/prices.json over the built-in")
    );
    // The Region the built-in table lacks now has prices.
    let other = hub3x2_in(&app, "h2", 7, json!({}), "ap-southeast-4").await;
    let r = cost(&app, &other, "").await;
    assert_eq!(r["region"], "ap-southeast-4");
}
