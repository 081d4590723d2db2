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

With an account rate set (`chatapp serve --connections-rate N`, off by default)
every call first takes a token from one bucket of N per second (burst N/2 unless
--connections-burst says otherwise), as the account's API Gateway request rate
(10,000/s, burst 5,000) is shared: an empty bucket answers 429
LimitExceededException ("Too Many Requests") whatever the connection, the
other 429 a fan-out must tell apart from a client that stopped reading.

Only requests signed with the local credentials are answered (403 otherwise,
as API Gateway answers a bad signature): a web page the user opens must not
be able to post frames into their chat.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

from botocore.credentials import ReadOnlyCredentials

from chalicelib.connections_api import SERVICE
from chalicelib.settings import LIMITS
from chatapp.sigv4 import signature_problem

log = logging.getLogger("chatapp.management")

PATH_PREFIX = "/@connections/"
OPERATIONS = {"POST": "PostToConnection", "DELETE": "DeleteConnection", "GET": "GetConnection"}
# API Gateway WebSocket frames are at most 32 KB; PostToConnection refuses more.
FRAME_MAX_BYTES: int = LIMITS.frame_max_bytes
_request_ids = itertools.count(1)


class ManagementAPIError(Exception):
    """An answer other than success, raised by the connections behind the Management API.

    The local stand-ins' own errors, answered as API Gateway answers them; the
    domain's errors (chalicelib.errors) are the handlers' business, never these.
    """

    status: int = 500
    error_type: str = "InternalServerErrorException"
    message: str = "Internal server error"


class Gone(ManagementAPIError):
    """The connection is closed, never existed, or is still inside its $connect (410)."""

    status, error_type, message = 410, "GoneException", "Gone"


class BufferFull(ManagementAPIError):
    """The client reads too slowly: its unsent frames exceed the buffer (429)."""

    status, error_type, message = 429, "LimitExceededException", "client side buffer is full"


class AccountRate:
    """The account's request rate for @connections calls: a token bucket (thread-safe)."""

    def __init__(
        self, per_second: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("the account rate needs a positive rate and a burst of at least 1")
        self.per_second, self.burst = float(per_second), float(burst)
        self._clock = clock
        self._tokens, self._at = self.burst, clock()
        self._lock = threading.Lock()
        self.refused = 0  # calls answered 429 for the rate (logs, tests, benchmarks)

    def take(self) -> bool:
        """One call's token; False when the bucket is empty (the call gets 429)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.refused += 1
            return False


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


class ManagementAPI:
    """Answers PostToConnection / DeleteConnection / GetConnection from `connections`."""

    def __init__(
        self,
        connections: Connections,
        credentials: ReadOnlyCredentials,
        region: str,
        account_rate: AccountRate | None = None,
        delete_throttled: int = 0,
    ) -> None:
        self.connections = connections
        self.credentials = credentials
        self.region = region
        self.account_rate = account_rate
        # CHATAPP_FAULTS=delete-throttled=N: the first N DeleteConnection calls answer 429.
        self._deletes_throttled = delete_throttled
        self._lock = threading.Lock()

    def answer(
        self, method: str, url: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request → (status, headers, body), as API Gateway answers it."""
        problem = signature_problem(
            method, url, headers, body, self.credentials, self.region, SERVICE
        )
        if problem is not None:
            log.warning("%s %s refused: %s", method, raw_path, problem)
            return _answer(403, "ForbiddenException", problem)
        if not raw_path.startswith(PATH_PREFIX) or "/" in raw_path[len(PATH_PREFIX):]:
            return _answer(404, "NotFoundException", "Not Found")
        connection_id = unquote(raw_path[len(PATH_PREFIX):])
        operation = OPERATIONS.get(method, method)
        if self.account_rate is not None and not self.account_rate.take():
            log.debug("%s %s 429 account rate", operation, connection_id)
            return _answer(429, "LimitExceededException", "Too Many Requests")
        if method == "DELETE" and self._throttle_delete():
            log.info("DeleteConnection %s 429 (CHATAPP_FAULTS=delete-throttled)", connection_id)
            return _answer(429, "LimitExceededException", "Too Many Requests")
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
        except ManagementAPIError as refused:
            log.info("%s %s %d %s", operation, connection_id, refused.status, refused.message)
            return _answer(refused.status, refused.error_type, refused.message)
        return _answer(405, "BadRequestException", f"unsupported method {method}")

    def _throttle_delete(self) -> bool:
        with self._lock:
            throttled = self._deletes_throttled > 0
            self._deletes_throttled -= throttled
        return throttled


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")
