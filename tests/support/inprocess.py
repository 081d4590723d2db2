"""The backend in one process: the real handlers against moto's DynamoDB, for
tests/chalicelib and tests/reliability.

`Chat` drives the Lambda entry points through chalice.test.Client as API
Gateway and the streams' event source mappings would; every PostToConnection
and DeleteConnection goes, signed, to chatapp's Management API on a loopback
port, answered and recorded by an `Outbox`. The fixtures:

- `moto_tables`: moto's DynamoDB with the tables of chalicelib/tables.json, made
  once per module (`SharedTables`), with DynamoDB's transaction semantics
  (chatapp.motointernals) installed until the module is done.
- `aws`: those tables emptied for this test (items, stream records, every other
  moto service); yields a dynamodb client.
- `outbox`: the recording Management API, its endpoint in the environment.
- `client`: chalice.test.Client for the app.
- `chat`: a `Chat` over those three.
- `moto_transactions`: names the transaction semantics a test relies on.

A conftest imports the fixtures it offers from here. The environment is set
before app.py is imported: settings are read once per process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import environment

environment.apply()
environment.share_sdk_data()

import boto3  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

import app as chat_app  # noqa: E402
from chalicelib import auth, clock, lazy, settings  # noqa: E402
from chalicelib.connections_api import ENDPOINT_ENV  # noqa: E402
from chalicelib.store.messages import message_from_item  # noqa: E402
from chatapp import motointernals  # noqa: E402
from chatapp.management import BufferFull, Gone  # noqa: E402
from chatapp.streams import failed_from, lambda_record  # noqa: E402
from chatapp.tables import ensure_tables  # noqa: E402
from tests.support import events  # noqa: E402
from tests.support.frames import unwrap  # noqa: E402
from tests.support.management_server import ResetConnection, serve_management_api  # noqa: E402

STREAM_MAX_ATTEMPTS = 50  # per batch; far above what a 10% fault rate needs


@dataclass
class Outbox:
    """What the Management API received, and what it answers.

    Connections in `gone` answer GoneException (410) as API Gateway does for a
    closed connection; those in `broken` answer 500; `script[connection]` lists
    answers to give its posts first ("429", "500", "reset"), one per request;
    `delete_script[connection]` the same for its deletes ("410": still
    connecting, "429"). `fail(connection, n)` decides per post, n counting every
    post attempt from 0 (`attempts`): None to go on, or a status to answer (410,
    anything else a 500). `posts` keeps each delivered post as sent, `sent` its
    frames with `batch` frames unwrapped; a delete is recorded in `closed`.
    """

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    posts: list[tuple[str, bytes]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    script: dict[str, list[str]] = field(default_factory=dict)
    delete_script: dict[str, list[str]] = field(default_factory=dict)
    fail: Callable[[str, int], int | None] = lambda connection, n: None
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frames(self, connection: str) -> list[dict[str, Any]]:
        with self.lock:
            return [frame for cid, frame in self.sent if cid == connection]

    def _answer(self, connection: str, scripted: bool = True) -> None:
        with self.lock:
            answers = self.script.get(connection) if scripted else None
            answer = answers.pop(0) if answers else None
        if connection in self.gone:
            raise Gone(connection)
        if answer == "429":
            raise BufferFull(connection)
        if answer == "reset":
            raise ResetConnection(connection)
        if answer == "500" or connection in self.broken:
            raise RuntimeError("the service failed")

    def post(self, connection: str, data: bytes) -> None:
        with self.lock:
            n, self.attempts = self.attempts, self.attempts + 1
        status = self.fail(connection, n)
        if status == 410:
            raise Gone(connection)
        if status is not None:
            raise RuntimeError(f"injected {status}")
        self._answer(connection)
        with self.lock:
            self.posts.append((connection, data))
            self.sent += [(connection, frame) for frame in unwrap(data)]

    def delete(self, connection: str) -> None:
        with self.lock:
            answers = self.delete_script.get(connection)
            answer = answers.pop(0) if answers else None
        if answer == "410":
            raise Gone(connection)
        if answer == "429":
            raise BufferFull(connection)
        self._answer(connection, scripted=False)
        with self.lock:
            self.closed.append(connection)
            self.gone.add(connection)

    def info(self, connection: str) -> dict[str, Any]:
        raise Gone(connection)


@pytest.fixture
def stopped_clock() -> Iterator[None]:
    """The backend's clock stopped at now: a count against a window does not depend on
    how fast this machine sends (the test advances it where it means time to pass)."""
    clock.get().set(clock.now_ms() / 1000, stopped=True)
    yield
    lazy.reset()


def token_for(username: str, now_s: int | None = None) -> str:
    """An access token of a new session, as a login now (or at now_s) would issue it."""
    issued = clock.now_s() if now_s is None else now_s
    return auth.start_session(username, issued).token


class Chat:
    """The handlers as API Gateway and Lambda call them, all in this process."""

    def __init__(self, client: Client, outbox: Outbox, dynamodb: Any) -> None:
        self.client, self.outbox, self.dynamodb = client, outbox, dynamodb
        self._stream: tuple[Any, str] | None = None
        self._iterator = ""
        self.stream_invocations = 0

    # -- WebSocket routes --------------------------------------------------------------

    def connect(self, query: dict[str, str] | None) -> tuple[str, int]:
        """$connect with this query string; (the connection id, the handler's status)."""
        connection = events.connection_id()
        event = events.ws_event("$connect", connection, query=query)
        status = self.client.lambda_.invoke("connect", event).payload["statusCode"]
        return connection, status

    def join(self, username: str, room: str | None = None) -> str:
        """A connection of a new session of `username` (in `room`), accepted."""
        query = {"token": token_for(username)}
        if room is not None:
            query["room"] = room
        connection, status = self.connect(query)
        assert status == 200
        return connection

    def send(self, connection: str, frame: dict[str, Any] | str) -> list[dict[str, Any]]:
        """Send one frame; returns the frames this connection got back directly."""
        body = frame if isinstance(frame, str) else json.dumps(frame)
        before = len(self.outbox.frames(connection))
        self.client.lambda_.invoke("message", events.ws_event("$default", connection, body=body))
        return self.outbox.frames(connection)[before:]

    def disconnect(self, connection: str) -> None:
        self.client.lambda_.invoke("disconnect", events.ws_event("$disconnect", connection))

    # -- the messages stream -----------------------------------------------------------

    def new_records(self) -> list[dict[str, Any]]:
        """Every messages stream record not read yet (from the start), Lambda-shaped."""
        if self._stream is None:
            streams = boto3.client("dynamodbstreams")
            arn = self.dynamodb.describe_table(TableName=settings.get().messages_table)["Table"][
                "LatestStreamArn"
            ]
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
            self._iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            self._stream = streams, arn
        streams, arn = self._stream
        records = []
        while True:
            response = streams.get_records(ShardIterator=self._iterator)
            self._iterator = response["NextShardIterator"]
            if not response["Records"]:
                return records
            records += [lambda_record(r, arn, "us-east-1") for r in response["Records"]]

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
        """Every message of a room as the table holds it, in wire shape."""
        items, kwargs = (
            [],
            {
                "TableName": settings.get().messages_table,
                "KeyConditionExpression": "room = :room",
                "ExpressionAttributeValues": {":room": {"S": room}},
            },
        )
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


# -- fixtures ----------------------------------------------------------------------------


class SharedTables:
    """moto's DynamoDB with the project's tables, made once and emptied for each test.

    Creating the tables costs ~0.15 s; emptying them a millisecond or two. `clear()`
    leaves what a fresh mock would hold: no items, each stream with no records (a
    reader from TRIM_HORIZON starts at this test's first write, as the sequence
    numbers go on), no shard iterators, every other moto service reset. A test that
    changed a table's definition (TTL, indexes, stream) or dropped or added one gets
    the tables made again.
    """

    KEPT = ("dynamodb", "dynamodbstreams")  # emptied here; every other service is reset

    def __init__(self) -> None:
        self.dynamodb = boto3.client("dynamodb")
        ensure_tables(self.dynamodb)
        self.definitions = self._definitions()

    @staticmethod
    def _tables() -> dict[tuple[str, str, str], Any]:
        from moto.dynamodb.models import dynamodb_backends

        return {
            (account, region, name): table
            for account, region, backend in dynamodb_backends.iter_backends()
            for name, table in backend.tables.items()
        }

    def _definitions(self) -> dict[tuple[str, str, str], str]:
        """Each table's definition as DescribeTable gives it, with its TTL (made when empty)."""
        return {
            key: json.dumps([table.describe(), table.ttl, table.tags], sort_keys=True, default=str)
            for key, table in self._tables().items()
        }

    def clear(self) -> None:
        from moto.core.base_backend import BackendDict
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        for table in self._tables().values():
            table.items.clear()
            shard = table.stream_shard
            if shard is not None:  # moto numbers records len(items) + starting_sequence_number
                shard.starting_sequence_number += len(shard.items)
                shard.items.clear()
        for _, _, streams in dynamodbstreams_backends.iter_backends():
            streams.shard_iterators.clear()
        others = {id(b): b for b in BackendDict._instances if b.service_name not in self.KEPT}
        for backends in others.values():
            for account in list(backends.values()):
                account.reset()
        motointernals.forget_tracked_instances()
        if self._definitions() != self.definitions:
            from moto.dynamodb.models import dynamodb_backends

            for account in list(dynamodb_backends.values()):
                account.reset()
            lazy.reset()
            self.dynamodb = boto3.client("dynamodb")
            ensure_tables(self.dynamodb)
            self.definitions = self._definitions()


@pytest.fixture(scope="module")
def moto_tables() -> Iterator[SharedTables]:
    """One moto for a module's tests: the tables made once, with DynamoDB's
    transaction semantics (chatapp.motointernals, as the local runtime runs them),
    both undone when the module is done."""
    lazy.reset()
    uninstall = motointernals.install()
    try:
        with mock_aws():
            lazy.reset()  # clients made inside the mock
            yield SharedTables()
    finally:
        uninstall()
        lazy.reset()


@pytest.fixture
def aws(moto_tables: SharedTables) -> Iterator[Any]:
    """The module's moto tables, emptied; yields a dynamodb client."""
    moto_tables.clear()
    lazy.reset()  # settings, clients and pools as a fresh process makes them
    yield moto_tables.dynamodb
    lazy.reset()


@pytest.fixture
def outbox(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbox]:
    box = Outbox()
    with serve_management_api(box) as endpoint:
        monkeypatch.setenv(ENDPOINT_ENV, endpoint)
        yield box


@pytest.fixture
def client(aws: Any, tmp_path: Any) -> Iterator[Client]:
    # An empty project dir: no .chalice/config.json stage variables patched in.
    with Client(chat_app.app, project_dir=str(tmp_path)) as test_client:
        yield test_client


@pytest.fixture
def chat(client: Client, outbox: Outbox, aws: Any) -> Chat:
    return Chat(client, outbox, aws)


@pytest.fixture(scope="module")
def moto_transactions(moto_tables: SharedTables) -> None:
    """DynamoDB's transactions on moto: every condition checked before any write, safe
    across threads, a cancelled one leaves no stream record (as on DynamoDB).
    `moto_tables` holds them for every in-process module; a test relying on them names this."""
