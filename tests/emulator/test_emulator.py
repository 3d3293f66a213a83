"""Tests of the local AWS emulator (moto + our layer), through boto3 like a real client."""
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HUB, SPOKE, OTHER = "111111111111", "222222222222", "333333333333"
REGION = "us-east-1"
EMULATOR = Path(__file__).with_name("emulator.py")
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", data=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="session")
def emulator():
    port = _free_port()
    # The emulator logs every request: into a file, as an unread pipe fills up (64 KiB) and
    # then blocks the server for good.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, str(EMULATOR), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if http(url + "/_emulator/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        log.seek(0)
        pytest.fail("emulator did not become healthy: " + log.read().decode())
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    log.close()


@pytest.fixture
def emu(emulator):
    """A clean emulator for each test, and a factory of per-account clients."""
    assert http(emulator + "/_emulator/reset", "POST")[0] == 200

    class Emu:
        url = emulator
        sessions = {}

        def session(self, account):
            if account in self.sessions:
                return self.sessions[account]
            sts = boto3.client("sts", endpoint_url=emulator, region_name=REGION,
                               aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
            creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/test",
                                    RoleSessionName="test")["Credentials"]
            self.sessions[account] = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                 aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=REGION)
            return self.sessions[account]

        def client(self, account, service, region=REGION, config=NO_RETRY):
            return self.session(account).client(service, endpoint_url=emulator, region_name=region,
                                                config=config)

        def fault(self, **spec):
            status, body = http(emulator + "/_emulator/faults", "POST", spec)
            assert status == 200, body
            return body["id"]

        def faults(self):
            return {f["id"]: f for f in http(emulator + "/_emulator/faults")[1]}

        def calls(self):
            return http(emulator + "/_emulator/calls")[1]

    return Emu()


def code(exc_info):
    return exc_info.value.response["Error"]["Code"], exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def vpc(ec2, cidr="10.0.0.0/16"):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def private_zone(r53, name, vpc_id):
    return r53.create_hosted_zone(Name=name, CallerReference=name + str(time.time()),
                                  VPC={"VPCRegion": REGION, "VPCId": vpc_id},
                                  HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"].split("/")[-1]


@pytest.fixture
def hub_spoke(emu):
    """Hub account with a VPC and a private zone; spoke account with its VPC."""
    h_ec2, s_ec2 = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    h_r53, s_r53 = emu.client(HUB, "route53"), emu.client(SPOKE, "route53")
    hub_vpc, spoke_vpc = vpc(h_ec2, "10.0.0.0/16"), vpc(s_ec2, "10.1.0.0/16")
    zone = private_zone(h_r53, "ec2.us-east-1.amazonaws.com", hub_vpc)
    return dict(h_ec2=h_ec2, s_ec2=s_ec2, h_r53=h_r53, s_r53=s_r53, hub_vpc=hub_vpc,
                spoke_vpc=spoke_vpc, zone=zone)


# ------------------------------------------------------------------ moto's flows still work
def test_accounts_come_from_assumed_role_credentials(emu):
    assert emu.client(HUB, "sts").get_caller_identity()["Account"] == HUB
    v = vpc(emu.client(SPOKE, "ec2"))
    assert emu.client(SPOKE, "ec2").describe_vpcs(VpcIds=[v])["Vpcs"][0]["OwnerId"] == SPOKE
    with pytest.raises(ClientError):
        emu.client(HUB, "ec2").describe_vpcs(VpcIds=[v])


def test_cross_account_peering_accept_and_route(emu):
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    hv, sv = vpc(h, "10.0.0.0/16"), vpc(s, "10.1.0.0/16")
    pcx = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE, PeerRegion=REGION)
    pcx_id = pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    s.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"][0]
    assert got["Status"]["Code"] == "active"
    rt = h.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [hv]}])["RouteTables"][0]
    h.create_route(RouteTableId=rt["RouteTableId"], DestinationCidrBlock="10.1.0.0/16",
                   VpcPeeringConnectionId=pcx_id)


def test_create_private_zone_with_vpc(hub_spoke):
    z = hub_spoke["h_r53"].get_hosted_zone(Id=hub_spoke["zone"])
    assert z["HostedZone"]["Config"]["PrivateZone"] is True
    assert [v["VPCId"] for v in z["VPCs"]] == [hub_spoke["hub_vpc"]]


# ------------------------------------------------------------------ Route 53 authorization flow
def test_authorization_create_list_delete(hub_spoke):
    r53, zone, sv = hub_spoke["h_r53"], hub_spoke["zone"], hub_spoke["spoke_vpc"]
    vpc_arg = {"VPCRegion": REGION, "VPCId": sv}
    out = r53.create_vpc_association_authorization(HostedZoneId=zone, VPC=vpc_arg)
    assert out["HostedZoneId"] == zone and out["VPC"] == vpc_arg
    r53.create_vpc_association_authorization(HostedZoneId=zone, VPC=vpc_arg)  # twice is fine
    assert r53.list_vpc_association_authorizations(HostedZoneId=zone)["VPCs"] == [vpc_arg]
    r53.delete_vpc_association_authorization(HostedZoneId=zone, VPC=vpc_arg)
    assert r53.list_vpc_association_authorizations(HostedZoneId=zone)["VPCs"] == []
    with pytest.raises(ClientError) as e:
        r53.delete_vpc_association_authorization(HostedZoneId=zone, VPC=vpc_arg)
    assert code(e) == ("VPCAssociationAuthorizationNotFound", 404)


def test_authorization_only_by_zone_owner(hub_spoke):
    vpc_arg = {"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]}
    s = hub_spoke["s_r53"]
    for call in (lambda: s.create_vpc_association_authorization(HostedZoneId=hub_spoke["zone"], VPC=vpc_arg),
                 lambda: s.list_vpc_association_authorizations(HostedZoneId=hub_spoke["zone"]),
                 lambda: s.delete_vpc_association_authorization(HostedZoneId=hub_spoke["zone"], VPC=vpc_arg)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == ("NoSuchHostedZone", 404)


def test_cross_account_associate_requires_authorization(hub_spoke):
    zone, sv, s = hub_spoke["zone"], hub_spoke["spoke_vpc"], hub_spoke["s_r53"]
    vpc_arg = {"VPCRegion": REGION, "VPCId": sv}
    with pytest.raises(ClientError) as e:
        s.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=vpc_arg)
    assert code(e) == ("NotAuthorizedException", 401)

    hub_spoke["h_r53"].create_vpc_association_authorization(HostedZoneId=zone, VPC=vpc_arg)
    info = s.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=vpc_arg, Comment="spoke")["ChangeInfo"]
    assert info["Status"] in ("PENDING", "INSYNC") and info["Id"].startswith("/change/")
    assert s.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"

    # the owner sees the association in moto's GetHostedZone
    vpcs = hub_spoke["h_r53"].get_hosted_zone(Id=zone)["VPCs"]
    assert {v["VPCId"] for v in vpcs} == {hub_spoke["hub_vpc"], sv}
    # a second association is refused, not duplicated
    with pytest.raises(ClientError) as e:
        s.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=vpc_arg)
    assert code(e) == ("ConflictingDomainExists", 400)
    assert len(hub_spoke["h_r53"].get_hosted_zone(Id=zone)["VPCs"]) == 2
    # deleting the authorization does not remove the association
    hub_spoke["h_r53"].delete_vpc_association_authorization(HostedZoneId=zone, VPC=vpc_arg)
    assert len(hub_spoke["h_r53"].get_hosted_zone(Id=zone)["VPCs"]) == 2


def test_owner_associate_twice_conflicts(hub_spoke):
    h = hub_spoke["h_r53"]
    with pytest.raises(ClientError) as e:
        h.associate_vpc_with_hosted_zone(HostedZoneId=hub_spoke["zone"],
                                         VPC={"VPCRegion": REGION, "VPCId": hub_spoke["hub_vpc"]})
    assert code(e) == ("ConflictingDomainExists", 400)
    assert len(h.get_hosted_zone(Id=hub_spoke["zone"])["VPCs"]) == 1


def test_associate_unknown_zone_and_foreign_vpc(hub_spoke):
    with pytest.raises(ClientError) as e:
        hub_spoke["s_r53"].associate_vpc_with_hosted_zone(
            HostedZoneId="ZNOSUCHZONE", VPC={"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]})
    assert code(e) == ("NoSuchHostedZone", 404)
    # the hub can't associate the spoke's VPC itself: the VPC's account must do it
    with pytest.raises(ClientError) as e:
        hub_spoke["h_r53"].associate_vpc_with_hosted_zone(
            HostedZoneId=hub_spoke["zone"], VPC={"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]})
    assert code(e) == ("InvalidVPCId", 400)


def test_same_name_zone_conflicts_on_one_vpc(hub_spoke, emu):
    # another account's zone with the same name, associated with the spoke VPC, then the hub's
    other_ec2, other_r53 = emu.client(OTHER, "ec2"), emu.client(OTHER, "route53")
    other_zone = private_zone(other_r53, "ec2.us-east-1.amazonaws.com", vpc(other_ec2, "10.9.0.0/16"))
    sv = {"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]}
    other_r53.create_vpc_association_authorization(HostedZoneId=other_zone, VPC=sv)
    hub_spoke["s_r53"].associate_vpc_with_hosted_zone(HostedZoneId=other_zone, VPC=sv)
    hub_spoke["h_r53"].create_vpc_association_authorization(HostedZoneId=hub_spoke["zone"], VPC=sv)
    with pytest.raises(ClientError) as e:
        hub_spoke["s_r53"].associate_vpc_with_hosted_zone(HostedZoneId=hub_spoke["zone"], VPC=sv)
    assert code(e) == ("ConflictingDomainExists", 400)


def test_disassociate_rules(hub_spoke, emu):
    zone, h, s = hub_spoke["zone"], hub_spoke["h_r53"], hub_spoke["s_r53"]
    sv = {"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]}
    hv = {"VPCRegion": REGION, "VPCId": hub_spoke["hub_vpc"]}
    with pytest.raises(ClientError) as e:
        h.disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC=sv)
    assert code(e) == ("VPCAssociationNotFound", 404)
    with pytest.raises(ClientError) as e:
        h.disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC=hv)
    assert code(e) == ("LastVPCAssociation", 400)

    h.create_vpc_association_authorization(HostedZoneId=zone, VPC=sv)
    s.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=sv)
    # a third account owns neither the zone nor the VPC
    with pytest.raises(ClientError) as e:
        emu.client(OTHER, "route53").disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC=sv)
    assert code(e) == ("InvalidVPCId", 400)
    # the VPC's owner may disassociate its VPC, even after the authorization is gone
    h.delete_vpc_association_authorization(HostedZoneId=zone, VPC=sv)
    s.disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC=sv)
    assert [v["VPCId"] for v in h.get_hosted_zone(Id=zone)["VPCs"]] == [hub_spoke["hub_vpc"]]
    with pytest.raises(ClientError) as e:
        s.disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC=sv)
    assert code(e) == ("VPCAssociationNotFound", 404)


def test_list_hosted_zones_by_vpc_across_accounts(hub_spoke):
    zone, sv = hub_spoke["zone"], {"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]}
    s = hub_spoke["s_r53"]
    own = private_zone(s, "spoke.internal", hub_spoke["spoke_vpc"])
    hub_spoke["h_r53"].create_vpc_association_authorization(HostedZoneId=zone, VPC=sv)
    s.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=sv)
    got = s.list_hosted_zones_by_vpc(VPCId=hub_spoke["spoke_vpc"], VPCRegion=REGION)["HostedZoneSummaries"]
    assert {(z["HostedZoneId"], z["Owner"]["OwningAccount"]) for z in got} == {(zone, HUB), (own, SPOKE)}
    got = hub_spoke["h_r53"].list_hosted_zones_by_vpc(VPCId=hub_spoke["hub_vpc"], VPCRegion=REGION)
    assert [z["HostedZoneId"] for z in got["HostedZoneSummaries"]] == [zone]


