"""The Lambda event source mapping for DynamoDB Streams, locally.

For each `@app.on_dynamodb_record` registration (found in `app.event_sources`,
never by name) a poller thread reads every shard of its stream — from LATEST at
start-up, from TRIM_HORIZON for shards that appear later — and invokes the
handler with Lambda-shaped events of at most the registration's batch size.

Failures are handled as Lambda does with ReportBatchItemFailures: when the
handler returns `{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}`
the records before the first failed one are done and the next invocation starts
at it; an exception or an unknown identifier retries the whole batch. Unlike
Lambda's default (retry until the record leaves the stream, blocking the shard
for up to a day), a batch is given up after MAX_ATTEMPTS with a log line: a
poison record must not silence a local chat forever. What is given up goes to
the mapping's on-failure destination when it has one (`on_failure`), as the
record Lambda writes there: where the batch is in the stream
(`DDBStreamBatchInfo`), never the records (`python -m infra.tools replay`
re-drives such records on AWS).

Memory stays bounded: each shard holds at most one batch, and the iterators
moto keeps are expired by the embedded database (chatapp.motointernals).

When the stream runs dry the poller waits for the next write to the stream's
table: with the embedded database it asks the database to answer once one is
done (a long poll, `writes`: chatapp.dynamodb's /_local/writes; a record is
read within a millisecond or two of its commit instead of after up to 80 ms
of back-off), otherwise it sleeps, doubling from the first to the last
IDLE_POLL_SECONDS. Either way one thread per mapping reads every shard, and a
shard's next batch is invoked only after its previous one is done, in order,
as Lambda's event source mapping does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from chalice.local import LambdaContext

from chatapp.stages import StageTrace

log = logging.getLogger("chatapp.streams")

# After an empty GetRecords the poller waits, doubling from the first to the last
# value while the stream stays quiet (Lambda polls a shard 4 times a second).
IDLE_POLL_SECONDS = (0.01, 0.02, 0.04, 0.08)
# A long poll for writes answers at least this often (Lambda polls a shard 4 times a
# second); stop() waits for the one under way.
WRITES_WAIT_SECONDS = 0.25
SHARD_REFRESH_SECONDS = 10.0
MAX_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0)


class WritesWaiter(Protocol):
    """Waits for writes to a stream's table (chatapp.dynamodb.WritesWaiter)."""

    def wait(self, after: int, timeout: float) -> int: ...

    def close(self) -> None: ...


def stream_table(stream_arn: str) -> str:
    """The table a stream belongs to: arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL."""
    return stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]


def lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record (as boto3 parses it) → the record Lambda passes to a function."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    elif created is None:
        dynamodb["ApproximateCreationDateTime"] = int(time.time())
    result = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if record.get("userIdentity"):
        result["userIdentity"] = record["userIdentity"]
    return result


def failed_from(response: Any, batch: list[dict[str, Any]]) -> int | None:
    """Index of the first record to retry, or None when the whole batch succeeded.

    Lambda's rules: no `batchItemFailures` (or an empty list) is success; an
    identifier that is missing, empty or not in the batch fails the whole batch.
    """
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if not failures:
        return None
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in positions:
            return 0
        indexes.append(positions[identifier])
    return min(indexes)


