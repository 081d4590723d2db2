"""Lambda's instances, locally: worker processes that run the handlers.

On AWS each function runs in instances (execution environments): one
invocation at a time per instance, concurrent invocations on different
instances, and whatever a module keeps (lazy clients and settings, id
sequences, the fan-out pool, the clock) lives as long as its instance. Here
`Instances` is a pool of `count` worker processes (`chatapp serve --instances
N`, default the CPU count and at least 2), started with multiprocessing's
forkserver:

- each worker applies the environment it is given (one dict the server built),
  imports app.py once and keeps its own per-process state across invocations;
- an invocation takes an idle worker (waiting for one when all are busy: the
  pool does not grow past `count`), sends it the function's name and its
  JSON-able event, and gets the result back; the LambdaContext is made in the
  worker. A worker runs one invocation at a time;
- what the function printed (log lines, EMF metrics) comes back with the
  answer and is written to the server's standard output, where the local
  metrics read it;
- a function that raises comes back as `InvocationError` (its type and
  message; the traceback is logged by the worker), as Lambda reports an
  Unhandled error; a worker that died is replaced and its invocation fails
  the same way;
- stream batches and asynchronous invocations take at most count - 1
  instances at once (all of them with one instance), so a fan-out waiting out
  429s never holds every instance a request needs;
- `CHATAPP_FAULTS=clock-skew=MS`: worker i's clock (chalicelib/clock.py) runs
  i * MS milliseconds ahead, as containers' clocks drift apart.

The gateway, the stream pollers and the Management API stay in the server
process; only invocations cross. `InProcess` runs the same calls in this
process, for unit tests of those stand-ins.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from chatapp import PROJECT_ROOT
from chatapp.stages import StageTrace

log = logging.getLogger("chatapp.instances")

REST_FUNCTION = "api_handler"  # the REST API's function: the Chalice app object itself
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 5.0
MAX_RUNTIME_MS = 900_000  # Lambda's longest timeout: the context's remaining time
# Heavy imports done once in the fork server, so a worker starts in a fraction of a second.
PRELOAD = ["boto3", "botocore.client", "chalice.app", "chalice.local"]


def default_count() -> int:
    """The default number of instances: the CPU count, at least 2."""
    return max(2, os.cpu_count() or 1)


class InvocationError(RuntimeError):
    """The function raised (or its instance died): Lambda's Unhandled function error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.error_message = message


class Invoker(Protocol):
    """What runs the app's functions for the local stand-ins."""

    def names(self) -> list[str]: ...

    def invoke(self, function_name: str, event: Any, background: bool = False) -> Any: ...


LAMBDA_NAMES = {  # what Chalice names the deployed WebSocket functions, for the context
    "$connect": "websocket_connect",
    "$default": "websocket_message",
    "$disconnect": "websocket_disconnect",
}


def context_names(app: Any) -> dict[str, str]:
    """Function name → the name its Lambda context carries (the deployed function's)."""
    names = {name: name for name in entry_points(app)}
    for route_key, config in app.websocket_handlers.items():
        names[config.name] = LAMBDA_NAMES.get(route_key, config.name)
    return names


def entry_points(app: Any) -> dict[str, Callable[[Any, Any], Any]]:
    """Function name → Lambda entry point: every handler, and the REST API's app object."""
    points: dict[str, Callable[[Any, Any], Any]] = dict(app.handler_map)
    points.setdefault(REST_FUNCTION, app)
    return points


def _context(function_name: str) -> Any:
    from chalice.local import LambdaContext

    return LambdaContext(
        function_name=function_name, memory_size=128, max_runtime_ms=MAX_RUNTIME_MS
    )


class InProcess:
    """The app's functions run in this process, on the caller's thread (unit tests)."""

    def __init__(self, app: Any) -> None:
        self.functions = entry_points(app)
        self.context_names = {name: name for name in self.functions}
        if hasattr(app, "websocket_handlers"):
            self.context_names = context_names(app)

    def names(self) -> list[str]:
        return list(self.functions)

    def invoke(self, function_name: str, event: Any, background: bool = False) -> Any:
        context = _context(self.context_names[function_name])
        return self.functions[function_name](event, context)


@dataclass
class FunctionUsage:
    """What one function's invocations cost in the workers (the load benchmark reads it)."""

    invocations: int = 0
    errors: int = 0
    cpu_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)  # "dynamodb.PutItem" → count

    def as_json(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "cpuSeconds": round(self.cpu_seconds, 6),
            "calls": dict(self.calls),
        }


