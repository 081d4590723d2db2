"""chatapp.tables: a data dir kept from before tables.json gained an index gets it at start."""

from __future__ import annotations

import boto3
from moto import mock_aws

from chalicelib import settings
from chatapp.tables import create_table_request, ensure_tables, table_names


def test_an_index_added_to_tables_json_is_added_to_an_existing_table(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        ddb = boto3.client("dynamodb")
        name = table_names()["memberships"]
        spec = settings.TABLES["memberships"]
        older = {k: v for k, v in spec.items() if k != "global_secondary_indexes"}
        older["attributes"] = {"username_key": "S", "room": "S"}  # as first defined
        ddb.create_table(**create_table_request(name, older))

        ensure_tables(ddb)

        indexes = ddb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
        assert {i["IndexName"] for i in indexes} == {
            i["name"] for i in settings.TABLES["memberships"]["global_secondary_indexes"]}
        answer = ddb.query(
            TableName=name, IndexName="recent-index",
            KeyConditionExpression="username_key = :u",
            ExpressionAttributeValues={":u": {"S": "alice"}},
        )
        assert answer["Items"] == []
