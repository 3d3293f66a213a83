//! A hub's spokes in the compact form the console draws, and the hub's spokes counted by status:
//! each answered by one statement, whatever the number of spokes.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{AccountId, Ipv4Cidr, VpcId};
use crate::model::{SpokeCounts, SpokeStatus, Topology, TopologySpoke};

/// The spokes of each of `hub_ids` counted by status (detached ones included), in one
/// `GROUP BY`; a hub without spokes is absent from the map.
pub async fn hub_spoke_counts(
    conn: &mut PgConnection,
    hub_ids: &[Uuid],
) -> Result<HashMap<Uuid, SpokeCounts>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT hub_id, status AS "status: SpokeStatus", count(*) AS "n!"
        FROM spokes WHERE hub_id = ANY($1) GROUP BY hub_id, status"#,
        hub_ids,
    )
    .fetch_all(conn)
    .await?;
    let mut out: HashMap<Uuid, SpokeCounts> = HashMap::new();
    for r in rows {
        out.entry(r.hub_id).or_default().add(r.status, r.n);
    }
    Ok(out)
}

/// The hub's live spokes (by id) with their CIDRs, drift marks and last error, and its spokes
/// counted by status; `None` when no live hub has this id. One statement: the hub joined with
/// its spokes and their CIDR claims (grouped once for the whole hub, not per spoke); the
/// detached spokes are counted by an uncorrelated subquery the planner runs once.
pub async fn topology_get(
    conn: &mut PgConnection,
    hub_id: Uuid,
) -> Result<Option<Topology>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT h.id AS hub_id,
            (SELECT count(*) FROM spokes d WHERE d.hub_id = $1 AND d.status = 'detached')
                AS "detached!",
            s.id AS "id?", s.account_id AS "account_id?: AccountId",
            s.vpc_id AS "vpc_id?: VpcId",
            COALESCE(c.cidrs, s.cidrs_seen) AS "cidrs?: Vec<Ipv4Cidr>",
            s.status AS "status?: SpokeStatus",
            (s.drift IS NOT NULL AND (s.drift ->> 'error' IS NOT NULL
                OR jsonb_array_length(COALESCE(s.drift -> 'differences', '[]'::jsonb)) > 0))
                AS "drifted?",
            (SELECT count(*) FROM jsonb_array_elements(
                COALESCE(s.drift -> 'differences', '[]'::jsonb)) d
             WHERE d ->> 'kind' = 'conflict') AS "conflicts?",
            s.last_error AS "last_error?"
        FROM hubs h
        LEFT JOIN spokes s ON s.hub_id = h.id AND s.status <> 'detached'
        LEFT JOIN (SELECT owner_id, array_agg(cidr ORDER BY cidr) AS cidrs
                   FROM cidr_claims WHERE hub_id = $1 AND owner_kind = 'spoke'
                   GROUP BY owner_id) c ON c.owner_id = s.id
        WHERE h.id = $1 AND h.status <> 'deleted'
        ORDER BY s.id"#,
        hub_id,
    )
    .fetch_all(conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut counts = SpokeCounts {
        detached: first.detached,
        ..SpokeCounts::default()
    };
    let mut spokes = Vec::with_capacity(rows.len());
    for r in rows {
        // The hub without spokes is one row of NULL spoke columns.
        let (Some(id), Some(account_id), Some(vpc_id), Some(status)) =
            (r.id, r.account_id, r.vpc_id, r.status)
        else {
            continue;
        };
        counts.add(status, 1);
        spokes.push(TopologySpoke {
            id,
            account_id,
            vpc_id,
            cidrs: r.cidrs.unwrap_or_default(),
            status,
            drifted: r.drifted.unwrap_or(false),
            conflicts: r.conflicts.unwrap_or(0),
            last_error: r.last_error,
        });
    }
    Ok(Some(Topology {
        hub_id,
        counts,
        spokes,
    }))
}
