"""The embedded DynamoDB: moto's server on a loopback port, tables from tables.json.

`chatapp db` runs it in the foreground; `chatapp serve` runs the same thing as a
child process (its own interpreter, so the database gets the second core instead
of sharing the handlers' GIL) that exits when its parent's pipe closes, even
after a SIGKILL of the parent.

moto is an in-memory mock; four things make it fit for a long-running local
server, each done here and nowhere else:

- persistence: with a data dir, every table is written to a JSON snapshot on
  shutdown and every SNAPSHOT_SECONDS after a write, and restored at start;
- shard iterators: moto keeps every iterator it ever handed out (~2 KB each,
  one per GetRecords); they expire here after one to two ITERATOR_SWEEP_SECONDS
  (AWS: 15 minutes), so a poller's memory cost stays flat;
- transactions: moto's TransactWriteItems leaks stream records of cancelled
  transactions and detaches the stream (chatapp.motofix replaces it);
- stream records: moto never trims them; here they are kept STREAM_RETENTION_SECONDS
  (AWS: 24 hours; the local poller reads within milliseconds);
- tracked instances: moto's BaseModel appends every object it ever makes (each
  item written, each copy a Query returns, each iterator) to a class-level list
  for its dashboard, deleted ones included; the upkeep sweep empties those lists
  (about 20 MB a minute at 10 messages/s otherwise).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import http.server
import io
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config

from chalicelib import settings
from chatapp.faults import Faults

log = logging.getLogger("chatapp.dynamodb")

REGION = "us-east-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
SNAPSHOT_NAME = "dynamodb-snapshot.json"
LOCK_NAME = "dynamodb.lock"
SNAPSHOT_SECONDS = 30.0
LOCK_WAIT_SECONDS = 15.0
ITERATOR_SWEEP_SECONDS = 60.0
STREAM_RETENTION_SECONDS = 600.0
WRITE_TARGETS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


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
    created = []
    for logical, name in table_names(environ).items():
        if name in existing:
            continue
        spec = settings.TABLES[logical]
        ddb.create_table(**create_table_request(name, spec))
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        if spec.get("ttl_attribute"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["ttl_attribute"]},
            )
        created.append(name)
        log.info("created table %s", name)
    return created


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


# -- persistence -----------------------------------------------------------------

def _binary_to_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _binary_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_binary_to_text(v) for v in value]
    return value


def _text_to_binary(value: Any) -> Any:
    """Undo _binary_to_text: in DynamoDB JSON only B and BS hold bytes."""
    if isinstance(value, dict):
        result = {}
        for key, inner in value.items():
            if key == "B" and isinstance(inner, str):
                result[key] = base64.b64decode(inner)
            elif key == "BS" and isinstance(inner, list):
                result[key] = [base64.b64decode(v) for v in inner]
            else:
                result[key] = _text_to_binary(inner)
        return result
    if isinstance(value, list):
        return [_text_to_binary(v) for v in value]
    return value


def write_snapshot(tables: dict[str, list], path: Path) -> int:
    """Write {table: [items in DynamoDB JSON]} to one JSON file, atomically; returns the count."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"version": 1, "tables": _binary_to_text(tables)}))
    os.replace(temporary, path)
    return sum(len(items) for items in tables.values())


def restore_snapshot(ddb: Any, tables: list[str], path: Path) -> int:
    """Write a snapshot's items back into the (just created) tables; returns the count."""
    if not path.exists():
        return 0
    try:
        data = json.loads(path.read_text())["tables"]
    except (ValueError, KeyError) as error:
        raise RuntimeError(f"{path} is not a chatapp snapshot ({error}); move it away") from error
    count = 0
    for table, items in data.items():
        if table not in tables:
            log.warning("snapshot table %s is not in tables.json any more: skipped", table)
            continue
        items = _text_to_binary(items)
        for start in range(0, len(items), 25):
            pending = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
        count += len(items)
    return count


# -- the moto server and its upkeep --------------------------------------------------

