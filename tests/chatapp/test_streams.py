"""The event source mapping: LATEST start, batch size, order, partial-batch retries."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.app import DynamoDBEvent

from chatapp import streams
from chatapp.dynamodb import EmbeddedDynamoDB
from chatapp.streams import StreamPoller, failed_from, lambda_record
from chatapp.tables import client, stream_arn, table_names
from tests.chatapp import aws_examples
from tests.chatapp.aws_examples import same_shape
from tests.support.waiting import wait_until

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"


class FakeStream:
    """DynamoDB Streams for one shard, with records appended by the test."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, *texts: str) -> None:
        start = len(self.records)
        new = [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": datetime.now(UTC),
                    "Keys": {"id": {"S": text}},
                    "NewImage": {"id": {"S": text}},
                    "SequenceNumber": str(1000 + start + n),
                    "SizeBytes": 10,
                    "StreamViewType": "NEW_IMAGE",
                },
            }
            for n, text in enumerate(texts)
        ]
        self.records.extend(new)  # one step: a poll sees all of them or none

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        shard = {"ShardId": "shard-1", "SequenceNumberRange": {"StartingSequenceNumber": "1000"}}
        return {"StreamDescription": {"Shards": [shard]}}

    def get_shard_iterator(self, ShardIteratorType: str, SequenceNumber: str = "", **_: Any):
        position = {
            "LATEST": len(self.records),
            "TRIM_HORIZON": 0,
            "AFTER_SEQUENCE_NUMBER": int(SequenceNumber or 999) - 1000 + 1,
        }[ShardIteratorType]
        return {"ShardIterator": f"at-{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        position = int(ShardIterator.removeprefix("at-"))
        records = self.records[position : position + Limit]
        return {"Records": records, "NextShardIterator": f"at-{position + len(records)}"}


def texts(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["NewImage"]["id"]["S"] for r in event["Records"]]


def run_poller(
    stream: Any, handler: Callable[[dict, Any], Any], batch_size: int, arn: str = ARN
) -> StreamPoller:
    return StreamPoller(stream, arn, handler, "on_new_messages", batch_size, "us-east-1").start()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(streams, "RETRY_BACKOFF_SECONDS", (0.01,))


def test_starts_at_latest_and_delivers_in_order_in_batches_of_the_batch_size():
    stream, batches = FakeStream(), []
    stream.append("old-1", "old-2")
    poller = run_poller(stream, lambda event, context: batches.append(texts(event)), 3)
    try:
        stream.append("a", "b", "c", "d", "e", "f", "g")
        wait_until(lambda: sum(map(len, batches)) >= 7, "7 records")
    finally:
        poller.stop()
    assert batches == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


def test_batch_item_failure_retries_from_the_first_failed_record():
    stream, batches = FakeStream(), []

    def handler(event, context):
        batches.append(texts(event))
        if len(batches) == 1:
            failed = event["Records"][1]["dynamodb"]["SequenceNumber"]
            return {"batchItemFailures": [{"itemIdentifier": failed}]}
        return {"batchItemFailures": []}

    poller = run_poller(stream, handler, 10)
    try:
        stream.append("a", "b", "c")
        wait_until(lambda: len(batches) >= 2, "the retry")
    finally:
        poller.stop()
    assert batches[:2] == [["a", "b", "c"], ["b", "c"]]
    assert poller.records_done == 3


def test_an_exception_retries_the_whole_batch():
    stream, batches = FakeStream(), []

    def handler(event, context):
        batches.append(texts(event))
        if len(batches) == 1:
            raise RuntimeError("a Lambda error")

    poller = run_poller(stream, handler, 10)
    try:
        stream.append("a", "b")
        wait_until(lambda: len(batches) >= 2, "the retry")
    finally:
        poller.stop()
    assert batches[:2] == [["a", "b"], ["a", "b"]]


def test_a_poison_record_is_given_up_after_max_attempts_and_the_shard_moves_on():
    stream, batches = FakeStream(), []

    def handler(event, context):
        batches.append(texts(event))
        failed = [r for r in event["Records"] if texts({"Records": [r]}) == ["poison"]]
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in failed]
        return {"batchItemFailures": [{"itemIdentifier": s} for s in sequence_numbers]}

    poller = run_poller(stream, handler, 10)
    try:
        stream.append("poison")
        wait_until(lambda: len(batches) >= streams.MAX_ATTEMPTS, "the attempts")
        stream.append("next")
        wait_until(lambda: ["next"] in batches, "the next record")
    finally:
        poller.stop()
    assert batches.count(["poison"]) == streams.MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, None),
        ({"batchItemFailures": []}, None),
        ({"batchItemFailures": [{"itemIdentifier": "12"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "12"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": "99"}]}, 0),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0),
        ({"batchItemFailures": [{}]}, 0),
    ],
)
def test_failed_from_follows_lambdas_rules(response, expected):
    batch = [{"dynamodb": {"SequenceNumber": s}} for s in ("11", "12", "13")]
    assert failed_from(response, batch) == expected


def test_polls_the_embedded_dynamodb_stream_from_latest():
    db = EmbeddedDynamoDB().start()
    try:
        ddb = client(db.endpoint)
        table = table_names()["messages"]
        room = uuid.uuid4().hex
        ddb.put_item(TableName=table, Item={"room": {"S": room}, "id": {"S": "before"}})
        seen: list[str] = []
        lock = threading.Lock()

        def handler(event, context):
            with lock:
                seen.extend(
                    r["dynamodb"]["NewImage"]["id"]["S"]
                    for r in event["Records"]
                    if r["dynamodb"]["NewImage"]["room"]["S"] == room
                )
            assert event["Records"][0]["eventSourceARN"] == arn

        arn = stream_arn(ddb, table)
        poller = run_poller(client(db.endpoint, "dynamodbstreams"), handler, 100, arn)
        try:
            for n in range(5):
                ddb.put_item(TableName=table, Item={"room": {"S": room}, "id": {"S": f"m{n}"}})
            wait_until(lambda: len(seen) >= 5, "5 records")
        finally:
            poller.stop()
        assert seen == ["m0", "m1", "m2", "m3", "m4"]
    finally:
        db.stop()


def get_records_record() -> dict[str, Any]:
    """A record as boto3's GetRecords returns it (timestamps parsed to datetime)."""
    return {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2015, 4, 9, tzinfo=UTC),
            "Keys": {"room": {"S": "general"}, "id": {"S": "1"}},
            "NewImage": {"room": {"S": "general"}, "id": {"S": "1"}},
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 26,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_stream_record_matches_the_documented_example():
    arn = aws_examples.DYNAMODB_STREAM["Records"][0]["eventSourceARN"]
    event = {"Records": [lambda_record(get_records_record(), arn, "us-east-1")]}
    assert same_shape(event, aws_examples.DYNAMODB_STREAM) == []
    assert event["Records"][0]["dynamodb"]["ApproximateCreationDateTime"] == 1428537600


def test_chalice_reads_our_stream_records():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/chat-local-messages/stream/2026"
    event = {"Records": [lambda_record(get_records_record(), arn, "us-east-1")]}
    record = next(iter(DynamoDBEvent(event, None)))
    assert record.table_name == "chat-local-messages"
    assert record.sequence_number == "4421584500000000017450439091"
    assert record.new_image == {"room": {"S": "general"}, "id": {"S": "1"}}


# -- waking on a write instead of polling with back-off ---------------------------------


class FakeWrites:
    """The database's count of writes to the table, and the long poll on it."""

    def __init__(self) -> None:
        self.count = 0
        self.closed = False
        self.waiting = False  # a wait is under way and nothing new came
        self._changed = threading.Condition()

    def write(self) -> None:
        with self._changed:
            self.count += 1
            self.waiting = False
            self._changed.notify_all()

    def wait(self, after: int, timeout: float) -> int:
        with self._changed:
            self.waiting = self.count <= after
            self._changed.wait_for(lambda: self.count > after or self.closed, timeout)
            self.waiting = False
            if self.closed:
                raise OSError("closed")
            return self.count

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


@pytest.fixture
def no_polling(monkeypatch):
    """Back-off and long poll both far past wait_until's deadline: only a wake delivers."""
    monkeypatch.setattr(streams, "IDLE_POLL_SECONDS", (60.0,))
    monkeypatch.setattr(streams, "WRITES_WAIT_SECONDS", 60.0)


def test_an_idle_poller_reads_a_new_record_when_its_write_wakes_it(no_polling):
    stream, writes, batches = FakeStream(), FakeWrites(), []
    poller = StreamPoller(
        stream, ARN, lambda event, context: batches.append(texts(event)), "on_new_messages",
        10, "us-east-1", writes=writes,
    ).start()
    try:
        wait_until(lambda: writes.waiting, "the poller waiting for a write")
        stream.append("a")
        writes.write()
        wait_until(lambda: batches == [["a"]], "the record read on the write's wake-up")
        wait_until(lambda: writes.waiting, "the poller waiting again")
        reads = poller.reads
        stream.append("b", "c")
        writes.write()
        wait_until(lambda: len(batches) == 2, "the second write's records")
    finally:
        writes.close()
        poller.stop()
    assert batches == [["a"], ["b", "c"]]
    assert poller.reads - reads == 1  # woken once, read once: no polling in between


def test_woken_by_writes_a_shard_still_gets_one_batch_at_a_time_in_order(no_polling):
    stream, writes = FakeStream(), FakeWrites()
    delivered: list[str] = []
    running, most_at_once = [0], [0]
    lock, first_batch_may_end = threading.Lock(), threading.Event()

    def handler(event, context):
        with lock:
            running[0] += 1
            most_at_once[0] = max(most_at_once[0], running[0])
        first_batch_may_end.wait(10)
        with lock:
            delivered.extend(texts(event))
            running[0] -= 1

    poller = StreamPoller(
        stream, ARN, handler, "on_new_messages", 2, "us-east-1", writes=writes
    ).start()
    try:
        wait_until(lambda: writes.waiting, "the poller waiting for a write")
        stream.append("a")
        writes.write()
        wait_until(lambda: running[0] == 1, "the first batch running")
        for text in ("b", "c", "d", "e"):
            stream.append(text)
            writes.write()
        first_batch_may_end.set()
        wait_until(lambda: len(delivered) == 5, "every record")
    finally:
        writes.close()
        poller.stop()
    assert delivered == ["a", "b", "c", "d", "e"]
    assert most_at_once[0] == 1


def test_a_poller_whose_long_poll_fails_goes_back_to_polling(monkeypatch):
    class Refused(FakeWrites):
        def wait(self, after: int, timeout: float) -> int:
            raise OSError("HTTP 404")

    stream, batches = FakeStream(), []
    poller = StreamPoller(
        stream, ARN, lambda event, context: batches.append(texts(event)), "on_new_messages",
        10, "us-east-1", writes=Refused(),
    ).start()
    try:
        stream.append("a")
        wait_until(lambda: batches == [["a"]], "the record, polled")
    finally:
        poller.stop()
    assert poller.writes is None


def test_the_embedded_database_wakes_a_waiter_on_a_write_naming_its_table():
    from chatapp.dynamodb import WritesWaiter

    db = EmbeddedDynamoDB().start()
    waiter = WritesWaiter(db.endpoint, table_names()["messages"])
    try:
        ddb = client(db.endpoint)
        before = waiter.wait(-1, 0.0)  # at once: the count as it is
        ddb.put_item(TableName=table_names()["connections"],
                     Item={"connection_id": {"S": "other-table"}})
        assert waiter.wait(before, 0.0) == before  # another table's write is not counted
        woken: list[int] = []
        thread = threading.Thread(target=lambda: woken.append(waiter.wait(before, 30.0)))
        thread.start()
        ddb.put_item(TableName=table_names()["messages"],
                     Item={"room": {"S": "r"}, "id": {"S": "m"}})
        thread.join(30)
        assert woken == [before + 1]
    finally:
        waiter.close()
        db.stop()


def test_polls_the_embedded_dynamodb_stream_woken_by_its_writes(monkeypatch):
    from chatapp.dynamodb import WritesWaiter

    monkeypatch.setattr(streams, "IDLE_POLL_SECONDS", (60.0,))  # only the long poll reads

    db = EmbeddedDynamoDB().start()
    try:
        ddb = client(db.endpoint)
        table = table_names()["messages"]
        arn = stream_arn(ddb, table)
        seen: list[str] = []
        poller = StreamPoller(
            client(db.endpoint, "dynamodbstreams"), arn,
            lambda event, context: seen.extend(
                r["dynamodb"]["NewImage"]["id"]["S"] for r in event["Records"]),
            "on_new_messages", 100, "us-east-1",
            writes=WritesWaiter(db.endpoint, streams.stream_table(arn)),
        ).start()
        try:
            for n in range(3):
                ddb.put_item(TableName=table, Item={"room": {"S": "w"}, "id": {"S": f"m{n}"}})
                wait_until(lambda n=n: len(seen) == n + 1, f"m{n}, read on its write's wake-up")
        finally:
            poller.stop()
        assert seen == ["m0", "m1", "m2"]
    finally:
        db.stop()
