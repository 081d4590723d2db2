"""The embedded DynamoDB: moto's server on a loopback port, with the tables of tables.json.

`chatapp db` runs it in the foreground; `chatapp serve` runs the same thing as a
child process (DatabaseProcess: its own interpreter, so the database gets the
second core instead of sharing the handlers' GIL) that exits when its parent's
pipe closes, even after a SIGKILL of the parent.

What makes moto fit to run for days, each in one place:
- persistence (chatapp.snapshots): with a data dir, the tables are written to a
  JSON snapshot on shutdown and every SNAPSHOT_SECONDS after a write, and
  restored at start; a lock file keeps a second process off the data dir;
- bounded memory (chatapp.motointernals): every UPKEEP_SECONDS the upkeep
  expires old shard iterators (AWS: after 15 minutes), trims stream records
  older than STREAM_RETENTION_SECONDS (AWS: 24 hours; the local poller reads
  within milliseconds); the objects moto makes per request are not kept in
  its dashboard's lists at all;
- speed: a keep-alive HTTP server (chatapp.wsgiserver) and direct routing to
  moto's DynamoDB handlers (chatapp.motointernals).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import http.client
import io
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chatapp import PROJECT_ROOT, motointernals
from chatapp.faults import Faults
from chatapp.snapshots import SNAPSHOT_NAME, restore_snapshot, write_snapshot
from chatapp.tables import client, ensure_tables, table_names
from chatapp.wsgiserver import KeepAliveWSGIServer

log = logging.getLogger("chatapp.dynamodb")

LOCK_NAME = "dynamodb.lock"
SNAPSHOT_SECONDS = 30.0
SNAPSHOT_CHILD_SECONDS = 300.0  # a child that has not written its snapshot by then is stuck
LOCK_WAIT_SECONDS = 15.0
UPKEEP_SECONDS = 60.0
STREAM_RETENTION_SECONDS = 600.0
START_TIMEOUT_SECONDS = 60.0
OPERATIONS_PATH = "/_local/operations"  # what the database did, per operation (not DynamoDB's)
# Long poll for the local stream pollers (not DynamoDB's): answers once a write naming
# the table is done, or at the timeout. chatapp.streams waits here instead of sleeping.
WRITES_PATH = "/_local/writes"
WRITES_WAIT_MAX_SECONDS = 5.0
WRITE_TARGETS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


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
    """WSGI wrapper around moto: marks writes (snapshots), injects faults, serves one at a time."""

    def __init__(self, app: Any, lock: _SharedExclusiveLock, faults: Faults) -> None:
        self.app = app
        self.lock = lock
        self.faults = faults
        self.dirty = threading.Event()
        # DynamoDB applies a write and its condition as one step and a read sees
        # whole writes; moto takes no lock, so two parallel conditional writes
        # could both pass their check, and a Query iterating a partition while a
        # write changes it fails ("dictionary changed size during iteration").
        # Requests go one at a time, as one partition commits one write at a
        # time (moto's work is under one GIL anyway: nothing to lose by it).
        self.one_at_a_time = threading.Lock()
        # Operation → [calls, CPU seconds in moto]: GET /_local/operations (bench/load.py).
        self.operations: dict[str, list[float]] = {}
        self.writes = TableWrites()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not target and environ.get("PATH_INFO") == OPERATIONS_PATH:
            return self._operations(start_response)
        if not target and environ.get("PATH_INFO") == WRITES_PATH:
            return self._wait_for_writes(environ, start_response)
        if target in WRITE_TARGETS:
            self.dirty.set()
            if self.faults.dynamodb_marker and self._marked(environ, self.faults.dynamodb_marker):
                log.info("%s failed on purpose (CHATAPP_FAULTS)", target)
                return _table_not_found(start_response)
            if self.faults.slow_write_ms and (
                not self.faults.slow_write_marker
                or self._marked(environ, self.faults.slow_write_marker)
            ):
                # Held before the write lock: everyone else's writes go past it.
                log.info("%s held %d ms on purpose (CHATAPP_FAULTS)", target,
                         self.faults.slow_write_ms)
                time.sleep(self.faults.slow_write_ms / 1000)
        late = (
            target == "Query" and self.faults.slow_query_ms > 0
            and self._marked(environ, self.faults.slow_query_marker)
        )
        # A write the stream pollers wait for (WRITES_PATH): counted once it is done.
        written = (self._request_body(environ)
                   if target in WRITE_TARGETS and self.writes.watched else None)
        with self.lock.shared(), self.one_at_a_time:
            started = time.thread_time()
            answer = motointernals.route_directly(environ, start_response)
            answer = answer if answer is not None else list(self.app(environ, start_response))
            tally = self.operations.setdefault(target or "other", [0, 0.0])
            tally[0] += 1
            tally[1] += time.thread_time() - started
        if written is not None:
            self.writes.done(written)
        if late:  # read now, answered later (outside the lock: writes go on meanwhile)
            log.info("Query answered %d ms late on purpose (CHATAPP_FAULTS)",
                     self.faults.slow_query_ms)
            time.sleep(self.faults.slow_query_ms / 1000)
        return answer

    def _operations(self, start_response: Callable) -> list[bytes]:
        """Calls and moto's CPU seconds per operation since start, as JSON."""
        with self.one_at_a_time:
            tallies = {op: {"calls": int(n), "cpuSeconds": round(cpu, 6)}
                       for op, (n, cpu) in self.operations.items()}
        return _answer(start_response, "200 OK", tallies)

    def _wait_for_writes(self, environ: dict, start_response: Callable) -> list[bytes]:
        """GET ?table=NAME&after=N&timeout=S → {"writes": M}, once M > N or after S seconds."""
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        try:
            table = query["table"][0]
            after = int(query.get("after", ["-1"])[0])
            timeout = min(float(query.get("timeout", ["1"])[0]), WRITES_WAIT_MAX_SECONDS)
        except (KeyError, ValueError):
            return _answer(start_response, "400 Bad Request",
                           {"message": "table=NAME, after=N and timeout=SECONDS"})
        return _answer(start_response, "200 OK",
                       {"writes": self.writes.wait(table, after, max(0.0, timeout))})

    def _marked(self, environ: dict, marker: str) -> bool:
        return marker.encode() in self._request_body(environ)

    @staticmethod
    def _request_body(environ: dict) -> bytes:
        """The request's body, left readable for whoever reads it next."""
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        return body


