-- The closed sets of values the service writes, enforced by the database (the lists are those of
-- the `str_enum!` types of src/model.rs and of hub_services' desired state), and an expiry for
-- idempotency keys.
--
-- audit_log.outcome ('accepted' or 'rejected: <status> <title>') and cloud_calls.outcome ('ok'
-- or an AWS error code) are open sets: not constrained.

ALTER TABLE hubs ADD CONSTRAINT hubs_status_check
    CHECK (status IN ('provisioning', 'ready', 'updating', 'failed', 'deleting', 'deleted'));

ALTER TABLE spokes ADD CONSTRAINT spokes_status_check
    CHECK (status IN ('pending', 'attaching', 'attached', 'failed', 'detaching', 'detached'));

ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'));

ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('provision_hub', 'update_hub_services', 'delete_hub', 'attach_spoke',
                    'detach_spoke'));

ALTER TABLE hub_services ADD CONSTRAINT hub_services_state_check
    CHECK (state IN ('present', 'removing'));

-- An idempotency key answers retries until it expires; an expired key is free for a new request
-- (its row is replaced) and expired rows are purged as new keys are taken.
ALTER TABLE idempotency_keys ADD COLUMN expires_at timestamptz;
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours';
ALTER TABLE idempotency_keys
    ALTER COLUMN expires_at SET NOT NULL,
    ALTER COLUMN expires_at SET DEFAULT now() + interval '24 hours';
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
