"""Backend tests: the Chalice app against moto's in-process DynamoDB.

The environment is set before app.py is imported (settings are read once per
process), then each test gets fresh tables from chalicelib/tables.json.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import environment

environment.apply()
environment.share_sdk_data()

import boto3
from chalice.test import Client
from moto import mock_aws

import app as chat_app
from chalicelib import auth, clock, lazy
from chalicelib.connections_api import ENDPOINT_ENV
from chatapp.management import BufferFull, Gone
from chatapp.tables import ensure_tables
from tests.support import events
from tests.support.management_server import ResetConnection, serve_management_api


@pytest.fixture
def aws() -> Iterator[Any]:
    """Fresh moto DynamoDB with the project's tables; yields a dynamodb client."""
    lazy.reset()
    with mock_aws():
        lazy.reset()  # a client made inside the mock
        dynamodb = boto3.client("dynamodb")
        ensure_tables(dynamodb)
        yield dynamodb
    lazy.reset()


@dataclass
class Outbox:
    """What the Management API received: chatapp's, on a loopback port (serve_management_api).

    Connections in `gone` answer GoneException (410) as API Gateway does for a
    closed connection; those in `broken` answer 500; `script[connection]` lists
    answers to give its posts first ("429", "500", "reset"), one per request. `posts`
    keeps each post as sent; `sent` its frames, `batch` frames unwrapped.
    """

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    posts: list[tuple[str, bytes]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    script: dict[str, list[str]] = field(default_factory=dict)
    # Answers to give a connection's deletes first ("410": still connecting, "429").
    delete_script: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frames(self, connection: str) -> list[dict[str, Any]]:
        return [frame for cid, frame in self.sent if cid == connection]

    def _answer(self, connection: str, scripted: bool = True) -> None:
        with self.lock:
            answers = self.script.get(connection) if scripted else None
            answer = answers.pop(0) if answers else None
        if connection in self.gone:
            raise Gone(connection)
        if answer == "429":
            raise BufferFull(connection)
        if answer == "reset":
            raise ResetConnection(connection)
        if answer == "500" or connection in self.broken:
            raise RuntimeError("the service failed")

    def post(self, connection: str, data: bytes) -> None:
        self._answer(connection)
        frame = json.loads(data)
        with self.lock:
            self.posts.append((connection, data))
            for inner in frame["frames"] if frame["type"] == "batch" else [frame]:
                self.sent.append((connection, inner))

    def delete(self, connection: str) -> None:
        with self.lock:
            answers = self.delete_script.get(connection)
            answer = answers.pop(0) if answers else None
        if answer == "410":
            raise Gone(connection)
        if answer == "429":
            raise BufferFull(connection)
        self._answer(connection, scripted=False)
        with self.lock:
            self.closed.append(connection)
            self.gone.add(connection)

    def info(self, connection: str) -> dict[str, Any]:
        raise Gone(connection)


@pytest.fixture
def outbox(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbox]:
    box = Outbox()
    with serve_management_api(box) as endpoint:
        monkeypatch.setenv(ENDPOINT_ENV, endpoint)
        yield box


@pytest.fixture
def client(aws: Any, tmp_path: Any) -> Iterator[Client]:
    # An empty project dir: no .chalice/config.json stage variables patched in.
    with Client(chat_app.app, project_dir=str(tmp_path)) as test_client:
        yield test_client


class Chat:
    """Drives the WebSocket handlers as API Gateway would, via client.lambda_.invoke."""

    def __init__(self, client: Client, outbox: Outbox) -> None:
        self.client, self.outbox = client, outbox

    def connect(self, query: dict[str, str] | None) -> tuple[str, int]:
        connection = events.connection_id()
        event = events.ws_event("$connect", connection, query=query)
        status = self.client.lambda_.invoke("connect", event).payload["statusCode"]
        return connection, status

    def join(self, username: str, room: str | None = None) -> str:
        query = {"token": token_for(username)}
        if room is not None:
            query["room"] = room
        connection, status = self.connect(query)
        assert status == 200
        return connection

    def send(self, connection: str, frame: dict[str, Any] | str) -> list[dict[str, Any]]:
        """Send one frame; returns the frames this connection got back directly."""
        body = frame if isinstance(frame, str) else json.dumps(frame)
        before = len(self.outbox.frames(connection))
        self.client.lambda_.invoke("message", events.ws_event("$default", connection, body=body))
        return self.outbox.frames(connection)[before:]

    def disconnect(self, connection: str) -> None:
        self.client.lambda_.invoke("disconnect", events.ws_event("$disconnect", connection))


@pytest.fixture
def stopped_clock() -> Iterator[None]:
    """The backend's clock stopped at now: a count against a window does not depend on
    how fast this machine sends (the test advances it where it means time to pass)."""
    clock.get().set(clock.now_ms() / 1000, stopped=True)
    yield
    lazy.reset()


def token_for(username: str, now_s: int | None = None) -> str:
    """An access token of a new session, as a login now (or at now_s) would issue it."""
    issued = clock.now_s() if now_s is None else now_s
    return auth.start_session(username, issued).token


@pytest.fixture
def chat(client: Client, outbox: Outbox) -> Chat:
    return Chat(client, outbox)
