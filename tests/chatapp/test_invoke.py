"""Lambda's Invoke on the chatapp port (chatapp.invoke): Lambda's answers and its retries."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from chatapp import invoke
from chatapp.instances import InProcess
from chatapp.invoke import FAILED_FILE, LambdaService
from chatapp.tables import FAKE_CREDENTIALS, REGION

LOCAL = ReadOnlyCredentials(
    FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"], None
)
PAGE = {"room": "big", "connectionIds": ["a="], "frames": [{"type": "pong"}]}


def call(service: LambdaService, name: str, body: dict, invocation_type: str) -> tuple:
    url = f"http://127.0.0.1:8000/2015-03-31/functions/{name}/invocations"
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url, data=data,
                         headers={"X-Amz-Invocation-Type": invocation_type})
    SigV4Auth(LOCAL, "lambda", REGION).add_auth(request)
    headers = {"Host": "127.0.0.1:8000", **dict(request.headers.items())}  # as HTTP sends it
    return service.answer(name, url, headers, data)


def test_an_async_invocation_that_keeps_failing_is_retried_twice_then_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(invoke, "RETRY_DELAYS_SECONDS", (0.01, 0.01))
    attempts = []

    def deliver_to_connections(event, context):
        attempts.append(event)
        raise RuntimeError("the Management API kept failing")

    app = SimpleNamespace(handler_map={"deliver_to_connections": deliver_to_connections})
    with ThreadPoolExecutor(2) as pool:
        service = LambdaService(InProcess(app), pool, LOCAL, REGION, tmp_path)
        status, _, _ = call(service, "chalice-chat-dev-deliver_to_connections", PAGE, "Event")
        assert status == 202
    assert attempts == [PAGE] * 3
    kept = [json.loads(line) for line in (tmp_path / FAILED_FILE).read_text().splitlines()]
    assert kept == [{"function": "deliver_to_connections", "event": PAGE}]
    assert service.kept == 1


def test_a_synchronous_invocation_answers_the_result_and_an_unknown_function_404(tmp_path):
    app = SimpleNamespace(handler_map={"echo": lambda event, context: {"got": event}})
    with ThreadPoolExecutor(1) as pool:
        service = LambdaService(InProcess(app), pool, LOCAL, REGION, tmp_path)
        status, _, body = call(service, "echo", PAGE, "RequestResponse")
        assert (status, json.loads(body)) == (200, {"got": PAGE})
        assert call(service, "nothing_here", PAGE, "Event")[0] == 404
