"""A stand-in for API Gateway's Management API and Lambda's Invoke, in its own process.

Run by the benchmarks (`AwsStub` below), never by hand. Each PostToConnection
is answered by chatapp's Management API code (signature checked) after
`--latency` seconds, API Gateway's round trip; each asynchronous Invoke is
recorded and answered 202, as Lambda answers it, for the benchmark to run the
page itself. Being another process, its CPU is not counted as the sender's.

With an account rate (`AwsStub(latency, account_rate=(10000, 5000))`) every
Management API call first takes a token from that bucket (chatapp's AccountRate)
and is answered 429 when it is empty, as the account's API Gateway rate does.

Commands on stdin, one per line: `count` prints the posts so far; `stats` the
posts, 429s for the rate and DeleteConnections, as JSON; `invocations` prints
the Invoke payloads recorded since the last time, as one JSON list.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SlowConnections:
    """Every connection exists; each post takes `latency` seconds."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.posts = 0
        self.deleted = 0
        self.lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        time.sleep(self.latency)  # the round trip; other requests go on meanwhile
        with self.lock:
            self.posts += 1

    def delete(self, connection_id: str) -> None:
        with self.lock:
            self.deleted += 1

    def info(self, connection_id: str) -> dict[str, Any]:
        return {"connected_at": 0, "last_active_at": 0, "source_ip": "", "user_agent": ""}


def serve(latency: float, rate: float = 0, burst: float = 0) -> None:
    import botocore.session

    from chatapp.management import AccountRate, ManagementAPI

    connections = SlowConnections(latency)
    credentials = botocore.session.get_session().get_credentials().get_frozen_credentials()
    account = AccountRate(rate, burst) if rate else None
    api = ManagementAPI(connections, credentials, "us-east-1", account)
    invocations: list[Any] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/2015-03-31/functions/"):
                with lock:
                    invocations.append(json.loads(body))
                status, headers, data = 202, {}, b""
            else:
                url = f"http://{self.headers['Host']}{self.path}"
                status, headers, data = api.answer(
                    self.command, url, self.path, dict(self.headers.items()), body
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_DELETE = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(connections.posts, flush=True)
        elif line.strip() == "stats":
            print(json.dumps({"posts": connections.posts, "deleted": connections.deleted,
                              "throttled": account.refused if account else 0}), flush=True)
        elif line.strip() == "invocations":
            with lock:
                taken, invocations[:] = list(invocations), []
            print(json.dumps(taken), flush=True)


class AwsStub:
    """The stub as a child process: `endpoint`, `posts()`, `invocations()`."""

    def __init__(
        self,
        latency: float,
        environment: dict[str, str] | None = None,
        account_rate: tuple[float, float] | None = None,
    ) -> None:
        """Start it; it accepts the credentials of `environment` (default: this process's)."""
        import os

        rate = [str(n) for n in account_rate] if account_rate else []
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(latency), *rate],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
            env={**(environment or os.environ), "PYTHONPATH": str(PROJECT_ROOT)},
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()

    def _ask(self, command: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline()

    def posts(self) -> int:
        return int(self._ask("count"))

    def stats(self) -> dict[str, int]:
        return json.loads(self._ask("stats"))

    def invocations(self) -> list[Any]:
        return json.loads(self._ask("invocations"))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    serve(*(float(arg) for arg in sys.argv[1:4]))
