"""Local AWS emulator for endpoint-hub: moto (server mode) plus a thin WSGI layer.

One process serves EC2, Route 53 and STS on one port (moto), plus Route 53 Profiles and AWS
RAM (implemented entirely in this layer). The layer adds what moto 5.2.5 lacks
or gets wrong (see README.md): the Route 53 cross-account VPC association flow, a cross-account
ListHostedZonesByVPC, prefix-list version/size checks, failed peering on overlapping CIDRs
(requester-only, undeletable), opt-in propagation delays for new security groups, prefix lists
and peerings, opt-in Route 53 token buckets, fault injection, a call log and a full reset.

    python tests/emulator/emulator.py --host 127.0.0.1 --port 4566 [--propagation-ms N] [--route53-buckets]
"""
import argparse
import io
import ipaddress
import json
import os
import random
import re
import signal
import string
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import moto
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.utils import (
    random_transit_gateway_attachment_id,
    random_transit_gateway_id,
    random_transit_gateway_route_table_id,
)
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.route53.models import route53_backends
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
R53_PREFIX = "/2013-04-01"
MAX_VPCS_PER_ZONE = 300
EC2_MUTATING = ("Create", "Delete", "Modify", "Accept", "Reject", "Associate",
                "Disassociate", "Authorize", "Revoke", "Replace", "Enable", "Disable")
CRED_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

# Route 53 REST operations: (method, path regex after /2013-04-01, official name).
_Z = r"/hostedzone/[^/]+"
R53_OPS = [(m, re.compile(p + r"/?$"), n) for m, p, n in [
    ("POST", r"/hostedzone", "CreateHostedZone"),
    ("GET", r"/hostedzone", "ListHostedZones"),
    ("GET", _Z, "GetHostedZone"),
    ("DELETE", _Z, "DeleteHostedZone"),
    ("POST", _Z, "UpdateHostedZoneComment"),
    ("POST", _Z + "/rrset", "ChangeResourceRecordSets"),
    ("GET", _Z + "/rrset", "ListResourceRecordSets"),
    ("POST", _Z + "/associatevpc", "AssociateVPCWithHostedZone"),
    ("POST", _Z + "/disassociatevpc", "DisassociateVPCFromHostedZone"),
    ("POST", _Z + "/authorizevpcassociation", "CreateVPCAssociationAuthorization"),
    ("GET", _Z + "/authorizevpcassociation", "ListVPCAssociationAuthorizations"),
    ("POST", _Z + "/deauthorizevpcassociation", "DeleteVPCAssociationAuthorization"),
    ("GET", _Z + "/dnssec", "GetDNSSEC"),
    ("GET", r"/hostedzonesbyvpc", "ListHostedZonesByVPC"),
    ("GET", r"/hostedzonesbyname", "ListHostedZonesByName"),
    ("GET", r"/hostedzonecount", "GetHostedZoneCount"),
    ("GET", r"/change/[^/]+", "GetChange"),
    ("GET", r"/tags/[^/]+/[^/]+", "ListTagsForResource"),
    ("POST", r"/tags/[^/]+/[^/]+", "ChangeTagsForResource"),
    ("POST", r"/tags/[^/]+", "ListTagsForResources"),
    ("POST", r"/healthcheck", "CreateHealthCheck"),
    ("GET", r"/healthcheck", "ListHealthChecks"),
    ("GET", r"/healthcheck/[^/]+", "GetHealthCheck"),
    ("POST", r"/healthcheck/[^/]+", "UpdateHealthCheck"),
    ("DELETE", r"/healthcheck/[^/]+", "DeleteHealthCheck"),
    ("GET", r"/healthcheck/[^/]+/status", "GetHealthCheckStatus"),
    ("POST", r"/queryloggingconfig", "CreateQueryLoggingConfig"),
    ("GET", r"/queryloggingconfig", "ListQueryLoggingConfigs"),
    ("GET", r"/queryloggingconfig/[^/]+", "GetQueryLoggingConfig"),
    ("DELETE", r"/queryloggingconfig/[^/]+", "DeleteQueryLoggingConfig"),
    ("POST", r"/delegationset", "CreateReusableDelegationSet"),
    ("GET", r"/delegationset", "ListReusableDelegationSets"),
    ("GET", r"/delegationset/[^/]+", "GetReusableDelegationSet"),
    ("DELETE", r"/delegationset/[^/]+", "DeleteReusableDelegationSet"),
]]

# What each injected fault answers: kind -> service -> (code, http status, message).
# Route 53 Profiles: the API reference gives HTTP 400 for every error it lists (ThrottlingException
# included); RAM's model gives ThrottlingException 429, ServerInternalException 500 and
# ServiceUnavailableException 503. Route 53 Profiles lists no 503 error: that one is ours.
FAULT_ERRORS = {
    "throttle": {"ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
                 "route53": ("Throttling", 400, "Rate exceeded"),
                 "sts": ("Throttling", 400, "Rate exceeded"),
                 "route53profiles": ("ThrottlingException", 400,
                                     "The request was throttled. Try again in a few minutes."),
                 "ram": ("ThrottlingException", 429, "Rate exceeded")},
    "error5xx": {"ec2": ("InternalError", 500, "An internal error has occurred"),
                 "route53": ("InternalFailure", 500, "An internal failure occurred"),
                 "sts": ("InternalFailure", 500, "An internal failure occurred"),
                 "route53profiles": ("InternalServiceErrorException", 500, "An internal service error occurred"),
                 "ram": ("ServerInternalException", 500, "The service encountered an internal error")},
    "error503": {"ec2": ("Unavailable", 503, "The server is overloaded and can't handle the request"),
                 "route53": ("ServiceUnavailable", 503, "Service unavailable"),
                 "sts": ("ServiceUnavailable", 503, "Service unavailable"),
                 "route53profiles": ("ServiceUnavailableException", 503, "Service unavailable"),
                 "ram": ("ServiceUnavailableException", 503, "The service is not available")},
    # Route 53 only: another request changed the object at the same time (authorizations), and
    # a request sent while an earlier one on the same zone is still being processed.
    "concurrent_modification": {"route53": (
        "ConcurrentModification", 400,
        "Another user submitted a request to create, update, or delete the object at the same "
        "time that you did. Retry the request.")},
    "prior_request_not_complete": {"route53": (
        "PriorRequestNotComplete", 400,
        "The request was rejected because Route 53 was still processing a prior request.")},
}
ROUTE53_ONLY_FAULTS = ("concurrent_modification", "prior_request_not_complete")

# Route 53's request-rate token buckets per account (Developer Guide, "Throttling for Amazon
# Route 53 API requests"): (burst, refill per second). A request takes a token from the
# account's bucket (all operations) and from its operation's bucket.
R53_ACCOUNT_BUCKET = (50, 10)
R53_DEFAULT_OP_BUCKET = (50, 10)
R53_OP_BUCKETS = {
    "AssociateVPCWithHostedZone": (20, 5),
    "DisassociateVPCFromHostedZone": (10, 5),
    "CreateHostedZone": (40, 2),
    "DeleteHostedZone": (40, 5),
    "CreateHealthCheck": (50, 0.5),
    "DeleteHealthCheck": (15, 3),
    "GetHealthCheckStatus": (4, 1),
    "CreateReusableDelegationSet": (40, 2),
    "DeleteReusableDelegationSet": (40, 5),
}

# Eventual consistency. What a create makes (operation -> kind, id in the answer), the kinds
# of delay that `/_emulator/propagation` sets, and where requests name such resources.
PROPAGATION_KINDS = ("security_group", "prefix_list", "peering")
CREATES = {
    "CreateSecurityGroup": ("security_group", re.compile(rb"<groupId>([^<]+)</groupId>")),
    "CreateManagedPrefixList": ("prefix_list", re.compile(rb"<prefixListId>([^<]+)</prefixListId>")),
    "CreateVpcPeeringConnection": ("peering",
                                   re.compile(rb"<vpcPeeringConnectionId>([^<]+)</vpcPeeringConnectionId>")),
}
_SG_RULE_REFS = [(r"GroupId", "security_group"),
                 (r"IpPermissions\.\d+\.Groups\.\d+\.GroupId", "security_group"),
                 (r"IpPermissions\.\d+\.PrefixListIds\.\d+\.PrefixListId", "prefix_list")]
# EC2 action -> [(parameter name regex, kind)]: a named resource that is not visible yet is
# answered NotFound. Prefix lists unknown to the caller's account are NotFound as well (moto
# answered an empty list, or accepted the reference).
REFERENCES = {
    "DescribeSecurityGroups": [(r"GroupId\.\d+", "security_group")],
    "AuthorizeSecurityGroupIngress": _SG_RULE_REFS,
    "AuthorizeSecurityGroupEgress": _SG_RULE_REFS,
    "RevokeSecurityGroupIngress": _SG_RULE_REFS,
    "RevokeSecurityGroupEgress": _SG_RULE_REFS,
    "DeleteSecurityGroup": [(r"GroupId", "security_group")],
    "CreateVpcEndpoint": [(r"SecurityGroupId\.\d+", "security_group")],
    "ModifyVpcEndpoint": [(r"AddSecurityGroupId\.\d+", "security_group")],
    "DescribeManagedPrefixLists": [(r"PrefixListId\.\d+", "prefix_list")],
    "GetManagedPrefixListEntries": [(r"PrefixListId", "prefix_list")],
    "GetManagedPrefixListAssociations": [(r"PrefixListId", "prefix_list")],
    "ModifyManagedPrefixList": [(r"PrefixListId", "prefix_list")],
    "RestoreManagedPrefixListVersion": [(r"PrefixListId", "prefix_list")],
    "DeleteManagedPrefixList": [(r"PrefixListId", "prefix_list")],
}
# EC2 describe action -> (set element, id element): items not visible yet are left out.
LISTINGS = {
    "DescribeSecurityGroups": ("securityGroupInfo", "groupId"),
    "DescribeManagedPrefixLists": ("prefixListSet", "prefixListId"),
}
NOT_FOUND = {
    "security_group": lambda i: AwsError("InvalidGroup.NotFound", 400,
                                         f"The security group '{i}' does not exist"),
    "prefix_list": lambda i: AwsError("InvalidPrefixListID.NotFound", 400,
                                      f"The prefix list ID '{i}' does not exist"),
}


class AwsError(Exception):
    def __init__(self, code, status, message, sender=True, extra=None):
        super().__init__(message)
        self.code, self.status, self.message, self.sender = code, status, message, sender
        self.extra = extra or {}  # more members of a JSON error shape (ResourceType, FieldName)


def _rid():
    return str(uuid.uuid4())


def error_body(service, err):
    """The error document each real service sends (EC2 vs. Route 53/STS shapes; JSON for the
    restJson1 services: Route 53 Profiles' shapes spell the member `Message`, RAM's `message`)."""
    if service in JSON_SERVICES:
        key = "Message" if service == "route53profiles" else "message"
        return json.dumps({key: err.message, **err.extra}), _rid()
    code, msg, rid = escape(err.code), escape(err.message), _rid()
    if service == "ec2":
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>"), rid
    ns = STS_NS if service == "sts" else R53_NS
    kind = "Sender" if err.sender else "Receiver"
    return ('<?xml version="1.0"?>\n'
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{code}</Code>'
            f"<Message>{msg}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"), rid


class TokenBucket:
    """`burst` tokens at most, `rate` more a second (monotonic clock)."""

    def __init__(self, burst, rate, now):
        self.burst, self.rate, self.tokens, self.at = burst, rate, float(burst), now

    def refill(self, now):
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now