class _SharedExclusiveLock:
    """Requests share it; upkeep of moto's internals takes it alone."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: self._readers == 0)
            yield


class _Middleware:
    """WSGI wrapper around moto: marks writes (for snapshots), injects faults, locks."""

    def __init__(self, app: Any, lock: _SharedExclusiveLock, faults: Faults) -> None:
        self.app = app
        self.lock = lock
        self.faults = faults
        self.dirty = threading.Event()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if target in WRITE_TARGETS:
            self.dirty.set()
            if self.faults.dynamodb_marker:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(body)
                if self.faults.dynamodb_marker.encode() in body:
                    log.info("%s failed on purpose (CHATAPP_FAULTS)", target)
                    payload = json.dumps(
                        {
                            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                            "message": "Requested resource not found (injected fault)",
                        }
                    ).encode()
                    start_response(
                        "400 Bad Request",
                        [
                            ("Content-Type", "application/x-amz-json-1.0"),
                            ("Content-Length", str(len(payload))),
                        ],
                    )
                    return [payload]
        handler = self._handlers().get(environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[0])
        with self.lock.shared():
            if handler is not None:
                return self._dispatch(handler, environ, start_response)
            return list(self.app(environ, start_response))

    @functools.cache  # noqa: B019  (one middleware per process)
    def _handlers(self) -> dict[str, Any]:
        from moto.dynamodb.responses import DynamoHandler
        from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

        return {
            "DynamoDB_20120810": DynamoHandler,
            "DynamoDBStreams_20120810": DynamoDBStreamsHandler,
        }

    @staticmethod
    def _dispatch(handler: Any, environ: dict, start_response: Any) -> list[bytes]:
        """Call moto's DynamoDB handler directly.

        moto's server finds the service by matching the Host header against every
        moto module and then routes through Flask: about half of each call's time.
        The target header already names the service; this is what moto's Flask
        view (convert_to_flask_response) does with it.
        """
        from botocore.exceptions import ClientError
        from werkzeug.wrappers import Request

        request = Request(environ)
        try:
            result = handler.dispatch(request, request.url, dict(request.headers))
        except ClientError as error:
            result = 400, {}, error.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        body = content.encode() if isinstance(content, str) else (content or b"")
        header_list = [
            (name, str(value))
            for name, value in headers.items()
            if name.lower() not in ("status", "content-length")
        ]
        header_list.append(("Content-Length", str(len(body))))
        code = int(status)
        start_response(f"{code} {HTTPStatus(code).phrase}", header_list)
        return [body]


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """Serves a WSGI app over HTTP/1.1 keep-alive.

    werkzeug's development server (moto's default) closes the connection after
    every response, so each DynamoDB call would pay a TCP connect here and a new
    thread there. moto's responses are small and complete: read the body, call
    the app, answer with a Content-Length, keep the connection.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add ~40 ms to every call.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(length),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            started["status"], started["headers"] = status, headers
            return chunks.append

        result = self.server.app(environ, start_response)  # type: ignore[attr-defined]
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        payload = b"".join(chunks)
        code, _, reason = started["status"].partition(" ")
        self.send_response(int(code), reason)
        for name, value in started["headers"]:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)


class _KeepAliveServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__((host, port), _KeepAliveHandler)
        self.app = app


def _moto_backends() -> Iterator[Any]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    for backends in (dynamodb_backends, dynamodbstreams_backends):
        for account in list(backends.values()):
            yield from list(dict.values(account))


