//! Talking to the emulator as each account, with the AWS SDK and STS `AssumeRole` (as the
//! service does): seeding VPCs, and checking what the service built by looking at it directly,
//! never through the service.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::Value;

use super::harness::{Call, REGION};

/// Clients acting as one account.
#[derive(Clone)]
pub struct Account {
    pub id: String,
    pub ec2: aws_sdk_ec2::Client,
    pub r53: aws_sdk_route53::Client,
    pub profiles: aws_sdk_route53profiles::Client,
    pub ram: aws_sdk_ram::Client,
}

/// Reaches any account of the emulator.
pub struct Aws {
    endpoint: String,
    base: aws_config::SdkConfig,
    cache: Mutex<HashMap<String, Account>>,
}

pub fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/endpoint-hub")
}

impl Aws {
    pub async fn new(endpoint: &str) -> Aws {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "e2e-static"))
            .load()
            .await;
        Aws {
            endpoint: endpoint.to_owned(),
            base,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Clients for `account`, through AssumeRole of its `endpoint-hub` role.
    pub async fn account(&self, account: &str) -> Account {
        if let Some(a) = self.cache.lock().unwrap().get(account) {
            return a.clone();
        }
        let sts = aws_sdk_sts::Client::new(&self.base);
        let out = sts
            .assume_role()
            .role_arn(role_arn(account))
            .role_session_name("e2e")
            .send()
            .await
            .expect("AssumeRole");
        let c = out.credentials().expect("credentials");
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "e2e-assumed",
        );
        let conf = self.base.to_builder().credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(creds),
        );
        let conf = conf.build();
        let a = Account {
            id: account.to_owned(),
            ec2: aws_sdk_ec2::Client::new(&conf),
            r53: aws_sdk_route53::Client::new(&conf),
            profiles: aws_sdk_route53profiles::Client::new(&conf),
            ram: aws_sdk_ram::Client::new(&conf),
        };
        self.cache
            .lock()
            .unwrap()
            .insert(account.to_owned(), a.clone());
        a
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

/// A seeded VPC.
#[derive(Debug, Clone)]
pub struct Vpc {
    pub account: String,
    pub vpc_id: String,
    pub cidr: String,
    pub subnet_ids: Vec<String>,
    /// The private route tables made here (the VPC's main table exists as well).
    pub route_table_ids: Vec<String>,
}

