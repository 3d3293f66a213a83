//! Reads the operator console needs beyond the resources themselves: a hub's topology (every
//! live spoke at once, compact) and the hubs' spokes counted by status.

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

    /// Sets `spoke_counts` on each hub (one `GROUP BY` for all of them).
    pub(super) async fn hubs_count_spokes(&self, hubs: &mut [Hub]) -> Result<(), AppError> {
        let ids: Vec<Uuid> = hubs.iter().map(|h| h.id).collect();
        let mut conn = self.pool.acquire().await?;
        let mut counts = store::topology::hub_spoke_counts(&mut conn, &ids).await?;
        for hub in hubs {
            hub.spoke_counts = Some(counts.remove(&hub.id).unwrap_or_default());
        }
        Ok(())
    }
}
