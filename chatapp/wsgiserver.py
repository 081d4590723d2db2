"""An HTTP/1.1 keep-alive server for a WSGI app (the embedded DynamoDB's endpoint).

DynamoDB's endpoint keeps connections open, and botocore reuses them.
werkzeug's development server (moto's default) closes the connection after
every response, so each DynamoDB call would pay a TCP connect there and a new
thread here.

A request's headers are read as lines into a small mapping: the standard
library runs them through the email package's parser (22 µs for a botocore
request's ten headers, 6 µs here, timed alone; docs/PERFORMANCE.md). Request lines that are not
plain `METHOD target HTTP/1.x` go to the standard library's parse (its errors).
"""

from __future__ import annotations

import http.server
import io
import logging
import sys
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("chatapp.wsgiserver")


MAX_HEADER_LINE = 65536  # bytes, as http.client allows
MAX_HEADERS = 100  # lines, as http.client allows


class Headers:
    """A request's headers in arrival order: the part of email.message.Message in use here."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: Any = None) -> Any:
        """The first value of a header (names compare case-insensitively)."""
        wanted = name.lower()
        for field, value in self._fields:
            if field.lower() == wanted:
                return value
        return default

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


class KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """One connection: read the body, call the app, answer with a Content-Length, keep it open.

    Enough for apps whose responses are small and complete (moto's).
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add ~40 ms to every call.
    disable_nagle_algorithm = True

    def parse_request(self) -> bool:
        """BaseHTTPRequestHandler.parse_request for `METHOD target HTTP/1.x`, headers read as lines.

        Keep-alive as the standard library decides it (HTTP/1.1 unless
        `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`),
        `Expect: 100-continue` answered; a header line over 64 KiB or more than
        100 lines of headers: 431, as there.
        """
        raw: bytes = self.raw_requestline  # type: ignore[attr-defined]  # set by handle_one_request
        requestline = str(raw, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0") or words[1][:2] == "//":
            return super().parse_request()
        self.requestline = requestline
        self.command, self.path, self.request_version = words
        self.close_connection = self.request_version == "HTTP/1.0"
        lines: list[list[str]] = []  # each header's lines, continuation lines after the first
        count = 0  # lines read, the empty one that ends them included (as http.client counts)
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long",
                    f"got more than {MAX_HEADER_LINE} bytes when reading header line",
                )
                return False
            count += 1
            if count > MAX_HEADERS:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers",
                    f"got more than {MAX_HEADERS} headers",
                )
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1")
            if text[:1] in (" ", "\t") and lines:  # an obsolete folded line continues the last
                lines[-1].append(text)
            else:
                lines.append([text])
        fields = []
        for first, *rest in lines:  # as the email package's compat32 policy reads a header
            name, _, value = first.partition(":")
            fields.append((name, (value.lstrip(" \t") + "".join(rest)).rstrip("\r\n")))
        self.headers = Headers(fields)  # type: ignore[assignment]
        connection = (self.headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

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
