"""Seeds the local AWS emulator with a demo hub account and two spoke accounts.

    .venv/bin/python tests/emulator/seed.py --endpoint http://127.0.0.1:4566

Acts in each account through STS AssumeRole (as endpoint-hub itself does) and creates, unless
already there (found by their Name tag, so running it twice changes nothing):
- hub account 111111111111: VPC 10.0.0.0/16, 3 private subnets in 3 AZs, one route table per
  subnet;
- spoke accounts 222222222222 (10.1.0.0/16) and 333333333333 (10.2.0.0/16): a VPC with 3
  private subnets and one private route table.

Prints one JSON object: {"region", "hub": {account_id, vpc_id, cidr, subnet_ids,
route_table_ids}, "spokes": [{account_id, vpc_id, cidr, subnet_ids, route_table_ids}, ...]}.
"""
import argparse
import ipaddress
import json
import sys

import boto3

HUB = ("111111111111", "10.0.0.0/16")
SPOKES = [("222222222222", "10.1.0.0/16"), ("333333333333", "10.2.0.0/16")]
ROLE = "arn:aws:iam::{}:role/endpoint-hub"


def ec2_as(endpoint, region, account):
    base = dict(endpoint_url=endpoint, region_name=region,
                aws_access_key_id="test", aws_secret_access_key="test")
    creds = boto3.client("sts", **base).assume_role(
        RoleArn=ROLE.format(account), RoleSessionName="seed")["Credentials"]
    return boto3.client(
        "ec2", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"])


def tagged(kind, name):
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def by_name(name):
    return [{"Name": "tag:Name", "Values": [name]}]


def ensure_vpc(ec2, region, name, cidr, tables_per_subnet):
    """The VPC named `name` with 3 subnets and its private route tables (made when missing)."""
    found = ec2.describe_vpcs(Filters=by_name(name))["Vpcs"]
    if found:
        vpc_id = found[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tagged("vpc", name))["Vpc"]["VpcId"]
        # Private zones resolve only with DNS support and hostnames on (CreateVpc leaves the
        # second off); endpoint-hub checks both.
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    net = ipaddress.ip_network(cidr)
    subnet_cidrs = list(net.subnets(new_prefix=24))[1:4]
    zones = [f"{region}{z}" for z in "abc"]
    subnet_ids = []
    for sn_cidr, az in zip(subnet_cidrs, zones):
        sn_name = f"{name}-private-{az}"
        found = ec2.describe_subnets(Filters=by_name(sn_name) + [
            {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        if found:
            subnet_ids.append(found[0]["SubnetId"])
            continue
        sn = ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(sn_cidr), AvailabilityZone=az,
                               TagSpecifications=tagged("subnet", sn_name))["Subnet"]
        subnet_ids.append(sn["SubnetId"])
    table_names = ([f"{name}-private-{az}" for az in zones] if tables_per_subnet
                   else [f"{name}-private"])
    table_ids = []
    for i, t_name in enumerate(table_names):
        found = ec2.describe_route_tables(Filters=by_name(t_name) + [
            {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
        if found:
            table_ids.append(found[0]["RouteTableId"])
            continue
        rt = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tagged(
            "route-table", t_name))["RouteTable"]["RouteTableId"]
        subnets = subnet_ids[i:i + 1] if tables_per_subnet else subnet_ids
        for sn in subnets:
            ec2.associate_route_table(RouteTableId=rt, SubnetId=sn)
        table_ids.append(rt)
    return {"vpc_id": vpc_id, "cidr": cidr, "subnet_ids": subnet_ids,
            "route_table_ids": table_ids}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default="http://127.0.0.1:4566")
    p.add_argument("--region", default="eu-west-1")
    args = p.parse_args(argv)
    out = {"region": args.region}
    account, cidr = HUB
    hub = ensure_vpc(ec2_as(args.endpoint, args.region, account), args.region,
                     "endpoint-hub-demo-hub", cidr, tables_per_subnet=True)
    out["hub"] = {"account_id": account, **hub}
    out["spokes"] = []
    for account, cidr in SPOKES:
        spoke = ensure_vpc(ec2_as(args.endpoint, args.region, account), args.region,
                           f"endpoint-hub-demo-spoke-{account}", cidr, tables_per_subnet=False)
        out["spokes"].append({"account_id": account, **spoke})
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
