"""A tiny protocol client for seeding rooms from Python (browser tests, benchmarks).

It speaks docs/PROTOCOL.md directly: sign up over REST, then send messages over
the WebSocket and wait for each echo, so a seeded message is stored and fanned
out before the browser looks for it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence

from websockets.sync.client import connect

from tests.support.frames import unwrap

ECHO_TIMEOUT_SECONDS = 30.0


class ChatApiError(RuntimeError):
    """The server answered something the protocol does not allow here."""


def sign_up(api_url: str, username: str, password: str) -> str:
    """POST {api_url}/signup and return the token."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{api_url}/signup", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["token"]
    except urllib.error.HTTPError as error:
        raise ChatApiError(f"signup {username}: HTTP {error.code} {error.read()!r}") from error


def login_status(api_url: str, username: str, password: str) -> int:
    """POST {api_url}/login; the HTTP status (for driving the login throttle)."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{api_url}/login", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def send_messages(ws_url: str, token: str, room: str, texts: Sequence[str]) -> list[dict]:
    """Send texts in order to room; return the stored messages once all echoed.

    Synchronous on purpose: Playwright's sync API already runs an event loop in
    the test's thread, so asyncio.run() is not available there.
    """
    query = urllib.parse.urlencode({"token": token, "room": room})
    prefix = uuid.uuid4().hex[:8]
    waiting = {f"seed-{prefix}-{i}": text for i, text in enumerate(texts)}
    stored: dict[str, dict] = {}
    deadline = time.monotonic() + ECHO_TIMEOUT_SECONDS
    with connect(f"{ws_url}?{query}", max_size=2**20) as ws:
        for client_id, text in waiting.items():
            frame = {"action": "sendMessage", "text": text, "clientId": client_id}
            ws.send(json.dumps(frame))
        while len(stored) < len(waiting):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChatApiError(f"only {len(stored)} of {len(waiting)} echoes arrived")
            for frame in unwrap(ws.recv(timeout=remaining)):
                if frame.get("type") == "error":
                    raise ChatApiError(f"error frame while seeding: {frame}")
                message = frame.get("message") if frame.get("type") == "message" else None
                if message and message.get("clientId") in waiting:
                    stored[message["clientId"]] = message
    return [stored[client_id] for client_id in waiting]