# ------------------------------------------------------------------ EC2 enforcement
def test_prefix_list_version_and_max_entries(emu):
    ec2 = emu.client(HUB, "ec2")
    pl = ec2.create_managed_prefix_list(PrefixListName="spokes", AddressFamily="IPv4", MaxEntries=2,
                                        Entries=[{"Cidr": "10.1.0.0/16"}])["PrefixList"]
    pl_id = pl["PrefixListId"]
    ec2.modify_managed_prefix_list(PrefixListId=pl_id, CurrentVersion=1, AddEntries=[{"Cidr": "10.2.0.0/16"}])
    with pytest.raises(ClientError) as e:  # stale version
        ec2.modify_managed_prefix_list(PrefixListId=pl_id, CurrentVersion=1,
                                       AddEntries=[{"Cidr": "10.3.0.0/16"}])
    assert code(e) == ("PrefixListVersionMismatch", 400)
    with pytest.raises(ClientError) as e:  # beyond MaxEntries
        ec2.modify_managed_prefix_list(PrefixListId=pl_id, CurrentVersion=2,
                                       AddEntries=[{"Cidr": "10.3.0.0/16"}])
    assert code(e) == ("PrefixListMaxEntriesExceeded", 400)
    with pytest.raises(ClientError) as e:
        ec2.modify_managed_prefix_list(PrefixListId=pl_id, AddEntries=[{"Cidr": "10.2.0.0/16"}])
    assert code(e) == ("InvalidPrefixListModification", 400)
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=pl_id)["Entries"]
    assert sorted(x["Cidr"] for x in entries) == ["10.1.0.0/16", "10.2.0.0/16"]
    got = ec2.describe_managed_prefix_lists(PrefixListIds=[pl_id])["PrefixLists"][0]
    assert got["Version"] == 2 and got["PrefixListName"] == "spokes"
    ec2.modify_managed_prefix_list(PrefixListId=pl_id, CurrentVersion=2, MaxEntries=5)
    ec2.modify_managed_prefix_list(PrefixListId=pl_id, AddEntries=[{"Cidr": "10.3.0.0/16"}],
                                   RemoveEntries=[{"Cidr": "10.1.0.0/16"}])
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=pl_id)["Entries"]
    assert sorted(x["Cidr"] for x in entries) == ["10.2.0.0/16", "10.3.0.0/16"]
    with pytest.raises(ClientError) as e:
        ec2.modify_managed_prefix_list(PrefixListId="pl-0000000000000000", AddEntries=[{"Cidr": "10.9.0.0/16"}])
    assert code(e) == ("InvalidPrefixListID.NotFound", 400)


def test_peering_overlapping_cidrs_fails(emu):
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    hv, sv = vpc(h, "10.0.0.0/16"), vpc(s, "10.0.128.0/17")
    pcx_id = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"][0]
    assert got["Status"]["Code"] == "failed"
    with pytest.raises(ClientError):
        s.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)


def test_failed_peering_visible_to_requester_only_and_undeletable(emu):
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    hv, sv = vpc(h, "10.0.0.0/16"), vpc(s, "10.1.0.0/16")
    # The overlap is with a secondary block of the accepter VPC: every association counts.
    s.associate_vpc_cidr_block(VpcId=sv, CidrBlock="10.0.128.0/17")
    pcx_id = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    # The requester sees it, failed, with the reason.
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"][0]
    assert got["Status"] == {"Code": "failed", "Message": "Overlapping CIDR range"}
    assert pcx_id in [p["VpcPeeringConnectionId"] for p in h.describe_vpc_peering_connections()[
        "VpcPeeringConnections"]]
    # The accepter does not: not listed, unknown by id, can't be accepted.
    assert pcx_id not in [p["VpcPeeringConnectionId"] for p in s.describe_vpc_peering_connections()[
        "VpcPeeringConnections"]]
    with pytest.raises(ClientError) as e:
        s.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])
    assert code(e) == ("InvalidVpcPeeringConnectionID.NotFound", 400)
    with pytest.raises(ClientError) as e:
        s.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert code(e) == ("InvalidVpcPeeringConnectionID.NotFound", 400)
    # Nobody can delete it; it stays failed.
    for ec2 in (h, s):
        with pytest.raises(ClientError) as e:
            ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
        assert code(e) == ("InvalidStateTransition", 400)
        assert "failed" in e.value.response["Error"]["Message"]
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"][0]
    assert got["Status"]["Code"] == "failed"


def test_peering_describe_unknown_id_and_rejected_undeletable(emu):
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    with pytest.raises(ClientError) as e:  # AWS: unknown ids are an error, not an empty list
        h.describe_vpc_peering_connections(VpcPeeringConnectionIds=["pcx-0123456789abcdef0"])
    assert code(e) == ("InvalidVpcPeeringConnectionID.NotFound", 400)
    hv, sv = vpc(h, "10.0.0.0/16"), vpc(s, "10.1.0.0/16")
    pcx_id = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    s.reject_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    with pytest.raises(ClientError) as e:  # AWS: "You cannot delete ... in the failed or rejected state"
        h.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert code(e) == ("InvalidStateTransition", 400)
    # An active one can be deleted, as before.
    pcx2 = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    s.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx2)
    s.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx2)
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx2])["VpcPeeringConnections"][0]
    assert got["Status"]["Code"] == "deleted"


def test_client_token_makes_creates_idempotent(emu):
    ec2 = emu.client(HUB, "ec2")
    vpc_id = vpc(ec2)
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    args = dict(PrefixListName="spokes", AddressFamily="IPv4", MaxEntries=5, ClientToken="tok-1")
    first = ec2.create_managed_prefix_list(**args)["PrefixList"]["PrefixListId"]
    assert ec2.create_managed_prefix_list(**args)["PrefixList"]["PrefixListId"] == first
    mine = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": ["spokes"]}])
    assert [x["PrefixListId"] for x in mine["PrefixLists"]] == [first]
    with pytest.raises(ClientError) as e:  # same token, other params
        ec2.create_managed_prefix_list(**{**args, "MaxEntries": 6})
    assert code(e) == ("IdempotentParameterMismatch", 400)
    ep = dict(VpcId=vpc_id, ServiceName=f"com.amazonaws.{REGION}.sqs", VpcEndpointType="Interface",
              SubnetIds=[subnet], ClientToken="tok-2")
    one = ec2.create_vpc_endpoint(**ep)["VpcEndpoint"]["VpcEndpointId"]
    assert ec2.create_vpc_endpoint(**ep)["VpcEndpoint"]["VpcEndpointId"] == one
    assert len(ec2.describe_vpc_endpoints()["VpcEndpoints"]) == 1
    # Another token (or none) makes another.
    assert ec2.create_managed_prefix_list(**{**args, "ClientToken": "tok-3"})["PrefixList"][
        "PrefixListId"] != first


def test_endpoint_services_list_s3_gateway_first_without_dns(emu):
    ec2 = emu.client(HUB, "ec2")
    s3 = f"com.amazonaws.{REGION}.s3"
    got = ec2.describe_vpc_endpoint_services(ServiceNames=[s3, f"com.amazonaws.{REGION}.sqs"])
    entries = [(d["ServiceName"], d["ServiceType"][0]["ServiceType"], d.get("PrivateDnsName"),
                d.get("PrivateDnsNames")) for d in got["ServiceDetails"]]
    assert entries[:2] == [(s3, "Gateway", None, None),
                           (s3, "Interface", f"s3.{REGION}.amazonaws.com",
                            [{"PrivateDnsName": f"s3.{REGION}.amazonaws.com"}])]
    assert [e[:2] for e in entries[2:]] == [(f"com.amazonaws.{REGION}.sqs", "Interface")]
    assert got["ServiceDetails"][0]["AvailabilityZones"]
    # The service-type filter still works (moto applies it).
    only = ec2.describe_vpc_endpoint_services(
        ServiceNames=[s3], Filters=[{"Name": "service-type", "Values": ["Interface"]}])
    assert [d["ServiceType"][0]["ServiceType"] for d in only["ServiceDetails"]] == ["Interface"]


# ------------------------------------------------------------------ propagation delay
DELAY_MS = 2500  # long enough for the checks that run inside it on a busy machine


def propagation(emu, **kinds):
    status, body = http(emu.url + "/_emulator/propagation", "POST", kinds)
    assert status == 200, body
    return body


def wait_propagated():
    time.sleep(DELAY_MS / 1000 + 0.2)


def test_propagation_control_endpoint(emu):
    assert http(emu.url + "/_emulator/propagation")[1] == {
        "security_group_ms": 0, "prefix_list_ms": 0, "peering_ms": 0, "pending": {}}
    got = propagation(emu, security_group_ms=DELAY_MS, peering_ms=10)
    assert (got["security_group_ms"], got["prefix_list_ms"], got["peering_ms"]) == (DELAY_MS, 0, 10)
    got = propagation(emu, prefix_list_ms=5)  # only what is given changes
    assert (got["security_group_ms"], got["prefix_list_ms"], got["peering_ms"]) == (DELAY_MS, 5, 10)
    assert http(emu.url + "/_emulator/propagation", "POST", {"nope_ms": 1})[0] == 400
    assert http(emu.url + "/_emulator/propagation", "POST", {"peering_ms": -1})[0] == 400
    ec2 = emu.client(HUB, "ec2")
    sg = ec2.create_security_group(GroupName="p", Description="d", VpcId=vpc(ec2))["GroupId"]
    assert list(http(emu.url + "/_emulator/propagation")[1]["pending"]) == [sg]
    assert http(emu.url + "/_emulator/reset", "POST")[0] == 200
    assert http(emu.url + "/_emulator/propagation")[1] == {
        "security_group_ms": 0, "prefix_list_ms": 0, "peering_ms": 0, "pending": {}}


