-- endpoint-hub schema. PostgreSQL enforces what it can: cidr types, non-overlap of spoke CIDRs
-- within a hub (exclusion constraint over inet &&), and an append-only audit log.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE hubs (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    account_id      text NOT NULL,
    region          text NOT NULL,
    vpc_id          text NOT NULL,
    cidrs           cidr[] NOT NULL,
    subnet_ids      text[] NOT NULL,
    route_table_ids text[] NOT NULL,
    role_arn        text NOT NULL,
    external_id     text,
    status          text NOT NULL,
    -- resources found or created by provisioning
    prefix_list_max_entries int NOT NULL,
    security_group_id text,
    prefix_list_id    text,
    last_error      text,
    current_job_id  uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- A deleted hub frees its name and its VPC.
CREATE UNIQUE INDEX hubs_name_live ON hubs (name) WHERE status <> 'deleted';
CREATE UNIQUE INDEX hubs_vpc_live ON hubs (account_id, region, vpc_id) WHERE status <> 'deleted';

CREATE TABLE hub_services (
    hub_id        uuid NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    service       text NOT NULL,
    -- distinguishes a service re-added after removal: its endpoint tag and zone caller
    -- reference (unique forever in Route 53) include it
    generation    uuid NOT NULL DEFAULT gen_random_uuid(),
    -- desired: present (wanted) or removing (to be torn down)
    state         text NOT NULL DEFAULT 'present',
    endpoint_id   text,
    zone_id       text,
    zone_name     text,
    PRIMARY KEY (hub_id, service)
);

CREATE TABLE spokes (
    id              uuid PRIMARY KEY,
    hub_id          uuid NOT NULL REFERENCES hubs(id),
    account_id      text NOT NULL,
    region          text NOT NULL,
    vpc_id          text NOT NULL,
    cidrs_given     boolean NOT NULL,
    -- the CIDRs as last known (given, or read from AWS); live claims are in cidr_claims
    cidrs_seen      cidr[] NOT NULL DEFAULT '{}',
    route_table_ids text[],
    role_arn        text NOT NULL,
    external_id     text,
    labels          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status          text NOT NULL,
    peering_id      text,
    last_error      text,
    current_job_id  uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- One live registration per VPC; a detached spoke frees its VPC for a new enrolment.
CREATE UNIQUE INDEX spokes_vpc_live ON spokes (account_id, region, vpc_id) WHERE status <> 'detached';
CREATE INDEX spokes_hub ON spokes (hub_id, id);

-- Every CIDR claimed inside a hub's address plan: the hub's own and each live spoke's.
-- The exclusion constraint makes overlaps impossible, even under concurrent enrolments.
CREATE TABLE cidr_claims (
    hub_id    uuid NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    cidr      cidr NOT NULL,
    owner_kind text NOT NULL CHECK (owner_kind IN ('hub', 'spoke')),
    owner_id  uuid NOT NULL,
    EXCLUDE USING gist (hub_id WITH =, (cidr::inet) inet_ops WITH &&)
);
CREATE INDEX cidr_claims_owner ON cidr_claims (owner_id);

CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    hub_id        uuid NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    spoke_id      uuid REFERENCES spokes(id),
    status        text NOT NULL,               -- queued | running | succeeded | failed
    steps         text[] NOT NULL,             -- the workflow's step names, in order
    next_step     int NOT NULL DEFAULT 0,      -- index of the first unfinished step
    state         jsonb NOT NULL DEFAULT '{}'::jsonb, -- checkpointed step outputs
    attempts      int NOT NULL DEFAULT 0,      -- transient-failure retries of the current step
    run_after     timestamptz NOT NULL DEFAULT now(),
    locked_by     uuid,
    lease_until   timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX jobs_claimable ON jobs (run_after) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_spoke ON jobs (spoke_id);
CREATE INDEX jobs_hub ON jobs (hub_id, created_at);

CREATE TABLE job_events (
    id        bigserial PRIMARY KEY,
    job_id    uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    step      text,
    kind      text NOT NULL,    -- step_started | step_succeeded | step_retry | step_failed | job_*
    message   text
);
CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    principal   text NOT NULL,
    action      text NOT NULL,
    target      text,
    request_id  text,
    outcome     text NOT NULL,
    detail      jsonb
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_target ON audit_log (target);

-- Every mutating AWS call, beside the API audit rows.
CREATE TABLE cloud_calls (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    account_id  text NOT NULL,
    region      text NOT NULL,
    operation   text NOT NULL,
    resource_id text,
    outcome     text NOT NULL,
    aws_request_id text,
    job_id      uuid
);
CREATE INDEX cloud_calls_job ON cloud_calls (job_id);

CREATE FUNCTION reject_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only (% rejected)', TG_OP;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION reject_audit_change();
CREATE TRIGGER cloud_calls_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cloud_calls
    FOR EACH STATEMENT EXECUTE FUNCTION reject_audit_change();

CREATE TABLE api_tokens (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    hash        text NOT NULL UNIQUE,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE idempotency_keys (
    principal     text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status_code   int NOT NULL,
    response      jsonb NOT NULL,
    location      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
