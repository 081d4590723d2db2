"""The API Gateway Management API (`@connections`), lean: signed requests on kept-alive connections.

boto3's apigatewaymanagementapi client spends about 1 ms of CPU per
PostToConnection in its call machinery; a fan-out makes thousands. Here a call
is SigV4 written out (the canonical request botocore's SigV4Auth builds, its
signing key derived once a day) and one HTTP/1.1 request, headers and body in
one send, on a keep-alive connection each sending thread keeps for itself
(a socket; only the answer's status and framing are read): the same URL,
signature and answers, a fraction of the CPU. What the service answers, and
what a call then returns:

    200 / 204                   SENT
    410 GoneException           GONE: the caller forgets the connection
    413 PayloadTooLarge         TOO_LARGE: that frame is dropped (logged)
    429 LimitExceeded           post(): THROTTLED at once, the caller decides (the
                                fan-out retries the room as a whole); send() and
                                delete(): retried with backoff, then REFUSED
    5xx, network errors         retried a few times, then FAILED

Every call takes its turn from the process's adaptive rate (chalicelib.send_rate)
and reports each 429 and success to it: a 429 may be the account's rate, which
only the whole process slowing down answers.

The endpoint is the WebSocket API's stage URL, or AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI
when set (the local runtime serves this API on its own port, as
AWS_ENDPOINT_URL_DYNAMODB points at its database). `client()` resolves it and
the credentials once per invocation.
"""

from __future__ import annotations

import enum
import functools
import hmac
import http.client
import logging
import os
import random
import socket
import ssl
import threading
import time
from hashlib import sha256
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from botocore.credentials import ReadOnlyCredentials
from botocore.utils import normalize_url_path

from chalicelib import aws, clock, lazy, observability, send_rate, settings, tracing

log = logging.getLogger(__name__)

SERVICE = "execute-api"  # the signing name of the Management API
ENDPOINT_ENV = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
# Waits before each retry, before jitter: a 429 to a reply or a close (the client
# is not reading, or the account's rate) gets about a second in all; 5xx and
# network errors two quick tries.
THROTTLED_DELAYS = (0.05, 0.1, 0.2, 0.4)
ERROR_DELAYS = (0.05, 0.2)
TIMEOUT_SECONDS = 5.0
# The Management API's names for its calls (X-Ray subsegments, chalicelib.tracing).
OPERATIONS = {"POST": "PostToConnection", "DELETE": "DeleteConnection"}


class Delivery(enum.Enum):
    """The outcome of one call, after any retries."""

    SENT = "sent"
    GONE = "gone"
    TOO_LARGE = "too_large"
    THROTTLED = "throttled"  # 429, not retried (post)
    REFUSED = "refused"  # 429 after retries (send, delete)
    FAILED = "failed"
    LATE = "late"  # not sent: its deadline passed while it waited (the rate, a retry)


MAX_LINE_BYTES = 65536  # a status or header line, as http.client allows
MAX_HEADER_LINES = 100


class _Exchange:
    """One kept-alive HTTP/1.1 connection: a request out in one send, its answer's status back.

    Written out rather than http.client's: the Management API's answers are read
    for their status only, and http.client parses every answer's headers with
    the email package (about a third of a post's CPU in the fan-out, measured).
    Bodies are read (Content-Length, chunked, or to the close) so the
    connection stays usable; `Connection: close` closes it.
    """

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.sock: socket.socket | None = None
        self._reader: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        sock = socket.create_connection((self.host, self.port), TIMEOUT_SECONDS)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.scheme == "https":
                sock = _tls().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock, self._reader = sock, sock.makefile("rb")
        return self._reader

    def close(self) -> None:
        sock, reader = self.sock, self._reader
        self.sock = self._reader = None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()

    def exchange(self, head: bytes, body: bytes) -> int:
        """Send one request (head and body in one send); the answer's status, its body read."""
        reader = self._reader if self._reader is not None else self._open()
        assert self.sock is not None
        self.sock.sendall(head + body if body else head)
        try:
            return self._answer(reader)
        except ValueError as malformed:  # a length or chunk size that is not a number
            raise http.client.HTTPException(f"malformed answer: {malformed}") from None

    def _answer(self, reader: BinaryIO) -> int:
        while True:  # an interim answer (100 Continue) comes before the final one
            line = reader.readline(MAX_LINE_BYTES + 1)
            if not line:
                raise http.client.RemoteDisconnected("the service closed the connection")
            version, _, rest = line.partition(b" ")
            if not version.startswith(b"HTTP/") or not rest[:3].isdigit():
                raise http.client.BadStatusLine(repr(line))
            status = int(rest[:3])
            if not 100 <= status < 200:
                break
            self._headers(reader, version)
        length, chunked, close = self._headers(reader, version)
        if status in (204, 304):
            pass  # no body
        elif chunked:
            self._read_chunks(reader)
        elif length is not None:
            if len(reader.read(length)) < length:
                raise http.client.IncompleteRead(b"", length)
        else:  # no length: the body runs to the close
            reader.read()
            close = True
        if close:
            self.close()
        return status

    @staticmethod
    def _headers(reader: BinaryIO, version: bytes) -> tuple[int | None, bool, bool]:
        """The headers that frame the body: (Content-Length, chunked, close after it)."""
        length, chunked, close = None, False, version == b"HTTP/1.0"
        for _ in range(MAX_HEADER_LINES + 1):
            line = reader.readline(MAX_LINE_BYTES + 1)
            if line in (b"\r\n", b"\n"):
                break
            if not line or len(line) > MAX_LINE_BYTES:
                raise http.client.HTTPException("malformed or cut-off answer headers")
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = close or b"close" in value.lower()
                close = close and b"keep-alive" not in value.lower()
        else:
            raise http.client.HTTPException("too many answer headers")
        return length, chunked, close

    @staticmethod
    def _read_chunks(reader: BinaryIO) -> None:
        while True:
            size = int(reader.readline(MAX_LINE_BYTES + 1).split(b";")[0], 16)
            if size == 0:
                while reader.readline(MAX_LINE_BYTES + 1) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            if len(reader.read(size + 2)) < size + 2:
                raise http.client.IncompleteRead(b"", size)