class Call:
    """What the layer knows about one AWS request."""

    def __init__(self, environ, body):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"].upper()
        self.path = environ.get("PATH_INFO", "")
        self.query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.body = body
        ctype = environ.get("CONTENT_TYPE", "")
        self.form = ({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                     if ctype.startswith("application/x-www-form-urlencoded") else {})
        auth = environ.get("HTTP_AUTHORIZATION", "") or self.query.get("X-Amz-Credential", "")
        m = CRED_RE.search(auth) or re.search(r"^([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
        self.access_key, self.region, self.service = m.groups() if m else (None, None, None)
        if self.service is None:  # unsigned: guess from the request's shape
            if self.path.startswith(R53_PREFIX):
                self.service = "route53"
            elif self.form.get("Version") == "2011-06-15":
                self.service = "sts"
            else:
                self.service = "ec2"
        self.region = self.region or "us-east-1"
        self.account = self._account()
        self.operation = self._operation()

    def _account(self):
        if os.environ.get("MOTO_ACCOUNT_ID"):  # same precedence as moto itself
            return os.environ["MOTO_ACCOUNT_ID"]
        if self.environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
            return self.environ["HTTP_X_MOTO_ACCOUNT_ID"]
        return get_account_id_from(self.access_key) if self.access_key else DEFAULT_ACCOUNT_ID

    def _operation(self):
        if self.service in JSON_SERVICES:
            for method, rx, name in JSON_OPS[self.service]:
                if method == self.method and rx.fullmatch(self.path.rstrip("/") or "/"):
                    return name
            return f"{self.method} {self.path}"
        if self.service == "route53":
            sub = self.path[len(R53_PREFIX):] if self.path.startswith(R53_PREFIX) else self.path
            for method, rx, name in R53_OPS:
                if method == self.method and rx.match(sub):
                    return name
            return f"{self.method} {self.path}"
        return self.form.get("Action") or self.query.get("Action") or f"{self.method} {self.path}"

    @property
    def mutating(self):
        if self.service == "route53" or self.service == "route53profiles":
            return self.method != "GET"
        if self.service == "ram":  # every RAM operation is a POST (DELETE for deletions)
            return not self.operation.startswith(("Get", "List", "POST ", "GET "))
        if self.service == "ec2":
            return self.operation.startswith(EC2_MUTATING)
        return False

    def zone_id(self):
        m = re.search(r"/hostedzone/([^/]+)", self.path)
        return m.group(1) if m else ""

    def vpc_from_body(self):
        """(VPCId, VPCRegion) from a Route 53 XML request body."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            raise AwsError("InvalidInput", 400, "Invalid XML in request body")
        vpc_id = root.findtext(f"{{{R53_NS}}}VPC/{{{R53_NS}}}VPCId") or root.findtext("VPC/VPCId")
        region = root.findtext(f"{{{R53_NS}}}VPC/{{{R53_NS}}}VPCRegion") or root.findtext("VPC/VPCRegion")
        if not vpc_id:
            raise AwsError("InvalidInput", 400, "1 validation error detected: VPC.VPCId is required")
        return vpc_id, region or self.region


class Layer:
    """WSGI middleware around moto's DomainDispatcherApplication."""

    def __init__(self, moto_app):
        self.moto_app = moto_app
        self.lock = threading.RLock()
        self.ec2_modify_lock = threading.Lock()
        self._reset_state()

    def _reset_state(self):
        with self.lock:
            self.auths = {}     # zone id -> {vpc id: vpc region}
            self.faults = []    # dicts, in the order they were added
            self.calls = []     # call log entries
            self.propagation = {k: 0 for k in PROPAGATION_KINDS}  # delay in ms, per kind
            self.born = {}      # resource id -> (kind, monotonic time it becomes visible, creator)
            self.tokens = {}    # (account, region, action, ClientToken) -> (form, answer)
            self.r53_buckets_on = False
            self.r53_buckets = {}    # (account, operation or None for the account) -> TokenBucket
            self.r53_throttled = {}  # account -> requests throttled by the buckets
            self.profiles_state = ProfilesState()  # Route 53 Profiles and RAM (ours entirely)
            self.tgw_state = TgwState()  # EC2 transit gateways (ours entirely)

    # ---------------------------------------------------------------- WSGI entry
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self.control(environ, start_response)
        body = self._read_body(environ)
        if path.startswith("/moto-api/"):
            if path.rstrip("/") == "/moto-api/reset":
                self._reset_state()
            return self.moto_app(environ, start_response)
        call = Call(environ, body)
        status, headers, out = self.handle(call)
        with self.lock:
            self.calls.append({"account": call.account, "service": call.service,
                               "operation": call.operation, "status": status,
                               "region": call.region})
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(f"{status} {_reason(status)}", headers + [("Content-Length", str(len(out)))])
        return [out]

    @staticmethod
    def _read_body(environ):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        stream = environ["wsgi.input"]
        if length:
            body = stream.read(length)
        elif environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    def handle(self, call):
        try:
            if call.service == "route53":
                self.take_route53_tokens(call)
            self.apply_faults(call)
            if call.service == "ec2":
                self.check_references(call)
            answer = self.idempotent_replay(call)
            if answer is None:
                handler = OVERRIDES.get((call.service, call.operation))
                if handler is None and call.service in JSON_SERVICES:
                    raise AwsError("UnknownOperationException", 404,
                                   f"{call.operation} is not implemented by the emulator")
                if handler is None and call.service == "ec2" and "TransitGateway" in call.operation:
                    # moto's own transit gateways are never used: they would disagree with ours.
                    raise AwsError("UnsupportedOperation", 400,
                                   f"{call.operation} is not implemented by the emulator")
                answer = handler(self, call) if handler else self.pass_to_moto(call)
                if call.service == "ec2" and answer[0] == 200:
                    answer = self.after_ec2(call, answer)
                    self.idempotent_keep(call, answer)
            if getattr(call, "lose_response", False) and answer[0] < 400:
                # Applied, but the answer never reaches the client: it sees a server error
                # (as after a timeout) and the SDK sends the request again.
                code, status, msg = FAULT_ERRORS["error5xx"][call.service]
                raise AwsError(code, status, msg, sender=False)
            return answer
        except AwsError as err:
            body, rid = error_body(call.service, err)
            if call.service in JSON_SERVICES:
                return err.status, [("Content-Type", "application/json"), ("x-amzn-RequestId", rid),
                                    ("x-amzn-ErrorType", err.code)], body.encode()
            hdr = "x-amzn-RequestId" if call.service != "ec2" else "x-amz-request-id"
            return err.status, [("Content-Type", "text/xml"), (hdr, rid)], body.encode()

    def pass_to_moto(self, call):
        captured = {}

        def sr(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        result = self.moto_app(call.environ, sr)
        try:
            out = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return int(captured["status"].split()[0]), captured["headers"], out

    # ---------------------------------------------------------------- EC2 client tokens
    def _token_key(self, call):
        token = call.form.get("ClientToken") if call.service == "ec2" else None
        return (call.account, call.region, call.operation, token) if token else None

    def idempotent_replay(self, call):
        """An EC2 request with the `ClientToken` of an earlier successful one: the same params
        get the earlier answer and change nothing; other params `IdempotentParameterMismatch`.
        (moto 5.2.5 ignores client tokens, e.g. for CreateManagedPrefixList and
        CreateVpcEndpoint, and made a second resource.)"""
        key = self._token_key(call)
        if key is None:
            return None
        with self.lock:
            kept = self.tokens.get(key)
        if kept is None:
            return None
        form, answer = kept
        if form != call.form:
            raise AwsError("IdempotentParameterMismatch", 400,
                           "The request uses the same client token as a previous, but non-identical request.")
        return answer

    def idempotent_keep(self, call, answer):
        key = self._token_key(call)
        if key is not None:
            with self.lock:
                self.tokens.setdefault(key, (dict(call.form), answer))

    # ---------------------------------------------------------------- Route 53 buckets
    def take_route53_tokens(self, call):
        """With the buckets on: a token from the account's bucket and one from the operation's,
        or `Throttling` taking none."""
        with self.lock:
            if not self.r53_buckets_on:
                return
            now = time.monotonic()
            spec = R53_OP_BUCKETS.get(call.operation, R53_DEFAULT_OP_BUCKET)
            buckets = []
            for key, (burst, rate) in (((call.account, None), R53_ACCOUNT_BUCKET),
                                       ((call.account, call.operation), spec)):
                b = self.r53_buckets.get(key)
                if b is None:
                    b = self.r53_buckets[key] = TokenBucket(burst, rate, now)
                b.refill(now)
                buckets.append(b)
            if all(b.tokens >= 1 for b in buckets):
                for b in buckets:
                    b.tokens -= 1
                return
            self.r53_throttled[call.account] = self.r53_throttled.get(call.account, 0) + 1
        code, status, msg = FAULT_ERRORS["throttle"]["route53"]
        raise AwsError(code, status, msg)

    def set_route53_buckets(self, spec):
        enabled = spec.get("enabled") if isinstance(spec, dict) else None
        if not isinstance(enabled, bool):
            raise ValueError('expected {"enabled": true|false}')
        with self.lock:
            self.r53_buckets_on = enabled
            self.r53_buckets = {}  # full buckets from now on
        return self.route53_buckets_state()

    def route53_buckets_state(self):
        with self.lock:
            return {"enabled": self.r53_buckets_on, "throttled": dict(self.r53_throttled),
                    "account_bucket": {"burst": R53_ACCOUNT_BUCKET[0], "refill_per_s": R53_ACCOUNT_BUCKET[1]},
                    "operation_buckets": {op: {"burst": b, "refill_per_s": r}
                                          for op, (b, r) in {**R53_OP_BUCKETS,
                                                             "*": R53_DEFAULT_OP_BUCKET}.items()}}

    # ---------------------------------------------------------------- visibility
    def peering_visible(self, pcx, account):
        """A `failed` peering is visible to the requester account only (AWS: for about two
        hours; here for as long as it exists); a new one reaches the accepter after the
        peering propagation delay."""
        if pcx._status.code == "failed" and account != pcx.vpc.owner_id:
            return False
        return not self.propagating(pcx.id, account)

    def propagating(self, rid, account):
        """Whether `rid` was made less than its kind's delay ago and is not visible to
        `account` yet (a peering is visible to its requester at once)."""
        with self.lock:
            entry = self.born.get(rid)
            if entry is None:
                return False
            kind, visible_at, creator = entry
            if time.monotonic() >= visible_at:
                del self.born[rid]
                return False
        return not (kind == "peering" and account == creator)

    def check_references(self, call):
        """NotFound for a security group or prefix list the request names that the caller
        can't see yet (or, for prefix lists, that its account doesn't have)."""
        refs = REFERENCES.get(call.operation)
        if not refs:
            return
        backend = None
        for name, value in call.form.items():
            for rx, kind in refs:
                if not re.fullmatch(rx, name):
                    continue
                if self.propagating(value, call.account):
                    raise NOT_FOUND[kind](value)
                if kind == "prefix_list":
                    backend = backend or ec2_backends[call.account][call.region]
                    if value not in backend.managed_prefix_lists:
                        raise NOT_FOUND[kind](value)

    def after_ec2(self, call, answer):
        """Records when what a create made becomes visible, and leaves out of a describe's
        answer what is not visible yet."""
        status, headers, out = answer
        made = CREATES.get(call.operation)
        if made:
            kind, rx = made
            with self.lock:
                delay = self.propagation[kind]
            m = rx.search(out)
            if delay and m:
                with self.lock:
                    self.born[m.group(1).decode()] = (kind, time.monotonic() + delay / 1000.0,
                                                      call.account)
        listing = LISTINGS.get(call.operation)
        if listing:
            with self.lock:
                pending = bool(self.born)
            if pending:
                out = _drop_items(out, *listing, lambda rid: self.propagating(rid, call.account))
        return status, headers, out

    def set_propagation(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        names = {f"{k}_ms": k for k in PROPAGATION_KINDS}
        for key, value in spec.items():
            if key not in names:
                raise ValueError(f"unknown key {key}: use " + ", ".join(names))
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer (milliseconds)")
        with self.lock:
            for key, value in spec.items():
                self.propagation[names[key]] = value
        return self.propagation_state()

    def propagation_state(self):
        now = time.monotonic()
        with self.lock:
            out = {f"{k}_ms": v for k, v in self.propagation.items()}
            out["pending"] = {rid: round((at - now) * 1000) for rid, (_, at, _) in self.born.items()
                              if at > now}
        return out

    # ---------------------------------------------------------------- faults
    def apply_faults(self, call):
        delay, error = 0.0, None
        with self.lock:
            for f in self.faults:
                if f["remaining"] == 0:
                    continue
                if f["service"] not in ("*", call.service) or f["operation"] not in ("*", call.operation):
                    continue
                if f["account"] not in (None, call.account) or (f["mutating_only"] and not call.mutating):
                    continue
                if f["kind"] not in ("latency", "lost_response") and error is not None:
                    continue  # one error per request; later error rules keep their count
                if f["remaining"] is not None:
                    f["remaining"] -= 1
                f["hits"] += 1
                if f["kind"] == "latency":
                    delay += f["latency_ms"] / 1000.0
                elif f["kind"] == "lost_response":
                    call.lose_response = True
                else:
                    code, status, msg = FAULT_ERRORS[f["kind"]][call.service]
                    error = AwsError(code, status, msg, sender=status < 500)
        if delay:
            time.sleep(delay)
        if error:
            raise error

    def add_fault(self, spec):
        kind = spec.get("kind")
        if kind not in ("latency", "lost_response", *FAULT_ERRORS):
            raise ValueError("kind must be latency, lost_response or one of " + ", ".join(FAULT_ERRORS))
        service = spec.get("service", "*")
        if service not in ("*", "ec2", "route53", "sts", *JSON_SERVICES):
            raise ValueError("service must be ec2, route53, sts, route53profiles, ram or *")
        if kind in ROUTE53_ONLY_FAULTS and service != "route53":
            raise ValueError(kind + " is a Route 53 error: service must be route53")
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError("count must be a non-negative integer or null")
        fault = {"id": uuid.uuid4().hex[:12], "service": service,
                 "operation": spec.get("operation", "*"),
                 "mutating_only": bool(spec.get("mutating_only", False)), "kind": kind,
                 "count": count, "remaining": count, "latency_ms": int(spec.get("latency_ms", 0)),
                 "account": spec.get("account"), "hits": 0}
        with self.lock:
            self.faults.append(fault)
        return fault

    # ---------------------------------------------------------------- control API
    def control(self, environ, start_response):
        path, method = environ.get("PATH_INFO", "").rstrip("/"), environ["REQUEST_METHOD"].upper()
        body = self._read_body(environ)
        status, payload = 200, None
        try:
            if path == "/_emulator/health" and method == "GET":
                payload = {"status": "ok", "moto": moto.__version__}
            elif path == "/_emulator/faults" and method == "POST":
                fault = self.add_fault(json.loads(body or b"{}"))
                payload = {"id": fault["id"]}
            elif path == "/_emulator/faults" and method == "GET":
                with self.lock:
                    payload = [dict(f) for f in self.faults]
            elif path == "/_emulator/faults" and method == "DELETE":
                with self.lock:
                    self.faults.clear()
                payload = {"cleared": True}
            elif path == "/_emulator/route53-buckets" and method == "POST":
                payload = self.set_route53_buckets(json.loads(body or b"{}"))
            elif path == "/_emulator/route53-buckets" and method == "GET":
                payload = self.route53_buckets_state()
            elif path == "/_emulator/propagation" and method == "POST":
                payload = self.set_propagation(json.loads(body or b"{}"))
            elif path == "/_emulator/propagation" and method == "GET":
                payload = self.propagation_state()
            elif path == "/_emulator/ram-organization" and method == "POST":
                with self.lock:
                    payload = self.profiles_state.set_organization(json.loads(body or b"{}"))
            elif path == "/_emulator/ram-organization" and method == "GET":
                with self.lock:
                    payload = self.profiles_state.organization_state()
            elif path == "/_emulator/limits" and method == "POST":
                with self.lock:
                    payload = self.profiles_state.set_limits(json.loads(body or b"{}"))
            elif path == "/_emulator/limits" and method == "GET":
                with self.lock:
                    payload = self.profiles_state.limits_state()
            elif path == "/_emulator/transit-gateway-timing" and method == "POST":
                with self.lock:
                    payload = self.tgw_state.set_timing(json.loads(body or b"{}"))
            elif path == "/_emulator/transit-gateway-timing" and method == "GET":
                with self.lock:
                    payload = dict(self.tgw_state.timing)
            elif path == "/_emulator/calls" and method == "GET":
                with self.lock:
                    payload = list(self.calls)
            elif path == "/_emulator/calls" and method == "DELETE":
                with self.lock:
                    self.calls.clear()
                payload = {"cleared": True}
            elif path == "/_emulator/reset" and method == "POST":
                env = EnvironBuilder(path="/moto-api/reset", method="POST").get_environ()
                self.moto_app(env, lambda *a, **k: None)
                self._reset_state()
                payload = {"reset": True}
            else:
                status, payload = 404, {"error": f"no such endpoint: {method} {path}"}
        except (ValueError, TypeError) as e:
            status, payload = 400, {"error": str(e)}
        out = json.dumps(payload).encode()
        start_response(f"{status} {_reason(status)}", [("Content-Type", "application/json"),
                                                      ("Content-Length", str(len(out)))])
        return [out]


def _reason(status):
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# ==================================================================== Route 53 overrides
def find_zone(zone_id):
    """(owner account, zone) for a zone id in any account, or (None, None)."""
    zid = zone_id.replace("/hostedzone/", "")
    for account in list(route53_backends.keys()):
        zone = route53_backends[account]["global"].zones.get(zid)
        if zone is not None:
            return account, zone
    return None, None


def owned_zone(call):
    """The zone, when the caller owns it; AWS shows other accounts' zones as missing."""
    owner, zone = find_zone(call.zone_id())
    if zone is None or owner != call.account:
        raise AwsError("NoSuchHostedZone", 404, f"No hosted zone found with ID: {call.zone_id()}")
    return zone


def caller_owns_vpc(call, vpc_id, region):
    try:
        return vpc_id in ec2_backends[call.account][region].vpcs
    except Exception:  # unknown region
        return False


def _xml(root, inner):
    return 200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", _rid())], (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{R53_NS}">{inner}</{root}>').encode()


def _vpc_xml(vpc_id, region):
    return f"<VPC><VPCId>{escape(vpc_id)}</VPCId><VPCRegion>{escape(region or '')}</VPCRegion></VPC>"


def _change_info(call):
    try:
        comment = ET.fromstring(call.body).findtext(f"{{{R53_NS}}}Comment")
    except ET.ParseError:
        comment = None
    cid = "C" + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (f"<ChangeInfo><Id>/change/{cid}</Id><Status>PENDING</Status><SubmittedAt>{now}</SubmittedAt>"
            + (f"<Comment>{escape(comment)}</Comment>" if comment else "") + "</ChangeInfo>")


def create_vpc_association_authorization(layer, call):
    vpc_id, region = call.vpc_from_body()
    zone = owned_zone(call)
    with layer.lock:
        layer.auths.setdefault(zone.resource_id, {})[vpc_id] = region
    return _xml("CreateVPCAssociationAuthorizationResponse",
                f"<HostedZoneId>{zone.resource_id}</HostedZoneId>{_vpc_xml(vpc_id, region)}")


def list_vpc_association_authorizations(layer, call):
    zone = owned_zone(call)
    with layer.lock:
        vpcs = list(layer.auths.get(zone.resource_id, {}).items())
    return _xml("ListVPCAssociationAuthorizationsResponse",
                f"<HostedZoneId>{zone.resource_id}</HostedZoneId><VPCs>"
                + "".join(_vpc_xml(v, r) for v, r in vpcs) + "</VPCs>")


def delete_vpc_association_authorization(layer, call):
    vpc_id, _ = call.vpc_from_body()
    zone = owned_zone(call)
    with layer.lock:
        if vpc_id not in layer.auths.get(zone.resource_id, {}):
            raise AwsError("VPCAssociationAuthorizationNotFound", 404,
                           f"The VPC: {vpc_id} has not authorized to associate with your hosted zone.")
        del layer.auths[zone.resource_id][vpc_id]
    return _xml("DeleteVPCAssociationAuthorizationResponse", "")


def associate_vpc(layer, call):
    vpc_id, region = call.vpc_from_body()
    owner, zone = find_zone(call.zone_id())
    if zone is None:
        raise AwsError("NoSuchHostedZone", 404, f"No hosted zone found with ID: {call.zone_id()}")
    with layer.lock:
        if owner != call.account and vpc_id not in layer.auths.get(zone.resource_id, {}):
            raise AwsError("NotAuthorizedException", 401,
                           f"The VPC '{vpc_id}' in '{region}' has not been authorized to be associated "
                           f"with hosted zone '{zone.resource_id}'.")
        if not caller_owns_vpc(call, vpc_id, region):
            raise AwsError("InvalidVPCId", 400, f"The VPC ID '{vpc_id}' is not valid or the current "
                                                "account is not authorized to access this VPC.")
        if not zone.private_zone:
            raise AwsError("PublicZoneVPCAssociation", 400,
                           "You're trying to associate a VPC with a public hosted zone.")
        if any(v.get("vpc_id") == vpc_id for v in zone.vpcs):
            raise AwsError("ConflictingDomainExists", 400,
                           f"The VPC {vpc_id} in {region} region has already been associated with the "
                           f"hosted zone {zone.resource_id} with the same domain name.")
        name = zone.name.rstrip(".").lower()
        for acct in list(route53_backends.keys()):
            for other in list(route53_backends[acct]["global"].zones.values()):
                if (other is not zone and other.private_zone and other.name.rstrip(".").lower() == name
                        and any(v.get("vpc_id") == vpc_id for v in other.vpcs)):
                    raise AwsError("ConflictingDomainExists", 400,
                                   f"The VPC {vpc_id} is already associated with hosted zone "
                                   f"{other.resource_id} that has the same name {zone.name}.")
        if len(zone.vpcs) >= MAX_VPCS_PER_ZONE:
            raise AwsError("LimitsExceeded", 400, "Limits Exceeded: MAX_VPCS_ASSOCIATED_BY_ZONE")
        zone.add_vpc(vpc_id, region)  # moto's zone object of the owner account: owner sees it
    return _xml("AssociateVPCWithHostedZoneResponse", _change_info(call))


def disassociate_vpc(layer, call):
    vpc_id, region = call.vpc_from_body()
    owner, zone = find_zone(call.zone_id())
    if zone is None:
        raise AwsError("NoSuchHostedZone", 404, f"No hosted zone found with ID: {call.zone_id()}")
    with layer.lock:
        # AWS: the zone's owner, or the VPC's owner, may disassociate; no authorization needed.
        if owner != call.account and not caller_owns_vpc(call, vpc_id, region):
            raise AwsError("InvalidVPCId", 400, f"The VPC ID '{vpc_id}' is not valid or the current "
                                                "account is not authorized to access this VPC.")
        if not any(v.get("vpc_id") == vpc_id for v in zone.vpcs):
            raise AwsError("VPCAssociationNotFound", 404,
                           f"The specified VPC {vpc_id} is not associated with hosted zone {zone.resource_id}.")
        if len(zone.vpcs) <= 1:
            raise AwsError("LastVPCAssociation", 400,
                           "The VPC that you're trying to disassociate from the private hosted zone "
                           "is the last VPC that is associated with the hosted zone.")
        zone.delete_vpc(vpc_id)
    return _xml("DisassociateVPCFromHostedZoneResponse", _change_info(call))


def list_hosted_zones_by_vpc(layer, call):
    vpc_id, vpc_region = call.query.get("vpcid"), call.query.get("vpcregion")
    if not vpc_id or not vpc_region:
        raise AwsError("InvalidInput", 400, "VPCId and VPCRegion are required")
    out = []
    for acct in list(route53_backends.keys()):
        for zone in list(route53_backends[acct]["global"].zones.values()):
            if zone.private_zone and any(v.get("vpc_id") == vpc_id and v.get("vpc_region", vpc_region) == vpc_region
                                         for v in zone.vpcs):
                out.append(f"<HostedZoneSummary><HostedZoneId>{zone.resource_id}</HostedZoneId>"
                           f"<Name>{escape(zone.name)}</Name><Owner><OwningAccount>{acct}</OwningAccount>"
                           "</Owner></HostedZoneSummary>")
    return _xml("ListHostedZonesByVPCResponse",
                f"<HostedZoneSummaries>{''.join(out)}</HostedZoneSummaries>"
                f"<MaxItems>{escape(call.query.get('maxitems', '100'))}</MaxItems>")


# ==================================================================== EC2 overrides
def _indexed(form, prefix, field):
    return [v for k, v in sorted(form.items()) if re.fullmatch(rf"{prefix}\.\d+\.{field}", k)]


def modify_managed_prefix_list(layer, call):
    f = call.form
    pl_id = f.get("PrefixListId", "")
    backend = ec2_backends[call.account][call.region]
    with layer.ec2_modify_lock:  # the version check and moto's update are one atomic step
        pl = backend.managed_prefix_lists.get(pl_id)
        if pl is None or pl.state == "delete-complete":
            raise AwsError("InvalidPrefixListID.NotFound", 400, f"The prefix list ID '{pl_id}' does not exist")
        adds, removes = _indexed(f, "AddEntry", "Cidr"), _indexed(f, "RemoveEntry", "Cidr")
        if (adds or removes) and "MaxEntries" in f:
            raise AwsError("InvalidParameterCombination", 400, "You cannot modify the entries and the "
                           "maximum entries for the prefix list in the same request.")
        if "CurrentVersion" in f and pl.version is not None and int(f["CurrentVersion"]) != pl.version:
            raise AwsError("PrefixListVersionMismatch", 400, "The prefix list has the incorrect version number.")
        current = [e["Cidr"] for e in pl.entries.get(pl.version, [])]
        kept = [c for c in current if c not in removes]
        for cidr in adds:
            if cidr in kept:
                raise AwsError("InvalidPrefixListModification", 400,
                               f"An entry with the CIDR ({cidr}) already exists.")
        max_entries = int(f.get("MaxEntries") or pl.max_entries or 0)
        if max_entries and len(kept) + len(adds) > max_entries:
            raise AwsError("PrefixListMaxEntriesExceeded", 400,
                           f"The prefix list has exceeded the maximum number of entries ({max_entries}).")
        name = pl.prefix_list_name
        result = layer.pass_to_moto(call)
        if result[0] == 200:
            if "PrefixListName" not in f:  # moto would blank the name
                pl.prefix_list_name = name
            if "MaxEntries" in f:  # moto ignores a resize
                pl.max_entries = int(f["MaxEntries"])
        return result


def create_vpc_peering_connection(layer, call):
    status, headers, out = layer.pass_to_moto(call)
    m = re.search(rb"<vpcPeeringConnectionId>([^<]+)</vpcPeeringConnectionId>", out)
    if status == 200 and m:
        pcx = ec2_backends[call.account][call.region].vpc_pcxs.get(m.group(1).decode())
        if pcx is not None and _cidrs_overlap(pcx.vpc, pcx.peer_vpc):
            pcx._status.code, pcx._status.message = "failed", "Overlapping CIDR range"
    return status, headers, out


def _pcx_not_found(pcx_id):
    # AWS's spelling of the code (moto's is `InvalidVpcPeeringConnectionId.NotFound`).
    return AwsError("InvalidVpcPeeringConnectionID.NotFound", 400,
                    f"The vpcPeeringConnection ID '{pcx_id}' does not exist")


def _pcx(call, pcx_id):
    """The peering as the caller's account and region hold it in moto, or None."""
    return ec2_backends[call.account][call.region].vpc_pcxs.get(pcx_id)


def describe_vpc_peering_connections(layer, call):
    """Only what the caller can see: a `failed` peering is the requester's alone, a new one
    reaches the accepter after the propagation delay. Any id asked for and not visible
    (unknown ids included: moto answered an empty list) is NotFound, as on AWS. A `tag-key`
    filter keeps only peerings with one of the keys."""
    for pcx_id in _listed(call.form, "VpcPeeringConnectionId"):
        pcx = _pcx(call, pcx_id)
        if pcx is None or not layer.peering_visible(pcx, call.account):
            raise _pcx_not_found(pcx_id)
    status, headers, out = layer.pass_to_moto(call)
    if status != 200:
        return status, headers, out

    # The `tag-key` filter, which moto 5.2.5 ignores for peerings.
    keys = _filter_values(call.form, "tag-key")

    def hidden(pcx_id):
        pcx = _pcx(call, pcx_id)
        if keys and (pcx is None or not any(t.get("key") in keys for t in pcx.get_tags())):
            return True
        return pcx is not None and not layer.peering_visible(pcx, call.account)
    return status, headers, _drop_items(out, "vpcPeeringConnectionSet", "vpcPeeringConnectionId", hidden)


def peering_by_accepter(layer, call):
    """Accept/RejectVpcPeeringConnection: a peering the caller can't see is NotFound."""
    pcx_id = call.form.get("VpcPeeringConnectionId", "")
    pcx = _pcx(call, pcx_id)
    if pcx is None or not layer.peering_visible(pcx, call.account):
        raise _pcx_not_found(pcx_id)
    return layer.pass_to_moto(call)


def delete_vpc_peering_connection(layer, call):
    """AWS: "You cannot delete a VPC peering connection that's in the failed or rejected
    state" (the error code and message are ours: AWS documents the refusal only)."""
    pcx_id = call.form.get("VpcPeeringConnectionId", "")
    pcx = _pcx(call, pcx_id)
    if pcx is None:
        raise _pcx_not_found(pcx_id)
    if pcx._status.code in ("failed", "rejected"):
        raise AwsError("InvalidStateTransition", 400,
                       f"Cannot delete a VPC peering connection in state {pcx._status.code}")
    if not layer.peering_visible(pcx, call.account):
        raise _pcx_not_found(pcx_id)
    return layer.pass_to_moto(call)


def _listed(form, name):
    """The values of a query-protocol list parameter `Name.1`, `Name.2`, ..."""
    return [v for k, v in sorted(form.items()) if re.fullmatch(rf"{re.escape(name)}\.\d+", k)]


def _drop_items(out, set_tag, id_tag, hidden):
    """Removes from an EC2 describe answer the `<item>`s of `<set_tag>` whose `<id_tag>` is
    hidden from the caller. The document is rewritten only when something was removed."""
    root = ET.fromstring(out)
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    q = (lambda t: f"{{{ns}}}{t}") if ns else (lambda t: t)  # noqa: E731
    changed = False
    for coll in list(root.iter(q(set_tag))):
        for item in coll.findall(q("item")):
            if hidden(item.findtext(q(id_tag)) or ""):
                coll.remove(item)
                changed = True
    if not changed:
        return out
    ET.register_namespace("", ns)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


def _filter_values(form, name):
    """The values of every `Filter.N` named `name` (`Filter.N.Value.M`)."""
    values = []
    for k, v in form.items():
        m = re.fullmatch(r"Filter\.(\d+)\.Name", k)
        if m and v == name:
            values += _listed(form, f"Filter.{m.group(1)}.Value")
    return values


def describe_managed_prefix_lists(layer, call):
    """The `tag-key` filter, which moto 5.2.5 ignores for prefix lists (it answered every list,
    AWS-managed ones included): only lists with one of the tag keys asked for."""
    status, headers, out = layer.pass_to_moto(call)
    keys = _filter_values(call.form, "tag-key")
    if status != 200 or not keys:
        return status, headers, out
    lists = ec2_backends[call.account][call.region].managed_prefix_lists

    def hidden(pl_id):
        pl = lists.get(pl_id)
        return pl is None or not any(t.get("key") in keys for t in pl.get_tags())
    return status, headers, _drop_items(out, "prefixListSet", "prefixListId", hidden)


EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15"


def describe_vpc_endpoint_services(layer, call):
    """As AWS lists them: a service offered as both a Gateway and an Interface endpoint (S3,
    DynamoDB) has its Gateway entry first, and a Gateway entry has no private DNS name. moto
    5.2.5 lists S3's Interface entry first and gives its Gateway entry S3's private DNS name."""
    status, headers, out = layer.pass_to_moto(call)
    if status != 200:
        return status, headers, out
    ET.register_namespace("", EC2_NS)
    root = ET.fromstring(out)
    q = lambda tag: f"{{{EC2_NS}}}{tag}"  # noqa: E731
    details = root.find(q("serviceDetailSet"))
    if details is None:
        return status, headers, out
    items = list(details)
    first_seen = {}
    for i, item in enumerate(items):
        first_seen.setdefault(item.findtext(q("serviceName")), i)

    def is_gateway(item):
        return any(t.text == "Gateway" for t in item.iter(q("serviceType")) if t.text)

    for item in items:
        if is_gateway(item):
            for tag in ("privateDnsName", "privateDnsNameSet", "privateDnsNameVerificationState"):
                for child in item.findall(q(tag)):
                    item.remove(child)
    items.sort(key=lambda it: (first_seen[it.findtext(q("serviceName"))], not is_gateway(it)))
    for item in list(details):
        details.remove(item)
    details.extend(items)
    out = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    return status, headers, out


def _cidrs_overlap(a, b):
    def nets(vpc):
        blocks = [x.get("cidr_block") for x in vpc.cidr_block_association_set] or [vpc.cidr_block]
        return [ipaddress.ip_network(c, strict=False) for c in blocks if c]
    return any(x.overlaps(y) for x in nets(a) for y in nets(b))


# ==================================================================== Route 53 Profiles and RAM
# Both are restJson1 services implemented entirely here (moto 5.2.5 has no Route 53 Profiles and
# no cross-account RAM invitations). State is per Layer and goes with every reset.
JSON_SERVICES = ("route53profiles", "ram")
_RAM_OPS = ["AcceptResourceShareInvitation", "AssociateResourceShare", "AssociateResourceSharePermission",
            "CreatePermission", "CreatePermissionVersion", "CreateResourceShare", "DeletePermission",
            "DeletePermissionVersion", "DeleteResourceShare", "DisassociateResourceShare",
            "DisassociateResourceSharePermission", "EnableSharingWithAwsOrganization", "GetPermission",
            "GetResourcePolicies", "GetResourceShareAssociations", "GetResourceShareInvitations",
            "GetResourceShares", "ListPendingInvitationResources", "ListPermissionAssociations",
            "ListPermissionVersions", "ListPermissions", "ListPrincipals",
            "ListReplacePermissionAssociationsWork", "ListResourceSharePermissions", "ListResourceTypes",
            "ListResources", "ListSourceAssociations", "PromotePermissionCreatedFromPolicy",
            "PromoteResourceShareCreatedFromPolicy", "RejectResourceShareInvitation",
            "ReplacePermissionAssociations", "SetDefaultPermissionVersion", "TagResource", "UntagResource",
            "UpdatePermission", "UpdateResourceShare"]
# (method, full-path regex, official name), from botocore's service models.
JSON_OPS = {
    "route53profiles": [(m, re.compile(p), n) for m, p, n in [
        ("POST", r"/profile", "CreateProfile"),
        ("GET", r"/profiles", "ListProfiles"),
        ("GET", r"/profile/[^/]+", "GetProfile"),
        ("DELETE", r"/profile/[^/]+", "DeleteProfile"),
        ("POST", r"/profileassociation", "AssociateProfile"),
        ("GET", r"/profileassociations", "ListProfileAssociations"),
        ("DELETE", r"/profileassociation/Profileid/[^/]+/resourceid/[^/]+", "DisassociateProfile"),
        ("GET", r"/profileassociation/[^/]+", "GetProfileAssociation"),
        ("PATCH", r"/profileassociation/[^/]+", "UpdateProfileAssociation"),
        ("POST", r"/profileresourceassociation", "AssociateResourceToProfile"),
        ("DELETE", r"/profileresourceassociation/profileid/[^/]+/resourcearn/.+",
         "DisassociateResourceFromProfile"),
        ("GET", r"/profileresourceassociation/[^/]+", "GetProfileResourceAssociation"),
        ("PATCH", r"/profileresourceassociation/[^/]+", "UpdateProfileResourceAssociation"),
        ("GET", r"/profileresourceassociations/profileid/[^/]+", "ListProfileResourceAssociations"),
        ("GET", r"/tags/.+", "ListTagsForResource"),
        ("POST", r"/tags/.+", "TagResource"),
        ("DELETE", r"/tags/.+", "UntagResource"),
    ]],
    "ram": [("DELETE" if n.startswith("Delete") else "POST", re.compile("/" + n.lower()), n)
            for n in _RAM_OPS],
}
# Quotas (settable with /_emulator/limits so tests need not make 1,000 VPCs).
DEFAULT_LIMITS = {"profiles_per_region": 5, "vpcs_per_profile": 1000, "resources_per_profile": 5000,
                  "transit_gateways_per_region": 5, "route_tables_per_transit_gateway": 20,
                  "attachments_per_transit_gateway": 5000}
ARN_RE = re.compile(r"arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12}|):(.+)")
ACCOUNT_RE = re.compile(r"\d{12}")


def _now():
    return time.time()


class ProfilesState:
    """Route 53 Profiles (per account and region) and RAM resource shares."""

    def __init__(self):
        self.profiles = {}       # profile id -> dict (Profile members + region, tags)
        self.resources = {}      # profile resource association id -> dict
        self.assocs = {}         # profile association id -> dict (+ region)
        self.shares = {}         # share arn -> dict (owner, region, resources, principals, ...)
        self.invitations = {}    # invitation arn -> dict
        self.tokens = {}         # (account, region, operation, client token) -> (params, answer)
        self.org_all = False     # every account in one organization with sharing enabled
        self.org = set()         # accounts of that organization
        self.limits = dict(DEFAULT_LIMITS)

    # ---------------------------------------------------------------- control endpoints
    def set_organization(self, spec):
        if not isinstance(spec, dict):
            raise ValueError('expected {"accounts": [...]} or {"all": true}')
        accounts, everyone = spec.get("accounts", []), spec.get("all", False)
        if not isinstance(everyone, bool) or not isinstance(accounts, list) \
                or not all(isinstance(a, str) and ACCOUNT_RE.fullmatch(a) for a in accounts):
            raise ValueError('"accounts" must be a list of 12-digit account ids, "all" a boolean')
        self.org_all, self.org = everyone, set(accounts)
        return self.organization_state()

    def organization_state(self):
        return {"all": self.org_all, "accounts": sorted(self.org)}

    def set_limits(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        for key, value in spec.items():
            if key not in DEFAULT_LIMITS:
                raise ValueError(f"unknown key {key}: use " + ", ".join(DEFAULT_LIMITS))
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer")
        self.limits.update(spec)
        return self.limits_state()

    def limits_state(self):
        return dict(self.limits)

    def same_org(self, a, b):
        return self.org_all or (a in self.org and b in self.org)

    # ---------------------------------------------------------------- sharing
    def shared_with(self, profile, account):
        """Whether `account` sees another account's profile: an ACTIVE share of the profile's
        owner, in its region, holds the profile and has `account` as an ASSOCIATED principal."""
        return self.shared(profile["OwnerId"], profile["region"], profile["Arn"], account)

    def shared(self, owner, region, arn, account):
        """Whether an ACTIVE share of `owner` in `region` holds `arn` (ASSOCIATED) and has
        `account` as an ASSOCIATED principal (Route 53 Profiles and transit gateways alike)."""
        for share in self.shares.values():
            if (share["owner"] == owner and share["region"] == region
                    and share["status"] == "ACTIVE"
                    and share["resources"].get(arn, {}).get("status") == "ASSOCIATED"
                    and share["principals"].get(account, {}).get("status") == "ASSOCIATED"):
                return True
        return False

    def visible_profile(self, call, profile_id):
        p = self.profiles.get(profile_id)
        if p is None or p["region"] != call.region or p["Status"] == "DELETED":
            return None
        if p["OwnerId"] == call.account or self.shared_with(p, call.account):
            return p
        return None

    def share_status(self, p, account):
        if p["OwnerId"] != account:
            return "SHARED_WITH_ME"
        for share in self.shares.values():
            if share["status"] == "ACTIVE" and share["resources"].get(p["Arn"], {}).get("status") == "ASSOCIATED":
                return "SHARED_BY_ME"
        return "NOT_SHARED"


def _json(payload, status=200):
    return status, [("Content-Type", "application/json"), ("x-amzn-RequestId", _rid())], \
        json.dumps(payload).encode()


def _body(call):
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _p_validation("The request body is not a JSON object") if call.service == "route53profiles" \
            else _ram_invalid("The request body is not a JSON object")
    return body


def _path_part(call, index):
    return call.path.strip("/").split("/")[index]


def _page(items, call, max_key, token_key, cap, source):
    """One page of `items`: `max_key`/`token_key` read from `source` (query or body); the token
    is the offset, opaque to clients. A bad token is InvalidNextTokenException."""
    raw_max, token = source.get(max_key), source.get(token_key)
    try:
        size = int(raw_max) if raw_max not in (None, "") else cap
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= cap:
        if call.service == "route53profiles":
            raise _p_validation(f"MaxResults must be between 1 and {cap}")
        raise AwsError("InvalidParameterException", 400, f"maxResults must be between 1 and {cap}")
    start = 0
    if token:
        m = re.fullmatch(r"emu-(\d+)", str(token))
        if not m or int(m.group(1)) > len(items):
            raise AwsError("InvalidNextTokenException", 400, "The specified next token is not valid.")
        start = int(m.group(1))
    end = start + size
    return items[start:end], (f"emu-{end}" if end < len(items) else None)


def _client_token_replay(layer, call, token, params, mismatch):
    """The earlier answer to the same operation with this client token (same account and
    region), or None; other parameters: `mismatch()`."""
    if not token:
        return None
    kept = layer.profiles_state.tokens.get((call.account, call.region, call.operation, token))
    if kept is None:
        return None
    if kept[0] != params:
        raise mismatch()
    return kept[1]


def _client_token_keep(layer, call, token, params, answer):
    if token:
        layer.profiles_state.tokens.setdefault((call.account, call.region, call.operation, token),
                                               (params, answer))


# ---------------------------------------------------------------- Route 53 Profiles
def _p_validation(msg):
    return AwsError("ValidationException", 400, msg)


def _p_not_found(what, rid, rtype):
    return AwsError("ResourceNotFoundException", 400, f"{what} {rid} does not exist or is not visible to this account.",
                    extra={"ResourceType": rtype})


def _p_invalid(msg, field=None):
    return AwsError("InvalidParameterException", 400, msg, extra={"FieldName": field} if field else None)


def _p_limit(msg, rtype):
    return AwsError("LimitExceededException", 400, msg, extra={"ResourceType": rtype})


def _p_conflict(msg):
    return AwsError("ConflictException", 400, msg)


def _require(body, *names):
    for n in names:
        if body.get(n) in (None, ""):
            raise _p_validation(f"1 validation error detected: Value at '{n[0].lower() + n[1:]}' failed to "
                                "satisfy constraint: Member must not be null")


def _profile_view(st, p, account):
    out = {k: p[k] for k in ("Id", "Arn", "Name", "OwnerId", "Status", "StatusMessage", "ClientToken",
                             "CreationTime", "ModificationTime")}
    out["ShareStatus"] = st.share_status(p, account)
    return out


def _public(d):
    return {k: v for k, v in d.items() if k[0].isupper()}


def create_profile(layer, call):
    body = _body(call)
    _require(body, "Name", "ClientToken")
    st = layer.profiles_state
    with layer.lock:
        params = {"Name": body["Name"], "Tags": body.get("Tags") or []}
        replay = _client_token_replay(layer, call, body["ClientToken"], params, lambda: _p_invalid(
            "The ClientToken was used before with different parameters.", "ClientToken"))
        if replay is not None:
            return replay
        mine = [p for p in st.profiles.values() if p["OwnerId"] == call.account
                and p["region"] == call.region and p["Status"] != "DELETED"]
        if len(mine) >= st.limits["profiles_per_region"]:
            raise _p_limit(f"The account has reached the limit of {st.limits['profiles_per_region']} "
                           "Profiles in this Region.", "PROFILE")
        pid = "rp-" + uuid.uuid4().hex[:16]
        now = _now()
        p = {"Id": pid, "Arn": f"arn:aws:route53profiles:{call.region}:{call.account}:profile/{pid}",
             "Name": body["Name"], "OwnerId": call.account, "Status": "COMPLETE",
             "StatusMessage": "Created Profile", "ClientToken": body["ClientToken"], "CreationTime": now,
             "ModificationTime": now, "region": call.region,
             "tags": {t["Key"]: t["Value"] for t in body.get("Tags") or []}}
        st.profiles[pid] = p
        answer = _json({"Profile": _profile_view(st, p, call.account)})
        _client_token_keep(layer, call, body["ClientToken"], params, answer)
        return answer


def get_profile(layer, call):
    pid = _path_part(call, 1)
    with layer.lock:
        p = layer.profiles_state.visible_profile(call, pid)
        if p is None:
            raise _p_not_found("Profile", pid, "PROFILE")
        return _json({"Profile": _profile_view(layer.profiles_state, p, call.account)})


def list_profiles(layer, call):
    st = layer.profiles_state
    with layer.lock:
        seen = [p for p in st.profiles.values() if st.visible_profile(call, p["Id"])]
        seen.sort(key=lambda p: (p["CreationTime"], p["Id"]))
        page, token = _page(seen, call, "maxResults", "nextToken", 100, call.query)
        out = {"ProfileSummaries": [{k: v for k, v in _profile_view(st, p, call.account).items()
                                     if k in ("Id", "Arn", "Name", "ShareStatus")} for p in page]}
        if token:
            out["NextToken"] = token
        return _json(out)


def _owned_profile(layer, call, pid):
    """The profile when the caller owns it; anyone else: ResourceNotFoundException (our choice:
    a profile shared with the caller can't be changed by it)."""
    p = layer.profiles_state.visible_profile(call, pid)
    if p is None or p["OwnerId"] != call.account:
        raise _p_not_found("Profile", pid, "PROFILE")
    return p


def delete_profile(layer, call):
    pid = _path_part(call, 1)
    st = layer.profiles_state
    with layer.lock:
        p = _owned_profile(layer, call, pid)
        vpcs = [a["ResourceId"] for a in st.assocs.values() if a["ProfileId"] == pid]
        if vpcs:
            raise _p_conflict(f"Profile {pid} is associated with {len(vpcs)} VPC(s) ({', '.join(sorted(vpcs)[:5])}). "
                              "Disassociate it from all VPCs before deleting it.")
        for rid in [r for r, a in st.resources.items() if a["ProfileId"] == pid]:
            del st.resources[rid]
        now = _now()
        for share in st.shares.values():  # a deleted resource leaves every share
            ra = share["resources"].get(p["Arn"])
            if ra and ra["status"] == "ASSOCIATED":
                ra.update(status="DISASSOCIATED", lastUpdatedTime=now)
        p.update(Status="DELETED", StatusMessage="Deleted Profile", ModificationTime=now)
        view = _profile_view(st, p, call.account)
        del st.profiles[pid]
        return _json({"Profile": view})


def _zone_id_from_arn(arn):
    m = re.fullmatch(r"arn:aws[a-z-]*:route53:::hostedzone/([A-Za-z0-9]+)", arn or "")
    return m.group(1) if m else None


def associate_resource_to_profile(layer, call):
    body = _body(call)
    _require(body, "ProfileId", "ResourceArn", "Name")
    st = layer.profiles_state
    with layer.lock:
        p = _owned_profile(layer, call, body["ProfileId"])
        arn = body["ResourceArn"]
        zone_id = _zone_id_from_arn(arn)
        if zone_id is None:
            raise _p_invalid(f"The resource {arn} is not a private hosted zone ARN "
                             "(arn:aws:route53:::hostedzone/<id>); the emulator supports hosted zones only.",
                             "ResourceArn")
        owner, zone = find_zone(zone_id)
        if zone is None or owner != call.account:
            raise _p_not_found("Hosted zone", zone_id, "HOSTED_ZONE")
        if not zone.private_zone:
            raise _p_invalid(f"Hosted zone {zone_id} is a public hosted zone; only private hosted zones "
                             "can be associated with a Profile.", "ResourceArn")
        mine = [a for a in st.resources.values() if a["ProfileId"] == p["Id"]]
        name = zone.name.rstrip(".").lower()
        for a in mine:
            if a["ResourceArn"] == arn:
                raise _p_conflict(f"The resource {arn} is already associated with Profile {p['Id']} "
                                  f"({a['Id']}).")
            if a["domain"] == name:
                raise _p_conflict(f"Profile {p['Id']} already has a private hosted zone for {zone.name} "
                                  f"({a['ResourceArn']}).")
        if len(mine) >= st.limits["resources_per_profile"]:
            raise _p_limit(f"Profile {p['Id']} has reached the limit of {st.limits['resources_per_profile']} "
                           "resource associations.", "PROFILE_RESOURCE_ASSOCIATION")
        now = _now()
        rid = "rpr-" + uuid.uuid4().hex[:17]
        a = {"Id": rid, "Name": body["Name"], "OwnerId": call.account, "ProfileId": p["Id"],
             "ResourceArn": arn, "ResourceType": "PRIVATE_HOSTED_ZONE", "Status": "COMPLETE",
             "StatusMessage": "Created Profile Resource Association", "CreationTime": now,
             "ModificationTime": now, "domain": name}
        if body.get("ResourceProperties"):
            a["ResourceProperties"] = body["ResourceProperties"]
        st.resources[rid] = a
        p["ModificationTime"] = now
        return _json({"ProfileResourceAssociation": _public(a)})


def disassociate_resource_from_profile(layer, call):
    parts = call.path.strip("/").split("/", 4)  # profileresourceassociation/profileid/X/resourcearn/ARN
    pid, arn = parts[2], parts[4]
    st = layer.profiles_state
    with layer.lock:
        p = _owned_profile(layer, call, pid)
        for rid, a in list(st.resources.items()):
            if a["ProfileId"] == p["Id"] and a["ResourceArn"] == arn:
                del st.resources[rid]
                a.update(Status="DELETED", StatusMessage="Deleted Profile Resource Association",
                         ModificationTime=_now())
                return _json({"ProfileResourceAssociation": _public(a)})
        raise _p_not_found("Resource association of", arn, "PROFILE_RESOURCE_ASSOCIATION")


def get_profile_resource_association(layer, call):
    rid = _path_part(call, 1)
    st = layer.profiles_state
    with layer.lock:
        a = st.resources.get(rid)
        if a is None or st.visible_profile(call, a["ProfileId"]) is None:
            raise _p_not_found("Profile resource association", rid, "PROFILE_RESOURCE_ASSOCIATION")
        return _json({"ProfileResourceAssociation": _public(a)})


def list_profile_resource_associations(layer, call):
    pid = _path_part(call, 2)
    st = layer.profiles_state
    with layer.lock:
        if st.visible_profile(call, pid) is None:
            raise _p_not_found("Profile", pid, "PROFILE")
        items = [a for a in st.resources.values() if a["ProfileId"] == pid
                 and call.query.get("resourceType") in (None, a["ResourceType"])
                 and call.query.get("resourceArn") in (None, a["ResourceArn"])]
        items.sort(key=lambda a: (a["CreationTime"], a["Id"]))
        page, token = _page(items, call, "maxResults", "nextToken", 100, call.query)
        out = {"ProfileResourceAssociations": [_public(a) for a in page]}
        if token:
            out["NextToken"] = token
        return _json(out)


def associate_profile(layer, call):
    body = _body(call)
    _require(body, "ProfileId", "ResourceId", "Name")
    st = layer.profiles_state
    pid, vpc_id = body["ProfileId"], body["ResourceId"]
    with layer.lock:
        p = st.visible_profile(call, pid)
        if p is None:
            raise _p_not_found("Profile", pid, "PROFILE")
        if not caller_owns_vpc(call, vpc_id, call.region):
            raise _p_not_found("VPC", vpc_id, "VPC")
        for a in st.assocs.values():
            if a["ResourceId"] == vpc_id and a["region"] == call.region:
                if a["ProfileId"] == pid:
                    raise AwsError("ResourceExistsException", 400,
                                   f"VPC {vpc_id} is already associated with Profile {pid} ({a['Id']}).",
                                   extra={"ResourceType": "PROFILE_ASSOCIATION"})
                raise _p_conflict(f"VPC {vpc_id} is already associated with Profile {a['ProfileId']}; "
                                  "a VPC can have only one Profile associated with it.")
        count = sum(1 for a in st.assocs.values() if a["ProfileId"] == pid)
        if count >= st.limits["vpcs_per_profile"]:
            raise _p_limit(f"Profile {pid} is associated with {count} VPCs, the limit.", "PROFILE_ASSOCIATION")
        now = _now()
        aid = "rpassoc-" + uuid.uuid4().hex[:17]
        a = {"Id": aid, "Name": body["Name"], "OwnerId": call.account, "ProfileId": pid,
             "ResourceId": vpc_id, "Status": "COMPLETE", "StatusMessage": "Created Profile Association",
             "CreationTime": now, "ModificationTime": now, "region": call.region,
             "tags": {t["Key"]: t["Value"] for t in body.get("Tags") or []}}
        st.assocs[aid] = a
        return _json({"ProfileAssociation": _public(a)})


def disassociate_profile(layer, call):
    parts = call.path.strip("/").split("/")  # profileassociation/Profileid/X/resourceid/Y
    pid, vpc_id = parts[2], parts[4]
    st = layer.profiles_state
    with layer.lock:
        # The VPC's owner disassociates; it needs no visibility of the Profile any more (a
        # Profile no longer shared with it keeps its association until then).
        for aid, a in list(st.assocs.items()):
            if (a["ProfileId"] == pid and a["ResourceId"] == vpc_id and a["region"] == call.region
                    and a["OwnerId"] == call.account):
                del st.assocs[aid]
                a.update(Status="DELETED", StatusMessage="Deleted Profile Association", ModificationTime=_now())
                return _json({"ProfileAssociation": _public(a)})
        raise _p_not_found(f"Association of Profile {pid} with VPC", vpc_id, "PROFILE_ASSOCIATION")


def _assoc_visible(st, a, account):
    """The VPC's owner sees its association; the Profile's owner sees every association of it."""
    p = st.profiles.get(a["ProfileId"])
    return a["OwnerId"] == account or (p is not None and p["OwnerId"] == account)


def get_profile_association(layer, call):
    aid = _path_part(call, 1)
    st = layer.profiles_state
    with layer.lock:
        a = st.assocs.get(aid)
        if a is None or a["region"] != call.region or not _assoc_visible(st, a, call.account):
            raise _p_not_found("Profile association", aid, "PROFILE_ASSOCIATION")
        return _json({"ProfileAssociation": _public(a)})


def list_profile_associations(layer, call):
    st = layer.profiles_state
    with layer.lock:
        items = [a for a in st.assocs.values() if a["region"] == call.region
                 and _assoc_visible(st, a, call.account)
                 and call.query.get("profileId") in (None, a["ProfileId"])
                 and call.query.get("resourceId") in (None, a["ResourceId"])]
        items.sort(key=lambda a: (a["CreationTime"], a["Id"]))
        page, token = _page(items, call, "maxResults", "nextToken", 100, call.query)
        out = {"ProfileAssociations": [_public(a) for a in page]}
        if token:
            out["NextToken"] = token
        return _json(out)


def _tagged(layer, call):
    """(dict of tags) of the caller's Profile or Profile association named by /tags/{arn}."""
    from urllib.parse import unquote
    arn = unquote(call.path.split("/tags/", 1)[1])
    st = layer.profiles_state
    m = re.fullmatch(r"arn:aws[a-z-]*:route53profiles:([^:]+):(\d{12}):profile/(.+)", arn)
    if m and m.group(3) in st.profiles and st.profiles[m.group(3)]["OwnerId"] == call.account:
        return st.profiles[m.group(3)]["tags"]
    raise _p_not_found("Resource", arn, "PROFILE")


def list_tags_for_resource(layer, call):
    with layer.lock:
        return _json({"Tags": dict(_tagged(layer, call))})


def tag_resource(layer, call):
    body = _body(call)
    with layer.lock:
        _tagged(layer, call).update(body.get("Tags") or {})
        return 204, [("x-amzn-RequestId", _rid())], b""


def untag_resource(layer, call):
    keys = parse_qs(call.environ.get("QUERY_STRING", "")).get("tagKeys", [])
    with layer.lock:
        tags = _tagged(layer, call)
        for k in keys:
            tags.pop(k, None)
        return 204, [("x-amzn-RequestId", _rid())], b""


# ---------------------------------------------------------------- RAM
def _ram_invalid(msg):
    return AwsError("InvalidParameterException", 400, msg)


def _ram_unknown(msg):
    return AwsError("UnknownResourceException", 400, msg)


def _ram_mismatch():
    return AwsError("IdempotentParameterMismatchException", 400,
                    "The client token was already used with different parameters.")


def _share_view(share):
    return {k: share[k] for k in ("resourceShareArn", "name", "owningAccountId", "allowExternalPrincipals",
                                  "status", "tags", "creationTime", "lastUpdatedTime", "featureSet")}


def _assoc_view(share, kind, entity, a):
    out = {"resourceShareArn": share["resourceShareArn"], "resourceShareName": share["name"],
           "associatedEntity": entity, "associationType": kind, "status": a["status"],
           "creationTime": a["creationTime"], "lastUpdatedTime": a["lastUpdatedTime"],
           "external": a.get("external", False)}
    if a.get("statusMessage"):
        out["statusMessage"] = a["statusMessage"]
    return out


def _ram_resource_type(layer, call, arn):
    """The RAM resource type of an ARN the caller owns in this region; MalformedArnException for
    what is no ARN, UnknownResourceException for what the caller doesn't have."""
    m = ARN_RE.fullmatch(arn or "")
    if not m:
        raise AwsError("MalformedArnException", 400, f"The ARN {arn} is malformed.")
    service, region, account, rest = m.groups()
    st = layer.profiles_state
    if service == "route53profiles" and rest.startswith("profile/"):
        p = st.profiles.get(rest.split("/", 1)[1])
        if p and p["Arn"] == arn and p["OwnerId"] == call.account and p["region"] == call.region:
            return "route53profiles:Profile"
    elif service == "ec2" and rest.startswith("transit-gateway/"):
        t = layer.tgw_state.tgws.get(rest.split("/", 1)[1])  # the layer's transit gateways
        if (t and t["arn"] == arn and t["owner"] == call.account and t["region"] == call.region
                and _life(t) not in (None, "deleting", "deleted")):
            return "ec2:TransitGateway"
    raise _ram_unknown(f"The resource {arn} does not exist or is not owned by account {call.account} "
                       f"in {call.region} (the emulator shares Route 53 Profiles and transit gateways only).")


def _check_principals(call, principals):
    for pr in principals:
        if not isinstance(pr, str) or not ACCOUNT_RE.fullmatch(pr):
            raise _ram_invalid(f"Principal {pr} is not valid: the emulator accepts 12-digit AWS account ids only.")
        if pr == call.account:
            raise _ram_invalid(f"The resource share owner {pr} can't be a principal of its own resource share.")


def _add_to_share(layer, call, share, resource_arns, principals):
    """Associates resources and principals; answers the new associations."""
    st = layer.profiles_state
    types = {arn: _ram_resource_type(layer, call, arn) for arn in resource_arns}
    _check_principals(call, principals)
    for pr in principals:
        if not share["allowExternalPrincipals"] and not st.same_org(share["owner"], pr):
            raise AwsError("OperationNotPermittedException", 400,
                           f"Principal {pr} is not in your organization and the resource share does not "
                           "allow external principals.")
    now, out = _now(), []
    for arn in resource_arns:
        a = share["resources"].get(arn)
        if a is None or a["status"] != "ASSOCIATED":
            a = share["resources"][arn] = {"status": "ASSOCIATED", "creationTime": now, "lastUpdatedTime": now,
                                           "type": types[arn]}
        out.append(_assoc_view(share, "RESOURCE", arn, a))
    for pr in principals:
        a = share["principals"].get(pr)
        if a is None or a["status"] in ("DISASSOCIATED", "FAILED"):
            external = not st.same_org(share["owner"], pr)
            a = share["principals"][pr] = {"status": "ASSOCIATING" if external else "ASSOCIATED",
                                           "creationTime": now, "lastUpdatedTime": now, "external": external}
            if external:  # an invitation the receiver has to accept
                inv_arn = f"arn:aws:ram:{call.region}:{share['owner']}:resource-share-invitation/{uuid.uuid4()}"
                st.invitations[inv_arn] = {"resourceShareInvitationArn": inv_arn, "resourceShareName": share["name"],
                                           "resourceShareArn": share["resourceShareArn"],
                                           "senderAccountId": share["owner"], "receiverAccountId": pr,
                                           "invitationTimestamp": now, "status": "PENDING"}
        out.append(_assoc_view(share, "PRINCIPAL", pr, a))
    share["lastUpdatedTime"] = now
    return out


def _owned_share(layer, call, arn):
    share = layer.profiles_state.shares.get(arn or "")
    if not ARN_RE.fullmatch(arn or ""):
        raise AwsError("MalformedArnException", 400, f"The ARN {arn} is malformed.")
    if share is None or share["owner"] != call.account or share["region"] != call.region:
        raise _ram_unknown(f"ResourceShare {arn} could not be found.")
    if share["status"] == "DELETED":
        raise AwsError("InvalidStateTransitionException", 400, f"ResourceShare {arn} is DELETED.")
    return share


def _list_param(body, name):
    value = body.get(name) or []
    if not isinstance(value, list):
        raise _ram_invalid(f"{name} must be a list")
    return value


def create_resource_share(layer, call):
    body = _body(call)
    if not body.get("name"):
        raise _ram_invalid("name is required")
    token = body.get("clientToken")
    params = {k: v for k, v in body.items() if k != "clientToken"}
    with layer.lock:
        replay = _client_token_replay(layer, call, token, params, _ram_mismatch)
        if replay is not None:
            return replay
        now = _now()
        arn = f"arn:aws:ram:{call.region}:{call.account}:resource-share/{uuid.uuid4()}"
        share = {"resourceShareArn": arn, "name": body["name"], "owningAccountId": call.account,
                 "allowExternalPrincipals": body.get("allowExternalPrincipals", True), "status": "ACTIVE",
                 "tags": body.get("tags") or [], "creationTime": now, "lastUpdatedTime": now,
                 "featureSet": "STANDARD", "owner": call.account, "region": call.region,
                 "resources": {}, "principals": {}}
        _add_to_share(layer, call, share, _list_param(body, "resourceArns"), _list_param(body, "principals"))
        layer.profiles_state.shares[arn] = share  # only once everything was valid
        answer = _json({"resourceShare": _share_view(share), "clientToken": token or str(uuid.uuid4())})
        _client_token_keep(layer, call, token, params, answer)
        return answer


def _ram_mutation(layer, call, work):
    """A RAM change carrying `clientToken`: same token and parameters answer the first answer."""
    body = _body(call)
    token = body.get("clientToken")
    params = {k: v for k, v in body.items() if k != "clientToken"}
    with layer.lock:
        replay = _client_token_replay(layer, call, token, params, _ram_mismatch)
        if replay is not None:
            return replay
        payload = work(body)
        answer = _json({**payload, "clientToken": token or str(uuid.uuid4())})
        _client_token_keep(layer, call, token, params, answer)
        return answer


def associate_resource_share(layer, call):
    def work(body):
        share = _owned_share(layer, call, body.get("resourceShareArn"))
        return {"resourceShareAssociations": _add_to_share(
            layer, call, share, _list_param(body, "resourceArns"), _list_param(body, "principals"))}
    return _ram_mutation(layer, call, work)


def disassociate_resource_share(layer, call):
    st = layer.profiles_state

    def work(body):
        share = _owned_share(layer, call, body.get("resourceShareArn"))
        now, out = _now(), []
        resources, principals = _list_param(body, "resourceArns"), _list_param(body, "principals")
        for arn in resources:
            a = share["resources"].get(arn)
            if a is None or a["status"] == "DISASSOCIATED":
                raise _ram_unknown(f"Resource {arn} is not associated with resource share "
                                   f"{share['resourceShareArn']}.")
        for pr in principals:
            a = share["principals"].get(pr)
            if a is None or a["status"] == "DISASSOCIATED":
                raise _ram_unknown(f"Principal {pr} is not associated with resource share "
                                   f"{share['resourceShareArn']}.")
        for kind, entities, table in (("RESOURCE", resources, share["resources"]),
                                      ("PRINCIPAL", principals, share["principals"])):
            for e in entities:
                a = table[e]
                a.update(status="DISASSOCIATED", lastUpdatedTime=now)
                out.append(_assoc_view(share, kind, e, a))
                if kind == "PRINCIPAL":  # a pending invitation can no longer be accepted
                    for inv in st.invitations.values():
                        if (inv["resourceShareArn"] == share["resourceShareArn"]
                                and inv["receiverAccountId"] == e and inv["status"] == "PENDING"):
                            inv["status"] = "EXPIRED"
        share["lastUpdatedTime"] = now
        return {"resourceShareAssociations": out}
    return _ram_mutation(layer, call, work)


def delete_resource_share(layer, call):
    arn, token = call.query.get("resourceShareArn"), call.query.get("clientToken")
    st = layer.profiles_state
    with layer.lock:
        params = {"resourceShareArn": arn}
        replay = _client_token_replay(layer, call, token, params, _ram_mismatch)
        if replay is not None:
            return replay
        share = _owned_share(layer, call, arn)
        now = _now()
        share.update(status="DELETED", lastUpdatedTime=now)
        for table in (share["resources"], share["principals"]):
            for a in table.values():
                a.update(status="DISASSOCIATED", lastUpdatedTime=now)
        for inv in st.invitations.values():
            if inv["resourceShareArn"] == arn and inv["status"] == "PENDING":
                inv["status"] = "EXPIRED"
        answer = _json({"returnValue": True, "clientToken": token or str(uuid.uuid4())})
        _client_token_keep(layer, call, token, params, answer)
        return answer


def _resource_owner(body):
    owner = body.get("resourceOwner")
    if owner not in ("SELF", "OTHER-ACCOUNTS"):
        raise _ram_invalid("resourceOwner must be SELF or OTHER-ACCOUNTS")
    return owner


def _shares_seen(st, call, owner):
    """SELF: the caller's shares in this region; OTHER-ACCOUNTS: shares whose principal the caller
    is, once ASSOCIATED (after accepting the invitation, or at once inside an organization)."""
    out = []
    for s in st.shares.values():
        if s["region"] != call.region:
            continue
        if owner == "SELF" and s["owner"] == call.account:
            out.append(s)
        elif owner == "OTHER-ACCOUNTS" and s["owner"] != call.account \
                and s["principals"].get(call.account, {}).get("status") == "ASSOCIATED":
            out.append(s)
    out.sort(key=lambda s: (s["creationTime"], s["resourceShareArn"]))
    return out


def get_resource_shares(layer, call):
    body = _body(call)
    st = layer.profiles_state
    with layer.lock:
        shares = _shares_seen(st, call, _resource_owner(body))
        arns = body.get("resourceShareArns")
        if arns:
            shares = [s for s in shares if s["resourceShareArn"] in arns]
        if body.get("name"):
            shares = [s for s in shares if s["name"] == body["name"]]
        if body.get("resourceShareStatus"):
            shares = [s for s in shares if s["status"] == body["resourceShareStatus"]]
        for f in body.get("tagFilters") or []:
            shares = [s for s in shares if any(t["key"] == f.get("tagKey") and (
                not f.get("tagValues") or t["value"] in f["tagValues"]) for t in s["tags"])]
        page, token = _page(shares, call, "maxResults", "nextToken", 500, body)
        out = {"resourceShares": [_share_view(s) for s in page]}
        if token:
            out["nextToken"] = token
        return _json(out)


def get_resource_share_associations(layer, call):
    body = _body(call)
    kind = body.get("associationType")
    if kind not in ("PRINCIPAL", "RESOURCE"):
        raise _ram_invalid("associationType must be PRINCIPAL or RESOURCE")
    if kind == "PRINCIPAL" and body.get("resourceArn") or kind == "RESOURCE" and body.get("principal"):
        raise _ram_invalid("resourceArn goes with associationType RESOURCE, principal with PRINCIPAL")
    st = layer.profiles_state
    with layer.lock:
        items = []
        for s in _shares_seen(st, call, "SELF"):
            if body.get("resourceShareArns") and s["resourceShareArn"] not in body["resourceShareArns"]:
                continue
            table = s["principals"] if kind == "PRINCIPAL" else s["resources"]
            for entity, a in table.items():
                if body.get("principal") not in (None, entity) or body.get("resourceArn") not in (None, entity):
                    continue
                if body.get("associationStatus") not in (None, a["status"]):
                    continue
                items.append(_assoc_view(s, kind, entity, a))
        page, token = _page(items, call, "maxResults", "nextToken", 500, body)
        out = {"resourceShareAssociations": page}
        if token:
            out["nextToken"] = token
        return _json(out)


def get_resource_share_invitations(layer, call):
    body = _body(call)
    st = layer.profiles_state
    with layer.lock:
        mine = [i for i in st.invitations.values() if i["receiverAccountId"] == call.account
                and i["resourceShareInvitationArn"].split(":")[3] == call.region]
        wanted = body.get("resourceShareInvitationArns")
        if wanted:
            for arn in wanted:
                if not ARN_RE.fullmatch(arn):
                    raise AwsError("MalformedArnException", 400, f"The ARN {arn} is malformed.")
                if not any(i["resourceShareInvitationArn"] == arn for i in mine):
                    raise AwsError("ResourceShareInvitationArnNotFoundException", 400,
                                   f"ResourceShareInvitation {arn} could not be found.")
            mine = [i for i in mine if i["resourceShareInvitationArn"] in wanted]
        if body.get("resourceShareArns"):
            mine = [i for i in mine if i["resourceShareArn"] in body["resourceShareArns"]]
        mine.sort(key=lambda i: (i["invitationTimestamp"], i["resourceShareInvitationArn"]))
        page, token = _page(mine, call, "maxResults", "nextToken", 500, body)
        out = {"resourceShareInvitations": [dict(i) for i in page]}
        if token:
            out["nextToken"] = token
        return _json(out)


def accept_resource_share_invitation(layer, call):
    st = layer.profiles_state

    def work(body):
        arn = body.get("resourceShareInvitationArn") or ""
        if not ARN_RE.fullmatch(arn):
            raise AwsError("MalformedArnException", 400, f"The ARN {arn} is malformed.")
        inv = st.invitations.get(arn)
        # Another account's invitation is not found (our choice: AWS does not document it).
        if inv is None or inv["receiverAccountId"] != call.account:
            raise AwsError("ResourceShareInvitationArnNotFoundException", 400,
                           f"ResourceShareInvitation {arn} could not be found.")
        if inv["status"] == "ACCEPTED":
            raise AwsError("ResourceShareInvitationAlreadyAcceptedException", 400,
                           f"ResourceShareInvitation {arn} has already been accepted.")
        if inv["status"] == "REJECTED":
            raise AwsError("ResourceShareInvitationAlreadyRejectedException", 400,
                           f"ResourceShareInvitation {arn} has already been rejected.")
        if inv["status"] == "EXPIRED":
            raise AwsError("ResourceShareInvitationExpiredException", 400,
                           f"ResourceShareInvitation {arn} has expired.")
        now = _now()
        inv["status"] = "ACCEPTED"
        share = st.shares[inv["resourceShareArn"]]
        share["principals"][call.account].update(status="ASSOCIATED", lastUpdatedTime=now)
        return {"resourceShareInvitation": dict(inv)}
    return _ram_mutation(layer, call, work)


def reject_resource_share_invitation(layer, call):
    st = layer.profiles_state

    def work(body):
        arn = body.get("resourceShareInvitationArn") or ""
        if not ARN_RE.fullmatch(arn):
            raise AwsError("MalformedArnException", 400, f"The ARN {arn} is malformed.")
        inv = st.invitations.get(arn)
        if inv is None or inv["receiverAccountId"] != call.account:
            raise AwsError("ResourceShareInvitationArnNotFoundException", 400,
                           f"ResourceShareInvitation {arn} could not be found.")
        for status, code in (("ACCEPTED", "ResourceShareInvitationAlreadyAcceptedException"),
                             ("REJECTED", "ResourceShareInvitationAlreadyRejectedException"),
                             ("EXPIRED", "ResourceShareInvitationExpiredException")):
            if inv["status"] == status:
                raise AwsError(code, 400, f"ResourceShareInvitation {arn} is {status.lower()}.")
        inv["status"] = "REJECTED"
        share = st.shares[inv["resourceShareArn"]]
        share["principals"][call.account].update(status="DISASSOCIATED", lastUpdatedTime=_now())
        return {"resourceShareInvitation": dict(inv)}
    return _ram_mutation(layer, call, work)


def list_resources(layer, call):
    body = _body(call)
    st = layer.profiles_state
    with layer.lock:
        owner = _resource_owner(body)
        items = []
        for s in _shares_seen(st, call, owner):
            if body.get("resourceShareArns") and s["resourceShareArn"] not in body["resourceShareArns"]:
                continue
            if body.get("principal") and (owner != "SELF" or s["principals"].get(body["principal"], {})
                                          .get("status") not in ("ASSOCIATED", "ASSOCIATING")):
                continue
            for arn, a in s["resources"].items():
                if a["status"] != "ASSOCIATED":
                    continue
                if body.get("resourceArns") and arn not in body["resourceArns"]:
                    continue
                if body.get("resourceType") and body["resourceType"].lower() != a["type"].lower():
                    continue
                items.append({"arn": arn, "type": a["type"], "resourceShareArn": s["resourceShareArn"],
                              "status": "AVAILABLE", "creationTime": a["creationTime"],
                              "lastUpdatedTime": a["lastUpdatedTime"], "resourceRegionScope": "REGIONAL"})
        page, token = _page(items, call, "maxResults", "nextToken", 500, body)
        out = {"resources": page}
        if token:
            out["nextToken"] = token
        return _json(out)


# ==================================================================== EC2 transit gateways
# Ours entirely (moto 5.2.5's transit gateways are per account: another account can't see or
# attach to them, attachments are `available` at once, VPCs and subnets aren't checked, an
# attachment may be associated with many route tables, nothing is refused on delete). VPCs,
# subnets and VPC route tables stay moto's; a VPC route to a transit gateway is moto's route
# with our gateway id put in. Tags are moto's per-account tag store: each account sees its own.
TGW_TIMING_DEFAULTS = {"pending_ms": 0, "deleting_ms": 0, "deleted_retention_ms": 0}
TGW_OPTION_DEFAULTS = {"AmazonSideAsn": "64512", "AutoAcceptSharedAttachments": "disable",
                       "DefaultRouteTableAssociation": "enable", "DefaultRouteTablePropagation": "enable",
                       "VpnEcmpSupport": "enable", "DnsSupport": "enable",
                       "SecurityGroupReferencingSupport": "disable", "MulticastSupport": "disable"}
VPC_ATTACHMENT_OPTION_DEFAULTS = {"DnsSupport": "enable", "SecurityGroupReferencingSupport": "enable",
                                  "Ipv6Support": "disable", "ApplianceModeSupport": "disable"}
LIVE_ATTACHMENT = ("pendingAcceptance", "pending", "available", "modifying")  # "non-deleted"


class TgwState:
    """Transit gateways, their route tables, VPC attachments, associations and propagations."""

    def __init__(self):
        self.tgws = {}    # tgw id -> dict
        self.rtbs = {}    # tgw-rtb id -> dict
        self.atts = {}    # tgw-attach id -> dict
        self.assoc = {}   # attachment id -> route table id (one route table per attachment)
        self.props = {}   # (route table id, attachment id) -> creation order
        self.timing = dict(TGW_TIMING_DEFAULTS)

    def set_timing(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        for key, value in spec.items():
            if key not in TGW_TIMING_DEFAULTS:
                raise ValueError(f"unknown key {key}: use " + ", ".join(TGW_TIMING_DEFAULTS))
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer (milliseconds)")
        self.timing.update(spec)
        return dict(self.timing)

    def begin(self, obj, state):
        """Puts `obj` in `state` now, with the delays configured at this moment."""
        obj["state"], obj["t"] = state, time.monotonic()
        obj["d"] = {"pending": self.timing["pending_ms"], "deleting": self.timing["deleting_ms"]}.get(state, 0)
        obj["keep"] = self.timing["deleted_retention_ms"]

    def purge(self):
        for table in (self.tgws, self.rtbs, self.atts):
            for rid in [r for r, o in table.items() if _life(o) is None]:
                del table[rid]


def _life(o):
    """The state `o` is in now (`pending` becomes `available`, `deleting` becomes `deleted`,
    each after its delay; a deleted or rejected one is gone after the retention), None = gone."""
    s, el = o["state"], (time.monotonic() - o["t"]) * 1000.0
    if s == "pending":
        return "available" if el >= o["d"] else "pending"
    if s == "deleting":
        if el < o["d"]:
            return "deleting"
        return "deleted" if el < o["d"] + o["keep"] else None
    if s == "rejected":
        return "rejected" if el < o["keep"] else None
    return s


def _iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _x(name, value):
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def _items(name, inner_list):
    return f"<{name}>" + "".join(f"<item>{i}</item>" for i in inner_list) + f"</{name}>"


def _ec2_answer(call, inner):
    return 200, [("Content-Type", "text/xml;charset=UTF-8")], (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{call.operation}Response xmlns="{EC2_NS}/">'
        f"<requestId>{_rid()}</requestId>{inner}</{call.operation}Response>").encode()


def _backend(call):
    return ec2_backends[call.account][call.region]


def _own_tags(call, rid):
    """The caller's account's tags of `rid` (moto's per-account tag store)."""
    return dict(_backend(call).tags.get(rid) or {})


def _tag_set(call, rid):
    return _items("tagSet", [_x("key", k) + _x("value", v) for k, v in sorted(_own_tags(call, rid).items())])


def _tag_specs(call, resource_type):
    """Tags of the `TagSpecification.N` of `resource_type`; another type: InvalidParameterValue."""
    f, tags = call.form, {}
    for k, v in f.items():
        m = re.fullmatch(r"TagSpecifications?\.(\d+)\.ResourceType", k)
        if not m:
            continue
        if v != resource_type:
            raise AwsError("InvalidParameterValue", 400,
                           f"'{v}' is not a valid taggable resource type for this operation.")
        n = m.group(1)
        for kk, key in f.items():
            if re.fullmatch(rf"TagSpecifications?\.{n}\.Tags?\.\d+\.Key", kk):
                tags[key] = f.get(kk[:-3] + "Value", "")  # the botocore/SDK spelling varies by operation
    return tags


def _numbered(form, prefix):
    """`prefix.1`, `prefix.2`, ... in numeric order."""
    found = []
    for k, v in form.items():
        m = re.fullmatch(rf"{re.escape(prefix)}\.(\d+)", k)
        if m:
            found.append((int(m.group(1)), v))
    return [v for _, v in sorted(found)]


def _filters(form):
    """{filter name: [values]} of `Filter.N.Name` / `Filter.N.Value.M`."""
    out = {}
    for k, v in form.items():
        m = re.fullmatch(r"Filter\.(\d+)\.Name", k)
        if m:
            out.setdefault(v, []).extend(_numbered(form, f"Filter.{m.group(1)}.Value"))
    return out


def _match(filters, fields, call, rid, known):
    """Whether an item passes every filter: `fields` maps filter names to the item's value(s);
    `tag:<key>` and `tag-key` look at the caller's own tags. A filter name not in `known`
    is InvalidParameterValue."""
    for name, values in filters.items():
        if name.startswith("tag:"):
            tv = _own_tags(call, rid).get(name[4:])
            if tv is None or tv not in values:
                return False
        elif name == "tag-key":
            if not set(_own_tags(call, rid)) & set(values):
                return False
        elif name in known:
            have = fields.get(name)
            have = have if isinstance(have, (list, tuple, set)) else [have]
            if not any(str(h) in values for h in have if h is not None):
                return False
        else:
            raise AwsError("InvalidParameterValue", 400, f"The filter '{name}' is invalid")
    return True


def _ec2_page(call, items, set_name, render):
    """One page of a describe: `MaxResults` 5-1000 (all when absent), `NextToken` ours."""
    raw, token = call.form.get("MaxResults"), call.form.get("NextToken")
    size = len(items) or 1
    if raw not in (None, ""):
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 5 <= size <= 1000:
            raise AwsError("InvalidParameterValue", 400,
                           f"Value ( {raw} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.")
    start = 0
    if token:
        m = re.fullmatch(r"emu-(\d+)", token)
        if not m or int(m.group(1)) > len(items):
            raise AwsError("InvalidPaginationToken", 400, f"Invalid pagination token: {token}")
        start = int(m.group(1))
    page, end = items[start:start + size], start + size
    return _items(set_name, [render(i) for i in page]) + (_x("nextToken", f"emu-{end}") if end < len(items) else "")


# ---------------------------------------------------------------- lookups and views
def _tgw_not_found(tgw_id):
    return AwsError("InvalidTransitGatewayID.NotFound", 400,
                    f"Transit Gateway {tgw_id} was deleted or does not exist.")


def _visible_tgw(layer, call, tgw_id):
    """The transit gateway when the caller owns it or it is shared with the caller (RAM), else None."""
    t = layer.tgw_state.tgws.get(tgw_id or "")
    if t is None or t["region"] != call.region or _life(t) is None:
        return None
    if t["owner"] == call.account or layer.profiles_state.shared(t["owner"], t["region"], t["arn"], call.account):
        return t
    return None


def _owned_tgw(layer, call, tgw_id):
    t = layer.tgw_state.tgws.get(tgw_id or "")
    if t is None or t["owner"] != call.account or t["region"] != call.region or _life(t) is None:
        raise _tgw_not_found(tgw_id)
    return t


def _rtb_not_found(rtb_id):
    return AwsError("InvalidRouteTableID.NotFound", 400, f"Transit Gateway Route Table {rtb_id} was deleted or does not exist.")


def _owned_rtb(layer, call, rtb_id, usable=True):
    r = layer.tgw_state.rtbs.get(rtb_id or "")
    if r is None or r["owner"] != call.account or r["region"] != call.region or _life(r) is None \
            or (usable and _life(r) in ("deleting", "deleted")):
        raise _rtb_not_found(rtb_id)
    return r


def _att_not_found(att_id):
    return AwsError("InvalidTransitGatewayAttachmentID.NotFound", 400,
                    f"Transit Gateway Attachment {att_id} was deleted or does not exist.")


def _visible_att(layer, call, att_id):
    """The attachment when the caller owns its VPC or its transit gateway, else None."""
    a = layer.tgw_state.atts.get(att_id or "")
    if a is None or a["region"] != call.region or _life(a) is None:
        return None
    return a if call.account in (a["vpc_owner"], a["tgw_owner"]) else None


def _tgw_xml(layer, call, t):
    o = t["options"]
    opts = (_x("amazonSideAsn", o["AmazonSideAsn"]) + _items("transitGatewayCidrBlocks", [])
            + _x("autoAcceptSharedAttachments", o["AutoAcceptSharedAttachments"])
            + _x("defaultRouteTableAssociation", o["DefaultRouteTableAssociation"])
            + _x("associationDefaultRouteTableId", t.get("default_rtb") if o["DefaultRouteTableAssociation"] == "enable" else None)
            + _x("defaultRouteTablePropagation", o["DefaultRouteTablePropagation"])
            + _x("propagationDefaultRouteTableId", t.get("default_rtb") if o["DefaultRouteTablePropagation"] == "enable" else None)
            + _x("vpnEcmpSupport", o["VpnEcmpSupport"]) + _x("dnsSupport", o["DnsSupport"])
            + _x("securityGroupReferencingSupport", o["SecurityGroupReferencingSupport"])
            + _x("multicastSupport", o["MulticastSupport"]))
    return (_x("transitGatewayId", t["id"]) + _x("transitGatewayArn", t["arn"]) + _x("state", t.get("shown") or _life(t))
            + _x("ownerId", t["owner"]) + _x("description", t["description"]) + _x("creationTime", _iso(t["created"]))
            + f"<options>{opts}</options>" + _tag_set(call, t["id"]))


def _rtb_xml(call, r):
    return (_x("transitGatewayRouteTableId", r["id"]) + _x("transitGatewayId", r["tgw_id"])
            + _x("state", r.get("shown") or _life(r)) + _x("defaultAssociationRouteTable", r["default"])
            + _x("defaultPropagationRouteTable", r["default"]) + _x("creationTime", _iso(r["created"]))
            + _tag_set(call, r["id"]))


def _vpc_att_xml(call, a, state=None):
    opts = "".join(_x(k[0].lower() + k[1:], v) for k, v in a["options"].items())
    return (_x("transitGatewayAttachmentId", a["id"]) + _x("transitGatewayId", a["tgw_id"]) + _x("vpcId", a["vpc_id"])
            + _x("vpcOwnerId", a["vpc_owner"]) + _x("state", state or _life(a))
            + _items("subnetIds", [escape(s) for s in a["subnets"]]) + _x("creationTime", _iso(a["created"]))
            + f"<options>{opts}</options>" + _tag_set(call, a["id"]))


def _att_xml(layer, call, a):
    rtb = layer.tgw_state.assoc.get(a["id"])
    assoc = (f"<association>{_x('transitGatewayRouteTableId', rtb)}{_x('state', 'associated')}</association>"
             if rtb else "")
    return (_x("transitGatewayAttachmentId", a["id"]) + _x("transitGatewayId", a["tgw_id"])
            + _x("transitGatewayOwnerId", a["tgw_owner"]) + _x("resourceOwnerId", a["vpc_owner"])
            + _x("resourceType", "vpc") + _x("resourceId", a["vpc_id"]) + _x("state", _life(a)) + assoc
            + _x("creationTime", _iso(a["created"])) + _tag_set(call, a["id"]))


def _sorted_live(table, keep):
    return sorted((o for o in table.values() if _life(o) is not None and keep(o)), key=lambda o: (o["seq"], o["id"]))


_SEQ = iter(range(1, 1 << 62))


# ---------------------------------------------------------------- transit gateways
def create_transit_gateway(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        tags = _tag_specs(call, "transit-gateway")
        opts = dict(TGW_OPTION_DEFAULTS)
        for k in opts:
            if call.form.get(f"Options.{k}") not in (None, ""):
                opts[k] = call.form[f"Options.{k}"]
        mine = [t for t in st.tgws.values() if t["owner"] == call.account and t["region"] == call.region
                and _life(t) not in (None, "deleting", "deleted")]
        limit = layer.profiles_state.limits["transit_gateways_per_region"]
        if len(mine) >= limit:
            raise AwsError("TransitGatewayLimitExceeded", 400,
                           f"You've reached the limit of {limit} transit gateways in this Region.")
        tid = random_transit_gateway_id()
        t = {"id": tid, "arn": f"arn:aws:ec2:{call.region}:{call.account}:transit-gateway/{tid}",
             "owner": call.account, "region": call.region, "description": call.form.get("Description"),
             "options": opts, "created": time.time(), "seq": next(_SEQ)}
        st.begin(t, "pending")
        st.tgws[tid] = t
        if tags:
            _backend(call).create_tags([tid], tags)
        if "enable" in (opts["DefaultRouteTableAssociation"], opts["DefaultRouteTablePropagation"]):
            t["default_rtb"] = _new_rtb(st, call, t, default=True)["id"]
        return _ec2_answer(call, f"<transitGateway>{_tgw_xml(layer, call, {**t, 'shown': 'pending'})}</transitGateway>")


def describe_transit_gateways(layer, call):
    with layer.lock:
        layer.tgw_state.purge()
        ids = _numbered(call.form, "TransitGatewayIds")
        for tid in ids:
            if _visible_tgw(layer, call, tid) is None:
                raise AwsError("InvalidTransitGatewayID.NotFound", 400, f"The transitGateway ID '{tid}' does not exist.")
        filters = _filters(call.form)

        def keep(t):
            if ids and t["id"] not in ids or _visible_tgw(layer, call, t["id"]) is None:
                return False
            return _match(filters, {"transit-gateway-id": t["id"], "state": _life(t), "owner-id": t["owner"],
                                    "options.amazon-side-asn": t["options"]["AmazonSideAsn"],
                                    "description": t["description"]}, call, t["id"],
                          ("transit-gateway-id", "state", "owner-id", "options.amazon-side-asn", "description"))
        items = _sorted_live(layer.tgw_state.tgws, keep)
        return _ec2_answer(call, _ec2_page(call, items, "transitGatewaySet", lambda t: _tgw_xml(layer, call, t)))


def delete_transit_gateway(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        tid = call.form.get("TransitGatewayId")
        t = _owned_tgw(layer, call, tid)
        if _life(t) in ("deleting", "deleted"):
            raise AwsError("IncorrectState", 400, f"{tid} is in invalid state")
        live = [a["id"] for a in st.atts.values() if a["tgw_id"] == tid and _life(a) in LIVE_ATTACHMENT + ("deleting",)]
        if live:
            raise AwsError("IncorrectState", 400, f"{tid} has non-deleted Transit Gateway Attachments: "
                           + ", ".join(sorted(live)[:5]))
        st.begin(t, "deleting")
        for r in st.rtbs.values():
            if r["tgw_id"] == tid and _life(r) not in (None, "deleting", "deleted"):
                st.begin(r, "deleting")
        now = _now()
        for share in layer.profiles_state.shares.values():  # a deleted resource leaves every share
            ra = share["resources"].get(t["arn"])
            if ra and ra["status"] == "ASSOCIATED":
                ra.update(status="DISASSOCIATED", lastUpdatedTime=now)
        return _ec2_answer(call, f"<transitGateway>{_tgw_xml(layer, call, {**t, 'shown': 'deleting'})}</transitGateway>")


# ---------------------------------------------------------------- route tables
def _new_rtb(st, call, t, default=False, tags=None):
    rid = random_transit_gateway_route_table_id()
    r = {"id": rid, "tgw_id": t["id"], "owner": t["owner"], "region": t["region"], "default": default,
         "created": time.time(), "seq": next(_SEQ)}
    st.begin(r, "pending")
    st.rtbs[rid] = r
    if tags:
        _backend(call).create_tags([rid], tags)
    return r


def create_transit_gateway_route_table(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        tags = _tag_specs(call, "transit-gateway-route-table")
        t = _owned_tgw(layer, call, call.form.get("TransitGatewayId"))
        if _life(t) != "available":
            raise AwsError("IncorrectState", 400, f"{t['id']} is in invalid state")
        n = sum(1 for r in st.rtbs.values() if r["tgw_id"] == t["id"] and _life(r) not in (None, "deleting", "deleted"))
        limit = layer.profiles_state.limits["route_tables_per_transit_gateway"]
        if n >= limit:
            raise AwsError("TransitGatewayRouteTableLimitExceeded", 400,
                           f"Transit gateway {t['id']} has reached the limit of {limit} route tables.")
        r = _new_rtb(st, call, t, tags=tags)
        return _ec2_answer(call, f"<transitGatewayRouteTable>{_rtb_xml(call, {**r, 'shown': 'pending'})}"
                                 "</transitGatewayRouteTable>")


def describe_transit_gateway_route_tables(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        ids = _numbered(call.form, "TransitGatewayRouteTableIds")
        for rid in ids:
            _owned_rtb(layer, call, rid, usable=False)
        filters = _filters(call.form)
        known = ("transit-gateway-id", "transit-gateway-route-table-id", "state",
                 "default-association-route-table", "default-propagation-route-table")

        def keep(r):
            if r["owner"] != call.account or r["region"] != call.region or ids and r["id"] not in ids:
                return False
            d = "true" if r["default"] else "false"
            return _match(filters, {"transit-gateway-id": r["tgw_id"], "transit-gateway-route-table-id": r["id"],
                                    "state": _life(r), "default-association-route-table": d,
                                    "default-propagation-route-table": d}, call, r["id"], known)
        items = _sorted_live(st.rtbs, keep)
        return _ec2_answer(call, _ec2_page(call, items, "transitGatewayRouteTables", lambda r: _rtb_xml(call, r)))


def delete_transit_gateway_route_table(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r = _owned_rtb(layer, call, call.form.get("TransitGatewayRouteTableId"))
        assocs = [a for a, rt in st.assoc.items() if rt == r["id"]]
        props = [a for (rt, a) in st.props if rt == r["id"]]
        if assocs or props:
            raise AwsError("IncorrectState", 400,
                           f"Transit Gateway Route Table {r['id']} has {len(assocs)} association(s) and "
                           f"{len(props)} propagation(s); remove them before deleting it.")
        st.begin(r, "deleting")
        t = st.tgws.get(r["tgw_id"])
        if t is not None and t.get("default_rtb") == r["id"]:
            t.pop("default_rtb")
        return _ec2_answer(call, f"<transitGatewayRouteTable>{_rtb_xml(call, {**r, 'shown': 'deleting'})}"
                                 "</transitGatewayRouteTable>")


def _rtb_and_att(layer, call):
    """(route table, attachment) of an associate/propagate request by the route table's owner."""
    r = _owned_rtb(layer, call, call.form.get("TransitGatewayRouteTableId"))
    att_id = call.form.get("TransitGatewayAttachmentId")
    a = _visible_att(layer, call, att_id)
    if a is None or a["tgw_id"] != r["tgw_id"]:
        raise _att_not_found(att_id)
    return r, a


def _assoc_xml(r_id, a, state):
    return (_x("transitGatewayRouteTableId", r_id) + _x("transitGatewayAttachmentId", a["id"])
            + _x("resourceId", a["vpc_id"]) + _x("resourceType", "vpc") + _x("state", state))


def associate_transit_gateway_route_table(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r, a = _rtb_and_att(layer, call)
        if a["id"] in st.assoc:
            raise AwsError("Resource.AlreadyAssociated", 400,
                           f"Transit Gateway Attachment {a['id']} is already associated to a route table.")
        if _life(a) != "available":
            raise AwsError("IncorrectState", 400, f"{a['id']} is in invalid state")
        st.assoc[a["id"]] = r["id"]
        return _ec2_answer(call, f"<association>{_assoc_xml(r['id'], a, 'associating')}</association>")


def disassociate_transit_gateway_route_table(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r, a = _rtb_and_att(layer, call)
        if st.assoc.get(a["id"]) != r["id"]:
            raise AwsError("InvalidAssociation.NotFound", 400,
                           f"Transit Gateway Attachment {a['id']} is not associated with route table {r['id']}.")
        del st.assoc[a["id"]]
        return _ec2_answer(call, f"<association>{_assoc_xml(r['id'], a, 'disassociating')}</association>")


def get_transit_gateway_route_table_associations(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r = _owned_rtb(layer, call, call.form.get("TransitGatewayRouteTableId"), usable=False)
        filters = _filters(call.form)
        known = ("transit-gateway-attachment-id", "resource-id", "resource-type")
        items = [st.atts[a] for a, rt in st.assoc.items() if rt == r["id"] and a in st.atts
                 and _match(filters, {"transit-gateway-attachment-id": a, "resource-id": st.atts[a]["vpc_id"],
                                      "resource-type": "vpc"}, call, a, known)]
        items.sort(key=lambda a: (a["seq"], a["id"]))
        return _ec2_answer(call, _ec2_page(call, items, "associations", lambda a: (
            _x("transitGatewayAttachmentId", a["id"]) + _x("resourceId", a["vpc_id"]) + _x("resourceType", "vpc")
            + _x("state", "associated"))))


def _prop_xml(r_id, a, state):
    return (_x("transitGatewayAttachmentId", a["id"]) + _x("resourceId", a["vpc_id"]) + _x("resourceType", "vpc")
            + _x("transitGatewayRouteTableId", r_id) + _x("state", state))


def enable_transit_gateway_route_table_propagation(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r, a = _rtb_and_att(layer, call)
        if (r["id"], a["id"]) in st.props:
            raise AwsError("TransitGatewayRouteTablePropagation.Duplicate", 400,
                           f"Propagation {a['id']} already exists in Transit Gateway Route Table {r['id']}.")
        if _life(a) != "available":
            raise AwsError("IncorrectState", 400, f"{a['id']} is in invalid state")
        st.props[(r["id"], a["id"])] = next(_SEQ)
        return _ec2_answer(call, f"<propagation>{_prop_xml(r['id'], a, 'enabling')}</propagation>")


def disable_transit_gateway_route_table_propagation(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r, a = _rtb_and_att(layer, call)
        if (r["id"], a["id"]) not in st.props:
            raise AwsError("TransitGatewayRouteTablePropagation.NotFound", 400,
                           f"Propagation {a['id']} does not exist in Transit Gateway Route Table {r['id']}.")
        del st.props[(r["id"], a["id"])]
        return _ec2_answer(call, f"<propagation>{_prop_xml(r['id'], a, 'disabling')}</propagation>")


def get_transit_gateway_route_table_propagations(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r = _owned_rtb(layer, call, call.form.get("TransitGatewayRouteTableId"), usable=False)
        filters = _filters(call.form)
        known = ("transit-gateway-attachment-id", "resource-id", "resource-type")
        items = [st.atts[a] for (rt, a), _ in sorted(st.props.items(), key=lambda kv: kv[1])
                 if rt == r["id"] and a in st.atts
                 and _match(filters, {"transit-gateway-attachment-id": a, "resource-id": st.atts[a]["vpc_id"],
                                      "resource-type": "vpc"}, call, a, known)]
        return _ec2_answer(call, _ec2_page(call, items, "transitGatewayRouteTablePropagations", lambda a: (
            _x("transitGatewayAttachmentId", a["id"]) + _x("resourceId", a["vpc_id"]) + _x("resourceType", "vpc")
            + _x("state", "enabled"))))


def _vpc_cidrs(a):
    try:
        v = ec2_backends[a["vpc_owner"]][a["region"]].vpcs.get(a["vpc_id"])
    except Exception:
        v = None
    if v is None:
        return []
    blocks = [x.get("cidr_block") for x in v.cidr_block_association_set
              if (x.get("cidr_block_state") or {}).get("state", "associated") == "associated"]
    return [c for c in blocks if c] or [v.cidr_block]


def search_transit_gateway_routes(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        r = _owned_rtb(layer, call, call.form.get("TransitGatewayRouteTableId"), usable=False)
        filters = _filters(call.form)
        if not filters:
            raise AwsError("MissingParameter", 400, "The request must contain the parameter Filters")
        routes = {}  # cidr -> [attachment]: propagated routes of `available` attachments
        for (rt, att_id), _ in sorted(st.props.items(), key=lambda kv: kv[1]):
            a = st.atts.get(att_id)
            if rt != r["id"] or a is None or _life(a) != "available":
                continue
            for cidr in _vpc_cidrs(a):
                routes.setdefault(cidr, []).append(a)
        out = []
        known = ("type", "state", "route-search.exact-match", "transit-gateway-attachment-id", "resource-id",
                 "resource-type", "attachment.transit-gateway-attachment-id", "attachment.resource-id",
                 "attachment.resource-type")
        for cidr in sorted(routes, key=lambda c: ipaddress.ip_network(c, strict=False)):
            atts = routes[cidr]
            ids, vpcs = [a["id"] for a in atts], [a["vpc_id"] for a in atts]
            if not _match(filters, {"type": "propagated", "state": "active", "route-search.exact-match": cidr,
                                    "transit-gateway-attachment-id": ids, "attachment.transit-gateway-attachment-id": ids,
                                    "resource-id": vpcs, "attachment.resource-id": vpcs, "resource-type": "vpc",
                                    "attachment.resource-type": "vpc"}, call, "", known):
                continue
            out.append(_x("destinationCidrBlock", cidr) + _items("transitGatewayAttachments", [
                _x("resourceId", a["vpc_id"]) + _x("transitGatewayAttachmentId", a["id"]) + _x("resourceType", "vpc")
                for a in atts]) + _x("type", "propagated") + _x("state", "active"))
        limit = int(call.form.get("MaxResults") or 1000)
        return _ec2_answer(call, _items("routeSet", out[:limit]) + _x("additionalRoutesAvailable", len(out) > limit))


# ---------------------------------------------------------------- VPC attachments
def _attach_to_default(st, t, a):
    """With the gateway's default route table options on, an attachment becoming `pending`
    (created in the owner's account, or accepted) is associated with / propagates to it."""
    rtb = t.get("default_rtb")
    if rtb is None or rtb not in st.rtbs:
        return
    if t["options"]["DefaultRouteTableAssociation"] == "enable" and a["id"] not in st.assoc:
        st.assoc[a["id"]] = rtb
    if t["options"]["DefaultRouteTablePropagation"] == "enable":
        st.props.setdefault((rtb, a["id"]), next(_SEQ))


def create_transit_gateway_vpc_attachment(layer, call):
    st = layer.tgw_state
    f = call.form
    with layer.lock:
        st.purge()
        tags = _tag_specs(call, "transit-gateway-attachment")
        tgw_id, vpc_id = f.get("TransitGatewayId"), f.get("VpcId")
        t = _visible_tgw(layer, call, tgw_id)
        if t is None or _life(t) in ("deleting", "deleted"):
            raise _tgw_not_found(tgw_id)
        if _life(t) != "available":
            raise AwsError("IncorrectState", 400, f"{tgw_id} is in invalid state")
        backend = _backend(call)
        if vpc_id not in backend.vpcs:
            raise AwsError("InvalidVpcID.NotFound", 400, f"The vpc ID '{vpc_id}' does not exist")
        subnet_ids = _numbered(f, "SubnetIds")
        if not subnet_ids:
            raise AwsError("MissingParameter", 400, "The request must contain the parameter SubnetIds")
        zones = {}
        for sid in subnet_ids:
            try:
                sn = backend.get_subnet(sid)
            except Exception:
                raise AwsError("InvalidSubnetID.NotFound", 400, f"The subnet ID '{sid}' does not exist")
            if sn.vpc_id != vpc_id:
                raise AwsError("InvalidParameterValue", 400, f"Subnet {sid} does not belong to VPC {vpc_id}.")
            if sn.availability_zone in zones:
                raise AwsError("DuplicateSubnetsInSameZone", 400,
                               f"Duplicate Subnets for same Availability Zone: {zones[sn.availability_zone]}, {sid}")
            zones[sn.availability_zone] = sid
        live = [a for a in st.atts.values() if a["tgw_id"] == tgw_id and _life(a) in LIVE_ATTACHMENT]
        if any(a["vpc_id"] == vpc_id for a in live):
            raise AwsError("DuplicateTransitGatewayAttachment", 400,
                           f"{tgw_id} has non-deleted Transit Gateway Attachments with same VPC ID.")
        limit = layer.profiles_state.limits["attachments_per_transit_gateway"]
        if len(live) >= limit:
            raise AwsError("TransitGatewayAttachmentLimitExceeded", 400,
                           f"Transit Gateway {tgw_id} has reached the limit of {limit} attachments.")
        opts = dict(VPC_ATTACHMENT_OPTION_DEFAULTS)
        for k in opts:
            if f.get(f"Options.{k}") not in (None, ""):
                opts[k] = f[f"Options.{k}"]
        aid = random_transit_gateway_attachment_id()
        a = {"id": aid, "tgw_id": tgw_id, "tgw_owner": t["owner"], "vpc_id": vpc_id, "vpc_owner": call.account,
             "region": call.region, "subnets": subnet_ids, "options": opts, "created": time.time(),
             "seq": next(_SEQ), "creator": call.account}
        cross = t["owner"] != call.account and t["options"]["AutoAcceptSharedAttachments"] != "enable"
        st.begin(a, "pendingAcceptance" if cross else "pending")
        st.atts[aid] = a
        if tags:
            backend.create_tags([aid], tags)
        if not cross:
            _attach_to_default(st, t, a)
        shown = "pendingAcceptance" if cross else "pending"
        return _ec2_answer(call, f"<transitGatewayVpcAttachment>{_vpc_att_xml(call, a, shown)}"
                                 "</transitGatewayVpcAttachment>")


def describe_transit_gateway_vpc_attachments(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        ids = _numbered(call.form, "TransitGatewayAttachmentIds")
        for aid in ids:
            if _visible_att(layer, call, aid) is None:
                raise _att_not_found(aid)
        filters = _filters(call.form)
        known = ("transit-gateway-id", "vpc-id", "state", "transit-gateway-attachment-id", "vpc-owner-id")

        def keep(a):
            if ids and a["id"] not in ids or _visible_att(layer, call, a["id"]) is None:
                return False
            return _match(filters, {"transit-gateway-id": a["tgw_id"], "vpc-id": a["vpc_id"], "state": _life(a),
                                    "transit-gateway-attachment-id": a["id"], "vpc-owner-id": a["vpc_owner"]},
                          call, a["id"], known)
        items = _sorted_live(st.atts, keep)
        return _ec2_answer(call, _ec2_page(call, items, "transitGatewayVpcAttachments", lambda a: _vpc_att_xml(call, a)))


def describe_transit_gateway_attachments(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        ids = _numbered(call.form, "TransitGatewayAttachmentIds")
        for aid in ids:
            if _visible_att(layer, call, aid) is None:
                raise _att_not_found(aid)
        filters = _filters(call.form)
        known = ("transit-gateway-id", "resource-id", "resource-owner-id", "resource-type", "state",
                 "association.transit-gateway-route-table-id", "association.state", "transit-gateway-owner-id",
                 "transit-gateway-attachment-id")

        def keep(a):
            if ids and a["id"] not in ids or _visible_att(layer, call, a["id"]) is None:
                return False
            rtb = st.assoc.get(a["id"])
            return _match(filters, {"transit-gateway-id": a["tgw_id"], "resource-id": a["vpc_id"],
                                    "resource-owner-id": a["vpc_owner"], "resource-type": "vpc", "state": _life(a),
                                    "association.transit-gateway-route-table-id": rtb,
                                    "association.state": "associated" if rtb else None,
                                    "transit-gateway-owner-id": a["tgw_owner"],
                                    "transit-gateway-attachment-id": a["id"]}, call, a["id"], known)
        items = _sorted_live(st.atts, keep)
        return _ec2_answer(call, _ec2_page(call, items, "transitGatewayAttachments", lambda a: _att_xml(layer, call, a)))


def _att_by_tgw_owner(layer, call):
    att_id = call.form.get("TransitGatewayAttachmentId")
    a = _visible_att(layer, call, att_id)
    if a is None:
        raise _att_not_found(att_id)
    if a["tgw_owner"] != call.account:
        raise AwsError("InvalidParameterValue", 400, f"Only the owner of transit gateway {a['tgw_id']} can accept "
                                                     f"or reject attachment {att_id}.")
    if _life(a) != "pendingAcceptance":
        raise AwsError("IncorrectState", 400, f"{att_id} is in invalid state")
    return a


def accept_transit_gateway_vpc_attachment(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        a = _att_by_tgw_owner(layer, call)
        st.begin(a, "pending")
        _attach_to_default(st, st.tgws[a["tgw_id"]], a)
        return _ec2_answer(call, f"<transitGatewayVpcAttachment>{_vpc_att_xml(call, a, 'pending')}"
                                 "</transitGatewayVpcAttachment>")


def reject_transit_gateway_vpc_attachment(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        a = _att_by_tgw_owner(layer, call)
        st.begin(a, "rejected")
        return _ec2_answer(call, f"<transitGatewayVpcAttachment>{_vpc_att_xml(call, a, 'rejecting')}"
                                 "</transitGatewayVpcAttachment>")


def delete_transit_gateway_vpc_attachment(layer, call):
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        att_id = call.form.get("TransitGatewayAttachmentId")
        a = _visible_att(layer, call, att_id)
        if a is None or _life(a) in ("deleted", "rejected"):
            raise _att_not_found(att_id)
        if _life(a) == "deleting":
            raise AwsError("IncorrectState", 400, f"{att_id} is in invalid state")
        st.begin(a, "deleting")
        st.assoc.pop(a["id"], None)
        for key in [k for k in st.props if k[1] == a["id"]]:
            del st.props[key]
        return _ec2_answer(call, f"<transitGatewayVpcAttachment>{_vpc_att_xml(call, a, 'deleting')}"
                                 "</transitGatewayVpcAttachment>")


# ---------------------------------------------------------------- VPC routes to a transit gateway
class _TgwTarget:
    """What moto's route needs of its `transit_gateway`: the id."""

    def __init__(self, tgw_id):
        self.id = tgw_id


def _vpc_attached(st, vpc_id, tgw_id, states):
    return any(a["vpc_id"] == vpc_id and a["tgw_id"] == tgw_id and _life(a) in states for a in st.atts.values())


def route_to_transit_gateway(layer, call):
    """CreateRoute/ReplaceRoute with `TransitGatewayId`: the gateway must be the caller's or
    shared with it, and the route table's VPC must have a non-deleted attachment to it, else
    `InvalidTransitGatewayID.NotFound` (as AWS answers a route made before the attachment).
    moto keeps the route; we set its target (moto looked the id up in the caller's own
    account and found nothing)."""
    tgw_id = call.form.get("TransitGatewayId")
    if not tgw_id:
        return layer.pass_to_moto(call)
    st = layer.tgw_state
    with layer.lock:
        st.purge()
        backend = _backend(call)
        rt = backend.route_tables.get(call.form.get("RouteTableId", ""))
        if rt is None:
            return layer.pass_to_moto(call)  # moto's InvalidRouteTableID.NotFound
        t = _visible_tgw(layer, call, tgw_id)
        if t is None or not _vpc_attached(st, rt.vpc_id, tgw_id, LIVE_ATTACHMENT):
            raise AwsError("InvalidTransitGatewayID.NotFound", 400, f"The transitGateway ID '{tgw_id}' does not exist.")
        answer = layer.pass_to_moto(call)
        if answer[0] == 200:
            dest = (call.form.get("DestinationCidrBlock") or call.form.get("DestinationIpv6CidrBlock")
                    or call.form.get("DestinationPrefixListId"))
            for route in rt._routes.values():
                if dest in (route.destination_cidr_block, route.destination_ipv6_cidr_block,
                            getattr(route.destination_prefix_list, "id", None)):
                    route.transit_gateway = _TgwTarget(tgw_id)
        return answer


def describe_route_tables(layer, call):
    """moto's answer; a route to a transit gateway whose VPC has no `available` attachment to it
    (pending, pending acceptance, deleted) is `blackhole`, as AWS shows it."""
    status, headers, out = layer.pass_to_moto(call)
    if status != 200 or b"<transitGatewayId>" not in out:
        return status, headers, out
    st = layer.tgw_state
    root = ET.fromstring(out)
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)  # noqa: E731
    with layer.lock:
        for table in root.iter(q("item")):
            vpc_id = table.findtext(q("vpcId"))
            routes = table.find(q("routeSet"))
            if vpc_id is None or routes is None:
                continue
            for route in routes.findall(q("item")):
                tgw_id = route.findtext(q("transitGatewayId"))
                state = route.find(q("state"))
                if tgw_id and state is not None and not _vpc_attached(st, vpc_id, tgw_id, ("available",)):
                    state.text = "blackhole"
    ET.register_namespace("", ns)
    return status, headers, b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


TGW_OVERRIDES = {
    ("ec2", "CreateTransitGateway"): create_transit_gateway,
    ("ec2", "DescribeTransitGateways"): describe_transit_gateways,
    ("ec2", "DeleteTransitGateway"): delete_transit_gateway,
    ("ec2", "CreateTransitGatewayRouteTable"): create_transit_gateway_route_table,
    ("ec2", "DescribeTransitGatewayRouteTables"): describe_transit_gateway_route_tables,
    ("ec2", "DeleteTransitGatewayRouteTable"): delete_transit_gateway_route_table,
    ("ec2", "AssociateTransitGatewayRouteTable"): associate_transit_gateway_route_table,
    ("ec2", "DisassociateTransitGatewayRouteTable"): disassociate_transit_gateway_route_table,
    ("ec2", "GetTransitGatewayRouteTableAssociations"): get_transit_gateway_route_table_associations,
    ("ec2", "EnableTransitGatewayRouteTablePropagation"): enable_transit_gateway_route_table_propagation,
    ("ec2", "DisableTransitGatewayRouteTablePropagation"): disable_transit_gateway_route_table_propagation,
    ("ec2", "GetTransitGatewayRouteTablePropagations"): get_transit_gateway_route_table_propagations,
    ("ec2", "SearchTransitGatewayRoutes"): search_transit_gateway_routes,
    ("ec2", "CreateTransitGatewayVpcAttachment"): create_transit_gateway_vpc_attachment,
    ("ec2", "DescribeTransitGatewayVpcAttachments"): describe_transit_gateway_vpc_attachments,
    ("ec2", "DescribeTransitGatewayAttachments"): describe_transit_gateway_attachments,
    ("ec2", "AcceptTransitGatewayVpcAttachment"): accept_transit_gateway_vpc_attachment,
    ("ec2", "RejectTransitGatewayVpcAttachment"): reject_transit_gateway_vpc_attachment,
    ("ec2", "DeleteTransitGatewayVpcAttachment"): delete_transit_gateway_vpc_attachment,
    ("ec2", "CreateRoute"): route_to_transit_gateway,
    ("ec2", "ReplaceRoute"): route_to_transit_gateway,
    ("ec2", "DescribeRouteTables"): describe_route_tables,
}


PROFILES_OVERRIDES = {
    ("route53profiles", "CreateProfile"): create_profile,
    ("route53profiles", "GetProfile"): get_profile,
    ("route53profiles", "ListProfiles"): list_profiles,
    ("route53profiles", "DeleteProfile"): delete_profile,
    ("route53profiles", "AssociateResourceToProfile"): associate_resource_to_profile,
    ("route53profiles", "DisassociateResourceFromProfile"): disassociate_resource_from_profile,
    ("route53profiles", "GetProfileResourceAssociation"): get_profile_resource_association,
    ("route53profiles", "ListProfileResourceAssociations"): list_profile_resource_associations,
    ("route53profiles", "AssociateProfile"): associate_profile,
    ("route53profiles", "DisassociateProfile"): disassociate_profile,
    ("route53profiles", "GetProfileAssociation"): get_profile_association,
    ("route53profiles", "ListProfileAssociations"): list_profile_associations,
    ("route53profiles", "ListTagsForResource"): list_tags_for_resource,
    ("route53profiles", "TagResource"): tag_resource,
    ("route53profiles", "UntagResource"): untag_resource,
    ("ram", "CreateResourceShare"): create_resource_share,
    ("ram", "GetResourceShares"): get_resource_shares,
    ("ram", "DeleteResourceShare"): delete_resource_share,
    ("ram", "AssociateResourceShare"): associate_resource_share,
    ("ram", "DisassociateResourceShare"): disassociate_resource_share,
    ("ram", "GetResourceShareAssociations"): get_resource_share_associations,
    ("ram", "GetResourceShareInvitations"): get_resource_share_invitations,
    ("ram", "AcceptResourceShareInvitation"): accept_resource_share_invitation,
    ("ram", "RejectResourceShareInvitation"): reject_resource_share_invitation,
    ("ram", "ListResources"): list_resources,
}


OVERRIDES = {
    ("route53", "CreateVPCAssociationAuthorization"): create_vpc_association_authorization,
    ("route53", "ListVPCAssociationAuthorizations"): list_vpc_association_authorizations,
    ("route53", "DeleteVPCAssociationAuthorization"): delete_vpc_association_authorization,
    ("route53", "AssociateVPCWithHostedZone"): associate_vpc,
    ("route53", "DisassociateVPCFromHostedZone"): disassociate_vpc,
    ("route53", "ListHostedZonesByVPC"): list_hosted_zones_by_vpc,
    ("ec2", "ModifyManagedPrefixList"): modify_managed_prefix_list,
    ("ec2", "CreateVpcPeeringConnection"): create_vpc_peering_connection,
    ("ec2", "DescribeVpcPeeringConnections"): describe_vpc_peering_connections,
    ("ec2", "AcceptVpcPeeringConnection"): peering_by_accepter,
    ("ec2", "RejectVpcPeeringConnection"): peering_by_accepter,
    ("ec2", "DeleteVpcPeeringConnection"): delete_vpc_peering_connection,
    ("ec2", "DescribeVpcEndpointServices"): describe_vpc_endpoint_services,
    ("ec2", "DescribeManagedPrefixLists"): describe_managed_prefix_lists,
}
OVERRIDES.update(PROFILES_OVERRIDES)
OVERRIDES.update(TGW_OVERRIDES)


def build_app(propagation_ms=0, route53_buckets=False):
    """The layer over moto; `propagation_ms` (every kind) and `route53_buckets` set the state
    it starts with (`/_emulator/reset` turns both off)."""
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True
    layer = Layer(moto_app)
    if propagation_ms:
        layer.set_propagation({f"{k}_ms": propagation_ms for k in PROPAGATION_KINDS})
    if route53_buckets:
        layer.set_route53_buckets({"enabled": True})
    return layer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--propagation-ms", type=int,
                   default=int(os.environ.get("EMULATOR_PROPAGATION_MS") or 0),
                   help="start with this propagation delay for every kind (env EMULATOR_PROPAGATION_MS)")
    p.add_argument("--route53-buckets", action="store_true",
                   default=os.environ.get("EMULATOR_ROUTE53_BUCKETS", "") not in ("", "0", "false"),
                   help="start with Route 53's token buckets on (env EMULATOR_ROUTE53_BUCKETS=1)")
    args = p.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = build_app(propagation_ms=args.propagation_ms, route53_buckets=args.route53_buckets)
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=MotoRequestHandler)

    def stop(signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"emulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print("emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
