"""Reading a table's real (moto) stream into Lambda-shaped events, for handler tests."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib import settings
from chatapp.streams import lambda_record


class TableStream:
    """A table's stream read from its start; each event() holds only records new since the last."""

    def __init__(self, dynamodb: Any, logical: str) -> None:
        self.streams = boto3.client("dynamodbstreams")
        table = settings.table_name(logical)
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        description = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn,
            ShardId=description["Shards"][0]["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]

    def event(self) -> dict[str, Any]:
        """The records written since the last call, as the event source mapping hands them over."""
        response = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = response["NextShardIterator"]
        return {"Records": [lambda_record(r, self.arn, "us-east-1") for r in response["Records"]]}
