-- One private hosted zone per private DNS name of a service (issue 8): a service such as
-- kinesis-streams has several names (kinesis.<region>, *.data-kinesis.<region>, ...), each its
-- own zone. The zones move out of hub_services into a table of their own.

CREATE TABLE hub_service_zones (
    hub_id           uuid NOT NULL,
    service          text NOT NULL,
    -- the service's generation when the zone was planned: a re-added service gets new zones
    generation       uuid NOT NULL,
    -- lower case, no trailing dot, no leading '*.'
    zone_name        text NOT NULL,
    -- the name's place in the service's list (AWS's order): the API's deprecated `zone_id` and
    -- `zone_name` show the first zone
    position         integer NOT NULL DEFAULT 0,
    -- null until the zone is made
    zone_id          text,
    -- Route 53's CallerReference, unique forever: the zone is found by it before one is made
    caller_reference text NOT NULL UNIQUE CHECK (length(caller_reference) BETWEEN 1 AND 128),
    PRIMARY KEY (hub_id, service, zone_name),
    FOREIGN KEY (hub_id, service) REFERENCES hub_services (hub_id, service) ON DELETE CASCADE
);

-- Existing zones keep the caller reference they were made with
-- (`endpoint-hub:{hub id, simple}:{generation, simple}`), so they are still found by it.
INSERT INTO hub_service_zones (hub_id, service, generation, zone_name, zone_id, caller_reference)
SELECT hub_id, service, generation, lower(zone_name), zone_id,
       'endpoint-hub:' || replace(hub_id::text, '-', '') || ':' || replace(generation::text, '-', '')
FROM hub_services
WHERE zone_name IS NOT NULL;

ALTER TABLE hub_services DROP COLUMN zone_id, DROP COLUMN zone_name;