def test_new_security_group_not_found_until_propagated(emu):
    ec2 = emu.client(HUB, "ec2")
    vpc_id = vpc(ec2)
    default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "SecurityGroups"][0]["GroupId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    propagation(emu, security_group_ms=DELAY_MS)
    tag = {"Key": "owner", "Value": "prop-test"}
    sg = ec2.create_security_group(GroupName="new", Description="d", VpcId=vpc_id, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [tag]}])["GroupId"]
    by_tag = [{"Name": "tag:owner", "Values": ["prop-test"]}]
    rule = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}]
    from_sg = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": sg}]}]
    calls = [
        lambda: ec2.describe_security_groups(GroupIds=[sg]),
        lambda: ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=rule),
        lambda: ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=rule),
        lambda: ec2.authorize_security_group_ingress(GroupId=default_sg, IpPermissions=from_sg),
        lambda: ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName=f"com.amazonaws.{REGION}.sqs",
                                        VpcEndpointType="Interface", SubnetIds=[subnet],
                                        SecurityGroupIds=[sg]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == ("InvalidGroup.NotFound", 400)
    # Listings omit it too (by tag, and all of the account's groups).
    assert ec2.describe_security_groups(Filters=by_tag)["SecurityGroups"] == []
    assert sg not in [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    wait_propagated()
    assert [g["GroupId"] for g in ec2.describe_security_groups(Filters=by_tag)["SecurityGroups"]] == [sg]
    for call in calls:
        call()


def test_new_prefix_list_not_found_until_propagated(emu):
    ec2 = emu.client(HUB, "ec2")
    vpc_id = vpc(ec2)
    default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "SecurityGroups"][0]["GroupId"]
    propagation(emu, prefix_list_ms=DELAY_MS)
    pl = ec2.create_managed_prefix_list(PrefixListName="spokes", AddressFamily="IPv4", MaxEntries=5,
                                        TagSpecifications=[{"ResourceType": "prefix-list",
                                                            "Tags": [{"Key": "owner", "Value": "p"}]}],
                                        )["PrefixList"]["PrefixListId"]
    calls = [
        lambda: ec2.describe_managed_prefix_lists(PrefixListIds=[pl]),
        lambda: ec2.get_managed_prefix_list_entries(PrefixListId=pl),
        lambda: ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1,
                                               AddEntries=[{"Cidr": "10.1.0.0/16"}]),
        lambda: ec2.authorize_security_group_ingress(GroupId=default_sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == ("InvalidPrefixListID.NotFound", 400)
    listed = ec2.describe_managed_prefix_lists(Filters=[{"Name": "tag:owner", "Values": ["p"]}])
    assert listed["PrefixLists"] == []
    assert pl not in [x["PrefixListId"] for x in ec2.describe_managed_prefix_lists()["PrefixLists"]]
    wait_propagated()
    for call in calls:
        call()
    assert [x["Cidr"] for x in ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"]] == ["10.1.0.0/16"]


def test_prefix_list_unknown_id_is_not_found(emu):
    # AWS answers NotFound for an unknown id (moto answered an empty list)
    ec2 = emu.client(HUB, "ec2")
    for call in (lambda: ec2.describe_managed_prefix_lists(PrefixListIds=["pl-0123456789abcdef0"]),
                 lambda: ec2.get_managed_prefix_list_entries(PrefixListId="pl-0123456789abcdef0")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == ("InvalidPrefixListID.NotFound", 400)


def test_new_peering_reaches_the_accepter_after_the_delay(emu):
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    hv, sv = vpc(h, "10.0.0.0/16"), vpc(s, "10.1.0.0/16")
    propagation(emu, peering_ms=DELAY_MS)
    pcx_id = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    # The requester sees it at once.
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"]
    assert got[0]["Status"]["Code"] == "pending-acceptance"
    assert s.describe_vpc_peering_connections()["VpcPeeringConnections"] == []
    for call in (lambda: s.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id]),
                 lambda: s.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == ("InvalidVpcPeeringConnectionID.NotFound", 400)
    wait_propagated()
    assert [p["VpcPeeringConnectionId"] for p in s.describe_vpc_peering_connections()[
        "VpcPeeringConnections"]] == [pcx_id]
    s.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    got = h.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"]
    assert got[0]["Status"]["Code"] == "active"


def test_no_delay_for_what_was_made_before_it_was_set(emu):
    ec2 = emu.client(HUB, "ec2")
    vpc_id = vpc(ec2)
    sg = ec2.create_security_group(GroupName="old", Description="d", VpcId=vpc_id)["GroupId"]
    propagation(emu, security_group_ms=DELAY_MS)
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["GroupId"] == sg


# ------------------------------------------------------------------ Route 53 token buckets
def r53_buckets(emu, enabled=True):
    status, body = http(emu.url + "/_emulator/route53-buckets", "POST", {"enabled": enabled})
    assert status == 200, body
    return body


def burst(call, n, stop_at_throttle=False):
    """Sends `n` requests at once; returns the outcomes ("ok" or (code, status)) and the
    seconds it took."""
    out, t = [], time.monotonic()
    for _ in range(n):
        try:
            call()
            out.append("ok")
        except ClientError as e:
            out.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
            if stop_at_throttle and out[-1] == ("Throttling", 400):
                break
    return out, time.monotonic() - t


def test_route53_account_bucket_is_shared_and_per_account(emu):
    r53, other = emu.client(HUB, "route53"), emu.client(OTHER, "route53")
    zone = r53.create_hosted_zone(Name="a.example", CallerReference="a")["HostedZone"]["Id"]
    assert r53_buckets(emu)["enabled"] is True
    http(emu.url + "/_emulator/calls", "DELETE")
    ops = iter(range(10**6))
    # Two operations alternating: each one's bucket (50) is far from empty when the account's
    # bucket (50, shared by all operations) runs out.
    out, took = burst(lambda: r53.get_hosted_zone(Id=zone) if next(ops) % 2 else r53.list_hosted_zones(), 80)
    first = out.index(("Throttling", 400))
    assert 50 <= first <= 50 + 10 * took + 1, (first, took)
    assert set(out) == {"ok", ("Throttling", 400)}
    throttled = out.count(("Throttling", 400))
    other.list_hosted_zones()  # another account has its own buckets
    state = http(emu.url + "/_emulator/route53-buckets")[1]
    assert state["enabled"] is True and state["throttled"] == {HUB: throttled}
    # Throttled requests are in the call log with their status.
    log = [c for c in emu.calls() if c["account"] == HUB and c["status"] == 400]
    assert len(log) == throttled and {c["operation"] for c in log} == {"GetHostedZone", "ListHostedZones"}
    t = time.monotonic()
    time.sleep(0.35)  # refill at 10/s: 3 tokens at least
    out, took = burst(r53.list_hosted_zones, 40, stop_at_throttle=True)
    refilled = len(out) - 1
    assert out[-1] == ("Throttling", 400)
    assert 3 <= refilled <= 10 * (time.monotonic() - t) + 1, (refilled, took)
    # Reset turns the buckets off and forgets the counts.
    assert http(emu.url + "/_emulator/reset", "POST")[0] == 200
    assert http(emu.url + "/_emulator/route53-buckets")[1]["enabled"] is False
    assert http(emu.url + "/_emulator/route53-buckets")[1]["throttled"] == {}


def test_route53_operation_buckets(emu):
    r53 = emu.client(HUB, "route53")
    vpc_id = vpc(emu.client(HUB, "ec2"))
    other_vpc = vpc(emu.client(HUB, "ec2"), "10.5.0.0/16")
    zone = private_zone(r53, "z.internal", vpc_id)
    r53_buckets(emu)
    # CreateHostedZone: 40 at once, then 2 a second.
    names = iter(range(1000))
    out, took = burst(lambda: r53.create_hosted_zone(Name=f"z{next(names)}.example", CallerReference=str(
        time.time())), 45, stop_at_throttle=True)
    assert 40 <= len(out) - 1 <= 40 + 2 * took + 1 and out[-1] == ("Throttling", 400), (len(out), took)
    made = len(out) - 1
    # A throttled request changed nothing and took no token from the account's bucket.
    r53_buckets(emu, False)
    assert len(r53.list_hosted_zones()["HostedZones"]) == made + 1
    r53_buckets(emu)  # enabling again starts with full buckets
    # DisassociateVPCFromHostedZone: 10 at once (each answers an error, and still counts).
    out, took = burst(lambda: r53.disassociate_vpc_from_hosted_zone(
        HostedZoneId=zone, VPC={"VPCRegion": REGION, "VPCId": other_vpc}), 20, stop_at_throttle=True)
    assert set(out[:-1]) == {("VPCAssociationNotFound", 404)} and out[-1] == ("Throttling", 400)
    assert 10 <= len(out) - 1 <= 10 + 5 * took + 1, (len(out), took)
    r53.get_hosted_zone(Id=zone)  # other operations still have tokens
    assert http(emu.url + "/_emulator/route53-buckets", "POST", {"enabled": "yes"})[0] == 400


# ------------------------------------------------------------------ faults and call log
def test_throttle_faults_per_service(emu):
    ec2, r53, sts = emu.client(HUB, "ec2"), emu.client(HUB, "route53"), emu.client(HUB, "sts")
    emu.fault(service="ec2", operation="DescribeVpcs", kind="throttle", count=1)
    emu.fault(service="route53", operation="ListHostedZones", kind="throttle", count=1)
    emu.fault(service="sts", operation="GetCallerIdentity", kind="throttle", count=1)
    for call, expected in ((ec2.describe_vpcs, ("RequestLimitExceeded", 503)),
                           (r53.list_hosted_zones, ("Throttling", 400)),
                           (sts.get_caller_identity, ("Throttling", 400))):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == expected
        call()  # count exhausted: works again
    assert all(f["remaining"] == 0 and f["hits"] == 1 for f in emu.faults().values())


def test_error5xx_and_latency(emu):
    ec2, r53, sts = emu.client(HUB, "ec2"), emu.client(HUB, "route53"), emu.client(HUB, "sts")
    emu.fault(service="*", operation="*", kind="error5xx", count=3)
    for call, expected in ((ec2.describe_vpcs, ("InternalError", 500)),
                           (r53.list_hosted_zones, ("InternalFailure", 500)),
                           (sts.get_caller_identity, ("InternalFailure", 500))):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == expected
    http(emu.url + "/_emulator/faults", "DELETE")
    emu.fault(service="route53", kind="error503", count=1)
    with pytest.raises(ClientError) as e:
        r53.list_hosted_zones()
    assert code(e) == ("ServiceUnavailable", 503)
    fid = emu.fault(service="ec2", operation="DescribeVpcs", kind="latency", latency_ms=300, count=None)
    t = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - t >= 0.3
    f = emu.faults()[fid]
    assert f["remaining"] is None and f["hits"] == 1


def test_route53_concurrency_faults(emu):
    r53 = emu.client(HUB, "route53")
    emu.fault(service="route53", operation="ListHostedZones", kind="concurrent_modification", count=1)
    emu.fault(service="route53", operation="ListHostedZones", kind="prior_request_not_complete", count=1)
    for expected in (("ConcurrentModification", 400), ("PriorRequestNotComplete", 400)):
        with pytest.raises(ClientError) as e:
            r53.list_hosted_zones()
        assert code(e) == expected
    r53.list_hosted_zones()
    # Route 53 codes only make sense for Route 53.
    status, body = http(emu.url + "/_emulator/faults", "POST",
                        {"service": "ec2", "kind": "concurrent_modification", "count": 1})
    assert status == 400 and "Route 53" in body["error"]


def test_lost_response_applies_the_request(emu):
    ec2 = emu.client(HUB, "ec2")
    vpc_id = vpc(ec2, "10.7.0.0/16")
    emu.fault(service="ec2", operation="CreateSecurityGroup", kind="lost_response", count=1)
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="lost", Description="d", VpcId=vpc_id)
    assert code(e) == ("InternalError", 500)
    # It was made all the same: the request sent again is a duplicate.
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["lost"]}])
    assert len(groups["SecurityGroups"]) == 1
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="lost", Description="d", VpcId=vpc_id)
    assert code(e)[0] == "InvalidGroup.Duplicate"


def test_fault_filters_account_and_mutating(emu):
    hub, spoke = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    fid = emu.fault(service="ec2", kind="throttle", mutating_only=True, account=SPOKE, count=None)
    hub.create_vpc(CidrBlock="10.0.0.0/16")   # other account: untouched
    spoke.describe_vpcs()                      # not mutating: untouched
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            spoke.create_vpc(CidrBlock="10.1.0.0/16")
        assert code(e) == ("RequestLimitExceeded", 503)
    assert emu.faults()[fid]["hits"] == 2
    assert http(emu.url + "/_emulator/faults", "DELETE")[0] == 200
    assert emu.faults() == {}
    spoke.create_vpc(CidrBlock="10.1.0.0/16")
    assert http(emu.url + "/_emulator/faults", "POST", {"kind": "nope"})[0] == 400


def test_sdk_retries_through_throttling_and_call_log(emu):
    r53 = emu.client(HUB, "route53", config=Config(retries={"mode": "standard", "total_max_attempts": 4}))
    emu.fault(service="route53", operation="CreateHostedZone", kind="throttle", count=2)
    http(emu.url + "/_emulator/calls", "DELETE")
    r53.create_hosted_zone(Name="example.com", CallerReference="r1")
    calls = [c for c in emu.calls() if c["operation"] == "CreateHostedZone"]
    assert [c["status"] for c in calls] == [400, 400, 201]
    assert all(c["account"] == HUB and c["service"] == "route53" for c in calls)
    assert http(emu.url + "/_emulator/calls", "DELETE")[0] == 200 and emu.calls() == []


