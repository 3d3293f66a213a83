//! Effects: the changes a workflow step makes to its hub and spoke rows, as data.
//!
//! Steps never write rows themselves. They return effects, and the runner applies them in the
//! same transaction as the step's checkpoint, after the fence on the lease holder: a runner that
//! has lost its lease writes nothing, and a crash between the cloud call and the checkpoint
//! leaves the rows as they were (the step finds its resources again by tag when it reruns).

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{
    EndpointId, HostedZoneId, Ipv4Cidr, PeeringId, PrefixListId, ProfileId, SecurityGroupId,
    ServiceName,
};
use crate::model::{Difference, Drift, HubStatus, SpokeStatus};

/// A zone a service needs: its name and the Route 53 caller reference it is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePlan {
    pub name: String,
    pub caller_reference: String,
}

/// One change to the job's hub or spoke row.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The hub's security group (found or created).
    HubSecurityGroup(SecurityGroupId),
    /// The hub's managed prefix list (found or created).
    HubPrefixList(PrefixListId),
    /// The endpoint made for one of the hub's services.
    HubServiceEndpoint {
        service: ServiceName,
        endpoint_id: EndpointId,
    },
    /// The zones one of the hub's services needs, one per private DNS name; zones already
    /// recorded keep their caller reference and id.
    HubServiceZonesPlanned {
        service: ServiceName,
        zones: Vec<ZonePlan>,
    },
    /// A zone of one of the hub's services, made or found.
    HubServiceZone {
        service: ServiceName,
        zone_name: String,
        zone_id: HostedZoneId,
    },
    /// A zone of a service deleted by hand, to be made again with a new caller reference (its
    /// id is forgotten).
    HubServiceZoneReplanned {
        service: ServiceName,
        zone_name: String,
        caller_reference: String,
    },
    /// A service marked `removing` whose endpoint and zone are gone.
    HubServiceRemoved(ServiceName),
    /// Every service of the hub marked `removing` (the hub is being deleted).
    HubServicesAllRemoving,
    HubStatus {
        status: HubStatus,
        error: Option<String>,
    },
    /// The hub's CIDR claims released (the hub is deleted).
    HubClaimsRelease,
    /// The hub's Route 53 Profile (found or created; `profile` mode).
    HubProfile {
        id: ProfileId,
        arn: String,
    },
    /// The hub's Profile is deleted.
    HubProfileCleared,
    /// The RAM share of the hub's Profile (found or created), or none (deleted).
    HubShare(Option<String>),
    /// What the hub uses and made in `transit_gateway` mode, as it now stands.
    HubTransit(crate::model::HubTransit),
    /// The spoke VPC's Transit Gateway attachment (made or found), or none (deleted).
    SpokeTgwAttachment(Option<crate::domain::TgwAttachmentId>),
    /// The spoke moves to `status`; when `from` is given, only from one of those statuses (an
    /// attach job must not turn a detaching spoke back).
    SpokeStatus {
        status: SpokeStatus,
        from: Option<&'static [SpokeStatus]>,
        error: Option<String>,
    },
    /// The latest job error, whatever the spoke's status.
    SpokeError(String),
    SpokePeering(Option<PeeringId>),
    /// Claims the CIDRs read from AWS for a spoke registered without them; refused when they
    /// overlap another claim of the hub or do not fit the hub's prefix list.
    SpokeCidrsClaim(Vec<Ipv4Cidr>),
    /// The spoke's CIDR claims released (the spoke is detached).
    SpokeClaimsRelease,
    /// Another spoke of the hub than the job's (a hub-level job fanning out to every spoke)
    /// failed for a reason of its own: it becomes `failed` with the reason; the job goes on.
    OtherSpokeFailed {
        spoke: Uuid,
        error: String,
    },
    /// An event in the job's history.
    JobEvent {
        job: Uuid,
        step: &'static str,
        kind: &'static str,
        message: String,
    },
    /// Something a platform engineer should know that is not a failure (a failed endpoint
    /// replaced): recorded as a `step_note` event of the job.
    JobNote(String),
    /// Differences a reconcile found: a `drift_findings` row, an audit row and a job event each.
    DriftFound(Vec<Difference>),
    /// Differences a reconcile found earlier in the job and no longer finds after repairing.
    DriftRepaired(Vec<Difference>),
    /// What is still open on the hub (`spoke: None`) or one of its spokes.
    DriftRecorded {
        spoke: Option<Uuid>,
        drift: Drift,
    },
    /// Why a reconcile failed, on its subject's drift (the job's spoke, or else its hub).
    DriftFailed(String),
    /// The peering of one of the hub's spokes (a hub-level reconcile remade it).
    SpokePeeringOf {
        spoke: Uuid,
        peering: PeeringId,
    },
    /// Another spoke of the hub than the job's has this Transit Gateway attachment (a reconcile
    /// of the hub made it anew).
    SpokeTgwAttachmentOf {
        spoke: Uuid,
        attachment: crate::domain::TgwAttachmentId,
    },
}