class EmbeddedDynamoDB:
    """moto's DynamoDB (+ Streams) on host:port, with tables, snapshot and upkeep."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.faults = faults or Faults()
        self._lock = _SharedExclusiveLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self._middleware: _Middleware | None = None
        self._lock_file: Any = None
        self.tables: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedDynamoDB:
        """Serve, create the tables, restore the snapshot, start the upkeep threads."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from chatapp import motofix

        motofix.apply()

        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = (self.data_dir / LOCK_NAME).open("w")
            # A previous database (say, of a killed server) may still be saving:
            # wait a little for it before calling the data dir taken.
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{self.data_dir} is in use by another chatapp process; "
                            "stop it or pass another --data-dir"
                        ) from None
                    time.sleep(0.1)
        self._middleware = _Middleware(
            DomainDispatcherApplication(create_backend_app), self._lock, self.faults
        )
        self._server = _KeepAliveServer(self.host, self.port, self._middleware)
        self.port = self._server.server_address[1]
        self._spawn(lambda: self._server.serve_forever(poll_interval=0.1), "moto-server")
        ddb = client(self.endpoint)
        ensure_tables(ddb)
        self.tables = list(table_names().values())
        if self.data_dir is not None:
            started = time.monotonic()
            count = restore_snapshot(ddb, self.tables, self.data_dir / SNAPSHOT_NAME)
            if count:
                log.info(
                    "restored %d items from %s in %.1fs",
                    count,
                    self.data_dir / SNAPSHOT_NAME,
                    time.monotonic() - started,
                )
            self._middleware.dirty.clear()
            self._spawn(self._snapshot_loop, "snapshot")
        self._spawn(self._upkeep_loop, "upkeep")
        return self

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def snapshot(self) -> int:
        """Write the snapshot now (no-op without a data dir)."""
        if self.data_dir is None:
            return 0
        assert self._middleware is not None
        self._middleware.dirty.clear()
        return write_snapshot(self.dump_tables(), self.data_dir / SNAPSHOT_NAME)

    def dump_tables(self) -> dict[str, list]:
        """Every item of our tables, read from moto's memory while requests wait.

        Much cheaper than a Scan through the HTTP server (no request handling,
        no response serialization), so the snapshot stays short as data grows.
        """
        dump: dict[str, list] = {}
        with self._lock.exclusive():
            for backend in _moto_backends():
                for name, table in list(getattr(backend, "tables", {}).items()):
                    if name in self.tables:
                        dump[name] = [item.to_json()["Attributes"] for item in table.all_items()]
        return dump

    def _snapshot_loop(self) -> None:
        assert self._middleware is not None
        while not self._stop.wait(SNAPSHOT_SECONDS):
            if self._middleware.dirty.is_set():
                try:
                    self.snapshot()
                except Exception:
                    log.exception("periodic snapshot failed")

    def _upkeep_loop(self) -> None:
        previous: set[str] = set()
        while not self._stop.wait(ITERATOR_SWEEP_SECONDS):
            with self._lock.exclusive():
                previous = self.expire_iterators(previous)
                self.trim_streams(STREAM_RETENTION_SECONDS)
                self.forget_tracked_instances()

    @staticmethod
    def expire_iterators(previous: set[str]) -> set[str]:
        """Drop the shard iterators that already existed at the previous sweep."""
        current: set[str] = set()
        for backend in _moto_backends():
            iterators = getattr(backend, "shard_iterators", None)
            if iterators is None:
                continue
            for key in previous.intersection(iterators):
                del iterators[key]
            current.update(iterators)
        return current

    @staticmethod
    def forget_tracked_instances() -> None:
        """Empty moto's dashboard lists of every model instance (the tables keep theirs)."""
        from moto.core.model_instances import reset_model_data

        reset_model_data()

    @staticmethod
    def trim_streams(retention_seconds: float) -> int:
        """Drop stream records older than the retention; sequence numbers stay valid."""
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=retention_seconds)
        trimmed = 0
        for backend in _moto_backends():
            for table in list(getattr(backend, "tables", {}).values()):
                shard = getattr(table, "stream_shard", None)
                if shard is None:
                    continue
                old = 0
                for record in shard.items:
                    created = record.record["dynamodb"]["ApproximateCreationDateTime"]
                    if created >= cutoff:
                        break
                    old += 1
                if old:
                    # moto numbers records len(items) + starting_sequence_number.
                    del shard.items[:old]
                    shard.starting_sequence_number += old
                    trimmed += old
        return trimmed

    def stop(self) -> None:
        """Snapshot (with a data dir), then stop serving."""
        self._stop.set()
        try:
            count = self.snapshot()
            if self.data_dir is not None:
                log.info("saved %d items to %s", count, self.data_dir / SNAPSHOT_NAME)
        except Exception:
            log.exception("final snapshot failed")
        if self._server is not None:
            self._server.shutdown()
        if self._lock_file is not None:
            self._lock_file.close()
