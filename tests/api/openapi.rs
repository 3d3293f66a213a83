//! The committed `openapi/openapi.json` must match what the code generates.

use serde_json::Value;

use crate::helpers::spawn_app;

const REGENERATE: &str = "cargo run -- openapi > openapi/openapi.json";

fn generated() -> Value {
    serde_json::to_value(endpoint_hub::http::openapi()).unwrap()
}

#[test]
fn committed_spec_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let spec = generated();
    if std::env::var_os("EH_BLESS_OPENAPI").is_some() {
        let mut text = serde_json::to_string_pretty(&endpoint_hub::http::openapi()).unwrap();
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }
    let committed = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path} ({e}); regenerate it with `{REGENERATE}`"));
    let committed: Value = serde_json::from_str(&committed)
        .unwrap_or_else(|e| panic!("{path} is not JSON ({e}); regenerate it with `{REGENERATE}`"));
    assert!(
        committed == spec,
        "openapi/openapi.json differs from the spec the code generates; regenerate it with `{REGENERATE}`"
    );
}

#[test]
fn spec_documents_every_endpoint_with_problems_and_security() {
    let spec = generated();
    let paths = spec["paths"].as_object().unwrap();
    let expected = [
        ("/v1/hubs", vec!["get", "post"]),
        ("/v1/hubs/{id}", vec!["get", "patch", "delete"]),
        ("/v1/hubs/{id}/topology", vec!["get"]),
        ("/v1/hubs/{id}/cost", vec!["get"]),
        ("/v1/spokes", vec!["get", "post"]),
        ("/v1/spokes/{id}", vec!["get", "delete"]),
        ("/v1/hubs/{id}/reconcile", vec!["post"]),
        ("/v1/spokes/{id}/reconcile", vec!["post"]),
        ("/v1/orphans", vec!["get"]),
        ("/v1/orphans/sweep", vec!["post"]),
        ("/v1/jobs", vec!["get"]),
        ("/v1/jobs/{id}", vec!["get"]),
        ("/v1/jobs/{id}/retry", vec!["post"]),
        ("/v1/events", vec!["get"]),
        ("/v1/audit", vec!["get"]),
        ("/v1/whoami", vec!["get"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
    ];
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys());
    for (path, methods) in expected {
        for m in methods {
            let op = &spec["paths"][path][m];
            assert!(op.is_object(), "{m} {path} missing");
            if path.starts_with("/v1") {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{"bearer": []}]),
                    "{m} {path}"
                );
                // Any valid token may ask who it is: no 403 there.
                let statuses: &[&str] = if path == "/v1/whoami" {
                    &["401", "500"]
                } else {
                    &["401", "403", "500"]
                };
                for status in statuses {
                    assert_eq!(
                        op["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{m} {path} {status}"
                    );
                }
            }
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(spec["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn served_spec_is_the_generated_one() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let served: Value = res.json().await.unwrap();
    assert_eq!(served, generated());
}