def test_call_log_names_operations(hub_spoke, emu):
    http(emu.url + "/_emulator/calls", "DELETE")
    zone, sv = hub_spoke["zone"], {"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]}
    hub_spoke["h_r53"].create_vpc_association_authorization(HostedZoneId=zone, VPC=sv)
    hub_spoke["h_r53"].get_hosted_zone(Id=zone)
    hub_spoke["s_ec2"].describe_vpcs()
    log = [(c["account"], c["service"], c["operation"], c["status"]) for c in emu.calls()]
    assert log == [(HUB, "route53", "CreateVPCAssociationAuthorization", 200),
                   (HUB, "route53", "GetHostedZone", 200),
                   (SPOKE, "ec2", "DescribeVpcs", 200)]


def test_reset_clears_everything(hub_spoke, emu):
    sv = {"VPCRegion": REGION, "VPCId": hub_spoke["spoke_vpc"]}
    hub_spoke["h_r53"].create_vpc_association_authorization(HostedZoneId=hub_spoke["zone"], VPC=sv)
    emu.fault(kind="throttle", count=None, operation="NothingMatches")
    assert http(emu.url + "/_emulator/reset", "POST")[0] == 200
    assert emu.faults() == {} and emu.calls() == []
    emu.sessions.clear()  # credentials are gone after a reset: assume roles again
    h = emu.client(HUB, "route53")
    assert h.list_hosted_zones()["HostedZones"] == []
    assert http(emu.url + "/_emulator/nope")[0] == 404


def test_prefix_list_concurrent_writers_one_wins(emu):
    from concurrent.futures import ThreadPoolExecutor
    ec2 = emu.client(HUB, "ec2")
    pl_id = ec2.create_managed_prefix_list(PrefixListName="race", AddressFamily="IPv4", MaxEntries=10,
                                           Entries=[{"Cidr": "10.1.0.0/16"}])["PrefixList"]["PrefixListId"]

    def add(i):
        try:
            ec2.modify_managed_prefix_list(PrefixListId=pl_id, CurrentVersion=1,
                                           AddEntries=[{"Cidr": f"10.{10 + i}.0.0/16"}])
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(4) as pool:
        results = sorted(pool.map(add, range(4)))
    assert results == ["PrefixListVersionMismatch"] * 3 + ["ok"]
    assert len(ec2.get_managed_prefix_list_entries(PrefixListId=pl_id)["Entries"]) == 2


# ------------------------------------------------------------------ orphan listing
OWNER_TAG = "endpoint-hub:owner"


def _owner(resource, value):
    return [{"ResourceType": resource, "Tags": [{"Key": OWNER_TAG, "Value": value}]}]


def test_tag_key_filters_and_caller_references_for_orphan_listing(emu):
    """What `GET /v1/orphans` asks: every resource with the owner tag key, whatever its value,
    and every zone with its CallerReference."""
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    hv, sv = vpc(h, "10.0.0.0/16"), vpc(s, "10.1.0.0/16")
    subnet = h.create_subnet(VpcId=hv, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    by_key = [{"Name": "tag-key", "Values": [OWNER_TAG]}]

    sg = h.create_security_group(GroupName="eh", Description="d", VpcId=hv,
                                 TagSpecifications=_owner("security-group", "hub:a"))["GroupId"]
    h.create_security_group(GroupName="other", Description="d", VpcId=hv)
    got = h.describe_security_groups(Filters=by_key)["SecurityGroups"]
    assert [g["GroupId"] for g in got] == [sg]
    assert {"Key": OWNER_TAG, "Value": "hub:a"} in got[0]["Tags"]

    pl = h.create_managed_prefix_list(PrefixListName="eh", AddressFamily="IPv4", MaxEntries=2,
                                      TagSpecifications=_owner("prefix-list", "hub:a"))[
        "PrefixList"]["PrefixListId"]
    h.create_managed_prefix_list(PrefixListName="other", AddressFamily="IPv4", MaxEntries=2)
    got = h.describe_managed_prefix_lists(Filters=by_key)["PrefixLists"]
    assert [p["PrefixListId"] for p in got] == [pl]

    ep = h.create_vpc_endpoint(VpcId=hv, ServiceName=f"com.amazonaws.{REGION}.sqs",
                               VpcEndpointType="Interface", SubnetIds=[subnet],
                               TagSpecifications=_owner("vpc-endpoint", "hub:a:service:sqs:0"))[
        "VpcEndpoint"]["VpcEndpointId"]
    h.create_vpc_endpoint(VpcId=hv, ServiceName=f"com.amazonaws.{REGION}.ssm",
                          VpcEndpointType="Interface", SubnetIds=[subnet])
    got = h.describe_vpc_endpoints(Filters=by_key)["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in got] == [ep]

    pcx = h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE,
                                          TagSpecifications=_owner("vpc-peering-connection",
                                                                   "spoke:b"))[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    h.create_vpc_peering_connection(VpcId=hv, PeerVpcId=sv, PeerOwnerId=SPOKE)
    got = h.describe_vpc_peering_connections(Filters=by_key)["VpcPeeringConnections"]
    assert [p["VpcPeeringConnectionId"] for p in got] == [pcx]

    r53 = emu.client(HUB, "route53")
    ref = "endpoint-hub:0123:4567:sqs.us-east-1.amazonaws.com"
    zone = r53.create_hosted_zone(Name="sqs.us-east-1.amazonaws.com", CallerReference=ref,
                                  VPC={"VPCRegion": REGION, "VPCId": hv},
                                  HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"]
    listed = r53.list_hosted_zones()["HostedZones"]
    assert [(z["Id"], z["CallerReference"]) for z in listed] == [(zone, ref)]


# ---------------------------------------------------------------- Route 53 Profiles and RAM
def zone_arn(zone_id):
    return f"arn:aws:route53:::hostedzone/{zone_id}"


@pytest.fixture
def profiles(hub_spoke, emu):
    """hub_spoke plus Route 53 Profiles and RAM clients of both accounts, and a hub Profile
    holding the hub's private zone."""
    d = dict(hub_spoke)
    d.update(h_p=emu.client(HUB, "route53profiles"), s_p=emu.client(SPOKE, "route53profiles"),
             h_ram=emu.client(HUB, "ram"), s_ram=emu.client(SPOKE, "ram"))
    d["profile"] = d["h_p"].create_profile(Name="hub", ClientToken="hub-1")["Profile"]
    d["h_p"].associate_resource_to_profile(ProfileId=d["profile"]["Id"], ResourceArn=zone_arn(d["zone"]),
                                           Name="ec2")
    return d


def principal_status(ram, share_arn, account):
    assocs = ram.get_resource_share_associations(associationType="PRINCIPAL", resourceShareArns=[share_arn],
                                                 principal=account)["resourceShareAssociations"]
    return [a["status"] for a in assocs]


def test_profile_flow_across_accounts_with_invitation(profiles, emu):
    d = profiles
    pid, parn = d["profile"]["Id"], d["profile"]["Arn"]
    assert pid.startswith("rp-") and parn == f"arn:aws:route53profiles:{REGION}:{HUB}:profile/{pid}"
    assert d["profile"]["ShareStatus"] == "NOT_SHARED" and d["profile"]["Status"] == "COMPLETE"
    # Before sharing the Profile is invisible to the spoke.
    assert d["s_p"].list_profiles()["ProfileSummaries"] == []
    for call in (lambda: d["s_p"].get_profile(ProfileId=pid),
                 lambda: d["s_p"].associate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"], Name="s")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == ("ResourceNotFoundException", 400)

    share = d["h_ram"].create_resource_share(name="hub-profile", resourceArns=[parn])["resourceShare"]
    sarn = share["resourceShareArn"]
    assert re.fullmatch(rf"arn:aws:ram:{REGION}:{HUB}:resource-share/[0-9a-f-]{{36}}", sarn)
    assert share["status"] == "ACTIVE" and share["allowExternalPrincipals"] is True
    assert d["h_p"].get_profile(ProfileId=pid)["Profile"]["ShareStatus"] == "SHARED_BY_ME"
    d["h_ram"].associate_resource_share(resourceShareArn=sarn, principals=[SPOKE])
    # No organization: an invitation, and the principal is ASSOCIATING until it is accepted.
    assert principal_status(d["h_ram"], sarn, SPOKE) == ["ASSOCIATING"]
    assert d["s_p"].list_profiles()["ProfileSummaries"] == []
    assert d["s_ram"].get_resource_shares(resourceOwner="OTHER-ACCOUNTS")["resourceShares"] == []
    invs = d["s_ram"].get_resource_share_invitations()["resourceShareInvitations"]
    assert [(i["status"], i["senderAccountId"], i["receiverAccountId"], i["resourceShareArn"]) for i in invs] \
        == [("PENDING", HUB, SPOKE, sarn)]
    assert re.fullmatch(rf"arn:aws:ram:{REGION}:{HUB}:resource-share-invitation/[0-9a-f-]{{36}}",
                        invs[0]["resourceShareInvitationArn"])
    assert d["h_ram"].get_resource_share_invitations()["resourceShareInvitations"] == []  # the receiver's
    accepted = d["s_ram"].accept_resource_share_invitation(
        resourceShareInvitationArn=invs[0]["resourceShareInvitationArn"])["resourceShareInvitation"]
    assert accepted["status"] == "ACCEPTED"
    assert principal_status(d["h_ram"], sarn, SPOKE) == ["ASSOCIATED"]

    # Shared: the spoke sees it, lists the resource and associates its VPC.
    assert d["s_p"].list_profiles()["ProfileSummaries"] == [
        {"Id": pid, "Arn": parn, "Name": "hub", "ShareStatus": "SHARED_WITH_ME"}]
    assert [r["arn"] for r in d["s_ram"].list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"]] == [parn]
    assert [s["resourceShareArn"] for s in
            d["s_ram"].get_resource_shares(resourceOwner="OTHER-ACCOUNTS")["resourceShares"]] == [sarn]
    a = d["s_p"].associate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"], Name="spoke")["ProfileAssociation"]
    assert a["Id"].startswith("rpassoc-") and (a["OwnerId"], a["ProfileId"], a["ResourceId"], a["Status"]) \
        == (SPOKE, pid, d["spoke_vpc"], "COMPLETE")
    assert d["s_p"].get_profile_association(ProfileAssociationId=a["Id"])["ProfileAssociation"]["Id"] == a["Id"]
    # The Profile's owner sees every association of its Profile; the spoke only its own.
    assert [x["Id"] for x in d["h_p"].list_profile_associations(ProfileId=pid)["ProfileAssociations"]] == [a["Id"]]
    assert d["h_p"].get_profile_association(ProfileAssociationId=a["Id"])["ProfileAssociation"]["OwnerId"] == SPOKE
    assert [x["ResourceArn"] for x in d["s_p"].list_profile_resource_associations(
        ProfileId=pid)["ProfileResourceAssociations"]] == [zone_arn(d["zone"])]

    # Detach: the spoke disassociates, the hub removes the principal; the Profile is invisible again.
    gone = d["s_p"].disassociate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"])["ProfileAssociation"]
    assert gone["Status"] == "DELETED"
    assert d["h_p"].list_profile_associations(ProfileId=pid)["ProfileAssociations"] == []
    with pytest.raises(ClientError) as e:
        d["s_p"].disassociate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"])
    assert code(e) == ("ResourceNotFoundException", 400)
    d["h_ram"].disassociate_resource_share(resourceShareArn=sarn, principals=[SPOKE])
    assert principal_status(d["h_ram"], sarn, SPOKE) == ["DISASSOCIATED"]
    assert d["s_p"].list_profiles()["ProfileSummaries"] == []
    with pytest.raises(ClientError) as e:
        d["s_p"].get_profile(ProfileId=pid)
    assert code(e) == ("ResourceNotFoundException", 400)
    assert d["s_ram"].list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"] == []
    # Re-adding the account makes a new invitation.
    d["h_ram"].associate_resource_share(resourceShareArn=sarn, principals=[SPOKE])
    assert principal_status(d["h_ram"], sarn, SPOKE) == ["ASSOCIATING"]
    statuses = sorted(i["status"] for i in d["s_ram"].get_resource_share_invitations()["resourceShareInvitations"])
    assert statuses == ["ACCEPTED", "PENDING"]


def test_unsharing_keeps_an_existing_vpc_association(profiles, emu):
    d = profiles
    http(emu.url + "/_emulator/ram-organization", "POST", {"all": True})
    pid = d["profile"]["Id"]
    sarn = d["h_ram"].create_resource_share(name="p", resourceArns=[d["profile"]["Arn"]],
                                            principals=[SPOKE])["resourceShare"]["resourceShareArn"]
    d["s_p"].associate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"], Name="spoke")
    d["h_ram"].disassociate_resource_share(resourceShareArn=sarn, principals=[SPOKE])
    with pytest.raises(ClientError) as e:
        d["s_p"].get_profile(ProfileId=pid)
    assert code(e) == ("ResourceNotFoundException", 400)
    # Undocumented on AWS: we keep the association, and its VPC owner can still remove it.
    assert [a["ResourceId"] for a in d["s_p"].list_profile_associations()["ProfileAssociations"]] == [d["spoke_vpc"]]
    d["s_p"].disassociate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"])
    assert d["s_p"].list_profile_associations()["ProfileAssociations"] == []


def test_profile_flow_inside_an_organization(profiles, emu):
    d = profiles
    assert http(emu.url + "/_emulator/ram-organization", "POST", {"accounts": [HUB, SPOKE]}) == \
        (200, {"all": False, "accounts": [HUB, SPOKE]})
    assert http(emu.url + "/_emulator/ram-organization")[1] == {"all": False, "accounts": [HUB, SPOKE]}
    sarn = d["h_ram"].create_resource_share(name="p", resourceArns=[d["profile"]["Arn"]], principals=[SPOKE],
                                            allowExternalPrincipals=False)["resourceShare"]["resourceShareArn"]
    # Same organization with sharing enabled: ASSOCIATED at once, no invitation.
    assocs = d["h_ram"].get_resource_share_associations(associationType="PRINCIPAL")["resourceShareAssociations"]
    assert [(a["associatedEntity"], a["status"], a["external"]) for a in assocs] == [(SPOKE, "ASSOCIATED", False)]
    assert d["s_ram"].get_resource_share_invitations()["resourceShareInvitations"] == []
    d["s_p"].associate_profile(ProfileId=d["profile"]["Id"], ResourceId=d["spoke_vpc"], Name="spoke")
    # An account outside the organization: refused when external principals are not allowed.
    with pytest.raises(ClientError) as e:
        d["h_ram"].associate_resource_share(resourceShareArn=sarn, principals=[OTHER])
    assert code(e) == ("OperationNotPermittedException", 400)
    # ...and invited (ASSOCIATING) when they are.
    sarn2 = d["h_ram"].create_resource_share(name="ext", resourceArns=[d["profile"]["Arn"]],
                                             principals=[OTHER])["resourceShare"]["resourceShareArn"]
    assert principal_status(d["h_ram"], sarn2, OTHER) == ["ASSOCIATING"]
    assert len(emu.client(OTHER, "ram").get_resource_share_invitations()["resourceShareInvitations"]) == 1
    assert http(emu.url + "/_emulator/ram-organization", "POST", {"accounts": ["nope"]})[0] == 400


def test_one_profile_per_vpc_and_vpcs_per_profile_limit(profiles, emu):
    d = profiles
    pid = d["profile"]["Id"]
    other = d["h_p"].create_profile(Name="other", ClientToken="other-1")["Profile"]["Id"]
    d["h_p"].associate_profile(ProfileId=pid, ResourceId=d["hub_vpc"], Name="hub")
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_profile(ProfileId=other, ResourceId=d["hub_vpc"], Name="hub")
    assert code(e) == ("ConflictException", 400) and pid in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_profile(ProfileId=pid, ResourceId=d["hub_vpc"], Name="hub")
    assert code(e) == ("ResourceExistsException", 400)
    # Another account's VPC (or none): not found for the caller.
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_profile(ProfileId=pid, ResourceId=d["spoke_vpc"], Name="x")
    assert code(e) == ("ResourceNotFoundException", 400)
    # VPCs per Profile, lowered for the test.
    assert http(emu.url + "/_emulator/limits", "POST", {"vpcs_per_profile": 1})[1]["vpcs_per_profile"] == 1
    second = vpc(d["h_ec2"], "10.2.0.0/16")
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_profile(ProfileId=pid, ResourceId=second, Name="second")
    assert code(e) == ("LimitExceededException", 400)
    assert e.value.response["Error"]["Message"] and "ResourceType" in json.dumps(e.value.response)
    d["h_p"].associate_profile(ProfileId=other, ResourceId=second, Name="second")
    assert http(emu.url + "/_emulator/limits", "POST", {"nope": 1})[0] == 400
    assert http(emu.url + "/_emulator/reset", "POST")[0] == 200
    assert http(emu.url + "/_emulator/limits")[1] == {"profiles_per_region": 5, "vpcs_per_profile": 1000,
                                                      "resources_per_profile": 5000,
                                                      "transit_gateways_per_region": 5,
                                                      "route_tables_per_transit_gateway": 20,
                                                      "attachments_per_transit_gateway": 5000}


def test_delete_profile_refused_while_associated(profiles, emu):
    d = profiles
    pid = d["profile"]["Id"]
    d["h_p"].associate_profile(ProfileId=pid, ResourceId=d["hub_vpc"], Name="hub")
    with pytest.raises(ClientError) as e:
        d["h_p"].delete_profile(ProfileId=pid)
    assert code(e) == ("ConflictException", 400) and d["hub_vpc"] in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        d["s_p"].delete_profile(ProfileId=pid)
    assert code(e) == ("ResourceNotFoundException", 400)
    d["h_p"].disassociate_profile(ProfileId=pid, ResourceId=d["hub_vpc"])
    assert d["h_p"].delete_profile(ProfileId=pid)["Profile"]["Status"] == "DELETED"
    assert d["h_p"].list_profiles()["ProfileSummaries"] == []


def test_profile_resource_rules(profiles, emu):
    d = profiles
    pid = d["profile"]["Id"]
    with pytest.raises(ClientError) as e:  # the same zone twice
        d["h_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=zone_arn(d["zone"]), Name="again")
    assert code(e) == ("ConflictException", 400)
    twin = private_zone(d["h_r53"], "ec2.us-east-1.amazonaws.com", d["hub_vpc"])  # same domain name
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=zone_arn(twin), Name="twin")
    assert code(e) == ("ConflictException", 400)
    public = d["h_r53"].create_hosted_zone(Name="example.com", CallerReference="pub")["HostedZone"]["Id"]
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=zone_arn(public.split("/")[-1]),
                                               Name="pub")
    assert code(e) == ("InvalidParameterException", 400)
    spoke_zone = private_zone(d["s_r53"], "sqs.us-east-1.amazonaws.com", d["spoke_vpc"])
    for arn in (zone_arn(spoke_zone), zone_arn("ZNOPE")):  # another account's zone, no zone
        with pytest.raises(ClientError) as e:
            d["h_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=arn, Name="x")
        assert code(e) == ("ResourceNotFoundException", 400)
    with pytest.raises(ClientError) as e:  # only the owner changes a Profile
        d["s_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=zone_arn(spoke_zone), Name="x")
    assert code(e) == ("ResourceNotFoundException", 400)
    other = private_zone(d["h_r53"], "sqs.us-east-1.amazonaws.com", d["hub_vpc"])
    d["h_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=zone_arn(other), Name="sqs")
    listed = d["h_p"].list_profile_resource_associations(ProfileId=pid, ResourceType="PRIVATE_HOSTED_ZONE")
    assert sorted(a["ResourceArn"] for a in listed["ProfileResourceAssociations"]) == \
        sorted([zone_arn(d["zone"]), zone_arn(other)])
    gone = d["h_p"].disassociate_resource_from_profile(ProfileId=pid, ResourceArn=zone_arn(other))
    assert gone["ProfileResourceAssociation"]["ResourceArn"] == zone_arn(other)
    with pytest.raises(ClientError) as e:
        d["h_p"].disassociate_resource_from_profile(ProfileId=pid, ResourceArn=zone_arn(other))
    assert code(e) == ("ResourceNotFoundException", 400)
    http(emu.url + "/_emulator/limits", "POST", {"resources_per_profile": 1})
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_resource_to_profile(ProfileId=pid, ResourceArn=zone_arn(other), Name="sqs")
    assert code(e) == ("LimitExceededException", 400)


def test_ram_refusals(profiles, emu):
    d = profiles
    parn = d["profile"]["Arn"]
    cases = [
        (dict(name="x", resourceArns=["not-an-arn"]), ("MalformedArnException", 400)),
        (dict(name="x", resourceArns=[parn.replace("rp-", "rp-0")]), ("UnknownResourceException", 400)),
        (dict(name="x", principals=["arn:aws:organizations::111111111111:ou/o-1/ou-1"]),
         ("InvalidParameterException", 400)),
        (dict(name="x", principals=[HUB]), ("InvalidParameterException", 400)),
    ]
    for kwargs, want in cases:
        with pytest.raises(ClientError) as e:
            d["h_ram"].create_resource_share(**kwargs)
        assert code(e) == want, kwargs
    # The spoke can't share the hub's Profile, nor change the hub's share.
    with pytest.raises(ClientError) as e:
        d["s_ram"].create_resource_share(name="x", resourceArns=[parn])
    assert code(e) == ("UnknownResourceException", 400)
    sarn = d["h_ram"].create_resource_share(name="x", resourceArns=[parn])["resourceShare"]["resourceShareArn"]
    with pytest.raises(ClientError) as e:
        d["s_ram"].associate_resource_share(resourceShareArn=sarn, principals=[SPOKE])
    assert code(e) == ("UnknownResourceException", 400)
    with pytest.raises(ClientError) as e:
        d["h_ram"].get_resource_shares(resourceOwner="ME")
    assert code(e) == ("InvalidParameterException", 400)
    # A transit gateway of the owner can be shared too.
    tgw = d["h_ec2"].create_transit_gateway()["TransitGateway"]
    d["h_ram"].associate_resource_share(resourceShareArn=sarn, resourceArns=[tgw["TransitGatewayArn"]])
    types = sorted(r["type"] for r in d["h_ram"].list_resources(resourceOwner="SELF")["resources"])
    assert types == ["ec2:TransitGateway", "route53profiles:Profile"]
    assert d["h_ram"].delete_resource_share(resourceShareArn=sarn)["returnValue"] is True
    shares = d["h_ram"].get_resource_shares(resourceOwner="SELF")["resourceShares"]
    assert [s["status"] for s in shares] == ["DELETED"]
    with pytest.raises(ClientError) as e:
        d["h_ram"].associate_resource_share(resourceShareArn=sarn, principals=[SPOKE])
    assert code(e) == ("InvalidStateTransitionException", 400)


def test_invitation_acceptance_errors(profiles, emu):
    d = profiles
    sarn = d["h_ram"].create_resource_share(name="x", resourceArns=[d["profile"]["Arn"]],
                                            principals=[SPOKE])["resourceShare"]["resourceShareArn"]
    inv = d["s_ram"].get_resource_share_invitations(resourceShareArns=[sarn])["resourceShareInvitations"][0]
    iarn = inv["resourceShareInvitationArn"]
    with pytest.raises(ClientError) as e:  # the sender (or any other account) can't accept it
        d["h_ram"].accept_resource_share_invitation(resourceShareInvitationArn=iarn)
    assert code(e) == ("ResourceShareInvitationArnNotFoundException", 400)
    unknown = iarn[:-12] + "000000000000"
    with pytest.raises(ClientError) as e:
        d["s_ram"].accept_resource_share_invitation(resourceShareInvitationArn=unknown)
    assert code(e) == ("ResourceShareInvitationArnNotFoundException", 400)
    with pytest.raises(ClientError) as e:
        d["s_ram"].get_resource_share_invitations(resourceShareInvitationArns=[unknown])
    assert code(e) == ("ResourceShareInvitationArnNotFoundException", 400)
    with pytest.raises(ClientError) as e:
        d["s_ram"].accept_resource_share_invitation(resourceShareInvitationArn="nope")
    assert code(e) == ("MalformedArnException", 400)
    d["s_ram"].accept_resource_share_invitation(resourceShareInvitationArn=iarn, clientToken="acc-1")
    # The same client token again: the first answer; a fresh request: already accepted.
    again = d["s_ram"].accept_resource_share_invitation(resourceShareInvitationArn=iarn, clientToken="acc-1")
    assert again["resourceShareInvitation"]["status"] == "ACCEPTED" and again["clientToken"] == "acc-1"
    with pytest.raises(ClientError) as e:
        d["s_ram"].accept_resource_share_invitation(resourceShareInvitationArn=iarn)
    assert code(e) == ("ResourceShareInvitationAlreadyAcceptedException", 400)
    # A pending invitation whose principal was removed can't be accepted any more.
    d["h_ram"].associate_resource_share(resourceShareArn=sarn, principals=[OTHER])
    o_ram = emu.client(OTHER, "ram")
    oarn = o_ram.get_resource_share_invitations()["resourceShareInvitations"][0]["resourceShareInvitationArn"]
    d["h_ram"].disassociate_resource_share(resourceShareArn=sarn, principals=[OTHER])
    with pytest.raises(ClientError) as e:
        o_ram.accept_resource_share_invitation(resourceShareInvitationArn=oarn)
    assert code(e) == ("ResourceShareInvitationExpiredException", 400)


def test_client_tokens_make_profile_and_share_creates_idempotent(profiles, emu):
    d = profiles
    first = d["h_p"].create_profile(Name="tok", ClientToken="tok-1")["Profile"]
    assert d["h_p"].create_profile(Name="tok", ClientToken="tok-1")["Profile"]["Id"] == first["Id"]
    with pytest.raises(ClientError) as e:
        d["h_p"].create_profile(Name="changed", ClientToken="tok-1")
    assert code(e) == ("InvalidParameterException", 400)
    assert len(d["h_p"].list_profiles()["ProfileSummaries"]) == 2
    s1 = d["h_ram"].create_resource_share(name="s", resourceArns=[first["Arn"]], clientToken="share-1")
    s2 = d["h_ram"].create_resource_share(name="s", resourceArns=[first["Arn"]], clientToken="share-1")
    assert s1["resourceShare"]["resourceShareArn"] == s2["resourceShare"]["resourceShareArn"]
    assert s1["clientToken"] == "share-1"
    with pytest.raises(ClientError) as e:
        d["h_ram"].create_resource_share(name="other", clientToken="share-1")
    assert code(e) == ("IdempotentParameterMismatchException", 400)
    assert len(d["h_ram"].get_resource_shares(resourceOwner="SELF")["resourceShares"]) == 1
    # Profiles per account and Region (5 by default).
    for i in range(3):
        d["h_p"].create_profile(Name=f"p{i}", ClientToken=f"p-{i}")
    with pytest.raises(ClientError) as e:
        d["h_p"].create_profile(Name="sixth", ClientToken="p-6")
    assert code(e) == ("LimitExceededException", 400)
    emu.client(HUB, "route53profiles", region="eu-west-1").create_profile(Name="eu", ClientToken="eu-1")


def test_profiles_and_ram_pagination(profiles, emu):
    d = profiles
    ids = [d["profile"]["Id"]] + [d["h_p"].create_profile(Name=f"p{i}", ClientToken=f"pg-{i}")["Profile"]["Id"]
                                  for i in range(4)]
    page1 = d["h_p"].list_profiles(MaxResults=2)
    page2 = d["h_p"].list_profiles(MaxResults=2, NextToken=page1["NextToken"])
    page3 = d["h_p"].list_profiles(MaxResults=2, NextToken=page2["NextToken"])
    assert "NextToken" not in page3
    assert [p["Id"] for pg in (page1, page2, page3) for p in pg["ProfileSummaries"]] == ids
    with pytest.raises(ClientError) as e:
        d["h_p"].list_profiles(NextToken="garbage")
    assert code(e) == ("InvalidNextTokenException", 400)
    vpcs = [vpc(d["h_ec2"], f"10.{10 + i}.0.0/16") for i in range(3)]
    for v, pid in zip(vpcs, ids):
        d["h_p"].associate_profile(ProfileId=pid, ResourceId=v, Name="v")
    pages = list(d["h_p"].get_paginator("list_profile_associations").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["ProfileAssociations"]) for p in pages] == [2, 1]
    for i in range(3):
        d["h_ram"].create_resource_share(name=f"s{i}")
    pages = list(d["h_ram"].get_paginator("get_resource_shares").paginate(
        resourceOwner="SELF", PaginationConfig={"PageSize": 2}))
    assert [len(p["resourceShares"]) for p in pages] == [2, 1]


def test_profiles_and_ram_call_log_and_faults(profiles, emu):
    d = profiles
    http(emu.url + "/_emulator/calls", "DELETE")
    fid = emu.fault(service="route53profiles", operation="AssociateProfile", kind="throttle", count=1)
    with pytest.raises(ClientError) as e:
        d["h_p"].associate_profile(ProfileId=d["profile"]["Id"], ResourceId=d["hub_vpc"], Name="hub")
    assert code(e) == ("ThrottlingException", 400)
    d["h_p"].associate_profile(ProfileId=d["profile"]["Id"], ResourceId=d["hub_vpc"], Name="hub")
    emu.fault(service="ram", kind="error5xx", mutating_only=True, count=1)
    d["h_ram"].get_resource_shares(resourceOwner="SELF")  # not mutating: not hit
    with pytest.raises(ClientError) as e:
        d["h_ram"].create_resource_share(name="x")
    assert code(e) == ("ServerInternalException", 500)
    emu.fault(service="ram", kind="throttle", count=1)
    with pytest.raises(ClientError) as e:
        d["h_ram"].get_resource_shares(resourceOwner="SELF")
    assert code(e) == ("ThrottlingException", 429)
    # lost_response: made, then a 5xx; the same client token gets the first answer.
    emu.fault(service="ram", operation="CreateResourceShare", kind="lost_response", count=1)
    with pytest.raises(ClientError) as e:
        d["h_ram"].create_resource_share(name="lost", clientToken="lost-1")
    assert code(e) == ("ServerInternalException", 500)
    d["h_ram"].create_resource_share(name="lost", clientToken="lost-1")
    assert len(d["h_ram"].get_resource_shares(resourceOwner="SELF")["resourceShares"]) == 1
    assert emu.faults()[fid]["hits"] == 1
    log = [(c["account"], c["service"], c["operation"], c["status"]) for c in emu.calls()]
    assert log == [(HUB, "route53profiles", "AssociateProfile", 400),
                   (HUB, "route53profiles", "AssociateProfile", 200),
                   (HUB, "ram", "GetResourceShares", 200),
                   (HUB, "ram", "CreateResourceShare", 500),
                   (HUB, "ram", "GetResourceShares", 429),
                   (HUB, "ram", "CreateResourceShare", 500),
                   (HUB, "ram", "CreateResourceShare", 200),
                   (HUB, "ram", "GetResourceShares", 200)]
    assert http(emu.url + "/_emulator/faults", "POST", {"service": "sqs", "kind": "throttle"})[0] == 400


def test_reset_clears_profiles_shares_and_organization(profiles, emu):
    d = profiles
    http(emu.url + "/_emulator/ram-organization", "POST", {"all": True})
    d["h_ram"].create_resource_share(name="x", resourceArns=[d["profile"]["Arn"]], principals=[SPOKE])
    assert http(emu.url + "/moto-api/reset", "POST")[0] == 200
    emu.sessions.clear()
    assert emu.client(HUB, "route53profiles").list_profiles()["ProfileSummaries"] == []
    assert emu.client(HUB, "ram").get_resource_shares(resourceOwner="SELF")["resourceShares"] == []
    assert http(emu.url + "/_emulator/ram-organization")[1] == {"all": False, "accounts": []}


# ------------------------------------------------------------------ EC2 transit gateways
def tgw_arn(tgw_id, account=HUB):
    return f"arn:aws:ec2:{REGION}:{account}:transit-gateway/{tgw_id}"


def subnet(ec2, vpc_id, cidr, az):
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]


def tags(key, value, rtype):
    return [{"ResourceType": rtype, "Tags": [{"Key": key, "Value": value}]}]


@pytest.fixture
def tgw(emu):
    """Hub account H with a transit gateway (as the service makes it) and a VPC; spoke S with a
    VPC in two zones. Nothing shared yet."""
    h, s = emu.client(HUB, "ec2"), emu.client(SPOKE, "ec2")
    hub_vpc, spoke_vpc = vpc(h, "10.0.0.0/16"), vpc(s, "10.1.0.0/16")
    t = h.create_transit_gateway(
        Description="hub", TagSpecifications=tags("eh:hub", "h1", "transit-gateway"),
        Options={"AmazonSideAsn": 64600, "AutoAcceptSharedAttachments": "disable",
                 "DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable",
                 "DnsSupport": "enable"})["TransitGateway"]
    return dict(h=h, s=s, ram_h=emu.client(HUB, "ram"), ram_s=emu.client(SPOKE, "ram"), tgw=t,
                tgw_id=t["TransitGatewayId"], hub_vpc=hub_vpc, spoke_vpc=spoke_vpc,
                hub_subnets=[subnet(h, hub_vpc, "10.0.1.0/24", "us-east-1a")],
                spoke_subnets=[subnet(s, spoke_vpc, "10.1.1.0/24", "us-east-1a"),
                               subnet(s, spoke_vpc, "10.1.2.0/24", "us-east-1b")])


def share_tgw(env):
    """RAM share of the TGW with S, invitation accepted: S sees the TGW."""
    share = env["ram_h"].create_resource_share(name="tgw", resourceArns=[tgw_arn(env["tgw_id"])],
                                               principals=[SPOKE])["resourceShare"]
    inv = env["ram_s"].get_resource_share_invitations()["resourceShareInvitations"][0]
    env["ram_s"].accept_resource_share_invitation(resourceShareInvitationArn=inv["resourceShareInvitationArn"])
    return share["resourceShareArn"]


def spoke_attach(env, **extra):
    return env["s"].create_transit_gateway_vpc_attachment(
        TransitGatewayId=env["tgw_id"], VpcId=env["spoke_vpc"], SubnetIds=env["spoke_subnets"],
        TagSpecifications=tags("eh:spoke", "s1", "transit-gateway-attachment"), **extra)["TransitGatewayVpcAttachment"]


def test_transit_gateway_create_describe_and_filters(tgw, emu):
    h, t = tgw["h"], tgw["tgw"]
    assert t["State"] == "pending" and t["OwnerId"] == HUB and t["Description"] == "hub"
    assert t["TransitGatewayArn"] == tgw_arn(tgw["tgw_id"])
    o = t["Options"]
    assert (o["AmazonSideAsn"], o["AutoAcceptSharedAttachments"], o["DefaultRouteTableAssociation"],
            o["DefaultRouteTablePropagation"], o["DnsSupport"]) == (64600, "disable", "disable", "disable", "enable")
    assert "AssociationDefaultRouteTableId" not in o  # no default route table when both are off
    assert t["Tags"] == [{"Key": "eh:hub", "Value": "h1"}]
    got = h.describe_transit_gateways(TransitGatewayIds=[tgw["tgw_id"]])["TransitGateways"]
    assert [g["State"] for g in got] == ["available"]
    for flt in ({"Name": "tag:eh:hub", "Values": ["h1"]}, {"Name": "state", "Values": ["available"]},
                {"Name": "owner-id", "Values": [HUB]}):
        assert [g["TransitGatewayId"] for g in h.describe_transit_gateways(Filters=[flt])["TransitGateways"]] \
            == [tgw["tgw_id"]]
    assert h.describe_transit_gateways(Filters=[{"Name": "tag:eh:hub", "Values": ["other"]}])["TransitGateways"] == []
    with pytest.raises(ClientError) as e:
        h.describe_transit_gateways(TransitGatewayIds=["tgw-0123456789abcdef0"])
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    # Not shared: invisible to S.
    assert tgw["s"].describe_transit_gateways()["TransitGateways"] == []
    with pytest.raises(ClientError) as e:
        tgw["s"].describe_transit_gateways(TransitGatewayIds=[tgw["tgw_id"]])
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    # Defaults on: a default route table is made.
    d = h.create_transit_gateway()["TransitGateway"]["Options"]
    assert d["DefaultRouteTableAssociation"] == "enable" and d["AssociationDefaultRouteTableId"].startswith("tgw-rtb-")


def test_transit_gateway_pending_and_deleting_delays(tgw, emu):
    assert http(emu.url + "/_emulator/transit-gateway-timing", "POST",
                {"pending_ms": 300, "deleting_ms": 300, "deleted_retention_ms": 300})[0] == 200
    h = tgw["h"]
    tid = h.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    assert h.describe_transit_gateways(TransitGatewayIds=[tid])["TransitGateways"][0]["State"] == "pending"
    with pytest.raises(ClientError) as e:  # AWS refuses attachments until the gateway is available
        h.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["hub_vpc"],
                                                SubnetIds=tgw["hub_subnets"])
    assert code(e) == ("IncorrectState", 400)
    time.sleep(0.35)
    assert h.describe_transit_gateways(TransitGatewayIds=[tid])["TransitGateways"][0]["State"] == "available"
    assert h.delete_transit_gateway(TransitGatewayId=tid)["TransitGateway"]["State"] == "deleting"
    assert h.describe_transit_gateways(TransitGatewayIds=[tid])["TransitGateways"][0]["State"] == "deleting"
    time.sleep(0.35)
    assert h.describe_transit_gateways(TransitGatewayIds=[tid])["TransitGateways"][0]["State"] == "deleted"
    time.sleep(0.35)
    assert tid not in [g["TransitGatewayId"] for g in h.describe_transit_gateways()["TransitGateways"]]
    assert http(emu.url + "/_emulator/transit-gateway-timing")[1] == \
        {"pending_ms": 300, "deleting_ms": 300, "deleted_retention_ms": 300}
    assert http(emu.url + "/_emulator/transit-gateway-timing", "POST", {"pending": 1})[0] == 400
    http(emu.url + "/_emulator/reset", "POST")
    assert http(emu.url + "/_emulator/transit-gateway-timing")[1]["pending_ms"] == 0


def test_transit_gateway_route_tables(tgw):
    h, tid = tgw["h"], tgw["tgw_id"]
    r = h.create_transit_gateway_route_table(
        TransitGatewayId=tid, TagSpecifications=tags("Name", "A", "transit-gateway-route-table"))["TransitGatewayRouteTable"]
    rid = r["TransitGatewayRouteTableId"]
    assert r["State"] == "pending" and r["TransitGatewayId"] == tid and r["Tags"] == [{"Key": "Name", "Value": "A"}]
    other = h.create_transit_gateway_route_table(TransitGatewayId=tid)["TransitGatewayRouteTable"]
    by_tgw = h.describe_transit_gateway_route_tables(
        Filters=[{"Name": "transit-gateway-id", "Values": [tid]}])["TransitGatewayRouteTables"]
    assert [x["TransitGatewayRouteTableId"] for x in by_tgw] == [rid, other["TransitGatewayRouteTableId"]]
    assert all(x["State"] == "available" for x in by_tgw)
    by_tag = h.describe_transit_gateway_route_tables(Filters=[{"Name": "tag:Name", "Values": ["A"]}])
    assert [x["TransitGatewayRouteTableId"] for x in by_tag["TransitGatewayRouteTables"]] == [rid]
    assert h.describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[rid])["TransitGatewayRouteTables"][0][
        "DefaultAssociationRouteTable"] is False
    with pytest.raises(ClientError) as e:
        tgw["s"].describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[rid])
    assert code(e) == ("InvalidRouteTableID.NotFound", 400)
    with pytest.raises(ClientError) as e:
        tgw["s"].create_transit_gateway_route_table(TransitGatewayId=tid)
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    assert h.delete_transit_gateway_route_table(TransitGatewayRouteTableId=rid)["TransitGatewayRouteTable"]["State"] \
        == "deleting"
    assert h.describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[other["TransitGatewayRouteTableId"]])
    with pytest.raises(ClientError) as e:
        h.delete_transit_gateway_route_table(TransitGatewayRouteTableId=rid)
    assert code(e) == ("InvalidRouteTableID.NotFound", 400)


def test_transit_gateway_hub_spoke_flow(tgw, emu):
    h, s, tid = tgw["h"], tgw["s"], tgw["tgw_id"]
    ra = h.create_transit_gateway_route_table(TransitGatewayId=tid)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    rb = h.create_transit_gateway_route_table(TransitGatewayId=tid)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    # The hub's own VPC: no acceptance.
    hub_att = h.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["hub_vpc"],
                                                      SubnetIds=tgw["hub_subnets"])["TransitGatewayVpcAttachment"]
    assert hub_att["State"] == "pending" and hub_att["VpcOwnerId"] == HUB
    # Shared through RAM: S sees the TGW (owner H, no tags of H's).
    share_tgw(tgw)
    seen = s.describe_transit_gateways(TransitGatewayIds=[tid])["TransitGateways"][0]
    assert seen["OwnerId"] == HUB and seen["State"] == "available" and seen.get("Tags", []) == []
    assert [r["arn"] for r in tgw["ram_s"].list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"]] == [tgw_arn(tid)]
    # S attaches its VPC: pendingAcceptance.
    att = spoke_attach(tgw)
    aid = att["TransitGatewayAttachmentId"]
    assert (att["State"], att["VpcOwnerId"], att["VpcId"], att["TransitGatewayId"]) == \
        ("pendingAcceptance", SPOKE, tgw["spoke_vpc"], tid)
    assert att["SubnetIds"] == tgw["spoke_subnets"] and att["Tags"] == [{"Key": "eh:spoke", "Value": "s1"}]
    # Both sides see it; tags are the caller's own (H sees none of S's).
    for client, expect_tags in ((s, [{"Key": "eh:spoke", "Value": "s1"}]), (h, [])):
        got = client.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[aid])[
            "TransitGatewayVpcAttachments"][0]
        assert (got["State"], got["VpcOwnerId"], got.get("Tags", [])) == ("pendingAcceptance", SPOKE, expect_tags)
    pending = h.describe_transit_gateway_vpc_attachments(Filters=[
        {"Name": "transit-gateway-id", "Values": [tid]}, {"Name": "state", "Values": ["pendingAcceptance"]}])
    assert [a["TransitGatewayAttachmentId"] for a in pending["TransitGatewayVpcAttachments"]] == [aid]
    assert [a["TransitGatewayAttachmentId"] for a in s.describe_transit_gateway_vpc_attachments(Filters=[
        {"Name": "tag:eh:spoke", "Values": ["s1"]}])["TransitGatewayVpcAttachments"]] == [aid]
    assert [a["TransitGatewayAttachmentId"] for a in s.describe_transit_gateway_vpc_attachments(Filters=[
        {"Name": "vpc-id", "Values": [tgw["spoke_vpc"]]}])["TransitGatewayVpcAttachments"]] == [aid]
    # Only H accepts.
    with pytest.raises(ClientError) as e:
        s.accept_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)
    assert code(e)[0] == "InvalidParameterValue"
    assert h.accept_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)[
        "TransitGatewayVpcAttachment"]["State"] == "pending"
    with pytest.raises(ClientError) as e:
        h.accept_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)
    assert code(e) == ("IncorrectState", 400)
    assert s.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[aid])[
        "TransitGatewayVpcAttachments"][0]["State"] == "available"
    # H: associate with A, propagate into B.
    assoc = h.associate_transit_gateway_route_table(TransitGatewayRouteTableId=ra, TransitGatewayAttachmentId=aid)
    assert assoc["Association"] == {"TransitGatewayRouteTableId": ra, "TransitGatewayAttachmentId": aid,
                                    "ResourceId": tgw["spoke_vpc"], "ResourceType": "vpc", "State": "associating"}
    prop = h.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=rb, TransitGatewayAttachmentId=aid)
    assert prop["Propagation"]["State"] == "enabling" and prop["Propagation"]["TransitGatewayRouteTableId"] == rb
    assert h.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=ra, Filters=[
        {"Name": "transit-gateway-attachment-id", "Values": [aid]}])["Associations"] == [
        {"TransitGatewayAttachmentId": aid, "ResourceId": tgw["spoke_vpc"], "ResourceType": "vpc", "State": "associated"}]
    assert h.get_transit_gateway_route_table_propagations(TransitGatewayRouteTableId=rb, Filters=[
        {"Name": "transit-gateway-attachment-id", "Values": [aid]}])["TransitGatewayRouteTablePropagations"] == [
        {"TransitGatewayAttachmentId": aid, "ResourceId": tgw["spoke_vpc"], "ResourceType": "vpc", "State": "enabled"}]
    atts = h.describe_transit_gateway_attachments(Filters=[
        {"Name": "association.transit-gateway-route-table-id", "Values": [ra]}])["TransitGatewayAttachments"]
    assert [(a["TransitGatewayAttachmentId"], a["ResourceOwnerId"], a["TransitGatewayOwnerId"], a["Association"])
            for a in atts] == [(aid, SPOKE, HUB, {"TransitGatewayRouteTableId": ra, "State": "associated"})]
    assert [a["TransitGatewayAttachmentId"] for a in h.describe_transit_gateway_attachments(Filters=[
        {"Name": "resource-owner-id", "Values": [SPOKE]}, {"Name": "resource-id", "Values": [tgw["spoke_vpc"]]},
        {"Name": "state", "Values": ["available"]}])["TransitGatewayAttachments"]] == [aid]
    routes = h.search_transit_gateway_routes(TransitGatewayRouteTableId=rb, Filters=[
        {"Name": "type", "Values": ["propagated"]}])
    assert routes["Routes"] == [{"DestinationCidrBlock": "10.1.0.0/16", "Type": "propagated", "State": "active",
                                 "TransitGatewayAttachments": [{"ResourceId": tgw["spoke_vpc"],
                                                                "TransitGatewayAttachmentId": aid,
                                                                "ResourceType": "vpc"}]}]
    assert routes["AdditionalRoutesAvailable"] is False
    assert h.search_transit_gateway_routes(TransitGatewayRouteTableId=rb, Filters=[
        {"Name": "type", "Values": ["static"]}])["Routes"] == []
    assert h.search_transit_gateway_routes(TransitGatewayRouteTableId=ra, Filters=[
        {"Name": "state", "Values": ["active"]}])["Routes"] == []
    # VPC routes to the TGW on both sides.
    for client, vpc_id, dest in ((s, tgw["spoke_vpc"], "10.0.0.0/16"), (h, tgw["hub_vpc"], "10.1.0.0/16")):
        rtb = client.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]["RouteTableId"]
        client.create_route(RouteTableId=rtb, DestinationCidrBlock=dest, TransitGatewayId=tid)
        got = client.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
        assert {"DestinationCidrBlock": dest, "TransitGatewayId": tid, "Origin": "CreateRoute", "State": "active"} in got
        assert client.describe_route_tables(Filters=[{"Name": "route.transit-gateway-id", "Values": [tid]}])[
            "RouteTables"][0]["RouteTableId"] == rtb
    # S deletes its attachment: gone from both views, association and propagation gone.
    assert s.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)[
        "TransitGatewayVpcAttachment"]["State"] == "deleting"
    for client in (h, s):
        assert aid not in [a["TransitGatewayAttachmentId"] for a in
                           client.describe_transit_gateway_vpc_attachments()["TransitGatewayVpcAttachments"]]
        with pytest.raises(ClientError) as e:
            client.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[aid])
        assert code(e) == ("InvalidTransitGatewayAttachmentID.NotFound", 400)
    assert h.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=ra)["Associations"] == []
    assert h.get_transit_gateway_route_table_propagations(TransitGatewayRouteTableId=rb)[
        "TransitGatewayRouteTablePropagations"] == []
    assert h.search_transit_gateway_routes(TransitGatewayRouteTableId=rb, Filters=[
        {"Name": "type", "Values": ["propagated"]}])["Routes"] == []
    srt = s.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [tgw["spoke_vpc"]]}])["RouteTables"][0]
    assert [r["State"] for r in srt["Routes"] if r.get("TransitGatewayId") == tid] == ["blackhole"]
    # H deletes the TGW (after its own attachment).
    with pytest.raises(ClientError) as e:
        h.delete_transit_gateway(TransitGatewayId=tid)
    assert code(e) == ("IncorrectState", 400)
    h.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=hub_att["TransitGatewayAttachmentId"])
    assert h.delete_transit_gateway(TransitGatewayId=tid)["TransitGateway"]["State"] == "deleting"
    assert h.describe_transit_gateways()["TransitGateways"] == []
    assert s.describe_transit_gateways()["TransitGateways"] == []
    assert tgw["ram_h"].list_resources(resourceOwner="SELF")["resources"] == []


