"""The backend in one process, with faults: moto DynamoDB, the real handlers, a stream reader.

`Backend` drives the Lambda entry points through chalice.test.Client as API
Gateway and the stream's event source mapping would; PostToConnection is
answered by chatapp's Management API over `ManagementAPI`, and `DynamoDBFaults` throttles
the backend's DynamoDB calls inside botocore's retry loop, so the retries the
code configured are the ones that run.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from chalice.test import Client

from chalicelib import auth, clock, settings
from chalicelib.store.messages import message_from_item
from chatapp.management import Gone
from chatapp.streams import failed_from, lambda_record
from tests.support import events
from tests.support.frames import unwrap

THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
STREAM_MAX_ATTEMPTS = 50  # per batch; far above what a 10% fault rate needs


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Any:
        yield self.payload


def _response(url: str, status: int, headers: dict[str, str], payload: bytes) -> AWSResponse:
    return AWSResponse(url, status, headers, _Body(payload))


@dataclass
class ManagementAPI:
    """The connections behind chatapp's Management API, served on a loopback port.

    `fail(connection_id, n)` decides per post (n counts posts from 0): None to
    deliver, or an HTTP status to answer (410 Gone, 500, ...). `sent` holds
    each frame delivered, `batch` frames unwrapped.
    """

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: Callable[[str, int], int | None] = lambda connection_id, n: None
    posts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, connection: str, data: bytes) -> None:
        with self._lock:
            n, self.posts = self.posts, self.posts + 1
        status = self.fail(connection, n)
        if status == 410:
            raise Gone(connection)
        if status is not None:
            raise RuntimeError(f"injected {status}")
        with self._lock:
            self.sent += [(connection, frame) for frame in unwrap(data)]

    def delete(self, connection: str) -> None:
        raise Gone(connection)

    def info(self, connection: str) -> dict[str, Any]:
        raise Gone(connection)

    def frames(self, connection: str) -> list[dict[str, Any]]:
        with self._lock:
            return [frame for cid, frame in self.sent if cid == connection]


class DynamoDBFaults:
    """Throttles a share of the backend's DynamoDB calls, inside botocore's retry loop.

    Per call (before-call) a `rate` share is chosen; a chosen call fails its
    first 1 to attempts + 1 attempts (before-send answers 400 with a throttling
    code, which botocore's standard mode retries with backoff), so some chosen
    calls recover on a retry and some run out of retries and fail.
    `attempts` records how many attempts every call took.

    botocore calls every before-send handler and keeps the first answer, so
    with moto's in-process stubber also registered moto would execute a
    request we answered as throttled. This client's stubber is unregistered
    and called from here, only for the attempts that are not throttled.
    """

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.enabled = False
        # Operations whose first attempt DynamoDB applies but whose answer is lost
        # (a 500 comes back instead), as after a timeout: the retry meets its own write.
        self.lose_first_answer: set[str] = set()
        self.injected = 0
        self.attempts: list[int] = []
        self.max_failing = 0
        self._call = threading.local()
        self._lock = threading.Lock()

    def install(self, client: Any) -> None:
        from moto.core.models import botocore_stubber

        self._moto = botocore_stubber
        self.max_failing = client.meta.config.retries["total_max_attempts"] + 1
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-call.dynamodb", self._before_call)
        client.meta.events.register("before-send.dynamodb", self._before_send)
        client.meta.events.register("after-call.dynamodb", self._after_call)
        client.meta.events.register("after-call-error.dynamodb", self._after_call)

    def _before_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            chosen = self.enabled and self.random.random() < self.rate
            failing = self.random.randint(1, self.max_failing) if chosen else 0
        self._call.failing, self._call.attempt = failing, 0
        self._call.lose = model.name in self.lose_first_answer

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        self._call.attempt += 1
        if self._call.lose and self._call.attempt == 1:
            self._moto(event_name=event_name, request=request, **kwargs)  # applied...
            with self._lock:
                self.injected += 1
            payload = b'{"__type": "com.amazon.coral.service#InternalFailure"}'
            return _response(  # ...and answered with a 500, which botocore retries
                request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, payload
            )
        if self._call.attempt > self._call.failing:
            return self._moto(event_name=event_name, request=request, **kwargs)
        with self._lock:
            self.injected += 1
            code = self.random.choice(THROTTLING_CODES)
        payload = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}
        ).encode()
        return _response(
            request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, payload
        )

    def _after_call(self, **_: Any) -> None:
        with self._lock:
            self.attempts.append(getattr(self._call, "attempt", 0))


class Backend:
    """The handlers as API Gateway and Lambda call them, all in this process."""

    def __init__(self, client: Client, management: ManagementAPI, dynamodb: Any) -> None:
        self.client = client
        self.management = management
        self.dynamodb = dynamodb
        self.streams = boto3.client("dynamodbstreams")
        self.stream_arn = dynamodb.describe_table(TableName=settings.get().messages_table)[
            "Table"
        ]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"][
            "Shards"
        ][0]["ShardId"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        self.stream_invocations = 0

    # -- WebSocket routes --------------------------------------------------------------

    def connect(self, username: str, room: str) -> str:
        connection = events.connection_id()
        token = auth.start_session(username, clock.now_s()).token
        event = events.ws_event("$connect", connection, query={"token": token, "room": room})
        assert self.client.lambda_.invoke("connect", event).payload["statusCode"] == 200
        return connection

    def send(self, connection: str, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """One frame to $default; the frames this connection got back directly."""
        before = len(self.management.frames(connection))
        event = events.ws_event("$default", connection, body=json.dumps(frame))
        self.client.lambda_.invoke("message", event)
        return self.management.frames(connection)[before:]

    # -- the stream --------------------------------------------------------------------

    def new_records(self) -> list[dict[str, Any]]:
        """Every record the stream has that was not read yet, Lambda-shaped."""
        records = []
        while True:
            response = self.streams.get_records(ShardIterator=self.iterator)
            self.iterator = response["NextShardIterator"]
            if not response["Records"]:
                return records
            records += [lambda_record(r, self.stream_arn, "us-east-1") for r in response["Records"]]

    def invoke_stream(self, records: list[dict[str, Any]]) -> Any:
        self.stream_invocations += 1
        return self.client.lambda_.invoke("on_new_messages", {"Records": records}).payload

    def deliver(self, records: list[dict[str, Any]], batch_size: int = 100) -> int:
        """Lambda's event source mapping with ReportBatchItemFailures; returns the retries.

        A batch is retried from its first failed record (the records before it
        are checkpointed), as Lambda does, at most STREAM_MAX_ATTEMPTS times.
        """
        retries = 0
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            for _ in range(STREAM_MAX_ATTEMPTS):
                first_failed = failed_from(self.invoke_stream(batch), batch)
                if first_failed is None:
                    break
                batch, retries = batch[first_failed:], retries + 1
            else:
                raise AssertionError(f"batch still failing after {STREAM_MAX_ATTEMPTS} attempts")
        return retries

    # -- what is stored ----------------------------------------------------------------

    def stored(self, room: str) -> list[dict[str, Any]]:
        """Every message of a room as the table holds it (read without faults)."""
        items, kwargs = [], {
            "TableName": settings.get().messages_table,
            "KeyConditionExpression": "room = :room",
            "ExpressionAttributeValues": {":room": {"S": room}},
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            items += [message_from_item(item).to_wire() for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def is_registered(self, connection: str) -> bool:
        key = {"connection_id": {"S": connection}}
        item = self.dynamodb.get_item(TableName=settings.get().connections_table, Key=key)
        return "Item" in item


def message_ids(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["message"]["id"] for frame in frames if frame.get("type") == "message"]