fn name_tag(kind: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// A VPC `a.b.0.0/16` with 3 private subnets (`a.b.1-3.0/24`, one per AZ) and either one
/// route table per subnet (`tables_per_subnet`, the hub) or one for all three (spokes).
pub async fn seed_vpc(acct: &Account, cidr: &str, name: &str, tables_per_subnet: bool) -> Vpc {
    let prefix: Vec<&str> = cidr.split('.').take(2).collect();
    assert!(cidr.ends_with(".0.0/16"), "seed_vpc takes a.b.0.0/16");
    let vpc_id = acct
        .ec2
        .create_vpc()
        .cidr_block(cidr)
        .tag_specifications(name_tag(ResourceType::Vpc, name))
        .send()
        .await
        .expect("CreateVpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap()
        .to_owned();
    // As account vending makes them: private zones resolve only with both on (CreateVpc
    // leaves DNS hostnames off).
    for hostnames in [false, true] {
        let on = aws_sdk_ec2::types::AttributeBooleanValue::builder()
            .value(true)
            .build();
        let req = acct.ec2.modify_vpc_attribute().vpc_id(&vpc_id);
        let req = if hostnames {
            req.enable_dns_hostnames(on)
        } else {
            req.enable_dns_support(on)
        };
        req.send().await.expect("ModifyVpcAttribute");
    }
    let mut subnet_ids = Vec::new();
    for (i, az) in ["a", "b", "c"].iter().enumerate() {
        let id = acct
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("{}.{}.{}.0/24", prefix[0], prefix[1], i + 1))
            .availability_zone(format!("{REGION}{az}"))
            .tag_specifications(name_tag(
                ResourceType::Subnet,
                &format!("{name}-private-{az}"),
            ))
            .send()
            .await
            .expect("CreateSubnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_owned();
        subnet_ids.push(id);
    }
    let groups: Vec<Vec<String>> = if tables_per_subnet {
        subnet_ids.iter().map(|s| vec![s.clone()]).collect()
    } else {
        vec![subnet_ids.clone()]
    };
    let mut route_table_ids = Vec::new();
    for (i, subnets) in groups.iter().enumerate() {
        let rt = acct
            .ec2
            .create_route_table()
            .vpc_id(&vpc_id)
            .tag_specifications(name_tag(
                ResourceType::RouteTable,
                &format!("{name}-private-{i}"),
            ))
            .send()
            .await
            .expect("CreateRouteTable")
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap()
            .to_owned();
        for s in subnets {
            acct.ec2
                .associate_route_table()
                .route_table_id(&rt)
                .subnet_id(s)
                .send()
                .await
                .expect("AssociateRouteTable");
        }
        route_table_ids.push(rt);
    }
    Vpc {
        account: acct.id.clone(),
        vpc_id,
        cidr: cidr.to_owned(),
        subnet_ids,
        route_table_ids,
    }
}

/// Associates a secondary IPv4 CIDR block with a VPC.
pub async fn vpc_cidr_associate(acct: &Account, vpc: &str, cidr: &str) {
    acct.ec2
        .associate_vpc_cidr_block()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .send()
        .await
        .expect("AssociateVpcCidrBlock");
}

/// Seeds `(account, cidr)` spokes concurrently, in order.
pub async fn seed_spokes(aws: &std::sync::Arc<Aws>, spokes: &[(String, String)]) -> Vec<Vpc> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (account, cidr)) in spokes.iter().cloned().enumerate() {
        let aws = aws.clone();
        set.spawn(async move {
            let acct = aws.account(&account).await;
            (
                i,
                seed_vpc(&acct, &cidr, &format!("spoke-{account}-{i}"), false).await,
            )
        });
    }
    let mut out: Vec<(usize, Vpc)> = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, v)| v).collect()
}

// ---------------------------------------------------------------------------------------------
// Reading what is there
// ---------------------------------------------------------------------------------------------

/// A peering as the hub account sees it.
#[derive(Debug, Clone)]
pub struct Peering {
    pub id: String,
    pub status: String,
    pub requester_vpc: String,
    pub accepter_vpc: String,
}