def test_transit_gateway_attachment_errors(tgw, emu):
    h, s, tid = tgw["h"], tgw["s"], tgw["tgw_id"]
    with pytest.raises(ClientError) as e:  # not shared yet
        spoke_attach(tgw)
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    share_tgw(tgw)
    with pytest.raises(ClientError) as e:  # H's VPC is not S's
        s.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["hub_vpc"], SubnetIds=tgw["spoke_subnets"])
    assert code(e) == ("InvalidVpcID.NotFound", 400)
    with pytest.raises(ClientError) as e:  # and S's VPC is not H's
        h.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["spoke_vpc"],
                                                SubnetIds=tgw["spoke_subnets"])
    assert code(e) == ("InvalidVpcID.NotFound", 400)
    same_az = subnet(s, tgw["spoke_vpc"], "10.1.3.0/24", "us-east-1a")
    with pytest.raises(ClientError) as e:
        s.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["spoke_vpc"],
                                                SubnetIds=[tgw["spoke_subnets"][0], same_az])
    assert code(e) == ("DuplicateSubnetsInSameZone", 400)
    elsewhere = subnet(s, vpc(s, "10.2.0.0/16"), "10.2.1.0/24", "us-east-1c")
    with pytest.raises(ClientError) as e:
        s.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["spoke_vpc"], SubnetIds=[elsewhere])
    assert code(e) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as e:
        s.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["spoke_vpc"],
                                                SubnetIds=["subnet-0123456789abcdef0"])
    assert code(e) == ("InvalidSubnetID.NotFound", 400)
    with pytest.raises(ClientError) as e:
        s.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tid, VpcId=tgw["spoke_vpc"], SubnetIds=tgw["spoke_subnets"],
            TagSpecifications=tags("k", "v", "transit-gateway"))
    assert code(e) == ("InvalidParameterValue", 400)
    aid = spoke_attach(tgw)["TransitGatewayAttachmentId"]
    with pytest.raises(ClientError) as e:
        spoke_attach(tgw)
    assert code(e) == ("DuplicateTransitGatewayAttachment", 400)
    assert e.value.response["Error"]["Message"] == f"{tid} has non-deleted Transit Gateway Attachments with same VPC ID."
    # Attachment limit (settable); the pending one counts.
    assert http(emu.url + "/_emulator/limits", "POST", {"attachments_per_transit_gateway": 1})[0] == 200
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["hub_vpc"], SubnetIds=tgw["hub_subnets"])
    assert code(e) == ("TransitGatewayAttachmentLimitExceeded", 400)
    # Associating/propagating needs an available attachment.
    rt = h.create_transit_gateway_route_table(TransitGatewayId=tid)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    with pytest.raises(ClientError) as e:
        h.associate_transit_gateway_route_table(TransitGatewayRouteTableId=rt, TransitGatewayAttachmentId=aid)
    assert code(e) == ("IncorrectState", 400)
    # Reject: the attachment is `rejected`, then gone; the VPC may attach again.
    assert h.reject_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)[
        "TransitGatewayVpcAttachment"]["State"] == "rejecting"
    assert spoke_attach(tgw)["State"] == "pendingAcceptance"
    with pytest.raises(ClientError) as e:
        s.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId="tgw-attach-0123456789abcdef0")
    assert code(e) == ("InvalidTransitGatewayAttachmentID.NotFound", 400)
    with pytest.raises(ClientError) as e:  # another account: invisible
        emu.client(OTHER, "ec2").describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[aid])
    assert code(e) == ("InvalidTransitGatewayAttachmentID.NotFound", 400)