@dataclass
class _Worker:
    index: int
    process: Any
    connection: Connection
    pid: int = 0
    invocations: int = 0


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs to start: the environment, its clock offset, log settings."""

    environment: dict[str, str]
    clock_offset_ms: int = 0
    verbose: bool = False
    project_root: Path = PROJECT_ROOT


class Instances:
    """A fixed pool of worker processes, each one Lambda instance for every function."""

    def __init__(
        self,
        count: int,
        clock_skew_ms: int = 0,
        verbose: bool = False,
        project_root: Path = PROJECT_ROOT,
    ) -> None:
        if count < 1:
            raise ValueError(f"instances must be 1 or more: {count}")
        self.count = count
        self._environment: dict[str, str] = {}
        self._clock_skew_ms = clock_skew_ms
        self._verbose = verbose
        self._project_root = project_root
        self._mp = multiprocessing.get_context("forkserver")
        self._mp.set_forkserver_preload(PRELOAD)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: dict[int, _Worker] = {}
        self._spawned: list[_Worker] = []
        self._names: list[str] = []
        self._usage: dict[str, FunctionUsage] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.trace = StageTrace()  # the server hands its own in (chatapp.stages)
        # Stream batches and asynchronous invocations never take the last idle instance:
        # on AWS each function has its own instances, and a fan-out waiting out 429s
        # must not keep every $default frame and REST request waiting.
        self._background = threading.BoundedSemaphore(max(1, count - 1))
        # Threads that wait for a worker's answer (asyncio callers, asynchronous invokes).
        self.waiters = ThreadPoolExecutor(max(16, 4 * count), thread_name_prefix="invoke")

    # -- lifecycle --------------------------------------------------------------------

    def settings_for(self, index: int) -> WorkerSettings:
        """Instance `index`'s settings: the shared environment, its own clock offset."""
        return WorkerSettings(
            self._environment, index * self._clock_skew_ms, self._verbose, self._project_root
        )

    def spawn(self) -> Instances:
        """Start the worker processes; they wait for their settings (start() sends them).

        Separate from start() so that the processes come up (the fork server's
        imports) while the server starts its database.
        """
        self._spawned = [self._spawn(index) for index in range(self.count)]
        return self

    def start(self, environment: dict[str, str]) -> Instances:
        """Hand every worker the environment and wait until each has imported app.py."""
        self._environment = dict(environment)
        if not self._spawned:
            self.spawn()
        started, self._spawned = self._spawned, []
        for worker in started:
            worker.connection.send(self.settings_for(worker.index))
        for worker in started:
            self._await_ready(worker)
            self._workers[worker.index] = worker
            self._idle.put(worker)
        log.info(
            "%d Lambda instance(s): pids %s%s", self.count,
            ", ".join(str(w.pid) for w in started),
            f" (clock skew {self._clock_skew_ms} ms per instance)" if self._clock_skew_ms else "",
        )
        return self

    def _spawn(self, index: int) -> _Worker:
        ours, theirs = self._mp.Pipe()
        process = self._mp.Process(
            target=worker_main, args=(theirs, index),
            name=f"lambda-instance-{index}", daemon=True,
        )
        process.start()
        theirs.close()
        return _Worker(index, process, ours)

    def _await_ready(self, worker: _Worker) -> None:
        if not worker.connection.poll(START_TIMEOUT_SECONDS):
            worker.process.kill()
            raise RuntimeError(f"Lambda instance {worker.index} did not start")
        try:
            ready = worker.connection.recv()
        except EOFError:
            raise RuntimeError(
                f"Lambda instance {worker.index} exited while importing app.py "
                f"(exit code {worker.process.exitcode}; its error is in the log above)"
            ) from None
        worker.pid = ready["pid"]
        self._names = ready["functions"]

    def stop(self) -> None:
        """Ask every worker to exit (after its current invocation); kill what stays."""
        self._stopping = True
        self.waiters.shutdown(wait=False, cancel_futures=True)
        workers = [*self._workers.values(), *self._spawned]
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):
                worker.connection.send(None)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1.0)
            worker.connection.close()

    # -- invoking ---------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._names)

    def invoke(self, function_name: str, event: Any, background: bool = False) -> Any:
        """Run one invocation on an idle instance (waiting for one); its result or an error.

        `background` (stream batches, asynchronous invocations): at most count - 1
        of those run at once, so one instance stays for requests.
        """
        queued = time.perf_counter()
        if not background:
            return self._invoke(function_name, event, queued)
        with self._background:
            return self._invoke(function_name, event, queued)

    def _invoke(self, function_name: str, event: Any, queued: float) -> Any:
        worker = self._idle.get()
        try:
            try:
                worker.connection.send((function_name, event))
                answer = worker.connection.recv()
            except (EOFError, OSError) as error:
                worker = self._replace(worker)
                raise InvocationError(
                    "Runtime.ExitError", f"instance exited during the invocation ({error!r})"
                ) from None
        finally:
            self._idle.put(worker)
        worker.invocations += 1
        self._account(function_name, answer)
        if self.trace.enabled and "startedAt" in answer:
            self.trace.invocation(event, answer["startedAt"], answer["endedAt"], queued)
        if answer.get("output"):
            sys.stdout.write(answer["output"])  # log lines and EMF metrics, as Lambda's stdout
        if "errorType" in answer:
            raise InvocationError(answer["errorType"], answer["errorMessage"])
        return answer["result"]

    async def invoke_async(self, function_name: str, event: Any) -> Any:
        """`invoke` from the event loop, waiting on one of the pool's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.waiters, self.invoke, function_name, event)

    def _replace(self, worker: _Worker) -> _Worker:
        log.error("Lambda instance %d (pid %d) exited (code %s)", worker.index, worker.pid,
                  worker.process.exitcode)
        worker.connection.close()
        if self._stopping:
            return worker
        replacement = self._spawn(worker.index)
        replacement.connection.send(self.settings_for(worker.index))
        self._await_ready(replacement)
        with self._lock:
            self._workers[worker.index] = replacement
        log.info("Lambda instance %d restarted (pid %d)", replacement.index, replacement.pid)
        return replacement

    def _account(self, function_name: str, answer: dict[str, Any]) -> None:
        with self._lock:
            usage = self._usage.setdefault(function_name, FunctionUsage())
            usage.invocations += 1
            usage.errors += "errorType" in answer
            usage.cpu_seconds += answer.get("cpuSeconds", 0.0)
            usage.calls.update(answer.get("calls", {}))

    def report(self) -> dict[str, Any]:
        """The workers' pids and invocations, and each function's CPU and AWS calls."""
        with self._lock:
            return {
                "instances": [
                    {"index": w.index, "pid": w.pid, "invocations": w.invocations}
                    for w in sorted(self._workers.values(), key=lambda w: w.index)
                ],
                "functions": {name: u.as_json() for name, u in sorted(self._usage.items())},
            }


# -- the worker side ----------------------------------------------------------------------


class _Output(io.TextIOBase):
    """A worker's standard output: kept until the answer carries it to the server."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def drain(self) -> str:
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return text


