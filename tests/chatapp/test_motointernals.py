"""What chatapp.motointernals takes from moto (written for moto 5.2.1), checked name by name.

A moto upgrade that renames, re-signs or changes one of these fails here with
the reason; fix chatapp/motointernals.py, then MOTO_VERSION.
"""

from __future__ import annotations

import gc
import importlib
import inspect
from typing import Any

import pytest
from botocore.exceptions import ClientError
from werkzeug.test import EnvironBuilder

from chatapp import motointernals
from chatapp.dynamodb import EmbeddedDynamoDB
from chatapp.tables import client, stream_arn, table_names

UPGRADE = "moto changed what chatapp/motointernals.py relies on: "


@pytest.fixture(scope="module")
def streams(db: EmbeddedDynamoDB) -> Any:
    return client(db.endpoint, "dynamodbstreams")


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def latest_iterator(ddb: Any, streams: Any, table: str) -> str:
    arn = stream_arn(ddb, table)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    return streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
    )["ShardIterator"]


def live_items() -> int:
    from moto.dynamodb.models.dynamo_type import Item

    gc.collect()
    return sum(isinstance(obj, Item) for obj in gc.get_objects())


def test_backend_methods_the_transaction_fix_calls_keep_their_signatures():
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    expected = {
        DynamoDBBackend.get_table: ["self", "table_name"],
        DynamoDBBackend.get_item: ["self", "table_name", "keys"],
        DynamoDBBackend.put_item: ["self", "table_name", "item_attrs"],
        DynamoDBBackend.delete_item: ["self", "table_name", "key"],
        get_filter_expression: ["expr", "names", "values"],
    }
    for function, leading in expected.items():
        assert parameters(function)[: len(leading)] == leading, (
            UPGRADE + f"{function.__qualname__}{inspect.signature(function)}"
        )
    update = parameters(DynamoDBBackend.update_item)
    for name in ("update_expression", "expression_attribute_names", "expression_attribute_values"):
        assert name in update, UPGRADE + f"DynamoDBBackend.update_item has no {name}"
    assert "dynamodb_backend.transact_write_items(transact_items)" in inspect.getsource(
        DynamoHandler.transact_write_items
    ), UPGRADE + "DynamoHandler no longer calls backend.transact_write_items(transact_items)"


def test_cancelled_transaction_leaves_no_stream_record_and_the_stream_keeps_working(
    ddb, streams
):
    table = table_names()["messages"]
    iterator = latest_iterator(ddb, streams, table)
    put = {
        "Put": {
            "TableName": table,
            "Item": {"room": {"S": "transact"}, "id": {"S": "1"}},
            "ConditionExpression": "attribute_not_exists(id)",
        }
    }
    ddb.transact_write_items(TransactItems=[put])
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=[put])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    ddb.put_item(TableName=table, Item={"room": {"S": "transact"}, "id": {"S": "2"}})

    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["1", "2"], (
        "a cancelled transaction wrote a stream record, or the stream detached: "
        "is motointernals.install() still in effect?"
    )


def test_the_transaction_fix_is_undone_once_every_install_is():
    from moto.dynamodb.models import DynamoDBBackend

    held_by_db = motointernals.installed()  # the module's embedded database, if started
    first, second = motointernals.install(), motointernals.install()
    assert motointernals.installed()
    first()
    first()  # an undo works once
    assert motointernals.installed()
    second()
    assert motointernals.installed() is held_by_db
    if not held_by_db:  # moto's own is back
        assert DynamoDBBackend.transact_write_items.__module__.startswith("moto.dynamodb")


def test_an_embedded_database_holds_the_transaction_fix_while_it_runs():
    before = motointernals.installed()
    database = EmbeddedDynamoDB().start()
    try:
        assert motointernals.installed()
    finally:
        database.stop()
    assert motointernals.installed() is before


def test_dynamodb_targets_are_answered_by_moto_handlers_without_routing():
    for location in motointernals.SERVICE_HANDLERS.values():
        module, _, name = location.partition(":")
        handler = getattr(importlib.import_module(module), name, None)
        assert callable(getattr(handler, "dispatch", None)), UPGRADE + f"{location}.dispatch"
    environ = EnvironBuilder(
        method="POST",
        path="/",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
        data=b"{}",
        content_type="application/x-amz-json-1.0",
    ).get_environ()
    started: list[str] = []
    body = motointernals.route_directly(environ, lambda status, headers: started.append(status))
    assert started == ["200 OK"] and body is not None and b"TableNames" in body[0], UPGRADE + (
        f"DynamoHandler.dispatch answered {started} {body!r}"
    )
    assert motointernals.route_directly({"HTTP_X_AMZ_TARGET": "Other.Call"}, print) is None


def test_table_items_reads_stored_items_in_dynamodb_json(db, ddb):
    table = table_names()["messages"]
    item = {"room": {"S": "dump"}, "id": {"S": "1"}, "blob": {"B": b"\x00\x01"}}
    ddb.put_item(TableName=table, Item=item)
    stored = motointernals.table_items([table])[table]
    assert item in stored, UPGRADE + "backend.tables[name].all_items() / Item.to_json()"
    assert set(motointernals.table_items(["no-such-table"])) == set()


def test_shard_iterators_expire_a_sweep_later(ddb, streams):
    iterator = latest_iterator(ddb, streams, table_names()["messages"])
    for _ in range(20):
        iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
    first = motointernals.expire_iterators(set())
    assert len(first) >= 20, UPGRADE + "dynamodbstreams backend.shard_iterators"
    assert motointernals.expire_iterators(first) == set()


def test_trimmed_stream_keeps_its_sequence_numbers(ddb, streams):
    table = table_names()["messages"]
    arn = stream_arn(ddb, table)
    ddb.put_item(TableName=table, Item={"room": {"S": "trim"}, "id": {"S": "1"}})
    assert motointernals.trim_streams(retention_seconds=0) >= 1, UPGRADE + (
        "table.stream_shard.items[].record['dynamodb']['ApproximateCreationDateTime']"
    )
    assert motointernals.stream_record_count() == 0
    ddb.put_item(TableName=table, Item={"room": {"S": "trim"}, "id": {"S": "2"}})
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    oldest = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=oldest)["Records"]
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["2"], UPGRADE + (
        "StreamShard numbers records len(items) + starting_sequence_number"
    )


def test_objects_made_per_request_are_not_tracked(ddb, streams):
    from moto.core.common_models import BaseModel

    assert "instances_tracked.append" in inspect.getsource(BaseModel.__new__), (
        UPGRADE + "BaseModel.__new__ appends every instance to cls.instances_tracked"
    )
    table = table_names()["connections"]
    iterator = latest_iterator(ddb, streams, table)
    before = live_items()
    for n in range(200):
        key = {"connection_id": {"S": f"c{n}"}}
        ddb.put_item(TableName=table, Item={**key, "room": {"S": "untracked"}})
        if n % 2:
            ddb.delete_item(TableName=table, Key=key)
    copies = ddb.query(
        TableName=table,
        IndexName="room-index",
        KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": {"S": "untracked"}},
    )["Items"]
    records = streams.get_records(ShardIterator=iterator)["Records"]

    assert len(copies) == 100 and len(records) == 300
    # What is stored stays; the deleted items and the Query's copies are gone,
    # with no list of moto's keeping them.
    assert live_items() - before == 100