class TableWrites:
    """Writes done per watched table, and a wait for the next one (WRITES_PATH).

    A write counts when its request names the table (a transaction counts for
    each table it names), after it is done, so a reader woken by it sees it; a
    write that was refused (a failed condition) counts too: the reader finds
    nothing new and waits again.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: dict[bytes, int] = {}
        self.watched = False

    def done(self, body: bytes) -> None:
        with self._changed:
            named = [name for name in self._counts if name in body]
            for name in named:
                self._counts[name] += 1
            if named:
                self._changed.notify_all()

    def wait(self, table: str, after: int, timeout: float) -> int:
        """The table's count of writes once it exceeds `after`, or as it is at the timeout."""
        name = json.dumps(table).encode()  # as the request names it: "table-name"
        with self._changed:
            self._counts.setdefault(name, 0)
            self.watched = True
            self._changed.wait_for(lambda: self._counts[name] > after, timeout)
            return self._counts[name]


def _answer(start_response: Callable, status: str, body: dict[str, Any]) -> list[bytes]:
    """A JSON answer of the database's own endpoints (not DynamoDB's content type)."""
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(payload)))])
    return [payload]


class WritesWaiter:
    """The stream poller's side of WRITES_PATH: one keep-alive connection, one table."""

    def __init__(self, endpoint: str, table: str) -> None:
        parsed = urllib.parse.urlsplit(endpoint)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._table = table
        self._connection: http.client.HTTPConnection | None = None

    def wait(self, after: int, timeout: float) -> int:
        """The table's write count, once it exceeds `after` or at the timeout; raises OSError."""
        connection = self._connection
        if connection is None:
            connection = self._connection = http.client.HTTPConnection(
                self._host, self._port, timeout=timeout + 10.0
            )
        query = urllib.parse.urlencode({"table": self._table, "after": after, "timeout": timeout})
        try:
            connection.request("GET", f"{WRITES_PATH}?{query}")
            answer = connection.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise OSError(f"waiting for writes: {error}") from error
        if answer.status != 200:
            raise OSError(f"waiting for writes: HTTP {answer.status}")
        try:
            return int(json.loads(body)["writes"])
        except (ValueError, KeyError, TypeError) as error:
            raise OSError(f"waiting for writes: {body[:100]!r}") from error

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _table_not_found(start_response: Callable) -> list[bytes]:
    """DynamoDB's answer for a missing table: 400 ResourceNotFoundException."""
    payload = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found (injected fault)",
        }
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _wait_for_child(pid: int, timeout_seconds: float) -> int | None:
    """The child's exit code (negative: the signal that ended it); killed after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)


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
        self._snapshot_lock = threading.Lock()  # one snapshot written at a time
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: KeepAliveWSGIServer | None = None
        self._middleware: _Middleware | None = None
        self._lock_file: Any = None
        self._uninstall_moto: Callable[[], None] | None = None
        self.tables: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedDynamoDB:
        """Serve, create the tables, restore the snapshot, start the upkeep threads."""
        self._uninstall_moto = motointernals.install()
        if self.data_dir is not None:
            self._take_data_dir(self.data_dir)
        self._middleware = _Middleware(motointernals.backend_app(), self._lock, self.faults)
        server = self._server = KeepAliveWSGIServer(self.host, self.port, self._middleware)
        self.port = server.server_address[1]
        self._spawn(lambda: server.serve_forever(poll_interval=0.1), "moto-server")
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

    def _take_data_dir(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = (data_dir / LOCK_NAME).open("w")
        # A previous database (say, of a killed server) may still be saving:
        # wait a little for it before calling the data dir taken.
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{data_dir} is in use by another chatapp process; "
                        "stop it or pass another --data-dir"
                    ) from None
                time.sleep(0.1)

    def _spawn(self, target: Callable[[], Any], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def snapshot(self) -> int:
        """Write the snapshot now, in this process (no-op without a data dir)."""
        if self.data_dir is None:
            return 0
        assert self._middleware is not None
        with self._snapshot_lock:
            self._middleware.dirty.clear()
            return write_snapshot(self.dump_tables(), self.data_dir / SNAPSHOT_NAME)

    def snapshot_in_child(self) -> bool:
        """Write the snapshot from a forked copy of this process, as Redis's BGSAVE does.

        A snapshot is every table at one instant, so requests wait while it
        is read, and then the JSON takes the GIL: with 20,000 messages stored
        a GetItem waited 390-680 ms (bench/snapshot_pause.py), 20-30 ms with
        the fork. fork() takes the same instant in milliseconds;
        the child reads its copy-on-write memory, writes the file and exits,
        touching nothing another thread may have held (no logging, no import).
        Returns whether the child wrote it; one stuck past SNAPSHOT_CHILD_SECONDS
        is killed. The final snapshot (stop) waits for a child still writing,
        so an older one never replaces it.
        """
        if self.data_dir is None:
            return False
        assert self._middleware is not None
        path = self.data_dir / SNAPSHOT_NAME
        with self._snapshot_lock:
            with self._lock.exclusive():
                pid = os.fork()
                if pid == 0:  # the child: write and leave, whatever happens
                    code = 1
                    try:
                        gc.disable()  # its objects die with it; walking them copies their pages
                        write_snapshot(motointernals.table_items(self.tables), path)
                        code = 0
                    finally:
                        os._exit(code)
                self._middleware.dirty.clear()
            status = _wait_for_child(pid, SNAPSHOT_CHILD_SECONDS)
        if status != 0:
            self._middleware.dirty.set()  # try again at the next turn
            log.error("the snapshot's child process failed (exit status %s)", status)
            return False
        return True

    def dump_tables(self) -> dict[str, list]:
        """Every item of our tables, read from moto's memory while requests wait.

        Much cheaper than a Scan through the HTTP server (no request handling,
        no response serialization), so the snapshot stays short as data grows.
        """
        with self._lock.exclusive():
            return motointernals.table_items(self.tables)

    def _snapshot_loop(self) -> None:
        assert self._middleware is not None
        while not self._stop.wait(SNAPSHOT_SECONDS):
            if self._middleware.dirty.is_set():
                try:
                    self.snapshot_in_child()
                except Exception:
                    log.exception("periodic snapshot failed")

    def _upkeep_loop(self) -> None:
        previous: set[str] = set()
        while not self._stop.wait(UPKEEP_SECONDS):
            with self._lock.exclusive():
                previous = motointernals.expire_iterators(previous)
                motointernals.trim_streams(STREAM_RETENTION_SECONDS)

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
        if self._uninstall_moto is not None:
            self._uninstall_moto()


class DatabaseProcess:
    """`chatapp db` as a child process that lives exactly as long as this one."""

    def __init__(self, data_dir: Path, verbose: bool) -> None:
        self.data_dir = data_dir
        self.verbose = verbose
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self) -> str:
        """Start it and wait until it serves; returns its endpoint."""
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-m", "chatapp", "db", "--port", "0"]
        command += ["--data-dir", str(self.data_dir), "--exit-with-stdin"]
        command += ["--ready-fd", str(write_fd)] + (["--verbose"] if self.verbose else [])
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, pass_fds=(write_fd,), cwd=PROJECT_ROOT
        )
        os.close(write_fd)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        line = b""
        with os.fdopen(read_fd, "rb", buffering=0) as ready:
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                readable, _, _ = select.select([ready], [], [], 0.5)
                if readable:
                    chunk = ready.read(256)
                    if not chunk:
                        break
                    line += chunk
        if not line.endswith(b"\n"):
            self.stop()
            raise RuntimeError("the embedded DynamoDB did not start (see the log above)")
        self.endpoint = line.decode().strip()
        return self.endpoint

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def stop(self, timeout: float = 30.0) -> None:
        """Close its stdin: it saves the snapshot and exits."""
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
