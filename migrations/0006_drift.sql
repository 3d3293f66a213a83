-- Drift: what a reconcile pass found on a hub or spoke (differences between what AWS has and
-- what the registration wants), every finding kept for metrics and history, and the passes of
-- the background reconciler.

-- `repair` (the default): a reconcile repairs what is ours; `detect`: it only reports.
ALTER TABLE hubs ADD COLUMN reconcile_mode text NOT NULL DEFAULT 'repair'
    CHECK (reconcile_mode IN ('repair', 'detect'));

-- The differences still open after the last check ({"checked_at", "differences", "error"}),
-- written by reconcile jobs only.
ALTER TABLE hubs ADD COLUMN drift jsonb;
ALTER TABLE spokes ADD COLUMN drift jsonb;

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('provision_hub', 'update_hub_services', 'delete_hub', 'attach_spoke',
                    'detach_spoke', 'reconcile_hub', 'reconcile_spoke'));

-- One row per difference a reconcile job found; `repaired_at` once a later read of the same job
-- no longer finds it.
CREATE TABLE drift_findings (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    job_id       uuid NOT NULL REFERENCES jobs (id),
    hub_id       uuid NOT NULL REFERENCES hubs (id),
    spoke_id     uuid REFERENCES spokes (id),
    kind         text NOT NULL CHECK (kind IN ('missing', 'extra', 'wrong_target', 'conflict',
                                               'unreadable')),
    resource     text NOT NULL,
    key          text NOT NULL,
    detail       text NOT NULL,
    repaired_at  timestamptz,
    UNIQUE (job_id, key)
);
CREATE INDEX drift_findings_hub ON drift_findings (hub_id, at);

-- A background reconcile pass: one reconcile_hub job per ready hub. At most one pass starts per
-- interval whatever the number of processes (the insert is guarded by the previous row).
CREATE TABLE reconcile_passes (
    id          uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    jobs        uuid[] NOT NULL DEFAULT '{}'
);
CREATE INDEX reconcile_passes_started ON reconcile_passes (started_at);