pub async fn peerings(acct: &Account) -> Vec<Peering> {
    let items = acct
        .ec2
        .describe_vpc_peering_connections()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeVpcPeeringConnections");
    items
        .iter()
        .map(|p| Peering {
            id: p.vpc_peering_connection_id().unwrap_or_default().to_owned(),
            status: p
                .status()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            requester_vpc: p
                .requester_vpc_info()
                .and_then(|v| v.vpc_id())
                .unwrap_or_default()
                .to_owned(),
            accepter_vpc: p
                .accepter_vpc_info()
                .and_then(|v| v.vpc_id())
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// Routes of a table as (destination, target), peering targets by their pcx id.
pub async fn routes(acct: &Account, table: &str) -> Vec<(String, String)> {
    let out = acct
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .expect("DescribeRouteTables");
    let t = &out.route_tables()[0];
    t.routes()
        .iter()
        .filter_map(|r| {
            let dest = r
                .destination_cidr_block()
                .or(r.destination_prefix_list_id())?
                .to_owned();
            let target = r
                .vpc_peering_connection_id()
                .or(r.transit_gateway_id())
                .or(r.gateway_id())
                .or(r.nat_gateway_id())
                .unwrap_or("other")
                .to_owned();
            Some((dest, target))
        })
        .collect()
}

/// Every route table of a VPC.
pub async fn vpc_tables(acct: &Account, vpc: &str) -> Vec<String> {
    let out = acct
        .ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .expect("DescribeRouteTables");
    out.route_tables()
        .iter()
        .filter_map(|t| t.route_table_id().map(str::to_owned))
        .collect()
}

pub async fn prefix_list_entries(acct: &Account, id: &str) -> Vec<String> {
    let out = acct
        .ec2
        .get_managed_prefix_list_entries()
        .prefix_list_id(id)
        .send()
        .await
        .expect("GetManagedPrefixListEntries");
    out.entries()
        .iter()
        .filter_map(|e| e.cidr().map(str::to_owned))
        .collect()
}

/// Whether the security group admits the prefix list on TCP 443.
pub async fn sg_admits_on_443(acct: &Account, sg: &str, prefix_list: &str) -> bool {
    let out = acct
        .ec2
        .describe_security_groups()
        .group_ids(sg)
        .send()
        .await
        .expect("DescribeSecurityGroups");
    out.security_groups().iter().any(|g| {
        g.ip_permissions().iter().any(|p| {
            p.ip_protocol() == Some("tcp")
                && p.from_port() == Some(443)
                && p.to_port() == Some(443)
                && p.prefix_list_ids()
                    .iter()
                    .any(|l| l.prefix_list_id() == Some(prefix_list))
        })
    })
}

/// The regional DNS name of an endpoint (its first DNS entry).
pub async fn endpoint_dns(acct: &Account, endpoint: &str) -> Option<String> {
    let out = acct
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(endpoint)
        .send()
        .await
        .expect("DescribeVpcEndpoints");
    out.vpc_endpoints()
        .first()?
        .dns_entries()
        .first()?
        .dns_name()
        .map(norm)
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.')
        .replace("\\052", "*")
        .to_ascii_lowercase()
}

/// VPC ids associated with a zone (as its owner sees them, duplicates kept).
pub async fn zone_vpcs(acct: &Account, zone: &str) -> Vec<String> {
    let out = acct
        .r53
        .get_hosted_zone()
        .id(zone)
        .send()
        .await
        .expect("GetHostedZone");
    out.vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_owned))
        .collect()
}

/// Alias A records of a zone: name -> alias target DNS name.
pub async fn zone_aliases(acct: &Account, zone: &str) -> BTreeMap<String, String> {
    let out = acct
        .r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("ListResourceRecordSets");
    out.resource_record_sets()
        .iter()
        .filter(|r| r.r#type().as_str() == "A")
        .filter_map(|r| Some((norm(r.name()), norm(r.alias_target()?.dns_name()))))
        .collect()
}

pub async fn zone_authorizations(acct: &Account, zone: &str) -> Vec<String> {
    let out = acct
        .r53
        .list_vpc_association_authorizations()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("ListVPCAssociationAuthorizations");
    out.vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_owned))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checks (each returns the problems found; empty means all is well)
// ---------------------------------------------------------------------------------------------

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The hub's services as the API reports them: (name, endpoint id, zone id, zone name).
pub fn hub_services(hub_json: &Value) -> Vec<(String, String, String, String)> {
    hub_json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|svc| {
            (
                s(&svc["name"]),
                s(&svc["endpoint_id"]),
                s(&svc["zone_id"]),
                s(&svc["zone_name"]),
            )
        })
        .collect()
}

