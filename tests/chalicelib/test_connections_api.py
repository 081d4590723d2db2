"""The lean Management API client against chatapp's Management API: AWS's answers, mapped."""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import ssl
import threading

import pytest
from botocore.credentials import ReadOnlyCredentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib import clock, connections_api, lazy, send_rate
from chalicelib.connections_api import Delivery
from chalicelib.protocol import FRAME_MAX_BYTES

CONNECTION = "L0SM9cOF/HcCIhw="  # API Gateway ids may hold '/', '+' and '='


@pytest.fixture
def api(outbox):
    return connections_api.client()


def test_a_post_reaches_the_connection(api, outbox):
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert outbox.posts == [(CONNECTION, b'{"type":"pong"}')]


def test_410_means_the_connection_is_gone(api, outbox):
    outbox.gone.add(CONNECTION)
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.GONE


def test_413_drops_the_frame_without_retrying(api, outbox):
    assert api.post(CONNECTION, b"x" * (FRAME_MAX_BYTES + 1)) is Delivery.TOO_LARGE
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert len(outbox.posts) == 1


def test_a_429_to_a_post_is_answered_at_once_for_the_caller_to_decide(api, outbox):
    outbox.script[CONNECTION] = ["429"]
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.THROTTLED
    assert outbox.posts == []
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT


def test_a_429_slows_the_whole_process_down_and_successes_bring_it_back(api, outbox):
    rate = send_rate.get()
    outbox.script[CONNECTION] = ["429"]
    api.post(CONNECTION, b'{"type":"pong"}')
    assert rate.rate < rate.ceiling and rate.throttles == 1
    slowed = rate.rate
    api.post("other=", b'{"type":"pong"}')
    assert rate.rate > slowed


def test_a_reply_is_retried_until_the_client_takes_it(api, outbox):
    outbox.script[CONNECTION] = ["429", "429"]
    api.send(CONNECTION, '{"type":"pong"}')
    assert outbox.script[CONNECTION] == [] and len(outbox.posts) == 1


def test_a_reply_refused_for_good_is_given_up_for_that_connection(api, outbox):
    outbox.script[CONNECTION] = ["429"] * (len(connections_api.THROTTLED_DELAYS) + 1)
    api.send(CONNECTION, '{"type":"pong"}')
    assert outbox.script[CONNECTION] == []  # every retry was made, then it stopped
    assert outbox.posts == []
    assert api.post("other=", b'{"type":"pong"}') is Delivery.SENT


def test_5xx_is_retried(api, outbox):
    outbox.script[CONNECTION] = ["500"]
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT


def test_5xx_that_never_ends_fails(api, outbox):
    outbox.broken.add(CONNECTION)
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.FAILED


def test_a_post_past_its_deadline_is_not_sent(api, outbox):
    assert api.post(CONNECTION, b'{"type":"pong"}', clock.now_ms() - 1) is Delivery.LATE
    assert outbox.posts == []
    assert api.post(CONNECTION, b'{"type":"pong"}', clock.now_ms() + 60_000) is Delivery.SENT


def test_a_post_whose_retry_would_go_out_past_its_deadline_is_not_sent(api, outbox):
    # The 5xx's retry waits about ERROR_DELAYS[0]; the deadline passes meanwhile.
    outbox.script[CONNECTION] = ["500"]
    assert api.post(CONNECTION, b'{"type":"pong"}', clock.now_ms() + 1) is Delivery.LATE
    assert outbox.posts == []


def test_a_reset_connection_is_retried_on_a_new_one(api, outbox):
    outbox.script[CONNECTION] = ["reset"]
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert outbox.posts == [(CONNECTION, b'{"type":"pong"}')]


def test_delete_closes_the_connection_and_then_it_is_gone(api, outbox):
    assert api.delete(CONNECTION) is Delivery.SENT
    assert outbox.closed == [CONNECTION]
    assert api.delete(CONNECTION) is Delivery.GONE


