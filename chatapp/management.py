"""The API Gateway Management API, answered in-process.

Handlers call `app.websocket_api.send()` → boto3 `apigatewaymanagementapi`
PostToConnection (DeleteConnection, GetConnection) against
`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/@connections/{id}`.
A botocore `before-send` hook on the app's boto3 session answers those requests
here instead of on the network, with the status codes and error shapes the real
service uses (rest-json: `x-amzn-ErrorType` header + JSON body), so botocore
raises the same modelled exceptions: `GoneException` (410) for a connection that
is gone, `PayloadTooLargeException` (413) for data over API Gateway's 32 KB frame.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse

log = logging.getLogger("chatapp.management")

# API Gateway WebSocket frames are at most 32 KB; PostToConnection refuses more.
MAX_FRAME_BYTES = 32 * 1024
EVENT_NAME = "before-send.apigatewaymanagementapi"


class ConnectionGone(Exception):
    """The connection id is unknown or closed (GoneException, 410)."""


class ClientBufferFull(Exception):
    """The client reads too slowly and its buffer is full (LimitExceededException, 429)."""


class Connections(Protocol):
    """What the gateway offers to the Management API."""

    def post(self, connection_id: str, data: bytes) -> None: ...
    def delete(self, connection_id: str) -> None: ...
    def info(self, connection_id: str) -> dict[str, Any]: ...


class _RawBody:
    """The minimal urllib3-like body AWSResponse reads from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(url: str, status: int, body: dict | None = None, error: str = "") -> AWSResponse:
    payload = b"" if body is None else json.dumps(body).encode()
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
    }
    if error:
        headers["x-amzn-ErrorType"] = error
    return AWSResponse(url, status, headers, _RawBody(payload))


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def connection_id_from_url(url: str) -> str:
    """The connection id in `…/{stage}/@connections/{id}` (percent-decoded)."""
    path = urlsplit(url).path
    marker = "/@connections/"
    if marker not in path:
        raise ValueError(f"not a Management API URL: {url}")
    return unquote(path.split(marker, 1)[1])


class ManagementAPI:
    """Answers PostToConnection / DeleteConnection / GetConnection from `connections`."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def install(self, session: Any) -> None:
        """Register on a boto3 (or botocore) session; clients made after this use it."""
        events = getattr(session, "events", None) or session.get_component("event_emitter")
        events.register(EVENT_NAME, self.before_send, unique_id="chatapp-management-api")

    def before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse:
        """botocore hook: return a response instead of sending the request."""
        operation = event_name.rsplit(".", 1)[-1]
        url = request.url
        try:
            connection_id = connection_id_from_url(url)
        except ValueError:
            return _response(url, 404, {"message": "Not Found"}, "NotFoundException")
        try:
            if operation == "PostToConnection":
                data = request.body or b""
                if isinstance(data, str):
                    data = data.encode()
                elif not isinstance(data, bytes):  # a file-like body
                    data = data.read()
                if len(data) > MAX_FRAME_BYTES:
                    log.info("PostToConnection %s 413 (%d bytes)", connection_id, len(data))
                    return _response(
                        url,
                        413,
                        {"message": f"Message too long ({len(data)} > {MAX_FRAME_BYTES} bytes)"},
                        "PayloadTooLargeException",
                    )
                self.connections.post(connection_id, data)
                log.debug("PostToConnection %s 200 (%d bytes)", connection_id, len(data))
                return _response(url, 200)
            if operation == "DeleteConnection":
                self.connections.delete(connection_id)
                log.info("DeleteConnection %s 204", connection_id)
                return _response(url, 204)
            if operation == "GetConnection":
                info = self.connections.info(connection_id)
                return _response(
                    url,
                    200,
                    {
                        "connectedAt": _iso(info["connected_at"]),
                        "lastActiveAt": _iso(info["last_active_at"]),
                        "identity": {
                            "sourceIp": info["source_ip"],
                            "userAgent": info["user_agent"],
                        },
                    },
                )
        except ClientBufferFull:
            log.info("%s %s 429 client buffer full", operation, connection_id)
            return _response(
                url, 429, {"message": "client side buffer is full"}, "LimitExceededException"
            )
        except ConnectionGone:
            log.info("%s %s 410 Gone", operation, connection_id)
            return _response(url, 410, {}, "GoneException")
        return _response(url, 400, {"message": f"unsupported {operation}"}, "BadRequestException")
