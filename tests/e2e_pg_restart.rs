//! End to end: PostgreSQL restarts while spokes attach, and the service recovers by itself.
//!
//! A binary of its own because restarting the server breaks every other test using it at that
//! moment (cargo runs test binaries one after another). Restarts the local cluster with
//! `pg_ctlcluster --skip-systemctl-redirect <version> main restart`, so it needs root and a
//! Debian-style cluster on this machine; it is skipped otherwise, or when
//! `EH_E2E_SKIP_PG_RESTART` is set. Beware: other people's tests on the same server break too.

#[path = "e2e/aws.rs"]
mod aws;
#[path = "e2e/harness.rs"]
mod harness;
mod support;
#[path = "e2e/world.rs"]
mod world;

use std::process::Command;
use std::time::{Duration, Instant};

use aws::{assert_no_problems, check_attached, count_ok, seed_spokes};
use world::{World, spoke_specs};

/// Why the restart can't be done here, if it can't.
fn cannot_restart() -> Option<String> {
    if std::env::var_os("EH_E2E_SKIP_PG_RESTART").is_some() {
        return Some("EH_E2E_SKIP_PG_RESTART is set".into());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Some("not running as root".into());
    }
    if cluster_version().is_none() {
        return Some("no cluster under /etc/postgresql".into());
    }
    None
}

fn cluster_version() -> Option<String> {
    std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
}

/// Restarts the local cluster (blocking; returns once it accepts connections again).
async fn pg_restart() -> Duration {
    let t = Instant::now();
    let version = cluster_version().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "restart"])
            .output()
    })
    .await
    .unwrap()
    .expect("cannot run pg_ctlcluster");
    assert!(
        out.status.success(),
        "pg_ctlcluster restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-q"])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < deadline, "PostgreSQL did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_restart_while_spokes_attach_recovers() {
    if let Some(why) = cannot_restart() {
        eprintln!("[pg-restart] skipped: {why}");
        return;
    }
    const SPOKES: u32 = 8;
    let w = World::start(
        "pg-restart",
        1,
        &[("EH_WORKERS", "4"), ("EH_ROUTE53_PACING", "2")],
    )
    .await;
    let spokes = seed_spokes(&w.aws, &spoke_specs(500_000_000_000, 80, SPOKES)).await;
    w.emu.calls_clear().await;

    let started = Instant::now();
    let hub_id = w.hub_register("main").await;
    let mut ids = Vec::new();
    for s in &spokes {
        ids.push(w.spoke_enroll("main", s).await);
    }
    // Once while the hub provisions, once while the spokes attach.
    let mut restarts = Vec::new();
    for pause in [300, 1500] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        restarts.push(pg_restart().await);
    }
    w.api
        .wait_spokes(&ids, "attached", Duration::from_secs(180))
        .await;
    eprintln!(
        "[pg-restart] {SPOKES} spokes attached in {:.1}s across {} PostgreSQL restarts ({:?})",
        started.elapsed().as_secs_f64(),
        restarts.len(),
        restarts
    );
    let calls = w.emu.calls().await;
    let hub = w.hub_get(&hub_id).await;
    assert_no_problems(
        "after the PostgreSQL restarts",
        check_attached(&w.aws, &w.hub, &hub, &spokes).await,
    );
    assert_eq!(
        count_ok(&calls, "CreateVpcPeeringConnection"),
        SPOKES as usize
    );
    let log = std::fs::read_to_string(w.services[0].log_path()).unwrap_or_default();
    assert_eq!(
        w.services[0].starts, 1,
        "the service was never restarted by the test"
    );
    assert!(
        !log.contains("panicked"),
        "the service panicked; see {}",
        w.services[0].log_path().display()
    );
}
