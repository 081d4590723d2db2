"""Factories for Lambda events shaped like AWS's documented examples.

API Gateway WebSocket events: docs "Set up WebSocket API integrations"
($connect carries headers and the query string; $default the frame body;
$disconnect a close code). Tests build every event through these, never by
copy-pasted dicts.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

API_ID = "testapi123"
STAGE = "api"
DOMAIN = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
_EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
_message_ids = itertools.count(1)


def connection_id() -> str:
    """A fresh id in API Gateway's shape (base64-ish, ends in '=')."""
    return uuid.uuid4().hex[:15] + "="


def ws_event(
    route: str,
    connection: str,
    *,
    query: dict[str, str] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway WebSocket event for $connect, $default or $disconnect."""
    now_ms = int(time.time() * 1000)
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": _EVENT_TYPES.get(route, "MESSAGE"),
        "extendedRequestId": uuid.uuid4().hex,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": now_ms,
        "requestTimeEpoch": now_ms,
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest"},
        "requestId": uuid.uuid4().hex,
        "domainName": DOMAIN,
        "connectionId": connection,
        "apiId": API_ID,
    }
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if route == "$connect":
        event["headers"] = {
            "Host": DOMAIN,
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
        }
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        if query is not None:
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    elif route == "$disconnect":
        context["disconnectStatusCode"] = 1001
        context["disconnectReason"] = "Going away"
    else:
        context["messageId"] = f"msg{next(_message_ids)}="
        event["body"] = body
    return event
