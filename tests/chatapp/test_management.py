"""The Management API answered in-process, through chalice's own WebsocketAPI and boto3."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.app import WebsocketAPI, WebsocketDisconnectedError

from chalicelib.errors import ConnectionGone
from chatapp.management import FRAME_MAX_BYTES, ManagementAPI
from chatapp.server import hook_management_api


class FakeConnections:
    def __init__(self, *open_ids: str) -> None:
        self.open = set(open_ids)
        self.posted: list[tuple[str, bytes]] = []
        self.deleted: list[str] = []

    def _check(self, connection_id: str) -> None:
        if connection_id not in self.open:
            raise ConnectionGone(connection_id)

    def post(self, connection_id: str, data: bytes) -> None:
        self._check(connection_id)
        self.posted.append((connection_id, data))

    def delete(self, connection_id: str) -> None:
        self._check(connection_id)
        self.deleted.append(connection_id)

    def info(self, connection_id: str) -> dict[str, Any]:
        self._check(connection_id)
        return {
            "connected_at": 1_700_000_000.5,
            "last_active_at": 1_700_000_100.0,
            "source_ip": "127.0.0.1",
            "user_agent": "pytest",
        }


def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )


def websocket_api(connections: FakeConnections) -> WebsocketAPI:
    api = WebsocketAPI(env={"AWS_REGION": "us-east-1"})
    api.session = session()
    ManagementAPI(connections).install(api.session)
    api.configure_from_api_id("local", "api")
    return api


CONNECTION = "L0SM9cOF/HcCIhw="  # API Gateway ids may hold '/', '+' and '='


def test_post_to_connection_reaches_the_connection():
    connections = FakeConnections(CONNECTION)
    websocket_api(connections).send(CONNECTION, '{"type": "pong"}')
    assert connections.posted == [(CONNECTION, b'{"type": "pong"}')]


def test_post_to_gone_connection_raises_what_chalice_raises_on_aws():
    api = websocket_api(FakeConnections())
    with pytest.raises(WebsocketDisconnectedError) as gone:
        api.send("gone-connection=", "hello")
    assert gone.value.connection_id == "gone-connection="


def test_data_over_32_kb_is_refused_as_api_gateway_refuses_it():
    connections = FakeConnections(CONNECTION)
    api = websocket_api(connections)
    api.send(CONNECTION, "x" * FRAME_MAX_BYTES)
    with pytest.raises(ClientError) as refused:
        api.send(CONNECTION, "x" * (FRAME_MAX_BYTES + 1))
    assert refused.value.response["Error"]["Code"] == "PayloadTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert len(connections.posted) == 1


def test_delete_connection_and_get_connection():
    connections = FakeConnections(CONNECTION)
    api = websocket_api(connections)
    info = api.info(CONNECTION)
    assert isinstance(info["ConnectedAt"], datetime)
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "pytest"}
    api.close(CONNECTION)
    assert connections.deleted == [CONNECTION]
    with pytest.raises(WebsocketDisconnectedError):
        api.close("not-there=")


class FakeApp:
    def __init__(self) -> None:
        self.websocket_api = WebsocketAPI(env={"AWS_REGION": "us-east-1"})


def test_a_session_assigned_after_hooking_is_hooked_too():
    app = FakeApp()
    connections = FakeConnections(CONNECTION)
    hook_management_api(app, ManagementAPI(connections))
    app.websocket_api.session = session()  # e.g. set lazily by the app
    app.websocket_api.configure_from_api_id("local", "api")
    app.websocket_api.send(CONNECTION, "hi")
    assert connections.posted == [(CONNECTION, b"hi")]
