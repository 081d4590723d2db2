"""An HTTP/1.1 keep-alive server for a WSGI app (the embedded DynamoDB's endpoint).

DynamoDB's endpoint keeps connections open, and botocore reuses them.
werkzeug's development server (moto's default) closes the connection after
every response, so each DynamoDB call would pay a TCP connect there and a new
thread here.
"""

from __future__ import annotations

import http.server
import io
import logging
import sys
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("chatapp.wsgiserver")


class KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """One connection: read the body, call the app, answer with a Content-Length, keep it open.

    Enough for apps whose responses are small and complete (moto's).
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add ~40 ms to every call.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        address = self.server.server_address
        assert isinstance(address, tuple)  # an AF_INET server
        host, port = address[:2]
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


class KeepAliveWSGIServer(http.server.ThreadingHTTPServer):
    """Serves a WSGI app on (host, port), one thread per connection."""

    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__((host, port), KeepAliveHandler)
        self.app = app
