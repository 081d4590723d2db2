"""The embedded database's keep-alive HTTP server reads requests as the standard library does."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chatapp.wsgiserver import KeepAliveHandler, KeepAliveWSGIServer


def echo(environ: dict, start_response: Any) -> list[bytes]:
    """Answers with what the request looked like to a WSGI app."""
    body = environ["wsgi.input"].read()
    seen = {  # (the port differs between servers)
        key: value for key, value in environ.items()
        if isinstance(value, str) and key != "SERVER_PORT"
    }
    seen["body"] = body.decode()
    payload = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


class StandardParse(KeepAliveHandler):
    """The same handler with the standard library's own request parsing."""

    def parse_request(self) -> bool:
        return http.server.BaseHTTPRequestHandler.parse_request(self)


def serving(handler: type) -> Iterator[KeepAliveWSGIServer]:
    server = KeepAliveWSGIServer("127.0.0.1", 0, echo)
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def lean() -> Iterator[KeepAliveWSGIServer]:
    yield from serving(KeepAliveHandler)


@pytest.fixture(scope="module")
def standard() -> Iterator[KeepAliveWSGIServer]:
    yield from serving(StandardParse)


def exchange(server: KeepAliveWSGIServer, *requests: bytes) -> tuple[list[bytes], bool]:
    """Send each request on one connection, read each answer; and whether it was closed after."""
    answers = []
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        stream = connection.makefile("rb")
        for request in requests:
            connection.sendall(request)
            status = stream.readline()
            headers, length = [status], 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                headers.append(line)
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            answers.append(b"".join(headers) + b"\r\n" + stream.read(length))
        connection.settimeout(0.5)
        try:
            closed = stream.read(1) == b""
        except TimeoutError:
            closed = False
    return answers, closed


def seen(answer: bytes) -> dict[str, str]:
    return dict(json.loads(answer.partition(b"\r\n\r\n")[2]))


POST = (
    b"POST /path%20x?q=1 HTTP/1.1\r\nHost: h\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
    b"x-dup: a\r\nX-Dup: b\r\nX-Folded: first\r\n  second\r\nContent-Type: application/json\r\n"
    b"Content-Length: 7\r\n\r\n{\"a\":1}"
)


def test_requests_reach_the_app_as_the_standard_librarys_parse_makes_them(lean, standard):
    (mine, again), closed = exchange(lean, POST, POST)
    (theirs, _), _ = exchange(standard, POST, POST)
    assert not closed, "an HTTP/1.1 connection was closed after two requests"
    assert seen(mine) == seen(theirs)
    assert seen(mine)["HTTP_X_DUP"] == "a,b" and seen(mine)["body"] == '{"a":1}'
    assert seen(again) == seen(mine)


@pytest.mark.parametrize(("request_bytes", "closed"), [
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", True),
    (b"GET / HTTP/1.0\r\n\r\n", True),
    (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n", False),
])
def test_connections_are_kept_or_closed_as_the_standard_library_keeps_them(
    lean, standard, request_bytes, closed
):
    for server in (lean, standard):
        answers, was_closed = exchange(server, request_bytes)
        assert answers[0].startswith(b"HTTP/1.") and b" 200 " in answers[0].split(b"\r\n")[0]
        assert was_closed is closed, (server.RequestHandlerClass.__name__, request_bytes)


def without_date(answer: bytes) -> bytes:
    return b"\r\n".join(line for line in answer.split(b"\r\n") if not line.startswith(b"Date:"))


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nX-Long: " + b"x" * 70000 + b"\r\n\r\n",  # 431
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n",  # 431
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(100)) + b"\r\n",  # 431
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(99)) + b"\r\n",  # 200
    b"GARBAGE\r\n\r\n",  # 400, answered as HTTP/0.9 (no status line)
    b"GET / HTTP/2.0\r\n\r\n",  # 505
    b"GET / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
])
def test_odd_and_bad_requests_get_the_standard_librarys_answer(lean, standard, request_bytes):
    mine, theirs = exchange(lean, request_bytes), exchange(standard, request_bytes)
    assert [without_date(answer) for answer in mine[0]] == [
        without_date(answer) for answer in theirs[0]
    ]
    assert mine[1] == theirs[1]
