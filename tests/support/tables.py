"""Create the project's tables (chalicelib/tables.json) through any DynamoDB client."""

from __future__ import annotations

from typing import Any

from chalicelib.settings import TABLES, table_name


def create_table_request(logical: str, name: str) -> dict[str, Any]:
    """CreateTable arguments for one table of tables.json."""
    spec = TABLES[logical]
    keys = [{"AttributeName": spec["hash_key"], "KeyType": "HASH"}]
    if "range_key" in spec:
        keys.append({"AttributeName": spec["range_key"], "KeyType": "RANGE"})
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [
            {"AttributeName": attr, "AttributeType": kind}
            for attr, kind in spec["attributes"].items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if "stream_view_type" in spec:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": spec["stream_view_type"],
        }
    indexes = spec.get("global_secondary_indexes", [])
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index["name"],
                "KeySchema": [{"AttributeName": index["hash_key"], "KeyType": "HASH"}],
                "Projection": {"ProjectionType": index["projection"]},
            }
            for index in indexes
        ]
    return request


def create_tables(dynamodb: Any) -> None:
    for logical in TABLES:
        dynamodb.create_table(**create_table_request(logical, table_name(logical)))
