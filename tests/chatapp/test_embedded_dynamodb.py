"""The embedded DynamoDB serves one request at a time and answers as moto's own code would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chatapp import motointernals
from chatapp.tables import client, stream_arn, table_names
from tests.support.chatclient import call, unique
from tests.support.localserver import server_fixture

server = server_fixture(rate_limit=0)


@pytest.fixture
def eager_threads() -> Iterator[None]:
    """Threads switch every microsecond (not every 5 ms): interleavings show up at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def S(value: str) -> dict[str, str]:
    return {"S": value}


def test_concurrent_signups_of_one_name_make_one_user(server):
    name = unique("twin")[:24]
    body = {"username": name, "password": "pw-12345678"}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: call(server.api_url, "/signup", body), range(10)))
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) - {201} <= {409}, statuses


def test_conditional_puts_of_one_key_from_many_threads_let_exactly_one_through(
    ddb, eager_threads
):
    table, key = table_names()["guards"], unique("race")
    made: list[bool] = []

    def put(n: int) -> None:
        try:
            ddb.put_item(
                TableName=table, Item={"guard_key": S(key), "by": S(str(n))},
                ConditionExpression="attribute_not_exists(guard_key)",
            )
            made.append(True)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            made.append(False)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(put, range(20)))
    assert made.count(True) == 1, made


def test_plain_requests_and_answers_are_what_motos_own_parser_and_serializer_make(
    db, ddb, monkeypatch
):
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    compared: list[tuple[str, bool]] = []

    def both(self: Any, result: Any) -> Any:
        fast = motointernals.serialized(self, result)
        slow = BaseResponse.serialized(self, result)
        same = (fast[0], fast[1], json.loads(fast[2])) == (slow[0], slow[1], json.loads(slow[2]))
        compared.append((self._get_action(), same))
        return fast

    def parsed_both(self: Any, request: Any) -> None:
        BaseResponse.parse_parameters(self, request)
        slow = self.params
        motointernals.parse_parameters(self, request)
        compared.append((f"parse {self._get_action()}", self.params == slow))

    monkeypatch.setattr(DynamoHandler, "serialized", both)
    monkeypatch.setattr(DynamoDBStreamsHandler, "serialized", both)
    monkeypatch.setattr(DynamoHandler, "parse_parameters", parsed_both)
    streams = client(db.endpoint, "dynamodbstreams")
    stream = streams.describe_stream(StreamArn=stream_arn(ddb, table_names()["messages"]))
    shard = stream["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream["StreamDescription"]["StreamArn"], ShardId=shard,
        ShardIteratorType="LATEST",
    )["ShardIterator"]
    names = table_names()
    messages, rooms, guards = names["messages"], names["rooms"], names["guards"]
    room = unique("plain")
    item = {"room": S(room), "id": S("000000000001"), "rev": {"N": "1"}, "text": S("hi"),
            "deleted": {"BOOL": False}, "tags": {"SS": ["a", "b"]}, "meta": {"M": {
                "n": {"N": "2"}, "l": {"L": [S("x"), {"NULL": True}]}}}}
    ddb.put_item(TableName=messages, Item=item)
    ddb.get_item(TableName=messages, Key={"room": S(room), "id": S("000000000001")})
    ddb.get_item(TableName=messages, Key={"room": S(room), "id": S("000000000404")})
    ddb.update_item(
        TableName=rooms, Key={"room": S(room)}, UpdateExpression="SET rev = :one",
        ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW",
    )
    ddb.query(
        TableName=messages, KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": S(room)}, Limit=1,
    )
    ddb.batch_get_item(RequestItems={
        messages: {"Keys": [{"room": S(room), "id": S("000000000001")}], "ConsistentRead": True},
        rooms: {"Keys": [{"room": S(room)}], "ProjectionExpression": "rev"},
    })
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": guards, "Item": {"guard_key": S(room)},
                 "ConditionExpression": "attribute_not_exists(guard_key)"}},
    ])
    with pytest.raises(ClientError) as cancelled:  # an error: moto's serializer answers it
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": rooms, "Key": {"room": S(room)},
                        "UpdateExpression": "SET rev = :two",
                        "ConditionExpression": "rev = :zero",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    reasons = cancelled.value.response["CancellationReasons"]
    assert reasons[0]["Item"]["rev"] == {"N": "1"}
    ddb.delete_item(TableName=messages, Key={"room": S(room), "id": S("000000000001")},
                    ReturnValues="ALL_OLD")
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "REMOVE"]
    assert compared and [action for action, same in compared if not same] == [], compared
    hot = {
        "PutItem", "GetItem", "UpdateItem", "Query", "BatchGetItem", "TransactWriteItems",
        "DeleteItem",
    }
    streams = {"GetShardIterator", "GetRecords"}  # (parsed from the query string by moto)
    assert {action for action, _ in compared} >= hot | streams | {f"parse {a}" for a in hot}


def test_moto_methods_the_short_ways_stand_in_for_keep_their_signatures(db):
    import inspect

    from moto.core.responses import BaseResponse
    from moto.core.serialize import TimestampSerializer

    def parameters(function: Any) -> list[str]:
        return list(inspect.signature(function).parameters)

    upgrade = "moto changed what chatapp/motointernals.py stands in for: "
    assert parameters(motointernals._original_update_item) == parameters(
        motointernals.update_item
    ), upgrade + "DynamoDBBackend.update_item"
    assert parameters(motointernals._original_project) == ["self", "projection_expressions"], (
        upgrade + "Item.project"
    )
    assert parameters(BaseResponse.parse_parameters) == ["self", "request"], upgrade
    assert parameters(BaseResponse.serialized) == ["self", "action_result"], upgrade
    assert parameters(BaseResponse._enrich_response) == ["headers", "body"], upgrade
    assert callable(TimestampSerializer._timestamp_unixtimestamp), upgrade
