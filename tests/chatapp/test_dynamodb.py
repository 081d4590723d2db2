"""The embedded database's upkeep keeps a long-running moto's memory bounded."""

from __future__ import annotations

import gc

import boto3
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item

from chalicelib import settings
from chatapp.dynamodb import EmbeddedDynamoDB, ensure_tables
from tests.support import environment


def live_items() -> int:
    gc.collect()
    return sum(isinstance(obj, Item) for obj in gc.get_objects())


def test_upkeep_frees_what_moto_tracks_and_keeps_what_is_stored(monkeypatch):
    for name, value in environment.FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        ensure_tables(dynamodb)
        table = settings.table_name("connections")
        EmbeddedDynamoDB.forget_tracked_instances()  # what earlier tests left tracked
        before = live_items()
        for n in range(200):
            key = {"connection_id": {"S": f"c{n}"}}
            dynamodb.put_item(TableName=table, Item={**key, "room": {"S": "r"}})
            if n % 2:
                dynamodb.delete_item(TableName=table, Key=key)
        assert live_items() - before >= 200  # moto's dashboard lists hold even deleted items

        EmbeddedDynamoDB.forget_tracked_instances()

        assert live_items() - before == 100  # only the items still stored
        assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == 100
