"""Start `chatapp serve` as a subprocess, the way a user does, for end-to-end tests.

Every end-to-end test (local runtime, browser, reliability) uses this one helper:

    server = start_local_server(tmp_path / "data", rate_limit=0, faults="drop-after=3")
    ...  # server.api_url, server.ws_url
    server.restart()   # same port, same data dir: tokens stay valid
    server.stop()

and a server shared by a module (or the session) is a fixture made by `server_fixture`:

    server = server_fixture(rate_limit=0, admins=["root"], requires=("browser",))

The server's stdout and stderr go to a log file in the data dir (never a pipe,
which would block the server once full); `logs()` returns it for debugging.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.support.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 120.0  # the database and the Lambda instances, on a busy machine
STOP_TIMEOUT_SECONDS = 20.0
LOG_NAME = "chatapp-serve.log"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on host a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def chatapp_command() -> list[str]:
    """The `chatapp` entry point of the project's venv (or this interpreter's)."""
    script = PROJECT_ROOT / ".venv" / "bin" / "chatapp"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "chatapp"]


class LocalServerError(RuntimeError):
    """The server did not come up; the message carries its log."""


class LocalServer:
    """One `chatapp serve` subprocess on 127.0.0.1, restartable on the same port."""

    host = "127.0.0.1"

    def __init__(
        self, data_dir: Path, extra_args: tuple[str, ...] = (), env: dict | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.extra_args = tuple(extra_args)
        self.env = {**os.environ, "BCRYPT_ROUNDS": "4", **(env or {})}
        self.port = free_port(self.host)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    def start(self) -> LocalServer:
        """Start the subprocess and wait until GET /api/health answers 200."""
        if self.running:
            raise LocalServerError("already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *chatapp_command(),
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        try:
            wait_until(self._healthy, "/health", STARTUP_TIMEOUT_SECONDS, interval=0.1)
        except AssertionError:
            self.kill()
            raise LocalServerError(
                f"chatapp serve not healthy after {STARTUP_TIMEOUT_SECONDS}s:\n{self.logs()}"
            ) from None

    def _healthy(self) -> bool:
        """Whether /health answers ok; LocalServerError once the process has exited."""
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise LocalServerError(f"chatapp serve exited with {code}:\n{self.logs()}")
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return response.status == 200 and json.load(response).get("status") == "ok"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM (a clean shutdown, as Ctrl-C) and wait; returns the exit code."""
        return self._end(signal.SIGTERM)

    def kill(self) -> int | None:
        """SIGKILL: the process dies without any shutdown work (a crash)."""
        return self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def restart(self) -> LocalServer:
        """Stop cleanly and start again on the same port with the same data dir."""
        self.stop()
        return self.start()

    def metrics(self) -> dict[str, Any]:
        """The local metrics page's figures (/_local/metrics.json): what the handlers counted."""
        with urllib.request.urlopen(f"{self.url}/_local/metrics.json", timeout=10) as answer:
            return json.load(answer)

    def logs(self) -> str:
        """Everything the server printed so far (all runs with this data dir)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_options(
    rate_limit: int | None = None,
    admins: Sequence[str] = (),
    faults: str | None = None,
    env: dict | None = None,
) -> tuple[tuple[str, ...], dict]:
    """The `chatapp serve` arguments and extra environment for these options."""
    args: list[str] = [] if rate_limit is None else ["--rate-limit", str(rate_limit)]
    for admin in admins:
        args += ["--admin", admin]
    extra = dict(env or {})
    if faults is not None:
        extra["CHATAPP_FAULTS"] = faults
    return tuple(args), extra


def start_local_server(
    data_dir: Path,
    *extra_args: str,
    rate_limit: int | None = None,
    admins: Sequence[str] = (),
    faults: str | None = None,
    env: dict | None = None,
) -> LocalServer:
    """Start `chatapp serve --port <free> --data-dir data_dir [options] *extra_args`; wait for
    health.

    rate_limit: --rate-limit (0 turns it off); admins: one --admin each; faults:
    CHATAPP_FAULTS (chatapp/faults.py); env: more environment. BCRYPT_ROUNDS=4
    unless env says otherwise (signups in tests stay fast). Use as a context
    manager or call stop() yourself.
    """
    args, extra_env = serve_options(rate_limit, admins, faults, env)
    return LocalServer(data_dir, (*args, *extra_args), extra_env).start()


def server_fixture(
    *extra_args: str,
    rate_limit: int | None = None,
    admins: Sequence[str] = (),
    faults: str | None = None,
    env: dict | None = None,
    scope: Literal["module", "session"] = "module",
    requires: Sequence[str] = (),
) -> Any:
    """A pytest fixture: `chatapp serve` with these options (as start_local_server) and a
    data dir of its own, started once for the scope and stopped after it.

    `requires` names fixtures set up first (the browser tests' `browser`, so that
    nothing starts without chromium). The fixture's name is the name it is
    assigned to: `server = server_fixture(rate_limit=0)`.
    """

    @pytest.fixture(scope=scope)
    def fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[LocalServer]:
        for name in requires:
            request.getfixturevalue(name)
        server = start_local_server(
            tmp_path_factory.mktemp("chatapp-serve"),
            *extra_args,
            rate_limit=rate_limit,
            admins=admins,
            faults=faults,
            env=env,
        )
        yield server
        server.stop()

    return fixture