/// Everything the hub and the `attached` spokes should have, checked as each account: one live
/// (active) peering per spoke, routes both ways, the prefix list holding exactly the attached
/// CIDRs and admitted by the security group on 443, each service's zone with its alias records
/// and associated with exactly the hub and the attached spokes, no authorization left over.
pub async fn check_attached(
    aws: &Aws,
    hub: &Vpc,
    hub_json: &Value,
    attached: &[Vpc],
) -> Vec<String> {
    let mut problems = Vec::new();
    let h = aws.account(&hub.account).await;
    if hub_json["network_mode"] == "transit_gateway" {
        problems.extend(check_transit(aws, hub, hub_json, attached).await);
    } else {
        let all = peerings(&h).await;

        let mut pcx_of: HashMap<String, String> = HashMap::new();
        for spoke in attached {
            let mine: Vec<&Peering> = all
                .iter()
                .filter(|p| p.requester_vpc == hub.vpc_id && p.accepter_vpc == spoke.vpc_id)
                .filter(|p| p.status != "deleted")
                .collect();
            match mine.as_slice() {
                [p] if p.status == "active" => {
                    pcx_of.insert(spoke.vpc_id.clone(), p.id.clone());
                }
                _ => problems.push(format!(
                    "spoke {} ({}): expected one active peering, found {:?}",
                    spoke.vpc_id, spoke.account, mine
                )),
            }
        }

        // Routes: hub tables -> every spoke CIDR; spoke tables -> the hub CIDR; each once, via pcx.
        for table in &hub.route_table_ids {
            let rs = routes(&h, table).await;
            for spoke in attached {
                let to: Vec<_> = rs.iter().filter(|(d, _)| d == &spoke.cidr).collect();
                let want = pcx_of.get(&spoke.vpc_id);
                if to.len() != 1 || Some(&to[0].1) != want {
                    problems.push(format!(
                        "hub table {table}: routes to {} are {to:?}, expected one via {want:?}",
                        spoke.cidr
                    ));
                }
            }
        }
        for spoke in attached {
            let sa = aws.account(&spoke.account).await;
            let want = pcx_of.get(&spoke.vpc_id);
            for table in vpc_tables(&sa, &spoke.vpc_id).await {
                let rs = routes(&sa, &table).await;
                let to: Vec<_> = rs.iter().filter(|(d, _)| d == &hub.cidr).collect();
                if to.len() != 1 || Some(&to[0].1) != want {
                    problems.push(format!(
                        "spoke {} table {table}: routes to {} are {to:?}, expected one via {want:?}",
                        spoke.vpc_id, hub.cidr
                    ));
                }
            }
            // Peering active from the spoke's side too.
            if let Some(pcx) = want {
                let theirs = peerings(&sa).await;
                if !theirs.iter().any(|p| &p.id == pcx && p.status == "active") {
                    problems.push(format!(
                        "spoke {}: peering {pcx} not active as the spoke account sees it",
                        spoke.vpc_id
                    ));
                }
            }
        }
    }

    // Prefix list and security group.
    let pl = s(&hub_json["prefix_list_id"]);
    let sg = s(&hub_json["security_group_id"]);
    let entries = prefix_list_entries(&h, &pl).await;
    let got: BTreeSet<String> = entries.iter().cloned().collect();
    let want: BTreeSet<String> = attached.iter().map(|v| v.cidr.clone()).collect();
    if got != want || entries.len() != got.len() {
        problems.push(format!(
            "prefix list {pl}: entries {entries:?}, expected {want:?}"
        ));
    }
    if !sg_admits_on_443(&h, &sg, &pl).await {
        problems.push(format!(
            "security group {sg} does not admit {pl} on TCP 443"
        ));
    }

    // Zones: in profile mode the spokes get them through the Profile, not directly.
    let profile_mode = hub_json["dns_mode"] == "profile";
    if profile_mode {
        problems.extend(check_profile(aws, hub, hub_json, attached).await);
    }
    let mut want_vpcs: Vec<String> = if profile_mode {
        Vec::new()
    } else {
        attached.iter().map(|v| v.vpc_id.clone()).collect()
    };
    want_vpcs.push(hub.vpc_id.clone());
    want_vpcs.sort();
    for (name, endpoint, zone, zone_name) in hub_services(hub_json) {
        if endpoint.is_empty() || zone.is_empty() || zone_name.is_empty() {
            problems.push(format!("service {name}: no endpoint or zone recorded"));
            continue;
        }
        let mut vpcs = zone_vpcs(&h, &zone).await;
        vpcs.sort();
        if vpcs != want_vpcs {
            problems.push(format!(
                "zone {zone} ({zone_name}): associated with {vpcs:?}, expected {want_vpcs:?}"
            ));
        }
        let dns = endpoint_dns(&h, &endpoint).await;
        let aliases = zone_aliases(&h, &zone).await;
        for record in [zone_name.clone(), format!("*.{zone_name}")] {
            if aliases.get(&record) != dns.as_ref() || dns.is_none() {
                problems.push(format!(
                    "zone {zone}: alias {record} -> {:?}, expected the endpoint's {dns:?}",
                    aliases.get(&record)
                ));
            }
        }
        let auths = zone_authorizations(&h, &zone).await;
        if !auths.is_empty() {
            problems.push(format!("zone {zone}: authorizations left: {auths:?}"));
        }
    }
    problems
}