class ShardReader:
    """Reads one shard with GetRecords, following NextShardIterator."""

    def __init__(self, streams: Any, arn: str, shard_id: str, start: str) -> None:
        self.streams = streams
        self.arn = arn
        self.shard_id = shard_id
        self.start = start
        self.iterator: str | None = None
        self.last_sequence: str | None = None
        self.closed = False

    def position(self) -> ShardReader:
        """Take the iterator now: LATEST means 'after what is there at this moment'."""
        self._acquire()
        return self

    def _acquire(self) -> None:
        if self.last_sequence is not None:
            kwargs = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": self.last_sequence,
            }
        else:
            kwargs = {"ShardIteratorType": self.start}
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=self.shard_id, **kwargs
        )["ShardIterator"]

    def read(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` new records ([] when none); marks the shard closed at its end."""
        if self.closed:
            return []
        if self.iterator is None:
            self._acquire()
        try:
            response = self.streams.get_records(ShardIterator=self.iterator, Limit=limit)
        except Exception as error:  # expired or trimmed iterator: start again after the last
            log.warning("shard %s: %s; re-acquiring the iterator", self.shard_id, error)
            self.iterator = None
            if self.last_sequence is not None:
                try:
                    self._acquire()
                except Exception:
                    self.last_sequence, self.start = None, "TRIM_HORIZON"
            return []
        records = response.get("Records", [])
        self.iterator = response.get("NextShardIterator")
        if self.iterator is None:
            self.closed = True
        if records:
            self.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        return records


class StreamPoller:
    """One event source mapping: a stream, a handler, a batch size, a thread."""

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: Callable[[dict, Any], Any],
        function_name: str,
        batch_size: int,
        region: str,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        trace: StageTrace | None = None,
        writes: WritesWaiter | None = None,
    ) -> None:
        self.on_failure = on_failure
        self.writes = writes  # None: sleep when idle (IDLE_POLL_SECONDS)
        self.trace = trace or StageTrace()
        self.streams = streams
        self.stream_arn = stream_arn
        self.handler = handler
        self.function_name = function_name
        self.batch_size = batch_size
        self.region = region
        self.readers: dict[str, ShardReader] = {}
        self.buffers: dict[str, list[dict[str, Any]]] = {}
        self.invocations = 0
        self.records_done = 0
        self.cpu_seconds = 0.0  # this poller thread's own CPU (reading, batching; not the handler)
        self.reads = 0  # GetRecords calls
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_refresh = 0.0

    def start(self) -> StreamPoller:
        """Find the shards (positioned at LATEST) and start polling in a thread."""
        self._refresh_shards(initial=True)
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{self.function_name}", daemon=True
        )
        self._thread.start()
        log.info(
            "polling %s for %s (batch size %d, %d shard(s))",
            self.stream_arn,
            self.function_name,
            self.batch_size,
            len(self.readers),
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.writes is not None:
            self.writes.close()

    def _refresh_shards(self, initial: bool = False) -> None:
        self._last_refresh = time.monotonic()
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id in self.readers:
                    continue
                ended = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
                if initial and ended:
                    continue  # closed before we started: nothing new will appear there
                start = "LATEST" if initial else "TRIM_HORIZON"
                reader = ShardReader(self.streams, self.stream_arn, shard_id, start)
                self.readers[shard_id] = reader.position()
                self.buffers[shard_id] = []
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        for shard_id in [s for s, r in self.readers.items() if r.closed and not self.buffers[s]]:
            del self.readers[shard_id], self.buffers[shard_id]

    def _run(self) -> None:
        idle, seen = 0, -1  # seen: the table's write count before the last read
        while not self._stop.is_set():
            self.cpu_seconds = time.thread_time()
            try:
                if time.monotonic() - self._last_refresh > SHARD_REFRESH_SECONDS:
                    self._refresh_shards()
                busy = more = False
                for shard_id, reader in list(self.readers.items()):
                    delivered, left = self._poll_shard(shard_id, reader)
                    busy, more = busy or delivered, more or left
                if self.writes is not None and not more:
                    # Every shard read to its end: what comes next comes with a write.
                    seen = self._wait_for_writes(seen)
                elif busy:
                    idle = 0
                else:
                    self._stop.wait(IDLE_POLL_SECONDS[min(idle, len(IDLE_POLL_SECONDS) - 1)])
                    idle += 1
            except Exception:
                log.exception("stream poller for %s", self.function_name)
                self._stop.wait(1.0)

    def _wait_for_writes(self, seen: int) -> int:
        """Until a write after `seen` is done (or a while): the count to wait past next.

        A write counted before a read is in that read, so after reads that
        reached every shard's end, waiting past the count the last wait returned
        misses nothing.
        """
        assert self.writes is not None
        try:
            return self.writes.wait(seen, WRITES_WAIT_SECONDS)
        except OSError as error:
            if not self._stop.is_set():
                log.warning("%s: %s; polling with back-off instead", self.function_name, error)
            self.writes = None
            return seen

    def _poll_shard(self, shard_id: str, reader: ShardReader) -> tuple[bool, bool]:
        """Read and deliver one batch: (a batch was delivered, the shard may have more)."""
        buffer = self.buffers[shard_id]
        more = False
        if len(buffer) < self.batch_size:
            self.reads += 1
            wanted = self.batch_size - len(buffer)
            records = reader.read(wanted)
            more = len(records) == wanted  # a full read: there may be more behind it
            self.trace.records_read(records)
            buffer.extend(lambda_record(r, self.stream_arn, self.region) for r in records)
        else:
            more = True
        if not buffer:
            return False, False
        self._deliver(buffer, shard_id)
        return True, more or bool(buffer)

    def _deliver(self, buffer: list[dict[str, Any]], shard_id: str = "") -> None:
        """Invoke the handler until the batch is done; leaves only unfinished records."""
        batch = buffer[: self.batch_size]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.invocations += 1
            context = LambdaContext(function_name=self.function_name, memory_size=128)
            log.debug("%s: batch of %d record(s)", self.function_name, len(batch))
            try:
                response = self.handler({"Records": batch}, context)
                first_failed = failed_from(response, batch)
            except Exception:
                log.exception("%s raised on a batch of %d", self.function_name, len(batch))
                first_failed = 0
            if first_failed is None:
                self.records_done += len(batch)
                del buffer[: len(batch)]
                return
            # Records before the first failure are checkpointed; retry from it.
            self.records_done += first_failed
            del buffer[:first_failed]
            batch = batch[first_failed:]
            log.warning(
                "%s: %d record(s) failed (attempt %d), retrying from %s",
                self.function_name,
                len(batch),
                attempt,
                batch[0]["dynamodb"]["SequenceNumber"],
            )
            if self._stop.wait(RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS)) - 1]):
                return
        log.error(
            "%s: giving up on %d record(s) from %s after %d attempts",
            self.function_name,
            len(batch),
            batch[0]["dynamodb"]["SequenceNumber"],
            MAX_ATTEMPTS,
        )
        if self.on_failure is not None:
            try:
                self.on_failure(on_failure_record(self.function_name, shard_id, batch))
            except Exception:
                log.exception("%s: the on-failure destination refused it", self.function_name)
        del buffer[: len(batch)]


def on_failure_record(
    function_name: str, shard_id: str, batch: list[dict[str, Any]]
) -> dict[str, Any]:
    """What Lambda sends a stream mapping's on-failure destination: where the batch is."""
    first, last = batch[0], batch[-1]
    return {
        "requestContext": {
            "requestId": f"local-{first['eventID']}",
            "functionArn": f"arn:aws:lambda:{first['awsRegion']}:000000000000:function:"
            f"{function_name}",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": MAX_ATTEMPTS,
        },
        "version": "1.0",
        "timestamp": datetime.now().astimezone().isoformat(),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": first["dynamodb"]["ApproximateCreationDateTime"],
            "approximateArrivalOfLastRecord": last["dynamodb"]["ApproximateCreationDateTime"],
            "batchSize": len(batch),
            "streamArn": first["eventSourceARN"],
        },
    }


def dynamodb_event_sources(app: Any) -> list[tuple[Any, Callable[[dict, Any], Any]]]:
    """The app's DynamoDB stream registrations with their Lambda entry points."""
    from chalice.app import DynamoDBEventConfig

    return [
        (source, app.handler_map[source.name])
        for source in app.event_sources
        if isinstance(source, DynamoDBEventConfig)
    ]
