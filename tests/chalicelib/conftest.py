"""Backend tests: the Chalice app against moto's in-process DynamoDB.

The environment is set before app.py is imported (settings are read once per
process), then each test gets fresh tables from chalicelib/tables.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest

from tests.support import environment

environment.apply()

import boto3
from botocore.awsrequest import AWSResponse
from chalice.test import Client
from moto import mock_aws

import app as chat_app
from chalicelib import auth, lazy, store
from chatapp.tables import ensure_tables
from tests.support import events


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
    """Frames posted through app.websocket_api, captured by a botocore hook.

    Connections in `gone` answer GoneException (410) as API Gateway does for a
    closed connection; those in `broken` answer a 500.
    """

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)

    def frames(self, connection: str) -> list[dict[str, Any]]:
        return [frame for cid, frame in self.sent if cid == connection]

    def answer(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        connection = unquote(params["url_path"].rsplit("/", 1)[-1])
        if connection in self.gone:
            return _error(410, "GoneException")
        if connection in self.broken:
            return _error(500, "InternalServerErrorException")
        self.sent.append((connection, json.loads(params["body"])))
        return AWSResponse(params["url"], 200, {}, None), {"ResponseMetadata": {}}

    def close(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        connection = unquote(params["url_path"].rsplit("/", 1)[-1])
        if connection in self.gone:
            return _error(410, "GoneException")
        self.closed.append(connection)
        self.gone.add(connection)
        return AWSResponse(params["url"], 204, {}, None), {"ResponseMetadata": {}}


def _error(status: int, code: str) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {}}
    return AWSResponse("https://test", status, {}, None), parsed


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    box = Outbox()
    api = chat_app.app.websocket_api
    api._client = None  # chalice caches its client; make it one with our hook
    hooks = {
        "before-call.apigatewaymanagementapi.PostToConnection": box.answer,
        "before-call.apigatewaymanagementapi.DeleteConnection": box.close,
    }
    for hook, answer in hooks.items():
        api.session.events.register(hook, answer)
    yield box
    for hook, answer in hooks.items():
        api.session.events.unregister(hook, answer)
    api._client = None


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


def token_for(username: str, now_s: int | None = None) -> str:
    """A token as a login now (or at now_s) would issue it."""
    issued = int(time.time()) if now_s is None else now_s
    return auth.issue_token(username, issued, store.token_version(username)).token


@pytest.fixture
def chat(client: Client, outbox: Outbox) -> Chat:
    return Chat(client, outbox)
