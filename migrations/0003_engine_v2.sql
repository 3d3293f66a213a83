-- Engine v2: bounded waits and typed step state.

-- When the job's current step first asked to wait (for a peering, an endpoint); cleared when
-- the step finishes. A wait longer than its deadline fails the job.
ALTER TABLE jobs ADD COLUMN waiting_since timestamptz;

-- Zone-association progress was one state key per spoke ('zones_associated:<spoke id>'); it is
-- now one typed field: a list of zone ids for an attach, a map spoke id -> zone ids for a
-- service update. Jobs stored before the upgrade resume where they were.
UPDATE jobs j SET state =
    (j.state - ARRAY(SELECT k FROM jsonb_object_keys(j.state) k WHERE k LIKE 'zones_associated:%'))
    || CASE WHEN j.kind = 'attach_spoke' THEN
           jsonb_build_object('zones_associated',
               COALESCE(j.state -> ('zones_associated:' || j.spoke_id::text), '[]'::jsonb))
       ELSE
           jsonb_build_object('zones_associated',
               (SELECT COALESCE(jsonb_object_agg(substr(k, 18), j.state -> k), '{}'::jsonb)
                FROM jsonb_object_keys(j.state) k WHERE k LIKE 'zones_associated:%'))
       END
WHERE EXISTS (SELECT 1 FROM jsonb_object_keys(j.state) k WHERE k LIKE 'zones_associated:%');