def test_transit_gateway_association_and_propagation_errors(tgw):
    h, tid = tgw["h"], tgw["tgw_id"]
    ra = h.create_transit_gateway_route_table(TransitGatewayId=tid)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    rb = h.create_transit_gateway_route_table(TransitGatewayId=tid)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    aid = h.create_transit_gateway_vpc_attachment(TransitGatewayId=tid, VpcId=tgw["hub_vpc"], SubnetIds=tgw["hub_subnets"])[
        "TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    with pytest.raises(ClientError) as e:
        h.disassociate_transit_gateway_route_table(TransitGatewayRouteTableId=ra, TransitGatewayAttachmentId=aid)
    assert code(e) == ("InvalidAssociation.NotFound", 400)
    h.associate_transit_gateway_route_table(TransitGatewayRouteTableId=ra, TransitGatewayAttachmentId=aid)
    for rt in (ra, rb):  # one route table per attachment
        with pytest.raises(ClientError) as e:
            h.associate_transit_gateway_route_table(TransitGatewayRouteTableId=rt, TransitGatewayAttachmentId=aid)
        assert code(e) == ("Resource.AlreadyAssociated", 400)
    with pytest.raises(ClientError) as e:
        h.disable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=rb, TransitGatewayAttachmentId=aid)
    assert code(e) == ("TransitGatewayRouteTablePropagation.NotFound", 400)
    h.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=rb, TransitGatewayAttachmentId=aid)
    with pytest.raises(ClientError) as e:
        h.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=rb, TransitGatewayAttachmentId=aid)
    assert code(e) == ("TransitGatewayRouteTablePropagation.Duplicate", 400)
    for rt in (ra, rb):
        with pytest.raises(ClientError) as e:
            h.delete_transit_gateway_route_table(TransitGatewayRouteTableId=rt)
        assert code(e) == ("IncorrectState", 400)
    with pytest.raises(ClientError) as e:
        h.associate_transit_gateway_route_table(TransitGatewayRouteTableId="tgw-rtb-0123456789abcdef0",
                                                TransitGatewayAttachmentId=aid)
    assert code(e) == ("InvalidRouteTableID.NotFound", 400)
    assert h.disassociate_transit_gateway_route_table(TransitGatewayRouteTableId=ra, TransitGatewayAttachmentId=aid)[
        "Association"]["State"] == "disassociating"
    assert h.disable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=rb, TransitGatewayAttachmentId=aid)[
        "Propagation"]["State"] == "disabling"
    h.delete_transit_gateway_route_table(TransitGatewayRouteTableId=ra)
    h.delete_transit_gateway_route_table(TransitGatewayRouteTableId=rb)