/// The hub's Route 53 Profile as each account sees it: it holds every zone of the hub (hub
/// account), each attached spoke VPC is associated with it exactly once (its own account and
/// the Profile's owner agree), and each spoke account is an `ASSOCIATED` principal of the RAM
/// share holding the Profile.
pub async fn check_profile(
    aws: &Aws,
    hub: &Vpc,
    hub_json: &Value,
    attached: &[Vpc],
) -> Vec<String> {
    let mut problems = Vec::new();
    let h = aws.account(&hub.account).await;
    let profile = s(&hub_json["profile_id"]);
    let share = s(&hub_json["share_arn"]);
    if profile.is_empty() || share.is_empty() {
        return vec![format!(
            "hub has no Profile or share recorded: {:?} {:?}",
            hub_json["profile_id"], hub_json["share_arn"]
        )];
    }
    let held: BTreeSet<String> = profile_zone_ids(&h, &profile).await.into_iter().collect();
    for (name, _, zone, _) in hub_services(hub_json) {
        if !held.contains(&zone) {
            problems.push(format!(
                "Profile {profile} does not hold zone {zone} of {name}"
            ));
        }
    }
    let by_owner = profile_vpcs(&h, Some(&profile), None).await;
    for spoke in attached {
        let n = by_owner.iter().filter(|(_, v)| v == &spoke.vpc_id).count();
        if n != 1 {
            problems.push(format!(
                "Profile {profile}: {n} associations with {} as its owner sees them",
                spoke.vpc_id
            ));
        }
        let sa = aws.account(&spoke.account).await;
        let own = profile_vpcs(&sa, None, Some(&spoke.vpc_id)).await;
        if own != vec![(profile.clone(), spoke.vpc_id.clone())] {
            problems.push(format!(
                "spoke {} ({}): its Profile associations are {own:?}, expected one with {profile}",
                spoke.vpc_id, spoke.account
            ));
        }
    }
    let principals = share_principals(&h, &share).await;
    for spoke in attached {
        if !principals
            .iter()
            .any(|(a, st)| a == &spoke.account && st == "ASSOCIATED")
        {
            problems.push(format!(
                "share {share}: account {} is not an associated principal ({principals:?})",
                spoke.account
            ));
        }
    }
    problems
}

/// The zone ids a Profile holds, as its owner lists them.
pub async fn profile_zone_ids(acct: &Account, profile: &str) -> Vec<String> {
    let out = acct
        .profiles
        .list_profile_resource_associations()
        .profile_id(profile)
        .send()
        .await
        .expect("ListProfileResourceAssociations");
    out.profile_resource_associations()
        .iter()
        .filter_map(|r| r.resource_arn())
        .filter_map(|a| a.strip_prefix("arn:aws:route53:::hostedzone/"))
        .map(str::to_owned)
        .collect()
}

