//! Plans of requests (`dry_run=true` on enrolment, hub PATCH and DELETE, spoke DELETE): the
//! request is validated exactly as for real, in a transaction that is rolled back, and the
//! answer lists the AWS changes its job would make from what AWS has now. Nothing is stored,
//! nothing is changed in AWS.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, App, AppError, HubUpdate, SpokeEnroll};
use crate::model::{HubStatus, PlannedChange, SpokeStatus};
use crate::store;
use crate::workflow::StepError;
use crate::workflow::plan::{self, Planned};

/// What a request would do (`dry_run=true`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plan {
    /// The registration as the request would leave it (an enrolment's id is not kept).
    #[schema(value_type = Object)]
    pub resource: serde_json::Value,
    /// The AWS changes the request's job would make, in order, from what AWS has now.
    pub changes: Vec<PlannedChange>,
    /// What the plan could not know (an account it could not read, a value read when the
    /// job runs).
    pub notes: Vec<String>,
}

fn upstream(e: StepError) -> AppError {
    AppError::Upstream(format!("AWS could not be read for the plan: {e:?}"))
}

fn plan_of(resource: &impl Serialize, p: Planned) -> Result<Plan, AppError> {
    Ok(Plan {
        resource: serde_json::to_value(resource)
            .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?,
        changes: p.changes,
        notes: p.notes,
    })
}

impl App {
    /// `POST /v1/spokes?dry_run=true`.
    pub async fn spoke_enroll_plan(
        &self,
        actor: &Actor,
        req: SpokeEnroll,
    ) -> Result<Plan, AppError> {
        let mut tx = self.pool.begin().await?;
        let accepted = match self.spoke_enroll_in(&mut tx, actor, req).await {
            Ok(a) => a,
            Err(e) => {
                drop(tx);
                return Err(self.enroll_error_explain(e).await);
            }
        };
        let spoke = accepted.resource;
        let hub = store::hubs::hub_get(&mut tx, spoke.hub_id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        tx.rollback().await?;
        let others = store::spokes::spokes_of_hub(&self.pool, hub.id).await?;
        let mut p = plan::attach(&self.cloud, &hub, &others, &spoke)
            .await
            .map_err(upstream)?;
        if hub.status != HubStatus::Ready {
            p.notes.push(format!(
                "hub {} is {}: the attach waits for it, and the plan lists what the hub has now",
                hub.name, hub.status
            ));
        }
        plan_of(&spoke, p)
    }

    /// `DELETE /v1/spokes/{id}?dry_run=true`.
    pub async fn spoke_detach_plan(&self, actor: &Actor, id: Uuid) -> Result<Plan, AppError> {
        let mut tx = self.pool.begin().await?;
        let accepted = self.spoke_detach_in(&mut tx, actor, id).await?;
        let before = store::spokes::spoke_get(&mut tx, id).await?;
        tx.rollback().await?;
        let mut conn = self.pool.acquire().await?;
        let spoke = store::spokes::spoke_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("spoke"))?;
        let hub = store::hubs::hub_get(&mut conn, spoke.hub_id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        drop(conn);
        let p = if spoke.status == SpokeStatus::Detaching {
            Planned {
                changes: Vec::new(),
                notes: vec![format!(
                    "the spoke is already detaching (job {})",
                    accepted.job_id
                )],
            }
        } else {
            plan::detach(&self.cloud, &hub, &spoke)
                .await
                .map_err(upstream)?
        };
        plan_of(&before.unwrap_or(accepted.resource), p)
    }

    /// `PATCH /v1/hubs/{id}?dry_run=true`.
    pub async fn hub_update_plan(
        &self,
        actor: &Actor,
        id: Uuid,
        req: HubUpdate,
    ) -> Result<Plan, AppError> {
        let wanted = req.services.clone();
        let mut tx = self.pool.begin().await?;
        let (before, accepted) = self.hub_update_in(&mut tx, actor, id, req).await?;
        tx.rollback().await?;
        let attached: Vec<_> = store::spokes::spokes_of_hub(&self.pool, id)
            .await?
            .into_iter()
            .filter(|s| s.status == SpokeStatus::Attached)
            .collect();
        let p = plan::services_change(&self.cloud, &before, &wanted, &attached)
            .await
            .map_err(upstream)?;
        plan_of(&accepted.resource, p)
    }

    /// `DELETE /v1/hubs/{id}?dry_run=true`.
    pub async fn hub_delete_plan(&self, actor: &Actor, id: Uuid) -> Result<Plan, AppError> {
        let mut tx = self.pool.begin().await?;
        let accepted = self.hub_delete_in(&mut tx, actor, id).await?;
        tx.rollback().await?;
        let mut conn = self.pool.acquire().await?;
        let hub = store::hubs::hub_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("hub"))?;
        plan_of(&accepted.resource, plan::hub_delete(&hub))
    }
}
