"""The events API Gateway hands to Lambda for a WebSocket API, built for the local gateway.

Shaped like AWS's documented examples (tests/chatapp/test_events.py compares
them), the way chatapp.streams builds the event source mapping's records.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import clock

if TYPE_CHECKING:
    from chatapp.gateway import Connection


def new_connection_id() -> str:
    """An id shaped like API Gateway's connection and request ids (16 characters of
    base64, e.g. 'L0SM9cOFvHcCIhw=')."""
    return base64.b64encode(os.urandom(11)).decode()


def _request_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class EventFactory:
    """Builds the events API Gateway sends to Lambda for a WebSocket API."""

    def __init__(self, api_id: str, stage: str, domain_name: str) -> None:
        self.api_id = api_id
        self.stage = stage
        self.domain_name = domain_name

    def _context(
        self, connection: Connection, route_key: str, event_type: str
    ) -> dict[str, Any]:
        now = clock.now_ms()  # the backend's clock: API Gateway's epoch milliseconds
        request_id = new_connection_id()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": connection.connected_at_ms,
            "requestTimeEpoch": now,
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": connection.connection_id,
            "apiId": self.api_id,
        }

    def connect(
        self,
        connection: Connection,
        headers: Mapping[str, str] | list[tuple[str, str]],
        query: list[tuple[str, str]],
    ) -> dict[str, Any]:
        """The `$connect` event: upgrade request's headers and query string."""
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        event: dict[str, Any] = {
            "headers": {name: value for name, value in pairs},
            "multiValueHeaders": _multi(pairs),
            "requestContext": self._context(connection, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        if query:  # API Gateway leaves these out when there is no query string
            event["queryStringParameters"] = {name: value for name, value in query}
            event["multiValueQueryStringParameters"] = _multi(query)
        return event

    def message(self, connection: Connection, body: str | bytes) -> dict[str, Any]:
        """The `$default` event for one client frame (binary frames arrive base64)."""
        context = self._context(connection, "$default", "MESSAGE")
        context["messageId"] = new_connection_id()
        binary = isinstance(body, bytes)
        return {
            "requestContext": context,
            "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
            "isBase64Encoded": binary,
        }

    def disconnect(self, connection: Connection, status_code: int, reason: str) -> dict[str, Any]:
        """The `$disconnect` event, with the close code and reason API Gateway reports."""
        context = self._context(connection, "$disconnect", "DISCONNECT")
        context["disconnectStatusCode"] = status_code
        context["disconnectReason"] = reason
        headers = {
            "Host": self.domain_name,
            "x-api-key": "",
            "X-Forwarded-For": "",
            "x-restapi": "",
        }
        return {
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "requestContext": context,
            "isBase64Encoded": False,
        }


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result
