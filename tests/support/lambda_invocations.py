"""A loopback stand-in for Lambda's Invoke API that records what the handlers hand over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.support.management_server import serve_on_loopback


@contextmanager
def recorded_invocations() -> Iterator[tuple[str, list[dict]]]:
    """Yields (endpoint URL, the payloads of every Invoke, in order); answers 202 to each."""
    seen: list[dict] = []

    class Lambda(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_on_loopback(Lambda) as url:
        yield url, seen
