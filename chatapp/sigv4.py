"""Checking AWS Signature Version 4 on requests to the local stand-ins of AWS APIs.

The local runtime answers the Management API and Lambda's Invoke on its HTTP
port; only requests signed with the local credentials are answered, so a web
page the user opens cannot post frames or run functions. The signature is
recomputed with botocore's own signer: the code that signs is the code that checks.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from hashlib import sha256

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

# How far a request's X-Amz-Date may be from now (AWS allows 15 minutes).
CLOCK_SKEW_SECONDS = 15 * 60
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def signature_problem(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: ReadOnlyCredentials,
    region: str,
    service: str,
    now: float | None = None,
) -> str | None:
    """Why a request is not SigV4-signed with these credentials for this service, or None.

    The signature is recomputed with botocore's own signer over the headers the
    request says it signed: the same code that signs it checks it.
    """
    found = _AUTHORIZATION.match(headers.get("Authorization", ""))
    if found is None:
        return "missing or malformed Authorization"
    if found["key"] != credentials.access_key:
        return "unknown access key"
    if (found["region"], found["service"]) != (region, service):
        return f"signed for {found['region']}/{found['service']}"
    stamp = headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return "missing or malformed X-Amz-Date"
    if abs((now if now is not None else time.time()) - signed_at) > CLOCK_SKEW_SECONDS:
        return "signature expired"
    signed = found["headers"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed"
    lowered = {name.lower(): value for name, value in headers.items()}
    if any(name not in lowered for name in signed):
        return "a signed header is missing"
    if "x-amz-content-sha256" in lowered and lowered["x-amz-content-sha256"] != sha256(
        body
    ).hexdigest():
        return "payload hash does not match"
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: lowered[name] for name in signed}
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(credentials, service, region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, found["signature"]):
        return "signature does not match"
    return None
