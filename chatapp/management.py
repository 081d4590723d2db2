"""The API Gateway Management API, answered in-process.

Handlers call `app.websocket_api.send()` → boto3 `apigatewaymanagementapi`
PostToConnection (DeleteConnection, GetConnection) against
`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/@connections/{id}`.
A botocore `before-call` hook on the app's boto3 session answers those calls
here, with what the real service answers: botocore raises the same modelled
exceptions — `GoneException` (410) for a connection that is gone,
`PayloadTooLargeException` (413) for data over API Gateway's 32 KB frame,
`LimitExceededException` (429) for a client whose buffer is full.

`before-call` (the hook botocore's own Stubber uses) comes after parameter
validation and serialization but before signing and sending: a fan-out to a
room makes one call per connection, and SigV4 signing would be most of its cost.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse

from chalicelib.errors import ConnectionGone
from chalicelib.settings import LIMITS

log = logging.getLogger("chatapp.management")

# API Gateway WebSocket frames are at most 32 KB; PostToConnection refuses more.
FRAME_MAX_BYTES: int = LIMITS["frame_max_bytes"]
EVENT_NAME = "before-call.apigatewaymanagementapi"
_request_ids = itertools.count(1)


class ClientBufferFull(Exception):
    """The client reads too slowly and its buffer is full (LimitExceededException, 429)."""


class Connections(Protocol):
    """What the gateway offers to the Management API."""

    def post(self, connection_id: str, data: bytes) -> None: ...
    def delete(self, connection_id: str) -> None: ...
    def info(self, connection_id: str) -> dict[str, Any]: ...


def _response(status: int, parsed: dict | None = None, error: str = "", message: str = ""):
    """(http response, parsed response) as botocore's before-call short-circuit expects."""
    headers = {"x-amzn-RequestId": f"local-{next(_request_ids)}"}
    if error:
        headers["x-amzn-ErrorType"] = error
    http = AWSResponse("", status, headers, None)
    result = dict(parsed or {})
    result["ResponseMetadata"] = {
        "RequestId": headers["x-amzn-RequestId"],
        "HTTPStatusCode": status,
        "HTTPHeaders": headers,
        "RetryAttempts": 0,
    }
    if error:
        result["Error"] = {"Code": error, "Message": message}
    return http, result


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
        events.register(EVENT_NAME, self.before_call, unique_id="chatapp-management-api")

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[Any, dict]:
        """botocore hook: the call's response, so that nothing is signed or sent."""
        operation = model.name
        try:
            connection_id = connection_id_from_url(params["url"])
        except ValueError:
            return _response(404, error="NotFoundException", message="Not Found")
        try:
            if operation == "PostToConnection":
                data = params.get("body") or b""
                if isinstance(data, str):
                    data = data.encode()
                elif not isinstance(data, bytes):  # a file-like body
                    data = data.read()
                if len(data) > FRAME_MAX_BYTES:
                    log.info("PostToConnection %s 413 (%d bytes)", connection_id, len(data))
                    return _response(
                        413,
                        error="PayloadTooLargeException",
                        message=f"Message too long ({len(data)} > {FRAME_MAX_BYTES} bytes)",
                    )
                self.connections.post(connection_id, data)
                log.debug("PostToConnection %s 200 (%d bytes)", connection_id, len(data))
                return _response(200)
            if operation == "DeleteConnection":
                self.connections.delete(connection_id)
                log.info("DeleteConnection %s 204", connection_id)
                return _response(204)
            if operation == "GetConnection":
                info = self.connections.info(connection_id)
                return _response(
                    200,
                    {
                        "ConnectedAt": datetime.fromtimestamp(info["connected_at"], UTC),
                        "LastActiveAt": datetime.fromtimestamp(info["last_active_at"], UTC),
                        "Identity": {
                            "SourceIp": info["source_ip"],
                            "UserAgent": info["user_agent"],
                        },
                    },
                )
        except ClientBufferFull:
            log.info("%s %s 429 client buffer full", operation, connection_id)
            return _response(
                429, error="LimitExceededException", message="client side buffer is full"
            )
        except ConnectionGone:
            log.info("%s %s 410 Gone", operation, connection_id)
            return _response(410, error="GoneException")
        return _response(400, error="BadRequestException", message=f"unsupported {operation}")
