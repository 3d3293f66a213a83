-- DNS modes: `zones` (each spoke VPC is associated with every hub zone, the default and what
-- earlier hubs do) or `profile` (the hub's zones are in one Route 53 Profile shared through AWS
-- RAM; each spoke VPC is associated with the Profile once).
ALTER TABLE hubs ADD COLUMN dns_mode text NOT NULL DEFAULT 'zones'
    CHECK (dns_mode IN ('zones', 'profile'));

-- What hub provisioning made in `profile` mode: the Profile and the RAM share holding it.
ALTER TABLE hubs ADD COLUMN profile_id text;
ALTER TABLE hubs ADD COLUMN profile_arn text;
ALTER TABLE hubs ADD COLUMN share_arn text;