def test_without_an_api_id_a_websocket_event_names_its_own_endpoint(monkeypatch):
    monkeypatch.delenv(connections_api.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("WEBSOCKET_API_ID", "")
    lazy.reset()
    try:
        url = connections_api.endpoint("abc.execute-api.us-east-1.amazonaws.com", "api")
        assert url == "https://abc.execute-api.us-east-1.amazonaws.com/api"
        with pytest.raises(RuntimeError, match="WEBSOCKET_API_ID"):
            connections_api.endpoint()
    finally:
        lazy.reset()


def test_the_api_id_names_the_stage_endpoint(monkeypatch):
    monkeypatch.delenv(connections_api.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("WEBSOCKET_API_ID", "w1")
    lazy.reset()
    try:
        assert connections_api.endpoint() == "https://w1.execute-api.us-east-1.amazonaws.com/api"
    finally:
        lazy.reset()


class ScriptedServer:
    """A raw HTTP/1.1 server answering each request with the next scripted bytes.

    The framings API Gateway and its proxies may use: a length, chunks, a body
    running to the close, `Connection: close`, no body (204).
    """

    def __init__(self, answers: list[bytes], tls: ssl.SSLContext | None = None) -> None:
        self.answers = list(answers)
        self._tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/api"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_side=True)
            except OSError:  # the client refused our certificate
                sock.close()
                return
        with sock, sock.makefile("rb") as reader:
            while self.answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = int(re.search(rb"Content-Length: (\d+)", head)[1])
                self.requests.append(head + reader.read(length))
                answer = self.answers.pop(0)
                sock.sendall(answer)
                framed = any(mark in answer for mark in (b"Content-Length", b"chunked", b" 204 "))
                if b"Connection: close" in answer or not framed:
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def start(*answers: bytes) -> tuple[ScriptedServer, connections_api.ConnectionsAPI]:
        server = ScriptedServer(list(answers))
        servers.append(server)
        credentials = ReadOnlyCredentials("AKIDLOCAL", "secret", None)
        return server, connections_api.ConnectionsAPI(server.url, "us-east-1", credentials)

    lazy.reset()  # a fresh pool of kept-alive connections
    yield start
    for server in servers:
        server.close()
    lazy.reset()


def test_every_framing_of_an_answer_is_read_and_the_connection_kept_or_reopened(scripted):
    server, api = scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-amzn-RequestId: a\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=1\r\n{}\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 410 Gone\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n{\"runs\": \"to the close\"}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    )
    assert api.post(CONNECTION, b"one") is Delivery.SENT
    assert api.post(CONNECTION, b"two") is Delivery.SENT
    assert api.delete(CONNECTION) is Delivery.SENT
    assert api.post(CONNECTION, b"three") is Delivery.GONE
    assert api.post(CONNECTION, b"four") is Delivery.SENT
    assert api.post(CONNECTION, b"five") is Delivery.SENT
    assert server.connections == 3  # kept alive until a close was asked for or implied
    first = server.requests[0]
    assert first.startswith(b"POST /api/@connections/L0SM9cOF%2FHcCIhw%3D HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 3\r\n\r\none" in first
    assert re.search(rb"\r\nHost: 127\.0\.0\.1:\d+\r\n", first)
    assert b"SignedHeaders=host;x-amz-date, Signature=" in first
    assert server.requests[2].startswith(b"DELETE ") and b"Content-Length: 0\r\n\r\n" in (
        server.requests[2]
    )


def test_a_malformed_answer_is_a_failure_not_a_crash(scripted):
    server, api = scripted(*[b"HTCPCP/1.0 418 I'm a teapot\r\n\r\n"] * 3)
    assert api.post(CONNECTION, b"one") is Delivery.FAILED  # tried, then retried twice
    assert len(server.requests) == 3
    server, api = scripted(*[b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n"] * 3)
    assert api.post(CONNECTION, b"one") is Delivery.FAILED


def self_signed(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 and a client context trusting only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


def test_an_https_endpoint_is_reached_over_verified_tls_and_kept_alive(tmp_path, monkeypatch):
    server_tls, client_tls = self_signed(tmp_path)
    server = ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 2
                            + [b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n"], server_tls)
    lazy.reset()
    monkeypatch.setattr(connections_api, "_tls", lambda: client_tls)
    try:
        credentials = ReadOnlyCredentials("AKIDLOCAL", "secret", None)
        api = connections_api.ConnectionsAPI(server.url, "us-east-1", credentials)
        assert api.post(CONNECTION, b"one") is Delivery.SENT
        assert api.post(CONNECTION, b"two") is Delivery.SENT
        assert api.post(CONNECTION, b"three") is Delivery.GONE
        assert server.connections == 1 and len(server.requests) == 3
        # A certificate nobody vouches for is refused: the post fails, nothing is sent.
        monkeypatch.setattr(connections_api, "_tls", ssl.create_default_context)
        lazy.reset()
        refused = ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], server_tls)
        api = connections_api.ConnectionsAPI(refused.url, "us-east-1", credentials)
        assert api.post(CONNECTION, b"one") is Delivery.FAILED
        assert refused.requests == []
        refused.close()
    finally:
        server.close()
        lazy.reset()
