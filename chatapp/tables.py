"""The tables of tables.json, created as the deployment would create them, and their streams.

Used wherever a DynamoDB needs the project's tables: the embedded database, an
external one (`chatapp serve --dynamodb-endpoint`), tests and benchmarks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from chalicelib import settings
from chalicelib.store.connection_slots import ConnectionSlots

log = logging.getLogger("chatapp.tables")

REGION = "us-east-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client(endpoint: str, service: str = "dynamodb") -> Any:
    """A boto3 client for a local endpoint, with fake credentials of its own."""
    return boto3.session.Session(region_name=REGION, **FAKE_CREDENTIALS).client(
        service,
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


def table_names(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Logical table name → physical name, for this environment."""
    return {logical: settings.table_name(logical, environ) for logical in settings.TABLES}


def create_table_request(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTable parameters for one tables.json entry (on-demand billing)."""
    keys = [{"AttributeName": spec["hash_key"], "KeyType": "HASH"}]
    if spec.get("range_key"):
        keys.append({"AttributeName": spec["range_key"], "KeyType": "RANGE"})
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": kind}
            for attribute, kind in spec["attributes"].items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    indexes = []
    for index in spec.get("global_secondary_indexes", []):
        index_keys = [{"AttributeName": index["hash_key"], "KeyType": "HASH"}]
        if index.get("range_key"):
            index_keys.append({"AttributeName": index["range_key"], "KeyType": "RANGE"})
        indexes.append(
            {
                "IndexName": index["name"],
                "KeySchema": index_keys,
                "Projection": _projection(index),
            }
        )
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    # Local indexes share the table's hash key and allow strongly consistent reads.
    local = [
        {
            "IndexName": index["name"],
            "KeySchema": [
                {"AttributeName": spec["hash_key"], "KeyType": "HASH"},
                {"AttributeName": index["range_key"], "KeyType": "RANGE"},
            ],
            "Projection": _projection(index),
        }
        for index in spec.get("local_secondary_indexes", [])
    ]
    if local:
        request["LocalSecondaryIndexes"] = local
    if spec.get("stream_view_type"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": spec["stream_view_type"],
        }
    return request


def _projection(index: Mapping[str, Any]) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.get("projection", "ALL")}
    if index.get("non_key_attributes"):
        projection["NonKeyAttributes"] = list(index["non_key_attributes"])
    return projection


def ensure_tables(ddb: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Create every table of tables.json that is missing; returns those created."""
    existing: set[str] = set()
    for page in ddb.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created: dict[str, dict[str, Any]] = {}
    creating: list[str] = []
    for logical, name in table_names(environ).items():
        if name in existing:
            add_missing_indexes(ddb, name, settings.TABLES[logical])
            continue
        spec = settings.TABLES[logical]
        answer = ddb.create_table(**create_table_request(name, spec))
        created[name] = spec
        log.info("created table %s", name)
        # DynamoDB answers CREATING and builds the tables side by side; moto and
        # DynamoDB Local answer ACTIVE: nothing to wait for.
        if answer["TableDescription"].get("TableStatus") != "ACTIVE":
            creating.append(name)
    for name in creating:
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    for name, spec in created.items():
        if spec.get("ttl_attribute"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["ttl_attribute"]},
            )
    return list(created)


def add_missing_indexes(ddb: Any, name: str, spec: Mapping[str, Any]) -> list[str]:
    """Add the global indexes tables.json gained since the table was made (a kept data dir).

    One UpdateTable per index, as DynamoDB requires; returns the indexes added.
    """
    table = ddb.describe_table(TableName=name)["Table"]
    have = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    wanted = create_table_request(name, spec).get("GlobalSecondaryIndexes", [])
    added = []
    for index in wanted:
        if index["IndexName"] in have:
            continue
        ddb.update_table(
            TableName=name,
            AttributeDefinitions=create_table_request(name, spec)["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        log.info("added index %s to table %s", index["IndexName"], name)
        added.append(index["IndexName"])
    return added


def forget_connections(ddb: Any, environ: Mapping[str, str] | None = None) -> int:
    """Forget every connection record, membership connection set and connection slot.

    Returns the number of connections forgotten.

    Connections never survive a restart of the local server (PROTOCOL.md): their
    sockets are gone, so they must count against nothing and be present nowhere.
    Run before the stream pollers start, which read from LATEST: the deletes
    tell no one.
    """
    names = table_names(environ)
    forgotten = 0
    for page in ddb.get_paginator("scan").paginate(
        TableName=names["connections"], ProjectionExpression="connection_id"
    ):
        for item in page["Items"]:
            ddb.delete_item(TableName=names["connections"], Key=item)
            forgotten += 1
    for page in ddb.get_paginator("scan").paginate(
        TableName=names["memberships"],
        ProjectionExpression="username_key, room",
        FilterExpression="attribute_exists(connections)",
    ):
        for key in page["Items"]:
            ddb.update_item(
                TableName=names["memberships"], Key=key, UpdateExpression="REMOVE connections"
            )
    # Their slots under the per-user connection cap go with them.
    for page in ddb.get_paginator("scan").paginate(
        TableName=names["guards"],
        ProjectionExpression="guard_key",
        FilterExpression="begins_with(guard_key, :slots)",
        ExpressionAttributeValues={":slots": {"S": ConnectionSlots.PREFIX}},
    ):
        for key in page["Items"]:
            ddb.delete_item(TableName=names["guards"], Key=key)
    return forgotten


def stream_arns(ddb: Any, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each streamed table's stream_arn_env variable → its latest stream ARN."""
    return {
        spec["stream_arn_env"]: stream_arn(ddb, settings.table_name(logical, environ))
        for logical, spec in settings.TABLES.items()
        if "stream_arn_env" in spec
    }


def stream_arn(ddb: Any, table: str) -> str:
    """The latest stream ARN of a table (DescribeTable)."""
    arn = ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not arn:
        raise RuntimeError(f"table {table} has no stream; tables.json says it should")
    return arn
