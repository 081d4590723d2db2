"""The local runtime's events have the shape of AWS's documented examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.app import WebsocketEvent

from chatapp.events import EventFactory, new_connection_id
from chatapp.gateway import Connection
from tests.chatapp import aws_examples
from tests.chatapp.aws_examples import same_shape

FACTORY = EventFactory("abcdef123", "api", "abcdef123.execute-api.us-east-1.amazonaws.com")


def connection() -> Connection:
    return Connection(new_connection_id(), "127.0.0.1", "pytest", connected_at_ms=1_700_000_000_000)


def test_connect_event_matches_the_documented_example():
    headers = [("Host", "localhost:8000"), ("Sec-WebSocket-Version", "13")]
    event = FACTORY.connect(connection(), headers, [("token", "t")])
    assert same_shape(event, aws_examples.WEBSOCKET_CONNECT) == []
    assert event["queryStringParameters"] == {"token": "t"}
    assert event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]


def test_connect_event_without_query_string_has_no_query_parameters():
    event = FACTORY.connect(connection(), [("Host", "localhost")], [])
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event


def test_message_event_matches_the_documented_example():
    event = FACTORY.message(connection(), '{"action": "ping"}')
    assert same_shape(event, aws_examples.WEBSOCKET_MESSAGE) == []
    assert event["body"] == '{"action": "ping"}' and event["isBase64Encoded"] is False


def test_binary_frame_arrives_base64_encoded():
    event = FACTORY.message(connection(), b"\x00\x01")
    assert (event["body"], event["isBase64Encoded"]) == ("AAE=", True)


def test_disconnect_event_matches_the_documented_example():
    event = FACTORY.disconnect(connection(), 1005, "Client-side close frame status not set")
    assert same_shape(event, aws_examples.WEBSOCKET_DISCONNECT) == []
    assert event["requestContext"]["disconnectStatusCode"] == 1005


@pytest.mark.parametrize("build", ["connect", "message", "disconnect"])
def test_chalice_reads_our_websocket_events(build):
    conn = connection()
    event = {
        "connect": lambda: FACTORY.connect(conn, [("Host", "h")], [("token", "t")]),
        "message": lambda: FACTORY.message(conn, "hello"),
        "disconnect": lambda: FACTORY.disconnect(conn, 1000, ""),
    }[build]()
    parsed = WebsocketEvent(event, None)
    assert parsed.connection_id == conn.connection_id
    assert parsed.stage == "api"
    assert parsed.domain_name == FACTORY.domain_name
    assert parsed.to_dict()["requestContext"]["apiId"] == "abcdef123"


def test_request_time_fields_agree():
    context = FACTORY.message(connection(), "x")["requestContext"]
    when = datetime.fromtimestamp(context["requestTimeEpoch"] / 1000, UTC)
    assert context["requestTime"] == when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    assert len(context["connectionId"]) == 16 and context["connectionId"].endswith("=")
