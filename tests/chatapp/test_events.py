"""The local runtime's events have the shape of AWS's documented examples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.app import DynamoDBEvent, WebsocketEvent

from chatapp.gateway import Connection, EventFactory, new_connection_id
from chatapp.streams import lambda_record
from tests.chatapp import aws_examples

FACTORY = EventFactory("abcdef123", "api", "abcdef123.execute-api.us-east-1.amazonaws.com")


def same_shape(ours: Any, documented: Any, path: str = "event") -> list[str]:
    """Differences in keys and value types, recursively (values themselves may differ)."""
    if isinstance(documented, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {type(ours).__name__}, documented dict"]
        problems = [f"{path}.{k}: missing" for k in documented.keys() - ours.keys()]
        problems += [f"{path}.{k}: not documented" for k in ours.keys() - documented.keys()]
        for key in documented.keys() & ours.keys():
            if key in ("headers", "multiValueHeaders"):  # header names vary by client
                continue
            problems += same_shape(ours[key], documented[key], f"{path}.{key}")
        return problems
    if type(ours) is not type(documented):
        return [f"{path}: {type(ours).__name__}, documented {type(documented).__name__}"]
    return []


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


def get_records_record() -> dict[str, Any]:
    """A record as boto3's GetRecords returns it (timestamps parsed to datetime)."""
    return {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2015, 4, 9, tzinfo=UTC),
            "Keys": {"room": {"S": "general"}, "id": {"S": "1"}},
            "NewImage": {"room": {"S": "general"}, "id": {"S": "1"}},
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 26,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_stream_record_matches_the_documented_example():
    arn = aws_examples.DYNAMODB_STREAM["Records"][0]["eventSourceARN"]
    event = {"Records": [lambda_record(get_records_record(), arn, "us-east-1")]}
    assert same_shape(event, aws_examples.DYNAMODB_STREAM) == []
    assert event["Records"][0]["dynamodb"]["ApproximateCreationDateTime"] == 1428537600


def test_chalice_reads_our_stream_records():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/chat-local-messages/stream/2026"
    event = {"Records": [lambda_record(get_records_record(), arn, "us-east-1")]}
    record = next(iter(DynamoDBEvent(event, None)))
    assert record.table_name == "chat-local-messages"
    assert record.sequence_number == "4421584500000000017450439091"
    assert record.new_image == {"room": {"S": "general"}, "id": {"S": "1"}}