/// Why effects could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The change is refused for a reason a platform engineer can act on; the job fails.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Applies `effects` of job `job_id` to its hub and spoke in the caller's transaction.
pub async fn effects_apply(
    conn: &mut PgConnection,
    job_id: Uuid,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
    effects: &[Effect],
) -> Result<(), ApplyError> {
    for effect in effects {
        effect_apply(conn, job_id, hub_id, spoke_id, effect).await?;
    }
    Ok(())
}

fn spoke_of(spoke_id: Option<Uuid>, effect: &Effect) -> Result<Uuid, ApplyError> {
    spoke_id.ok_or_else(|| ApplyError::Refused(format!("{effect:?} on a job without a spoke")))
}

async fn effect_apply(
    conn: &mut PgConnection,
    job_id: Uuid,
    hub_id: Uuid,
    spoke_id: Option<Uuid>,
    effect: &Effect,
) -> Result<(), ApplyError> {
    use super::{hubs, spokes};
    match effect {
        Effect::HubSecurityGroup(id) => {
            sqlx::query!(
                "UPDATE hubs SET security_group_id = $2, updated_at = now() WHERE id = $1",
                hub_id,
                id.as_str()
            )
            .execute(&mut *conn)
            .await?;
        }
        Effect::HubPrefixList(id) => {
            sqlx::query!(
                "UPDATE hubs SET prefix_list_id = $2, updated_at = now() WHERE id = $1",
                hub_id,
                id.as_str()
            )
            .execute(&mut *conn)
            .await?;
        }
        Effect::HubServiceEndpoint {
            service,
            endpoint_id,
        } => {
            hubs::hub_service_endpoint_set(conn, hub_id, service, endpoint_id.as_str()).await?;
        }
        Effect::HubServiceZonesPlanned { service, zones } => {
            let names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
            let references: Vec<String> =
                zones.iter().map(|z| z.caller_reference.clone()).collect();
            hubs::hub_service_zones_plan(conn, hub_id, service, &names, &references).await?;
        }
        Effect::HubServiceZone {
            service,
            zone_name,
            zone_id,
        } => {
            hubs::hub_service_zone_id_set(conn, hub_id, service, zone_name, zone_id.as_str())
                .await?;
        }
        Effect::HubServiceZoneReplanned {
            service,
            zone_name,
            caller_reference,
        } => {
            sqlx::query!(
                "UPDATE hub_service_zones SET caller_reference = $4, zone_id = NULL \
                 WHERE hub_id = $1 AND service = $2 AND zone_name = $3 \
                   AND caller_reference <> $4",
                hub_id,
                service.as_str(),
                zone_name,
                caller_reference
            )
            .execute(&mut *conn)
            .await?;
        }
        Effect::HubServiceRemoved(service) => {
            hubs::hub_service_delete(conn, hub_id, service).await?;
        }
        Effect::HubServicesAllRemoving => hubs::hub_services_want(conn, hub_id, &[]).await?,
        Effect::HubStatus { status, error } => {
            hubs::hub_status_set(conn, hub_id, *status, error.as_deref()).await?;
        }
        Effect::HubClaimsRelease => hubs::hub_claims_release(conn, hub_id).await?,
        Effect::HubProfile { id, arn } => hubs::hub_profile_set(conn, hub_id, id, arn).await?,
        Effect::HubProfileCleared => hubs::hub_profile_clear(conn, hub_id).await?,
        Effect::HubShare(arn) => hubs::hub_share_set(conn, hub_id, arn.as_deref()).await?,
        Effect::HubTransit(t) => hubs::hub_transit_set(conn, hub_id, t).await?,
        Effect::SpokeTgwAttachment(a) => {
            let spoke = spoke_of(spoke_id, effect)?;
            spokes::spoke_tgw_attachment_set(conn, spoke, a.as_ref().map(|a| a.as_str())).await?;
        }
        Effect::SpokeStatus {
            status,
            from,
            error,
        } => {
            let spoke = spoke_of(spoke_id, effect)?;
            match from {
                Some(from) => {
                    spokes::spoke_status_advance(conn, spoke, *status, from).await?;
                    if let Some(e) = error {
                        spokes::spoke_error_set(conn, spoke, e).await?;
                    }
                }
                None => spokes::spoke_status_set(conn, spoke, *status, error.as_deref()).await?,
            }
        }
        Effect::SpokeError(msg) => {
            spokes::spoke_error_set(conn, spoke_of(spoke_id, effect)?, msg).await?;
        }
        Effect::SpokePeering(p) => {
            let spoke = spoke_of(spoke_id, effect)?;
            spokes::spoke_peering_set(conn, spoke, p.as_ref().map(|p| p.as_str())).await?;
        }
        Effect::SpokeCidrsClaim(cidrs) => {
            let spoke = spoke_of(spoke_id, effect)?;
            let Some(hub) = hubs::hub_lock(conn, hub_id).await? else {
                return Err(ApplyError::Refused(format!("hub {hub_id} has disappeared")));
            };
            if let Some((mine, other)) =
                hubs::cidr_conflict_find(conn, hub_id, cidrs, Some(spoke)).await?
            {
                return Err(ApplyError::Refused(format!(
                    "the VPC's CIDR {mine} overlaps {} of {} {}",
                    other.cidr, other.owner_kind, other.owner_id
                )));
            }
            let used = hubs::hub_spoke_cidr_count(conn, hub_id).await?;
            let mine = sqlx::query_scalar!(
                "SELECT count(*) AS \"n!\" FROM cidr_claims WHERE owner_id = $1",
                spoke
            )
            .fetch_one(&mut *conn)
            .await?;
            let after = used - mine + cidrs.len() as i64;
            if after > i64::from(hub.prefix_list_max_entries) {
                return Err(ApplyError::Refused(format!(
                    "the hub's prefix list holds at most {} entries and {} are taken; the VPC's {} CIDRs do not fit",
                    hub.prefix_list_max_entries,
                    used - mine,
                    cidrs.len()
                )));
            }
            if let Err(e) = spokes::spoke_cidrs_claim(conn, hub_id, spoke, cidrs).await {
                return Err(match super::violated_constraint(&e, "23P01") {
                    Some(_) => ApplyError::Refused(format!(
                        "the VPC's CIDRs {} overlap a spoke enrolled meanwhile",
                        cidrs
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    None => e.into(),
                });
            }
        }
        Effect::SpokeClaimsRelease => {
            hubs::cidr_claims_release(conn, spoke_of(spoke_id, effect)?).await?;
        }
        Effect::OtherSpokeFailed { spoke, error } => {
            spokes::spoke_status_set(conn, *spoke, SpokeStatus::Failed, Some(error)).await?;
        }
        Effect::JobEvent {
            job,
            step,
            kind,
            message,
        } => {
            super::jobs::job_event_insert(conn, *job, Some(step), kind, Some(message)).await?;
        }
        Effect::JobNote(message) => {
            super::jobs::job_event_insert(conn, job_id, None, "step_note", Some(message)).await?;
        }
        Effect::DriftFound(differences) => {
            super::drift::findings_insert(conn, job_id, hub_id, differences).await?;
        }
        Effect::DriftRepaired(differences) => {
            super::drift::findings_repaired(conn, job_id, hub_id, differences).await?;
        }
        Effect::DriftRecorded { spoke, drift } => {
            super::drift::drift_set(conn, hub_id, *spoke, drift).await?;
        }
        Effect::DriftFailed(message) => {
            super::drift::drift_error_set(conn, hub_id, spoke_id, message).await?;
        }
        Effect::SpokeTgwAttachmentOf { spoke, attachment } => {
            sqlx::query!(
                "UPDATE spokes SET tgw_attachment_id = $3, updated_at = now() \
                 WHERE id = $1 AND hub_id = $2",
                spoke,
                hub_id,
                attachment.as_str()
            )
            .execute(&mut *conn)
            .await?;
        }
        Effect::SpokePeeringOf { spoke, peering } => {
            sqlx::query!(
                "UPDATE spokes SET peering_id = $3, updated_at = now() \
                 WHERE id = $1 AND hub_id = $2",
                spoke,
                hub_id,
                peering.as_str()
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
