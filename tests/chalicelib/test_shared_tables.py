"""The shared moto tables (tests/support/inprocess.py): what a test leaves, the next never sees."""

from __future__ import annotations

import boto3

from chalicelib import settings
from tests.support.streams import TableStream


def put_message(aws, room: str, message_id: str) -> None:
    aws.put_item(
        TableName=settings.get().messages_table,
        Item={"room": {"S": room}, "id": {"S": message_id}, "rev": {"N": "1"}},
    )


def test_clear_leaves_no_item_no_stream_record_no_iterator_and_no_other_service(
    aws, moto_tables
):
    put_message(aws, "lobby", "m1")
    before = TableStream(aws, "messages")
    assert len(before.event()["Records"]) == 1
    queue = boto3.client("sqs").create_queue(QueueName="left-behind")["QueueUrl"]
    assert queue

    moto_tables.clear()

    table = settings.get().messages_table
    assert aws.scan(TableName=table)["Items"] == []
    assert TableStream(aws, "messages").event()["Records"] == []  # from TRIM_HORIZON
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []
    put_message(aws, "lobby", "m2")  # the stream goes on; a new reader sees only this
    (record,) = TableStream(aws, "messages").event()["Records"]
    assert record["dynamodb"]["Keys"]["id"] == {"S": "m2"}


def test_a_changed_table_definition_is_made_again(aws, moto_tables):
    table = settings.get().users_table
    aws.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "gone_at"}
    )
    aws.delete_table(TableName=settings.get().rooms_table)

    moto_tables.clear()

    dynamodb = moto_tables.dynamodb
    names = set(dynamodb.list_tables()["TableNames"])
    assert names == {settings.table_name(logical) for logical in settings.TABLES}
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"
