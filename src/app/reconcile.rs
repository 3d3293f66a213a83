//! Reconcile on demand (`POST /v1/hubs/{id}/reconcile`, `POST /v1/spokes/{id}/reconcile`),
//! plans of a reconcile (`dry_run`), and the background reconciler that starts a pass over
//! every ready hub each interval.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Accepted, Actor, App, AppError, job_url};
use crate::model::{
    Difference, Hub, HubStatus, JobKind, PlannedChange, ReconcileMode, Spoke, SpokeStatus,
};
use crate::store;
use crate::workflow;
use crate::workflow::reconcile::{Scope, observe};

/// Query flags of a reconcile request.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconcileOptions {
    /// Answer 200 with what the reconcile would find and change; change and store nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Report differences, repair none (whatever the hub's `reconcile_mode`).
    #[serde(default)]
    pub detect_only: bool,
}

/// What a reconcile would do now (`dry_run=true`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconcilePlan {
    pub hub_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spoke_id: Option<Uuid>,
    /// When AWS was read.
    pub checked_at: DateTime<Utc>,
    /// True when the reconcile would only report (`detect_only`, or the hub's
    /// `reconcile_mode` is `detect`): `changes` is then empty.
    pub detect_only: bool,
    pub differences: Vec<Difference>,
    /// The AWS changes a reconcile would make, in order.
    pub changes: Vec<PlannedChange>,
}

/// A reconcile request's answer.
pub enum Reconciled<T> {
    Planned(ReconcilePlan),
    Accepted(Accepted<T>),
}