def test_vpc_route_to_transit_gateway_needs_an_attachment(tgw):
    h, s, tid = tgw["h"], tgw["s"], tgw["tgw_id"]
    srt = s.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [tgw["spoke_vpc"]]}])["RouteTables"][0]["RouteTableId"]
    with pytest.raises(ClientError) as e:  # not shared
        s.create_route(RouteTableId=srt, DestinationCidrBlock="10.0.0.0/16", TransitGatewayId=tid)
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    share_tgw(tgw)
    with pytest.raises(ClientError) as e:  # shared, but the VPC is not attached
        s.create_route(RouteTableId=srt, DestinationCidrBlock="10.0.0.0/16", TransitGatewayId=tid)
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    spoke_attach(tgw)  # pendingAcceptance: the route is accepted, as a blackhole until available
    s.create_route(RouteTableId=srt, DestinationCidrBlock="10.0.0.0/16", TransitGatewayId=tid)
    got = s.describe_route_tables(RouteTableIds=[srt])["RouteTables"][0]["Routes"]
    assert [(r["TransitGatewayId"], r["State"]) for r in got if "TransitGatewayId" in r] == [(tid, "blackhole")]
    hrt = h.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [tgw["hub_vpc"]]}])["RouteTables"][0]["RouteTableId"]
    with pytest.raises(ClientError) as e:  # the owner too needs its VPC attached
        h.create_route(RouteTableId=hrt, DestinationCidrBlock="10.1.0.0/16", TransitGatewayId=tid)
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)


