-- Network modes: `peering` (a VPC peering from the hub VPC to each spoke VPC, the default and
-- what earlier hubs do) or `transit_gateway` (the hub VPC and every spoke VPC attached to one
-- Transit Gateway of the hub account, shared with the spoke accounts through AWS RAM).
ALTER TABLE hubs ADD COLUMN network_mode text NOT NULL DEFAULT 'peering'
    CHECK (network_mode IN ('peering', 'transit_gateway'));

-- `transit_gateway` mode: the gateway (given at registration, or made by provisioning), the
-- hub VPC's attachment, the two gateway route tables (the hub's, which spoke attachments
-- propagate into; the spokes', which the hub attachment propagates into) and the RAM share.
ALTER TABLE hubs ADD COLUMN transit_gateway_id text;
ALTER TABLE hubs ADD COLUMN transit_gateway_given boolean NOT NULL DEFAULT false;
ALTER TABLE hubs ADD COLUMN tgw_attachment_id text;
ALTER TABLE hubs ADD COLUMN tgw_hub_route_table_id text;
ALTER TABLE hubs ADD COLUMN tgw_spoke_route_table_id text;
ALTER TABLE hubs ADD COLUMN tgw_share_arn text;
ALTER TABLE hubs ADD CONSTRAINT hubs_tgw_given_has_id
    CHECK (NOT transit_gateway_given OR transit_gateway_id IS NOT NULL);

-- The spoke VPC's attachment to the hub's Transit Gateway, and the subnets (one per zone) the
-- enrolment asked it to use (null: the lowest subnet id of each zone).
ALTER TABLE spokes ADD COLUMN tgw_attachment_id text;
ALTER TABLE spokes ADD COLUMN transit_subnet_ids text[];
