"""X-Ray traces as the X-Ray daemon would receive them: UDP datagrams on a loopback port.

The handlers run as on Lambda with active tracing: LAMBDA_TASK_ROOT and a
sampled `_X_AMZN_TRACE_ID` set, the X-Ray SDK in its Lambda mode, its
daemon address a UDP socket of this test on 127.0.0.1. Every assertion reads
what arrived there, never the recorder's internals.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import lazy, tracing
from tests.support.streams import TableStream
from tests.support.waiting import wait_until

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PARENT_ID = "53995c3f42cd8ad8"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon; tracing on as a Lambda would have it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.05)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("TRACING", "on")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chalice-chat-test")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE_ID};Parent={PARENT_ID};Sampled=1")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", address)
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    # The SDK picks its Lambda mode when first imported; this process may have imported it before.
    previous = xray_recorder.context
    xray_recorder.configure(context=LambdaContext(), daemon_address=address)
    lazy.reset()  # settings read again: TRACING=on
    try:
        yield listener
    finally:
        lazy.reset()  # the tracer is forgotten and the SDK turned off again
        xray_recorder.configure(context=previous)
        listener.close()


def received(listener: socket.socket) -> list[dict[str, Any]]:
    """Every segment document that arrived so far (header line, then the JSON)."""
    documents = []
    while True:
        try:
            datagram = listener.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = datagram.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def flatten(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each subsegment, including those sent inside their parent."""
    found = []
    stack = list(documents)
    while stack:
        entity = stack.pop()
        found.append(entity)
        stack.extend(entity.get("subsegments", []))
    return found


def test_a_traced_message_has_its_dynamodb_and_management_api_calls_as_subsegments(
    daemon, chat, aws
):
    stream = TableStream(aws, "messages")
    alice = chat.join("alice", "traced")
    bob = chat.join("bob", "traced")
    chat.outbox.gone.add(bob)
    secret_text = "a message text that must never reach a trace"
    chat.send(alice, {"action": "sendMessage", "text": secret_text})
    chat.client.lambda_.invoke("on_new_messages", stream.event())

    documents: list[dict[str, Any]] = []

    def collected() -> bool:
        documents.extend(received(daemon))
        names = {entity["name"] for entity in flatten(documents)}
        return {"## on_new_messages", "deliver_room", "PostToConnection"} <= names

    wait_until(collected, "the stream handler's subsegments", timeout=10)
    entities = flatten(documents)
    assert {entity["trace_id"] for entity in documents} == {TRACE_ID}
    handlers = {e["name"]: e for e in entities if e["name"].startswith("## ")}
    assert {"## connect", "## message", "## on_new_messages"} <= set(handlers)
    assert handlers["## connect"]["annotations"]["ColdStart"] is True
    assert handlers["## on_new_messages"]["annotations"]["function"] == "on_new_messages"

    dynamodb = [e for e in entities if e["name"] == "dynamodb"]
    operations = {e["aws"]["operation"] for e in dynamodb}
    assert {"PutItem", "Query"} <= operations or {"TransactWriteItems", "Query"} <= operations
    assert all(e["namespace"] == "aws" for e in dynamodb)

    posts = [e for e in entities if e["name"] == "PostToConnection"]
    outcomes = sorted(e["annotations"]["outcome"] for e in posts)
    assert "gone" in outcomes and "sent" in outcomes
    assert all(e["namespace"] == "remote" and e["annotations"]["connections"] == 1 for e in posts)
    (room,) = [e for e in entities if e["name"] == "deliver_room"
               and not e["annotations"]["ephemeral"]]
    assert room["annotations"]["connections"] == 2

    everything = json.dumps(documents)
    assert secret_text not in everything
    assert os.environ["JWT_SECRET"] not in everything


def test_tracing_off_imports_no_tracer(chat):
    chat.join("carol", "untraced")
    assert not tracing.enabled()
    with tracing.subsegment("anything", connections=3) as span:
        span.annotate(outcome="sent")  # a no-op, not an error