def test_transit_gateway_unshared_and_ram_listing(tgw, emu):
    tid = tgw["tgw_id"]
    share = share_tgw(tgw)
    assoc = tgw["ram_h"].get_resource_share_associations(associationType="RESOURCE", resourceShareArns=[share])
    assert [(a["associatedEntity"], a["status"]) for a in assoc["resourceShareAssociations"]] == [(tgw_arn(tid), "ASSOCIATED")]
    assert [r["type"] for r in tgw["ram_h"].list_resources(resourceOwner="SELF", resourceType="ec2:TransitGateway")[
        "resources"]] == ["ec2:TransitGateway"]
    aid = spoke_attach(tgw)["TransitGatewayAttachmentId"]
    tgw["ram_h"].disassociate_resource_share(resourceShareArn=share, principals=[SPOKE])
    with pytest.raises(ClientError) as e:
        tgw["s"].describe_transit_gateways(TransitGatewayIds=[tid])
    assert code(e) == ("InvalidTransitGatewayID.NotFound", 400)
    # The existing attachment stays visible to (and deletable by) its VPC's owner.
    assert tgw["s"].describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[aid])[
        "TransitGatewayVpcAttachments"][0]["State"] == "pendingAcceptance"
    # H may delete the spoke's attachment too.
    tgw["h"].delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)
    assert tgw["s"].describe_transit_gateway_vpc_attachments()["TransitGatewayVpcAttachments"] == []
    # In an organization there is no invitation: S sees the TGW at once.
    http(emu.url + "/_emulator/ram-organization", "POST", {"all": True})
    tgw["ram_h"].create_resource_share(name="org", resourceArns=[tgw_arn(tid)], principals=[OTHER])
    assert emu.client(OTHER, "ec2").describe_transit_gateways()["TransitGateways"][0]["TransitGatewayId"] == tid
    with pytest.raises(ClientError) as e:  # only the owner's transit gateways can be shared
        tgw["ram_s"].create_resource_share(name="x", resourceArns=[tgw_arn(tid)])
    assert code(e) == ("UnknownResourceException", 400)


def test_transit_gateway_limits_pagination_faults_and_call_log(tgw, emu):
    h = tgw["h"]
    assert http(emu.url + "/_emulator/limits")[1]["transit_gateways_per_region"] == 5
    http(emu.url + "/_emulator/limits", "POST", {"transit_gateways_per_region": 2, "route_tables_per_transit_gateway": 1})
    second = h.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]  # its default route table counts
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway()
    assert code(e) == ("TransitGatewayLimitExceeded", 400)
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway_route_table(TransitGatewayId=second)
    assert code(e) == ("TransitGatewayRouteTableLimitExceeded", 400)
    page = h.describe_transit_gateways(MaxResults=5)
    assert len(page["TransitGateways"]) == 2 and "NextToken" not in page
    pages = list(h.get_paginator("describe_transit_gateways").paginate(PaginationConfig={"PageSize": 5}))
    assert sum(len(p["TransitGateways"]) for p in pages) == 2
    emu.fault(service="ec2", operation="CreateTransitGatewayVpcAttachment", kind="throttle", count=1)
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw["tgw_id"], VpcId=tgw["hub_vpc"],
                                                SubnetIds=tgw["hub_subnets"])
    assert code(e) == ("RequestLimitExceeded", 503)
    # A lost answer: the attachment was made; sent again it is a duplicate (no ClientToken on AWS).
    emu.fault(service="ec2", operation="CreateTransitGatewayVpcAttachment", kind="lost_response", count=1)
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw["tgw_id"], VpcId=tgw["hub_vpc"],
                                                SubnetIds=tgw["hub_subnets"])
    assert code(e) == ("InternalError", 500)
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw["tgw_id"], VpcId=tgw["hub_vpc"],
                                                SubnetIds=tgw["hub_subnets"])
    assert code(e) == ("DuplicateTransitGatewayAttachment", 400)
    emu.fault(service="ec2", operation="*", kind="error5xx", mutating_only=True, count=1)
    with pytest.raises(ClientError) as e:
        h.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId="tgw-rtb-x",
                                                         TransitGatewayAttachmentId="tgw-attach-x")
    assert code(e) == ("InternalError", 500)
    calls = [(c["operation"], c["status"]) for c in emu.calls() if c["service"] == "ec2"]
    assert ("CreateTransitGateway", 200) in calls and ("EnableTransitGatewayRouteTablePropagation", 500) in calls
    assert ("CreateTransitGatewayVpcAttachment", 503) in calls
    # moto's other transit-gateway operations are not served (its state would disagree with ours).
    with pytest.raises(ClientError) as e:
        h.create_transit_gateway_route(DestinationCidrBlock="10.9.0.0/16", TransitGatewayRouteTableId="tgw-rtb-x",
                                       Blackhole=True)
    assert code(e) == ("UnsupportedOperation", 400)
