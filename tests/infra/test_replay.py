"""`python -m infra.tools replay`: what the on-failure queues kept is re-driven once.

Against moto (SQS, DynamoDB and its stream) with the app's own handlers behind
a loopback Lambda Invoke endpoint. The queue messages are the on-failure
records Lambda writes (a stream batch's DDBStreamBatchInfo; an asynchronous
invocation's requestPayload), for records the fan-out really failed on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from chalice.local import LambdaContext

import app as chat_app
from infra.tools import replay
from tests.chalicelib.conftest import aws, chat, client, moto_tables, outbox  # noqa: F401 (fixtures)
from tests.support.management_server import serve_on_loopback
from tests.support.streams import TableStream
from tests.support.waiting import wait_until

ACCOUNT = "123456789012"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:chalice-chat-dev-{name}"


@pytest.fixture
def lambda_endpoint(aws, monkeypatch) -> Iterator[list[str]]:  # noqa: F811
    """Lambda's Invoke, running the app's functions here; yields the names invoked."""
    invoked: list[str] = []

    class Invoke(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            name = unquote(self.path.split("/functions/")[1].split("/")[0])
            short = name.rsplit(":", 1)[-1].rsplit("-", 1)[-1]
            invoked.append(short)
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            headers = {}
            try:
                answer = chat_app.app.handler_map[short](payload, LambdaContext(name, 128))
            except Exception as failure:
                headers["X-Amz-Function-Error"] = "Unhandled"
                answer = {"errorMessage": str(failure)}
            data = json.dumps(answer).encode()
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_on_loopback(Invoke) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
        yield invoked


@pytest.fixture
def queue(aws) -> str:  # noqa: F811
    return boto3.client("sqs").create_queue(QueueName="failed-on_new_messages")["QueueUrl"]


def texts(outbox, connection):  # noqa: F811
    return [f["message"]["text"] for f in outbox.frames(connection) if f["type"] == "message"]


def run(queue: str, dry_run: bool = False) -> replay.Report:
    return replay.replay_queues(
        boto3.client("sqs"), boto3.client("dynamodbstreams"), boto3.client("lambda"),
        [queue], dry_run=dry_run,
    )


def stream_batch_failure(event: dict[str, Any], function: str) -> dict[str, Any]:
    """Lambda's on-failure record for a DynamoDB stream batch it gave up on."""
    records = event["Records"]
    return {
        "requestContext": {
            "requestId": "r-1", "functionArn": function_arn(function),
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0",
        "timestamp": "2026-12-03T00:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "batchSize": len(records),
            "streamArn": records[0]["eventSourceARN"],
        },
    }


def test_a_stream_batch_that_kept_failing_is_replayed_from_its_queue_once(
    aws, chat, outbox, queue, lambda_endpoint  # noqa: F811
):
    stream = TableStream(aws, "messages")
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    chat.send(alice, {"action": "sendMessage", "text": "kept, not lost"})
    event = stream.event()
    outbox.broken.add(bob)  # the Management API keeps failing for bob: the batch fails
    answer = chat.client.lambda_.invoke("on_new_messages", event).payload
    assert answer["batchItemFailures"]  # what Lambda retries, then hands to the destination
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream.arn)
    body = stream_batch_failure(event, "on_new_messages")
    body["DDBStreamBatchInfo"]["shardId"] = shard["StreamDescription"]["Shards"][0]["ShardId"]
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    outbox.broken.clear()

    dry = run(queue, dry_run=True)
    assert (dry.found, dry.replayed) == (1, 0) and lambda_endpoint == []
    assert texts(outbox, bob) == []

    report = run(queue)
    assert (report.found, report.replayed, report.kept) == (1, 1, 0)
    assert texts(outbox, bob) == ["kept, not lost"]
    assert run(queue).found == 0  # gone from the queue: delivered once
    assert texts(outbox, bob) == ["kept, not lost"]


def test_a_batch_that_fails_again_stays_in_the_queue(
    aws, chat, outbox, queue, lambda_endpoint, monkeypatch  # noqa: F811
):
    stream = TableStream(aws, "messages")
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    chat.send(alice, {"action": "sendMessage", "text": "still failing"})
    event = stream.event()
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream.arn)
    body = stream_batch_failure(event, "on_new_messages")
    body["DDBStreamBatchInfo"]["shardId"] = shard["StreamDescription"]["Shards"][0]["ShardId"]
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    # Kept messages come back after VISIBILITY_SECONDS; here at once, for the next run.
    monkeypatch.setattr(replay, "VISIBILITY_SECONDS", 0)
    outbox.broken.add(bob)
    assert run(queue).kept == 1
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"  # still there
    outbox.broken.clear()
    assert run(queue).replayed == 1
    assert texts(outbox, bob) == ["still failing"]


def test_a_failed_big_room_page_is_invoked_again_by_its_keys(
    aws, chat, outbox, queue, lambda_endpoint  # noqa: F811
):
    stream = TableStream(aws, "messages")
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    chat.send(alice, {"action": "sendMessage", "text": "paged"})
    (record,) = stream.event()["Records"]
    message_id = record["dynamodb"]["NewImage"]["id"]["S"]
    page = {"room": "lobby", "connectionIds": [bob], "messages": [[message_id, "message"]]}
    body = {"requestContext": {"functionArn": function_arn("deliver_to_connections"),
                               "condition": "RetriesExhausted"},
            "requestPayload": page}
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    assert run(queue).replayed == 1
    assert texts(outbox, bob) == ["paged"]
    assert lambda_endpoint == ["deliver_to_connections"]


def test_a_record_the_mapping_keeps_failing_lands_in_the_destination_and_replays_once(
    aws, chat, outbox, queue, lambda_endpoint, monkeypatch  # noqa: F811
):
    from chatapp import streams as mapping

    monkeypatch.setattr(mapping, "RETRY_BACKOFF_SECONDS", (0.01,))
    sqs = boto3.client("sqs")
    stream = TableStream(aws, "messages")
    poller = mapping.StreamPoller(
        boto3.client("dynamodbstreams"), stream.arn,
        chat_app.app.handler_map["on_new_messages"], "on_new_messages", 100, "us-east-1",
        on_failure=lambda record: sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record)),
    ).start()
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    outbox.broken.add(bob)  # every attempt fails for bob
    try:
        chat.send(alice, {"action": "sendMessage", "text": "given up, not lost"})
        wait_until(
            lambda: sqs.get_queue_attributes(
                QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"] != "0",
            "the failed record in the on-failure queue",
            30,
            interval=0.05,
        )
    finally:
        poller.stop()
    assert texts(outbox, bob) == []
    outbox.broken.clear()
    report = run(queue)
    assert (report.found, report.replayed) == (1, 1)
    assert texts(outbox, bob) == ["given up, not lost"]
    assert run(queue).found == 0
    assert texts(outbox, bob) == ["given up, not lost"]
