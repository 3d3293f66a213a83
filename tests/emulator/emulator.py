"""Local AWS emulator for endpoint-hub: moto (server mode) plus a thin WSGI layer.

One process serves EC2, Route 53 and STS on one port. The layer adds what moto 5.2.5 lacks
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
                "Disassociate", "Authorize", "Revoke", "Replace")
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
FAULT_ERRORS = {
    "throttle": {"ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
                 "route53": ("Throttling", 400, "Rate exceeded"),
                 "sts": ("Throttling", 400, "Rate exceeded")},
    "error5xx": {"ec2": ("InternalError", 500, "An internal error has occurred"),
                 "route53": ("InternalFailure", 500, "An internal failure occurred"),
                 "sts": ("InternalFailure", 500, "An internal failure occurred")},
    "error503": {"ec2": ("Unavailable", 503, "The server is overloaded and can't handle the request"),
                 "route53": ("ServiceUnavailable", 503, "Service unavailable"),
                 "sts": ("ServiceUnavailable", 503, "Service unavailable")},
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
    def __init__(self, code, status, message, sender=True):
        super().__init__(message)
        self.code, self.status, self.message, self.sender = code, status, message, sender


def _rid():
    return str(uuid.uuid4())


def error_body(service, err):
    """The error document each real service sends (EC2 vs. Route 53/STS shapes)."""
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
        if self.service == "route53":
            sub = self.path[len(R53_PREFIX):] if self.path.startswith(R53_PREFIX) else self.path
            for method, rx, name in R53_OPS:
                if method == self.method and rx.match(sub):
                    return name
            return f"{self.method} {self.path}"
        return self.form.get("Action") or self.query.get("Action") or f"{self.method} {self.path}"

    @property
    def mutating(self):
        if self.service == "route53":
            return self.method != "GET"
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
        if service not in ("*", "ec2", "route53", "sts"):
            raise ValueError("service must be ec2, route53, sts or *")
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
