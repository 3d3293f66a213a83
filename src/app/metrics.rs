//! Prometheus text exposition of the service's state (hubs, spokes and jobs by status, drift)
//! from the database, followed by the process's own counters ([`crate::metrics`]).

use std::fmt::Write;

use super::{App, AppError};
use crate::store;

impl App {
    /// The metrics in Prometheus text format 0.0.4.
    pub async fn metrics(&self) -> Result<String, AppError> {
        let rows = store::audit::metrics_counts(&self.pool).await?;
        let mut out = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for (metric, _, value, count) in rows {
            if seen.insert(metric.clone()) {
                let _ = writeln!(out, "# HELP {metric} Registrations and jobs by status.");
                let _ = writeln!(out, "# TYPE {metric} gauge");
            }
            let labels = match value.split_once(':') {
                Some((kind, status)) => format!("kind=\"{kind}\",status=\"{status}\""),
                None => format!("status=\"{value}\""),
            };
            let _ = writeln!(out, "{metric}{{{labels}}} {count}");
        }
        let drift = store::drift::metrics(&self.pool).await?;
        let _ = writeln!(
            out,
            "# HELP endpoint_hub_drift_found_total Differences reconcile jobs found, by kind \
             and resource.\n# TYPE endpoint_hub_drift_found_total counter"
        );
        for (kind, resource, found, _) in &drift.findings {
            let _ = writeln!(
                out,
                "endpoint_hub_drift_found_total{{kind=\"{kind}\",resource=\"{resource}\"}} {found}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP endpoint_hub_drift_repaired_total Differences reconcile jobs repaired, by \
             kind and resource.\n# TYPE endpoint_hub_drift_repaired_total counter"
        );
        for (kind, resource, _, repaired) in &drift.findings {
            let _ = writeln!(
                out,
                "endpoint_hub_drift_repaired_total{{kind=\"{kind}\",resource=\"{resource}\"}} {repaired}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP endpoint_hub_drift_conflicts_open Conflicts open on hubs and spokes (left \
             alone: not endpoint-hub's), by resource.\n# TYPE endpoint_hub_drift_conflicts_open gauge"
        );
        for (resource, n) in &drift.conflicts_open {
            let _ = writeln!(
                out,
                "endpoint_hub_drift_conflicts_open{{resource=\"{resource}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP endpoint_hub_drifted Hubs and spokes with differences open.\n\
             # TYPE endpoint_hub_drifted gauge\nendpoint_hub_drifted {}",
            drift.drifted
        );
        if let Some(secs) = drift.last_pass_seconds {
            let _ = writeln!(
                out,
                "# HELP endpoint_hub_reconcile_last_pass_seconds Duration of the last finished \
                 background reconcile pass.\n# TYPE endpoint_hub_reconcile_last_pass_seconds \
                 gauge\nendpoint_hub_reconcile_last_pass_seconds {secs:.3}"
            );
        }
        out.push_str(&crate::metrics::render());
        Ok(out)
    }
}
