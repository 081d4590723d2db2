"""A test user of the chat: REST signup and a real WebSocket client (websockets, sync)."""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from tests.support.frames import unwrap

RECEIVE_TIMEOUT = 10.0


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


def signup(api_url: str, prefix: str = "user") -> tuple[str, str]:
    """A new user; returns (username, token)."""
    username = unique(prefix)[:32]
    status, body = call(api_url, "/signup", {"username": username, "password": "correct horse"})
    assert status == 201, body
    return body["username"], body["token"]


class ChatClient:
    """One WebSocket connection speaking PROTOCOL.md.

    `presence` frames (other users coming and going, at any time) are passed over
    unless the test follows them (presence=True).
    """

    def __init__(
        self, ws_url: str, token: str, room: str | None = None,
        presence: bool = False, origin: str | None = None,
    ) -> None:
        self.presence = presence
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        query = f"?token={token}" + (f"&room={room}" if room else "")
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(ws_url + query, open_timeout=10, max_size=None, origin=origin)
        )

    def send(self, action: str, **fields: Any) -> None:
        self.ws.send(json.dumps({"action": action, **fields}))

    def send_raw(self, data: str | bytes) -> None:
        self.ws.send(data)

    def recv(self, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next frame, a `batch` taken apart (TimeoutError if none arrives in time)."""
        deadline = time.monotonic() + timeout
        while True:
            while not self._pending:
                raw = self.ws.recv(timeout=max(0.0, deadline - time.monotonic()))
                self._pending.extend(unwrap(raw))
            frame = self._pending.popleft()
            if self.presence or frame.get("type") != "presence":
                return frame

    def recv_type(self, frame_type: str, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next frame, which must be of this type."""
        frame = self.recv(timeout)
        assert frame.get("type") == frame_type, frame
        return frame

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


class StalledReader:
    """A WebSocket client that stops reading after the handshake (a frozen tab, a dead link).

    The websockets library reads ahead on its own; this one owns its socket
    (websockets' sans-I/O protocol does the framing) and reads only when told,
    with a small receive window, so the server sees what a slow reader is.
    """

    def __init__(self, ws_url: str, token: str, room: str) -> None:
        uri = parse_uri(f"{ws_url}?token={token}&room={room}")
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