impl App {
    pub async fn hub_reconcile(
        &self,
        actor: &Actor,
        id: Uuid,
        opts: ReconcileOptions,
    ) -> Result<Reconciled<Hub>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let hub = store::hubs::hub_get(&mut conn, id)
            .await?
            .filter(|h| h.status != HubStatus::Deleted)
            .ok_or(AppError::NotFound("hub"))?;
        drop(conn);
        hub_ready(&hub)?;
        let detect_only = opts.detect_only || hub.reconcile_mode == ReconcileMode::Detect;
        if opts.dry_run {
            return Ok(Reconciled::Planned(
                self.plan(&hub, None, detect_only).await?,
            ));
        }
        let job_id = self
            .reconcile_enqueue(actor, &hub, None, detect_only)
            .await?;
        let mut conn = self.pool.acquire().await?;
        let hub = store::hubs::hub_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        Ok(Reconciled::Accepted(Accepted {
            resource: hub,
            job_id,
            job_url: job_url(job_id),
        }))
    }

    pub async fn spoke_reconcile(
        &self,
        actor: &Actor,
        id: Uuid,
        opts: ReconcileOptions,
    ) -> Result<Reconciled<Spoke>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let spoke = store::spokes::spoke_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        let hub = store::hubs::hub_get(&mut conn, spoke.hub_id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        drop(conn);
        if spoke.status != SpokeStatus::Attached {
            return Err(AppError::conflict(format!(
                "spoke {id} is {}: only an attached spoke can be reconciled{}",
                spoke.status,
                match spoke.status {
                    SpokeStatus::Failed => "; retry its failed job instead",
                    SpokeStatus::Pending | SpokeStatus::Attaching => "; its attach is running",
                    _ => "",
                }
            )));
        }
        hub_ready(&hub)?;
        let detect_only = opts.detect_only || hub.reconcile_mode == ReconcileMode::Detect;
        if opts.dry_run {
            return Ok(Reconciled::Planned(
                self.plan(&hub, Some(id), detect_only).await?,
            ));
        }
        let job_id = self
            .reconcile_enqueue(actor, &hub, Some(id), detect_only)
            .await?;
        let mut conn = self.pool.acquire().await?;
        let spoke = store::spokes::spoke_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        Ok(Reconciled::Accepted(Accepted {
            resource: spoke,
            job_id,
            job_url: job_url(job_id),
        }))
    }

    /// What a reconcile would find and change now; reads AWS, writes nothing.
    async fn plan(
        &self,
        hub: &Hub,
        only: Option<Uuid>,
        detect_only: bool,
    ) -> Result<ReconcilePlan, AppError> {
        let spokes = store::spokes::spokes_of_hub(&self.pool, hub.id).await?;
        let scope = Scope {
            hub,
            spokes: &spokes,
            only,
            job_id: None,
        };
        let checked_at = Utc::now();
        let findings = observe(&self.cloud, &scope).await.map_err(|e| {
            AppError::Upstream(format!("AWS could not be read for the plan: {e:?}"))
        })?;
        let changes = if detect_only {
            Vec::new()
        } else {
            plan_order(&findings)
        };
        Ok(ReconcilePlan {
            hub_id: hub.id,
            spoke_id: only,
            checked_at,
            detect_only,
            differences: findings.into_iter().map(|f| f.difference).collect(),
            changes,
        })
    }

    /// Enqueues a reconcile of the hub (or one spoke), or answers with the one already
    /// queued or running.
    async fn reconcile_enqueue(
        &self,
        actor: &Actor,
        hub: &Hub,
        spoke: Option<Uuid>,
        detect_only: bool,
    ) -> Result<Uuid, AppError> {
        let mut tx = self.pool.begin().await?;
        store::hubs::hub_lock(&mut tx, hub.id).await?;
        if let Some(job) = store::drift::reconcile_unfinished(&mut tx, hub.id, spoke).await? {
            return Ok(job);
        }
        let (kind, target) = match spoke {
            None => (JobKind::ReconcileHub, format!("hub:{}", hub.id)),
            Some(s) => (JobKind::ReconcileSpoke, format!("spoke:{s}")),
        };
        let job_id = workflow::enqueue_with_state(
            &mut tx,
            kind,
            hub.id,
            spoke,
            serde_json::json!({ "detect_only": detect_only }),
        )
        .await?;
        Self::audit(
            &mut tx,
            actor,
            match spoke {
                None => "hub.reconcile",
                Some(_) => "spoke.reconcile",
            },
            &target,
            Some(serde_json::json!({ "job_id": job_id, "detect_only": detect_only })),
        )
        .await?;
        tx.commit().await?;
        Ok(job_id)
    }

    /// Starts a background pass unless another process started one less than `interval` ago:
    /// one `reconcile_hub` job per ready hub without one unfinished. Returns the jobs queued.
    pub async fn reconcile_pass(&self, interval: Duration) -> Result<Vec<Uuid>, AppError> {
        let mut tx = self.pool.begin().await?;
        // A little less than the interval: the jitter must not skip a pass.
        let Some(pass) = store::drift::pass_start(&mut tx, interval.as_secs_f64() * 0.9).await?
        else {
            return Ok(Vec::new());
        };
        let hubs = store::hubs::hub_ids_ready(&mut tx).await?;
        let mut jobs = Vec::new();
        for (hub, mode) in hubs {
            if store::drift::reconcile_unfinished(&mut tx, hub, None)
                .await?
                .is_some()
            {
                continue;
            }
            jobs.push(
                workflow::enqueue_with_state(
                    &mut tx,
                    JobKind::ReconcileHub,
                    hub,
                    None,
                    serde_json::json!({
                        "detect_only": mode == ReconcileMode::Detect,
                        "pass_id": pass,
                    }),
                )
                .await?,
            );
        }
        store::drift::pass_jobs_set(&mut tx, pass, &jobs).await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// The background reconciler: a pass every `interval` (with up to 10% jitter, so that
    /// processes started together spread out), until `stop`.
    pub async fn reconciler(&self, interval: Duration, stop: CancellationToken) {
        loop {
            let jitter = interval.mul_f64((Uuid::new_v4().as_u128() % 1000) as f64 / 10_000.0);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(interval + jitter) => {}
            }
            match self.reconcile_pass(interval).await {
                Ok(jobs) if !jobs.is_empty() => {
                    tracing::info!(hubs = jobs.len(), "reconcile pass started")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reconcile pass not started"),
            }
        }
    }
}

fn hub_ready(hub: &Hub) -> Result<(), AppError> {
    if hub.status != HubStatus::Ready {
        return Err(AppError::conflict(format!(
            "hub {} is {}: only a ready hub can be reconciled",
            hub.name, hub.status
        )));
    }
    Ok(())
}

/// The planned changes in the order the job makes them (its steps' order), each once.
fn plan_order(findings: &[workflow::reconcile::Finding]) -> Vec<PlannedChange> {
    use workflow::reconcile::Repair;
    let rank = |r: &Repair| match r {
        Repair::HubResources | Repair::ZoneRemake { .. } => 0,
        Repair::Peering { .. } => 1,
        Repair::Route { .. } => 2,
        Repair::PrefixListAdd { .. } | Repair::PrefixListRemove { .. } => 3,
        _ => 4,
    };
    let mut ordered: Vec<(usize, PlannedChange)> = findings
        .iter()
        .filter_map(|f| Some((rank(f.repair.as_ref()?), f.difference.repair.clone()?)))
        .collect();
    ordered.sort_by_key(|(r, _)| *r);
    let mut out: Vec<PlannedChange> = Vec::new();
    for (_, c) in ordered {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}
