"""The one protocol client of the tests and benchmarks (docs/PROTOCOL.md, version 3).

REST: `call` any route, `signup`, `login`, `refresh`. WebSocket: `connect_url`
with a token (and a room), `ChatClient` (websockets' sync client: send frames,
await frames by type or by predicate, each with a deadline), `StalledReader` (a
client that stops reading), `send_messages` (seed a room and wait for every
echo). `action_frame` is the JSON of one client frame, also for asyncio clients
(bench/load.py keeps its own asyncio connections, as its measurement needs).
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from tests.support.frames import unwrap

RECEIVE_TIMEOUT = 10.0
ECHO_TIMEOUT_SECONDS = 30.0
PASSWORD = "correct horse"


class ChatApiError(RuntimeError):
    """The server answered something the protocol does not allow here."""


# -- REST ----------------------------------------------------------------------------------


def call(
    api_url: str, path: str, body: Any = None, method: str = "POST", token: str | None = None
) -> tuple[int, Any]:
    """One REST call (with a Bearer token if given); returns (status, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(api_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def unique(prefix: str) -> str:
    """A name no other test uses (usernames and rooms share one server)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def signup(
    api_url: str, prefix: str = "user", *, username: str | None = None, password: str = PASSWORD
) -> tuple[str, str]:
    """A new user (`username`, or a unique one from `prefix`); returns (username, token)."""
    name = username if username is not None else unique(prefix)[:32]
    status, body = call(api_url, "/signup", {"username": name, "password": password})
    if status != 201:
        raise ChatApiError(f"signup {name}: HTTP {status} {body!r}")
    return body["username"], body["token"]


def login(api_url: str, username: str, password: str = PASSWORD) -> tuple[int, Any]:
    """POST /login; (status, body): a new session's tokens, or the refusal."""
    return call(api_url, "/login", {"username": username, "password": password})


def refresh(api_url: str, refresh_token: str) -> tuple[int, Any]:
    """POST /refresh: spends the one-time refresh token; (status, body) with a new pair."""
    return call(api_url, "/refresh", {"refreshToken": refresh_token})


# -- WebSocket -----------------------------------------------------------------------------


def connect_url(ws_url: str, token: str, room: str | None = None) -> str:
    """The URL a client opens: the access token (and the room to enter) in the query."""
    return f"{ws_url}?token={token}" + (f"&room={room}" if room else "")


def action_frame(action: str, **fields: Any) -> str:
    """One client frame as sent: {"action": ..., **fields}."""
    return json.dumps({"action": action, **fields})


class ChatClient:
    """One WebSocket connection speaking PROTOCOL.md.

    `presence` frames (other users coming and going, at any time) are passed over
    unless the test follows them (presence=True).
    """

    def __init__(
        self,
        ws_url: str,
        token: str,
        room: str | None = None,
        presence: bool = False,
        origin: str | None = None,
    ) -> None:
        self.presence = presence
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(connect_url(ws_url, token, room), open_timeout=10, max_size=None, origin=origin)
        )

    def send(self, action: str, **fields: Any) -> None:
        self.ws.send(action_frame(action, **fields))

    def send_raw(self, data: str | bytes) -> None:
        self.ws.send(data)

    def recv(self, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next frame, a `batch` taken apart (TimeoutError if none arrives in time)."""
        deadline = time.monotonic() + timeout
        while True:
            while not self._pending:
                raw = self.ws.recv(timeout=max(0.0, deadline - time.monotonic()))
                self._pending.extend(unwrap(raw))
            received = self._pending.popleft()
            if self.presence or received.get("type") != "presence":
                return received

    def recv_type(self, frame_type: str, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next frame, which must be of this type."""
        received = self.recv(timeout)
        assert received.get("type") == frame_type, received
        return received

    def recv_until(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float = RECEIVE_TIMEOUT
    ) -> dict[str, Any]:
        """The first frame `wanted` accepts, passing over the others (TimeoutError after
        `timeout` seconds in all)."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.recv(max(0.0, deadline - time.monotonic()))
            if wanted(received):
                return received

    def messages(self, count: int, timeout: float = RECEIVE_TIMEOUT) -> list[dict[str, Any]]:
        """The next `count` message frames' messages (other frames are a failure)."""
        return [self.recv_type("message", timeout)["message"] for _ in range(count)]

    def quiet(self, seconds: float = 1.0) -> list[dict[str, Any]]:
        """Frames arriving within `seconds` (expected: none)."""
        frames, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frames.append(self.recv(timeout=left))
            except TimeoutError:
                break
        return frames

    def request(self, action: str, reply_type: str, **fields: Any) -> dict[str, Any]:
        self.send(action, **fields)
        return self.recv_type(reply_type)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def send_messages(ws_url: str, token: str, room: str, texts: Sequence[str]) -> list[dict]:
    """Send texts in order to room; return the stored messages once all echoed.

    Synchronous on purpose: Playwright's sync API already runs an event loop in
    the test's thread, so asyncio.run() is not available there.
    """
    prefix = uuid.uuid4().hex[:8]
    waiting = {f"seed-{prefix}-{i}": text for i, text in enumerate(texts)}
    stored: dict[str, dict] = {}

    def echo(received: dict[str, Any]) -> bool:
        if received.get("type") == "error":
            raise ChatApiError(f"error frame while seeding: {received}")
        message = received.get("message") if received.get("type") == "message" else None
        return bool(message) and message.get("clientId") in waiting

    deadline = time.monotonic() + ECHO_TIMEOUT_SECONDS
    with ChatClient(ws_url, token, room) as client:
        for client_id, text in waiting.items():
            client.send("sendMessage", text=text, clientId=client_id)
        while len(stored) < len(waiting):
            try:
                message = client.recv_until(echo, deadline - time.monotonic())["message"]
            except TimeoutError:
                raise ChatApiError(f"only {len(stored)} of {len(waiting)} echoes arrived") from None
            stored[message["clientId"]] = message
    return [stored[client_id] for client_id in waiting]


class StalledReader:
    """A WebSocket client that stops reading after the handshake (a frozen tab, a dead link).

    The websockets library reads ahead on its own; this one owns its socket
    (websockets' sans-I/O protocol does the framing) and reads only when told,
    with a small receive window, so the server sees what a slow reader is.
    """

    def __init__(self, ws_url: str, token: str, room: str) -> None:
        uri = parse_uri(connect_url(ws_url, token, room))
        self.protocol = ClientProtocol(uri, max_size=None)
        self.socket = socket.create_connection((uri.host, uri.port), timeout=RECEIVE_TIMEOUT)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024)
        self.protocol.send_request(self.protocol.connect())
        self.socket.sendall(b"".join(self.protocol.data_to_send()))
        while not self.protocol.events_received() and self.protocol.handshake_exc is None:
            self.protocol.receive_data(self.socket.recv(4096))
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def read_until_closed(self, timeout: float = RECEIVE_TIMEOUT) -> list[dict[str, Any]]:
        """Resume reading: every frame the server sent, up to its close (TimeoutError if none)."""
        frames: list[dict[str, Any]] = []
        self.socket.settimeout(timeout)
        while self.protocol.close_code is None:
            data = self.socket.recv(65536)
            if not data:
                self.protocol.receive_eof()
                break
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    frames += unwrap(event.data)
        return frames

    def close(self) -> None:
        self.socket.close()
