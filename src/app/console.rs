//! Reads the operator console needs beyond the resources themselves: a hub's topology (every
//! live spoke at once, compact) and the hubs' spokes counted by status with the capacity they use.

use uuid::Uuid;

use super::{App, AppError};
use crate::model::{Hub, Topology};
use crate::store;

impl App {
    /// Every live spoke of a live hub in the compact form the console draws, with the hub's
    /// spokes counted by status (one statement).
    pub async fn hub_topology(&self, id: Uuid) -> Result<Topology, AppError> {
        let mut conn = self.pool.acquire().await?;
        store::topology::topology_get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("hub"))
    }

    /// Sets `spoke_counts` and `capacity` on each hub: two `GROUP BY`s for all of them (spokes
    /// by status, spoke CIDRs), whatever their number.
    pub(super) async fn hubs_usage(&self, hubs: &mut [Hub]) -> Result<(), AppError> {
        let ids: Vec<Uuid> = hubs.iter().map(|h| h.id).collect();
        let mut conn = self.pool.acquire().await?;
        let mut counts = store::topology::hub_spoke_counts(&mut conn, &ids).await?;
        let cidrs = store::hubs::hub_spoke_cidr_counts(&mut conn, &ids).await?;
        for hub in hubs {
            let counts = counts.remove(&hub.id).unwrap_or_default();
            let cidrs = cidrs.get(&hub.id).copied().unwrap_or(0);
            hub.capacity = self.capacity(hub, counts.live(), cidrs);
            hub.spoke_counts = Some(counts);
        }
        Ok(())
    }
}