def _count_aws_calls(calls: Counter[str], lock: threading.Lock) -> None:
    """Count every botocore call of this process as "service.Operation"."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        with lock:
            calls[f"{self.meta.service_model.service_name}.{operation_name}"] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counted


def worker_main(connection: Connection, index: int) -> None:
    """One instance: its settings first, set up once, then invocations one at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the server decides
    from chalicelib import clock, lazy
    from chatapp.cli import configure_logging

    try:
        settings: WorkerSettings | None = connection.recv()
    except (EOFError, OSError):
        return
    if settings is None:  # stopped before it started
        return
    configure_logging(settings.verbose)
    apply_environment(settings.environment)
    lazy.reset()
    output = _Output()
    sys.stdout = output  # what the handlers print goes back with each answer
    app = import_app(settings.project_root)
    if settings.clock_offset_ms:
        clock.get().advance(settings.clock_offset_ms / 1000)
    functions, names = entry_points(app), context_names(app)
    calls: Counter[str] = Counter()
    calls_lock = threading.Lock()
    _count_aws_calls(calls, calls_lock)
    connection.send({"pid": os.getpid(), "functions": list(functions)})
    log.debug("instance %d (pid %d): app.py imported", index, os.getpid())
    invocations = 0
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            break  # the server is gone
        if request is None:
            break
        function_name, event = request
        invocations += 1
        with calls_lock:
            calls.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        answer: dict[str, Any] = {}
        try:
            context = _context(names[function_name])
            answer["result"] = functions[function_name](event, context)
        except Exception as error:
            log.exception("%s raised (instance %d)", function_name, index)
            answer.update(errorType=type(error).__name__, errorMessage=str(error))
        answer["cpuSeconds"] = time.process_time() - cpu
        # One machine-wide clock (CLOCK_MONOTONIC) for chatapp.stages.
        answer["startedAt"], answer["endedAt"] = wall, time.perf_counter()
        with calls_lock:
            answer["calls"] = dict(calls)
        log.debug(
            "%s on instance %d (pid %d): invocation %d of this instance, %.1f ms",
            function_name, index, os.getpid(), invocations, (time.perf_counter() - wall) * 1000,
        )
        answer["output"] = output.drain()
        try:
            connection.send(answer)
        except (OSError, ValueError):
            break
        except Exception as error:  # a result that cannot be pickled: Lambda's serialization error
            connection.send({
                "errorType": "Runtime.MarshalError", "errorMessage": str(error),
                "output": answer["output"],
            })


def apply_environment(environment: dict[str, str]) -> None:
    """Set the variables in this process (and drop any that would override them)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "JWT_SECRET_PARAMETER"):
        os.environ.pop(name, None)
    os.environ.update(environment)


def import_app(project_root: Path = PROJECT_ROOT) -> Any:
    """Import the project's app.py by path, as Lambda does, and return its Chalice app."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("app", project_root / "app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"no app.py in {project_root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module.app
