"""The Management API on the chatapp port: API Gateway's answers, to signed requests only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from chalicelib import errors, lazy
from chalicelib.connections_api import ConnectionsAPI, Delivery
from chatapp.faults import Faults, from_environment
from chatapp.management import FRAME_MAX_BYTES, BufferFull, Gone, ManagementAPI
from chatapp.tables import FAKE_CREDENTIALS, REGION
from tests.support.management_server import serve_management_api

CONNECTION = "L0SM9cOF/HcCIhw="  # API Gateway ids may hold '/', '+' and '='
LOCAL = ReadOnlyCredentials(
    FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"], None
)


class FakeConnections:
    def __init__(self, *open_ids: str) -> None:
        self.open = set(open_ids)
        self.full: set[str] = set()
        self.posted: list[tuple[str, bytes]] = []
        self.deleted: list[str] = []

    def _check(self, connection_id: str) -> None:
        if connection_id not in self.open:
            raise Gone(connection_id)

    def post(self, connection_id: str, data: bytes) -> None:
        self._check(connection_id)
        if connection_id in self.full:
            raise BufferFull(connection_id)
        self.posted.append((connection_id, data))

    def delete(self, connection_id: str) -> None:
        self._check(connection_id)
        self.deleted.append(connection_id)

    def info(self, connection_id: str) -> dict[str, Any]:
        self._check(connection_id)
        return {"connected_at": 1_700_000_000.5, "last_active_at": 1_700_000_100.0,
                "source_ip": "127.0.0.1", "user_agent": "pytest"}


@pytest.fixture
def served(monkeypatch):
    """(connections, endpoint): the Management API over FakeConnections, local credentials."""
    for name, value in (("AWS_ACCESS_KEY_ID", LOCAL.access_key),
                        ("AWS_SECRET_ACCESS_KEY", LOCAL.secret_key)):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    connections = FakeConnections(CONNECTION)
    with serve_management_api(connections) as endpoint:
        yield connections, endpoint
    lazy.reset()


def api(endpoint: str, credentials: ReadOnlyCredentials = LOCAL) -> ConnectionsAPI:
    return ConnectionsAPI(endpoint, REGION, credentials)


def raw(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_signed_post_reaches_the_connection(served):
    connections, endpoint = served
    assert api(endpoint).post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert connections.posted == [(CONNECTION, b'{"type":"pong"}')]


def test_gone_too_large_and_full_buffer_answer_410_413_429(served):
    connections, endpoint = served
    assert api(endpoint).post("gone=", b"{}") is Delivery.GONE
    assert api(endpoint).post(CONNECTION, b"x" * (FRAME_MAX_BYTES + 1)) is Delivery.TOO_LARGE
    connections.full.add(CONNECTION)
    url = f"{endpoint}/@connections/{quote(CONNECTION, safe='')}"
    assert signed_status("POST", url, b"{}", LOCAL) == 429
    assert connections.posted == []


def answer(api: ManagementAPI, method: str) -> tuple[int, dict[str, str], bytes]:
    """One signed request for CONNECTION, answered by `api` without a server."""
    url = f"http://127.0.0.1:9/@connections/{quote(CONNECTION, safe='')}"
    body = b"{}" if method == "POST" else b""
    headers = {"Host": "127.0.0.1:9", **signed_headers(method, url, body, LOCAL)}
    return api.answer(method, url, urlsplit(url).path, headers, body)


@pytest.mark.parametrize(("raised", "status", "error_type"), [
    (Gone, 410, "GoneException"), (BufferFull, 429, "LimitExceededException"),
])
def test_the_stand_ins_own_errors_are_answered_as_api_gateway_answers_them(
    raised, status, error_type
):
    class Refusing(FakeConnections):
        def post(self, connection_id: str, data: bytes) -> None:
            raise raised(connection_id)

    answered, headers, body = answer(ManagementAPI(Refusing(CONNECTION), LOCAL, REGION), "POST")
    assert (answered, headers["x-amzn-ErrorType"]) == (status, error_type)
    assert json.loads(body)["message"]


def test_a_domain_error_is_not_mistaken_for_a_gone_connection():
    class Failing(FakeConnections):
        def post(self, connection_id: str, data: bytes) -> None:
            raise errors.ConnectionGone("a handler's error, not the service's answer")

    with pytest.raises(errors.ConnectionGone):  # the HTTP server answers it 500
        answer(ManagementAPI(Failing(CONNECTION), LOCAL, REGION), "POST")


def test_the_delete_throttled_fault_answers_the_first_deletes_429():
    connections = FakeConnections(CONNECTION)
    api = ManagementAPI(connections, LOCAL, REGION, delete_throttled=2)
    statuses = [answer(api, method)[0] for method in ("DELETE", "POST", "DELETE", "DELETE")]
    assert statuses == [429, 200, 429, 204]
    assert connections.deleted == [CONNECTION]
    assert from_environment({"CHATAPP_FAULTS": "delete-throttled=2"}) == Faults(delete_throttled=2)
    with pytest.raises(ValueError, match="delete-throttled=N"):
        from_environment({"CHATAPP_FAULTS": "delete-throttled=many"})


def test_delete_closes_and_get_describes_the_connection(served):
    connections, endpoint = served
    url = f"{endpoint}/@connections/{quote(CONNECTION, safe='')}"
    assert signed_status("GET", url, b"", LOCAL) == 200
    assert api(endpoint).delete(CONNECTION) is Delivery.SENT
    assert connections.deleted == [CONNECTION]


def test_an_unsigned_request_from_a_web_page_posts_nothing(served):
    connections, endpoint = served
    url = f"{endpoint}/@connections/{quote(CONNECTION, safe='')}"
    assert raw("POST", url, b'{"type":"message"}', {"Content-Type": "text/plain"}) == 403
    assert connections.posted == []


def test_a_request_signed_with_other_credentials_posts_nothing(served):
    connections, endpoint = served
    stranger = ReadOnlyCredentials(LOCAL.access_key, "not-the-local-secret", None)
    url = f"{endpoint}/@connections/{quote(CONNECTION, safe='')}"
    assert signed_status("POST", url, b"{}", stranger) == 403
    assert connections.posted == []


def test_a_body_changed_after_signing_posts_nothing(served):
    connections, endpoint = served
    url = f"{endpoint}/@connections/{quote(CONNECTION, safe='')}"
    headers = signed_headers("POST", url, b'{"type":"pong"}', LOCAL)
    assert raw("POST", url, b'{"type":"evil"}', headers) == 403
    assert connections.posted == []


def signed_headers(method: str, url: str, body: bytes, credentials) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
    return dict(request.headers.items())


def signed_status(method: str, url: str, body: bytes, credentials) -> int:
    return raw(method, url, body, signed_headers(method, url, body, credentials))