/// Profile associations visible to the account: (profile id, VPC id).
pub async fn profile_vpcs(
    acct: &Account,
    profile: Option<&str>,
    vpc: Option<&str>,
) -> Vec<(String, String)> {
    let out = acct
        .profiles
        .list_profile_associations()
        .set_profile_id(profile.map(str::to_owned))
        .set_resource_id(vpc.map(str::to_owned))
        .send()
        .await
        .expect("ListProfileAssociations");
    out.profile_associations()
        .iter()
        .filter(|a| a.status().is_none_or(|s| s.as_str() != "DELETED"))
        .map(|a| {
            (
                a.profile_id().unwrap_or_default().to_owned(),
                a.resource_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A share's principals and their status, as its owner sees them.
pub async fn share_principals(acct: &Account, share: &str) -> Vec<(String, String)> {
    let out = acct
        .ram
        .get_resource_share_associations()
        .association_type(aws_sdk_ram::types::ResourceShareAssociationType::Principal)
        .resource_share_arns(share)
        .send()
        .await
        .expect("GetResourceShareAssociations");
    out.resource_share_associations()
        .iter()
        .map(|a| {
            (
                a.associated_entity().unwrap_or_default().to_owned(),
                a.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The hub's Transit Gateway as each account sees it: `available`; each attached spoke VPC has
/// one `available` attachment (its own account and the gateway's owner agree), associated with
/// the spokes' gateway route table and propagating into the hub's; the hub table's propagated
/// routes are exactly the attached spokes' CIDRs and the spokes' table's exactly the hub's;
/// every spoke table routes the hub CIDR through the gateway and every hub table routes the
/// hub's prefix list through it; no peering.
pub async fn check_transit(
    aws: &Aws,
    hub: &Vpc,
    hub_json: &Value,
    attached: &[Vpc],
) -> Vec<String> {
    let mut problems = Vec::new();
    let h = aws.account(&hub.account).await;
    let t = &hub_json["transit_gateway"];
    let tgw = s(&t["transit_gateway_id"]);
    let hub_rt = s(&t["hub_route_table_id"]);
    let spoke_rt = s(&t["spoke_route_table_id"]);
    if tgw.is_empty() || hub_rt.is_empty() || spoke_rt.is_empty() {
        return vec![format!("the hub records no gateway or route tables: {t}")];
    }
    let gws = h
        .ec2
        .describe_transit_gateways()
        .transit_gateway_ids(&tgw)
        .send()
        .await
        .expect("DescribeTransitGateways");
    match gws.transit_gateways() {
        [g] if g.state().map(|s| s.as_str()) == Some("available") => {}
        other => problems.push(format!("gateway {tgw}: {other:?}")),
    }
    let seen = tgw_attachments(&h, &tgw).await;
    let mut want_hub_routes = BTreeSet::new();
    for spoke in attached {
        want_hub_routes.insert(spoke.cidr.clone());
        let mine: Vec<_> = seen.iter().filter(|a| a.vpc == spoke.vpc_id).collect();
        match mine.as_slice() {
            [a] if a.state == "available" && a.association.as_deref() == Some(&*spoke_rt) => {
                let sa = aws.account(&spoke.account).await;
                let own = sa
                    .ec2
                    .describe_transit_gateway_vpc_attachments()
                    .filters(filter("vpc-id", &spoke.vpc_id))
                    .send()
                    .await
                    .expect("DescribeTransitGatewayVpcAttachments");
                let live: Vec<_> = own
                    .transit_gateway_vpc_attachments()
                    .iter()
                    .filter(|x| x.state().map(|s| s.as_str()) != Some("deleted"))
                    .collect();
                if live.len() != 1
                    || live[0].transit_gateway_attachment_id() != Some(&*a.id)
                    || live[0].state().map(|s| s.as_str()) != Some("available")
                {
                    problems.push(format!(
                        "spoke {}: its account sees attachments {live:?}, expected {} available",
                        spoke.vpc_id, a.id
                    ));
                }
                for table in vpc_tables(&sa, &spoke.vpc_id).await {
                    let rs = routes(&sa, &table).await;
                    let to: Vec<_> = rs.iter().filter(|(d, _)| d == &hub.cidr).collect();
                    if to.len() != 1 || to[0].1 != tgw {
                        problems.push(format!(
                            "spoke {} table {table}: routes to {} are {to:?}, expected one via \
                             {tgw}",
                            spoke.vpc_id, hub.cidr
                        ));
                    }
                }
                if !peerings(&sa).await.is_empty() {
                    problems.push(format!("spoke {} has a peering", spoke.vpc_id));
                }
            }
            other => problems.push(format!(
                "spoke {}: expected one available attachment associated with {spoke_rt}, found \
                 {other:?}",
                spoke.vpc_id
            )),
        }
    }
    let propagating: BTreeSet<String> = h
        .ec2
        .get_transit_gateway_route_table_propagations()
        .transit_gateway_route_table_id(&hub_rt)
        .send()
        .await
        .expect("GetTransitGatewayRouteTablePropagations")
        .transit_gateway_route_table_propagations()
        .iter()
        .filter_map(|p| p.transit_gateway_attachment_id().map(str::to_owned))
        .collect();
    for a in seen.iter().filter(|a| a.vpc != hub.vpc_id) {
        if !propagating.contains(&a.id) {
            problems.push(format!(
                "attachment {} does not propagate into {hub_rt}",
                a.id
            ));
        }
    }
    let got = tgw_routes(&h, &hub_rt).await;
    if got != want_hub_routes {
        problems.push(format!(
            "hub gateway table {hub_rt}: propagated routes {got:?}, expected {want_hub_routes:?}"
        ));
    }
    let got = tgw_routes(&h, &spoke_rt).await;
    if got != BTreeSet::from([hub.cidr.clone()]) {
        problems.push(format!(
            "spokes' gateway table {spoke_rt}: propagated routes {got:?}, expected only {}",
            hub.cidr
        ));
    }
    let pl = s(&hub_json["prefix_list_id"]);
    for table in &hub.route_table_ids {
        let rs = routes(&h, table).await;
        if !rs.iter().any(|(d, t)| d == &pl && t == &tgw) {
            problems.push(format!(
                "hub table {table} does not route prefix list {pl} via {tgw}: {rs:?}"
            ));
        }
    }
    if !peerings(&h).await.is_empty() {
        problems.push("the hub account has a peering".into());
    }
    problems
}

/// A VPC attachment as the gateway's owner sees it.
#[derive(Debug, Clone)]
pub struct TgwAttachment {
    pub id: String,
    pub vpc: String,
    pub state: String,
    pub association: Option<String>,
}

/// Every VPC attachment of `tgw` that is not deleted (DescribeTransitGatewayAttachments).
pub async fn tgw_attachments(acct: &Account, tgw: &str) -> Vec<TgwAttachment> {
    let out = acct
        .ec2
        .describe_transit_gateway_attachments()
        .filters(filter("transit-gateway-id", tgw))
        .send()
        .await
        .expect("DescribeTransitGatewayAttachments");
    out.transit_gateway_attachments()
        .iter()
        .filter(|a| a.state().map(|s| s.as_str()) != Some("deleted"))
        .map(|a| TgwAttachment {
            id: a
                .transit_gateway_attachment_id()
                .unwrap_or_default()
                .to_owned(),
            vpc: a.resource_id().unwrap_or_default().to_owned(),
            state: a.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            association: a
                .association()
                .and_then(|x| x.transit_gateway_route_table_id())
                .map(str::to_owned),
        })
        .collect()
}

/// The propagated routes of a gateway route table (SearchTransitGatewayRoutes).
pub async fn tgw_routes(acct: &Account, table: &str) -> BTreeSet<String> {
    acct.ec2
        .search_transit_gateway_routes()
        .transit_gateway_route_table_id(table)
        .filters(filter("type", "propagated"))
        .send()
        .await
        .expect("SearchTransitGatewayRoutes")
        .routes()
        .iter()
        .filter_map(|r| r.destination_cidr_block().map(str::to_owned))
        .collect()
}

/// Nothing of a detached spoke is left: its peering deleted, no route to or from it, its CIDR
/// out of the prefix list, its VPC out of every zone (and of the hub's Profile).
pub async fn check_detached(
    aws: &Aws,
    hub: &Vpc,
    hub_json: &Value,
    spoke: &Vpc,
    pcx: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let h = aws.account(&hub.account).await;
    let sa = aws.account(&spoke.account).await;
    for p in peerings(&h).await {
        if p.requester_vpc == hub.vpc_id && p.accepter_vpc == spoke.vpc_id && p.status != "deleted"
        {
            problems.push(format!("peering {} is still {}", p.id, p.status));
        }
    }
    for table in &hub.route_table_ids {
        for (d, t) in routes(&h, table).await {
            if d == spoke.cidr || t == pcx {
                problems.push(format!("hub table {table} still routes {d} via {t}"));
            }
        }
    }
    for table in vpc_tables(&sa, &spoke.vpc_id).await {
        for (d, t) in routes(&sa, &table).await {
            if d == hub.cidr || t == pcx {
                problems.push(format!("spoke table {table} still routes {d} via {t}"));
            }
        }
    }
    let pl = s(&hub_json["prefix_list_id"]);
    if prefix_list_entries(&h, &pl).await.contains(&spoke.cidr) {
        problems.push(format!("prefix list {pl} still holds {}", spoke.cidr));
    }
    for (_, _, zone, zone_name) in hub_services(hub_json) {
        if zone_vpcs(&h, &zone).await.contains(&spoke.vpc_id) {
            problems.push(format!(
                "zone {zone} ({zone_name}) is still associated with {}",
                spoke.vpc_id
            ));
        }
        if zone_authorizations(&h, &zone).await.contains(&spoke.vpc_id) {
            problems.push(format!(
                "zone {zone}: authorization left for {}",
                spoke.vpc_id
            ));
        }
    }
    let own = profile_vpcs(&sa, None, Some(&spoke.vpc_id)).await;
    if !own.is_empty() {
        problems.push(format!(
            "spoke {} is still associated with a Profile: {own:?}",
            spoke.vpc_id
        ));
    }
    problems
}

/// What exists in the hub account, counted from AWS (a create the SDK or a step sent twice
/// with one client token made one resource): prefix lists the account owns, security groups
/// of the hub VPC other than `default`, interface endpoints of the hub VPC and peerings of the
/// hub VPC not deleted.
pub async fn hub_resource_counts(acct: &Account, hub_vpc: &str) -> BTreeMap<&'static str, usize> {
    let lists = acct
        .ec2
        .describe_managed_prefix_lists()
        .send()
        .await
        .expect("DescribeManagedPrefixLists");
    let groups = acct
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", hub_vpc))
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let endpoints = acct
        .ec2
        .describe_vpc_endpoints()
        .send()
        .await
        .expect("DescribeVpcEndpoints");
    let peerings = peerings(acct).await;
    BTreeMap::from([
        (
            "prefix lists",
            lists
                .prefix_lists()
                .iter()
                .filter(|l| l.owner_id() == Some(acct.id.as_str()))
                .count(),
        ),
        (
            "security groups",
            groups
                .security_groups()
                .iter()
                .filter(|g| g.group_name() != Some("default"))
                .count(),
        ),
        (
            "endpoints",
            endpoints
                .vpc_endpoints()
                .iter()
                .filter(|e| e.vpc_id() == Some(hub_vpc))
                .count(),
        ),
        (
            "peerings",
            peerings
                .iter()
                .filter(|p| p.requester_vpc == hub_vpc && p.status != "deleted")
                .count(),
        ),
    ])
}

pub fn assert_no_problems(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Successful calls of `operation` in a call log.
pub fn count_ok(calls: &[Call], operation: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.operation == operation && c.status < 300)
        .count()
}

/// A one-line-per-operation summary: `count operation (service, account role)`.
pub fn summarize(calls: &[Call], hub_account: &str) -> String {
    let mut by: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for c in calls {
        let who = if c.account == hub_account {
            "hub"
        } else if c.service == "sts" && c.operation == "AssumeRole" {
            "service"
        } else {
            "spoke"
        };
        *by.entry((who.to_owned(), c.service.clone(), c.operation.clone()))
            .or_default() += 1;
    }
    by.iter()
        .map(|((who, svc, op), n)| format!("  {n:>4} {who:<7} {svc:<8} {op}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Drift by hand: removes one entry of a managed prefix list (at its current version).
pub async fn prefix_list_entry_remove(acct: &Account, id: &str, cidr: &str) {
    let version = acct
        .ec2
        .describe_managed_prefix_lists()
        .prefix_list_ids(id)
        .send()
        .await
        .unwrap()
        .prefix_lists()[0]
        .version()
        .unwrap();
    acct.ec2
        .modify_managed_prefix_list()
        .prefix_list_id(id)
        .current_version(version)
        .remove_entries(
            aws_sdk_ec2::types::RemovePrefixListEntry::builder()
                .cidr(cidr)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Drift by hand: the VPC's owner disassociates it from a zone.
pub async fn zone_disassociate(acct: &Account, zone: &str, vpc: &str) {
    acct.r53
        .disassociate_vpc_from_hosted_zone()
        .hosted_zone_id(zone)
        .vpc(
            aws_sdk_route53::types::Vpc::builder()
                .vpc_id(vpc)
                .vpc_region(aws_sdk_route53::types::VpcRegion::from(
                    super::harness::REGION,
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
}
