//! Prometheus text exposition of the service's state (hubs, spokes and jobs by status).

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
        Ok(out)
    }
}
