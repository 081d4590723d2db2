"""The API Gateway Management API (`@connections`), served over HTTP on the chatapp port.

The handlers' client (chalicelib.connections_api) sends the same SigV4-signed
requests it sends to `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`;
the local runtime points it here with AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI
(as serverless-offline does), so nothing hooks botocore. Answers are API Gateway's:

    POST   /@connections/{id}  200; 410 GoneException; 413 PayloadTooLargeException
                               (over 32 KB); 429 LimitExceededException (the
                               client has more than 256 KB of unsent frames)
    DELETE /@connections/{id}  204; 410
    GET    /@connections/{id}  200 {"connectedAt", "lastActiveAt", "identity"}; 410

Only requests signed with the local credentials are answered (403 otherwise,
as API Gateway answers a bad signature): a web page the user opens must not
be able to post frames into their chat.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, Protocol
from urllib.parse import unquote

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from chalicelib.connections_api import SERVICE
from chalicelib.errors import ConnectionGone
from chalicelib.settings import LIMITS

log = logging.getLogger("chatapp.management")

PATH_PREFIX = "/@connections/"
# API Gateway WebSocket frames are at most 32 KB; PostToConnection refuses more.
FRAME_MAX_BYTES: int = LIMITS["frame_max_bytes"]
# How far a request's X-Amz-Date may be from now (AWS allows 15 minutes).
CLOCK_SKEW_SECONDS = 15 * 60
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_request_ids = itertools.count(1)


class ClientBufferFull(Exception):
    """The client reads too slowly: its unsent frames exceed the buffer (429)."""


class Connections(Protocol):
    """What the WebSocket gateway offers to the Management API."""

    def post(self, connection_id: str, data: bytes) -> None: ...
    def delete(self, connection_id: str) -> None: ...
    def info(self, connection_id: str) -> dict[str, Any]: ...


def _answer(status: int, error: str = "", message: str = "", body: Any = None):
    headers = {"x-amzn-RequestId": f"local-{next(_request_ids)}"}
    if error:
        headers["x-amzn-ErrorType"] = error
        body = {"message": message or error}
    data = b"" if body is None else json.dumps(body).encode()
    if data:
        headers["Content-Type"] = "application/json"
    return status, headers, data


def signature_problem(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: ReadOnlyCredentials,
    region: str,
    now: float | None = None,
) -> str | None:
    """Why a request is not SigV4-signed with these credentials for this API, or None.

    The signature is recomputed with botocore's own signer over the headers the
    request says it signed: the same code that signs it checks it.
    """
    found = _AUTHORIZATION.match(headers.get("Authorization", ""))
    if found is None:
        return "missing or malformed Authorization"
    if found["key"] != credentials.access_key:
        return "unknown access key"
    if (found["region"], found["service"]) != (region, SERVICE):
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
    signer = SigV4Auth(credentials, SERVICE, region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, found["signature"]):
        return "signature does not match"
    return None


class ManagementAPI:
    """Answers PostToConnection / DeleteConnection / GetConnection from `connections`."""

    def __init__(
        self, connections: Connections, credentials: ReadOnlyCredentials, region: str
    ) -> None:
        self.connections = connections
        self.credentials = credentials
        self.region = region

    def answer(
        self, method: str, url: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request → (status, headers, body), as API Gateway answers it."""
        problem = signature_problem(method, url, headers, body, self.credentials, self.region)
        if problem is not None:
            log.warning("%s %s refused: %s", method, raw_path, problem)
            return _answer(403, "ForbiddenException", problem)
        if not raw_path.startswith(PATH_PREFIX) or "/" in raw_path[len(PATH_PREFIX):]:
            return _answer(404, "NotFoundException", "Not Found")
        connection_id = unquote(raw_path[len(PATH_PREFIX):])
        try:
            if method == "POST":
                if len(body) > FRAME_MAX_BYTES:
                    log.info("PostToConnection %s 413 (%d bytes)", connection_id, len(body))
                    return _answer(
                        413,
                        "PayloadTooLargeException",
                        f"Message too long ({len(body)} > {FRAME_MAX_BYTES} bytes)",
                    )
                self.connections.post(connection_id, body)
                return _answer(200)
            if method == "DELETE":
                self.connections.delete(connection_id)
                log.info("DeleteConnection %s 204", connection_id)
                return _answer(204)
            if method == "GET":
                info = self.connections.info(connection_id)
                return _answer(200, body={
                    "connectedAt": _iso(info["connected_at"]),
                    "lastActiveAt": _iso(info["last_active_at"]),
                    "identity": {"sourceIp": info["source_ip"], "userAgent": info["user_agent"]},
                })
        except ClientBufferFull:
            log.info("%s %s 429 client buffer full", method, connection_id)
            return _answer(429, "LimitExceededException", "client side buffer is full")
        except ConnectionGone:
            log.info("%s %s 410 Gone", method, connection_id)
            return _answer(410, "GoneException", "Gone")
        return _answer(405, "BadRequestException", f"unsupported method {method}")


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")
