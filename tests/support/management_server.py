"""chatapp's Management API (chatapp.management) on a loopback port, for in-process tests.

The handlers' client signs and sends real HTTP requests to it, exactly as it
does to `chatapp serve` or API Gateway; `connections` decides each answer. A
connection can also be made to drop the TCP connection without answering
(`RESET`), as a network failure does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session

from chatapp.management import Connections, ManagementAPI
from tests.support.environment import FAKE_AWS


class ResetConnection(Exception):
    """Raised by a Connections double: the server closes the socket without an answer."""


@contextmanager
def serve_management_api(connections: Connections) -> Iterator[str]:
    """Serve the Management API for `connections`; yields its endpoint URL.

    It accepts the credentials of the environment at this moment (moto's
    mock replaces them), the ones the handlers sign with.
    """
    session = botocore.session.get_session()
    api = ManagementAPI(
        connections, session.get_credentials().get_frozen_credentials(), FAKE_AWS["AWS_REGION"]
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client pools connections

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = f"http://{self.headers['Host']}{self.path}"
            try:
                status, headers, data = api.answer(
                    self.command, url, self.path, dict(self.headers.items()), body
                )
            except ResetConnection:
                self.close_connection = True
                return
            except Exception:  # what the HTTP server does with a failing handler
                status, headers, data = 500, {"x-amzn-ErrorType": "InternalServerError"}, b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_DELETE = do_GET = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_on_loopback(Handler) as url:
        yield url


@contextmanager
def serve_on_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server for `handler` on a free loopback port, in a thread; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # serve_forever checks for shutdown every poll_interval (0.5 s by default):
    # every test that serves one would wait that long at teardown.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