@lazy.cached()
def _tls() -> ssl.SSLContext:
    """The process's TLS context (certificates loaded once)."""
    return ssl.create_default_context()


class _Connections(threading.local):
    """Each thread's kept-alive HTTP connection per endpoint (a fan-out thread reuses its own)."""

    def __init__(self) -> None:
        self.open: dict[str, _Exchange] = {}

    def get(self, base_url: str) -> _Exchange:
        connection = self.open.get(base_url)
        if connection is None:
            parts = urlsplit(base_url)
            default_port = 443 if parts.scheme == "https" else 80
            connection = _Exchange(parts.scheme, parts.hostname or "", parts.port or default_port)
            self.open[base_url] = connection
        return connection

    def drop(self, base_url: str) -> None:
        connection = self.open.pop(base_url, None)
        if connection is not None:
            connection.close()


@lazy.cached()
def _pool() -> _Connections:
    """The container's connections, one set per thread, reused by every invocation."""
    return _Connections()


class Signer:
    """AWS Signature Version 4 for the Management API, as botocore's SigV4Auth signs it.

    Signs host and x-amz-date (and the session token), over the double-encoded
    path botocore uses for every service but S3; the signing key is derived
    once per day. chatapp checks these signatures with botocore's own signer.
    """

    def __init__(self, credentials: ReadOnlyCredentials, region: str) -> None:
        self.credentials = credentials
        self._scope_tail = f"{region}/{SERVICE}/aws4_request"
        self._key_date, self._key = "", b""

    def _signing_key(self, date: str) -> bytes:
        if date != self._key_date:
            key = ("AWS4" + self.credentials.secret_key).encode()
            for part in (date, *self._scope_tail.split("/")):
                key = hmac.new(key, part.encode(), sha256).digest()
            self._key_date, self._key = date, key
        return self._key

    def headers(self, method: str, host: str, path: str, body: bytes, now: float) -> dict[str, str]:
        """The headers that sign this request (Host, X-Amz-Date, Authorization, token)."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        date = amz_date[:8]
        token = self.credentials.token
        canonical_headers = f"host:{host}\nx-amz-date:{amz_date}\n"
        signed = "host;x-amz-date"
        if token:
            canonical_headers += f"x-amz-security-token:{token}\n"
            signed += ";x-amz-security-token"
        canonical = "\n".join((
            method, _canonical_path(path), "", canonical_headers, signed,
            sha256(body).hexdigest(),
        ))
        scope = f"{date}/{self._scope_tail}"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(date), to_sign.encode(), sha256).hexdigest()
        headers = {
            "Host": host,
            "X-Amz-Date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}",
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers


# urllib's quote goes character by character: a fan-out posts to the same
# connections batch after batch, so their quoted paths are kept (bounded).
@functools.lru_cache(maxsize=4096)
def _quoted(connection_id: str) -> str:
    """A connection id as its URL path segment ('/', '+' and '=' percent-encoded)."""
    return quote(connection_id, safe="")


@functools.lru_cache(maxsize=4096)
def _canonical_path(path: str) -> str:
    """The path as SigV4 signs it: normalized, then encoded once more (botocore's, not S3's)."""
    return quote(normalize_url_path(path), safe="/~")


def endpoint(domain_name: str | None = None, stage: str | None = None) -> str:
    """The Management API's base URL for this stage (the local runtime's when it sets one).

    A WebSocket event's own domain and stage serve when WEBSOCKET_API_ID is not set.
    """
    override = os.environ.get(ENDPOINT_ENV)
    if override:
        return override.rstrip("/")
    config = settings.get()
    if config.websocket_api_id:
        region = aws.session().region_name
        return (
            f"https://{config.websocket_api_id}.execute-api.{region}.amazonaws.com"
            f"/{config.websocket_stage}"
        )
    if domain_name and stage:
        return f"https://{domain_name}/{stage}"
    raise RuntimeError("WEBSOCKET_API_ID is not set: cannot reach the connections")


def client(domain_name: str | None = None, stage: str | None = None) -> ConnectionsAPI:
    """A client for this invocation: endpoint and credentials resolved now, connections pooled."""
    session = aws.session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials to sign Management API calls with")
    return ConnectionsAPI(
        endpoint(domain_name, stage), session.region_name, credentials.get_frozen_credentials()
    )


class ConnectionsAPI:
    """PostToConnection and DeleteConnection, signed and sent on the shared pool."""

    def __init__(self, base_url: str, region: str, credentials: ReadOnlyCredentials) -> None:
        self.base_url = base_url
        self._signer = Signer(credentials, region)
        parts = urlsplit(base_url)
        # The host as SigV4 signs it: without the scheme's default port.
        default_port = {"http": 80, "https": 443}[parts.scheme]
        self._host = (parts.hostname or "") if parts.port in (None, default_port) else parts.netloc
        self._path = parts.path
        self._connections = _pool()

    def post(self, connection_id: str, data: bytes, deadline_ms: int | None = None) -> Delivery:
        """PostToConnection: data (at most 32 KB) to one connection; a 429 is not retried.

        With a deadline (epoch ms, chalicelib.clock), a post that would go out after
        it (held by the send rate or waiting to retry) is not sent: LATE.
        """
        outcome = self._call(
            "POST", connection_id, data, throttled_delays=(), deadline_ms=deadline_ms
        )
        if outcome is not Delivery.LATE:  # not a delivery: the caller decides again
            observability.count("Deliveries", outcome=outcome.value)
        return outcome

    def delete(self, connection_id: str) -> Delivery:
        """DeleteConnection: close the connection (its $disconnect runs)."""
        return self._call("DELETE", connection_id, b"")

    def send(self, connection_id: str, message: str) -> None:
        """Post one text frame (a reply); any outcome other than SENT is logged, never raised."""
        outcome = self._call("POST", connection_id, message.encode())
        observability.count("Deliveries", outcome=outcome.value)
        if outcome is not Delivery.SENT:
            log.info("post to %s: %s", connection_id, outcome.value)

    def _call(
        self,
        method: str,
        connection_id: str,
        body: bytes,
        throttled_delays: tuple[float, ...] = THROTTLED_DELAYS,
        deadline_ms: int | None = None,
    ) -> Delivery:
        """One call with its retries, traced as one subsegment when tracing is on."""
        if not tracing.enabled():
            return self._attempts(method, connection_id, body, throttled_delays, deadline_ms)
        with tracing.subsegment(OPERATIONS[method], "remote", connections=1) as span:
            outcome = self._attempts(method, connection_id, body, throttled_delays, deadline_ms)
            span.annotate(outcome=outcome.value)  # never the frame: it may hold a message
            return outcome

    def _attempts(
        self,
        method: str,
        connection_id: str,
        body: bytes,
        throttled_delays: tuple[float, ...],
        deadline_ms: int | None,
    ) -> Delivery:
        path = f"{self._path}/@connections/{_quoted(connection_id)}"
        throttled, errors = iter(throttled_delays), iter(ERROR_DELAYS)
        rate = send_rate.get()
        while True:
            rate.acquire()
            if deadline_ms is not None and clock.now_ms() > deadline_ms:
                return Delivery.LATE
            try:
                status = self._request(method, path, body)
            except (OSError, http.client.HTTPException) as failure:  # reset, refused, timed out
                self._connections.drop(self.base_url)
                status, reason = 0, repr(failure)
            else:
                reason = f"HTTP {status}"
            if status == 429:
                rate.throttled()
            elif status != 0:
                rate.succeeded()
            if status < 300 and status != 0:
                return Delivery.SENT
            if status == 410:
                return Delivery.GONE
            if status == 413:
                log.warning("%s %s: %d bytes too large, dropped", method, connection_id, len(body))
                return Delivery.TOO_LARGE
            if 400 <= status < 500 and status != 429:  # refused for good (403: bad signature)
                log.error("%s %s refused: %s", method, connection_id, reason)
                return Delivery.FAILED
            delays = throttled if status == 429 else errors
            delay = next(delays, None)
            if delay is None and status == 429:
                return Delivery.REFUSED if throttled_delays else Delivery.THROTTLED
            if delay is None:
                log.warning("%s %s given up: %s", method, connection_id, reason)
                return Delivery.FAILED
            time.sleep(delay * random.uniform(0.5, 1.5))

    def _request(self, method: str, path: str, body: bytes) -> int:
        # Signed with the machine's time, not chalicelib.clock: AWS checks it against its own.
        headers = self._signer.headers(method, self._host, path, body, time.time())
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (f"{method} {path} HTTP/1.1\r\n{lines}Content-Length: {len(body)}\r\n\r\n").encode()
        connection = self._connections.get(self.base_url)
        reused = connection.sock is not None
        try:
            return connection.exchange(head, body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            # The service closed the idle kept-alive connection first: once more, on a new one.
            self._connections.drop(self.base_url)
            return self._connections.get(self.base_url).exchange(head, body)
