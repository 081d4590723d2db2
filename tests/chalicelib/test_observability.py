"""The handlers' metrics as CloudWatch would read them: EMF lines on standard output.

Every assertion reads the printed lines (as CloudWatch Logs does), never the
counters behind them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from chalicelib import observability
from tests.support.streams import TableStream

NAMESPACE = "chalice-chat/local"


def emf_lines(output: str) -> list[dict[str, Any]]:
    """The EMF documents among the printed lines."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def metric_values(documents: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    """Every value of the metric `name` written with (at least) these dimension values."""
    found: list[float] = []
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            declared = {d for group in directive["Dimensions"] for d in group}
            if name not in {metric["Name"] for metric in directive["Metrics"]}:
                continue
            if all(key in declared and document.get(key) == value
                   for key, value in dimensions.items()):
                value = document[name]
                found.extend(value if isinstance(value, list) else [value])
    return found


@pytest.fixture(autouse=True)
def fresh_metrics() -> None:
    observability.flush()  # nothing left over from an earlier test


def test_a_message_into_a_room_with_a_gone_and_a_throttled_connection(chat, aws, capsys):
    stream = TableStream(aws, "messages")
    alice, gone, throttled = (chat.join(name, "metrics") for name in ("alice", "bob", "carol"))
    chat.outbox.gone.add(gone)
    chat.outbox.script[throttled] = ["429"]
    chat.send(alice, {"action": "sendMessage", "text": "hello"})
    chat.client.lambda_.invoke("on_new_messages", stream.event())

    written = emf_lines(capsys.readouterr().out)
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in written} == {NAMESPACE}
    assert sum(metric_values(written, "ConnectionsOpened")) == 3
    assert sum(metric_values(written, "MessagesStored")) == 1
    assert sum(metric_values(written, "StreamMessages")) == 1
    assert sum(metric_values(written, "Deliveries", outcome="gone")) == 1
    assert sum(metric_values(written, "Deliveries", outcome="throttled")) >= 1
    assert sum(metric_values(written, "Deliveries", outcome="sent")) >= 2  # alice, then carol
    (lag,) = metric_values(written, "FanoutLag")
    assert 0 <= lag < 60_000
    cold = {d["function"] for d in written if metric_values([d], "ColdStart")}
    assert {"connect", "message", "on_new_messages"} <= cold


def test_a_cold_start_is_counted_once_per_function_and_process(chat, capsys):
    chat.join("dave", "metrics")
    chat.join("dave", "metrics")
    written = emf_lines(capsys.readouterr().out)
    assert sum(metric_values(written, "ColdStart", function="connect")) == 1
    assert sum(metric_values(written, "ConnectionsOpened")) == 2


def test_getchanges_counts_a_catch_up_and_the_changes_it_served(chat, capsys):
    connection = chat.join("erin", "metrics")
    for text in ("one", "two", "three"):
        chat.send(connection, {"action": "sendMessage", "text": text})
    capsys.readouterr()
    (answer,) = chat.send(connection, {"action": "getChanges", "sinceRev": 1})
    assert answer["type"] == "changes"
    written = emf_lines(capsys.readouterr().out)
    assert metric_values(written, "CatchUpRequests", kind="getChanges") == [1.0]
    assert metric_values(written, "ChangesServed") == [2.0]


def test_many_deliveries_make_a_few_lines_not_one_per_post(capsys):
    for _ in range(1000):
        observability.count("Deliveries", outcome="sent")
    observability.flush()
    written = emf_lines(capsys.readouterr().out)
    assert len(written) == 1
    assert metric_values(written, "Deliveries", outcome="sent") == [1000.0]


def json_log_lines(output: str) -> list[dict[str, Any]]:
    """The JSON log lines (Powertools' formatter) among the printed lines."""
    return [json.loads(line) for line in output.splitlines()
            if line.startswith("{") and not line.startswith('{"_aws"')]


@pytest.fixture(params=["1", "0"])
def sample_rate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """POWERTOOLS_LOGGER_SAMPLE_RATE for this test's handlers (read when `aws` resets settings)."""
    monkeypatch.setenv("POWERTOOLS_LOGGER_SAMPLE_RATE", request.param)
    monkeypatch.delenv("LOG_LEVEL", raising=False)  # INFO: debug lines only when sampled
    return str(request.param)


def test_debug_lines_appear_in_sampled_invocations_only(sample_rate, chat, capsys):
    connection = chat.join("frank", "sampled")
    chat.send(connection, {"action": "sendMessage", "text": "debug me"})
    lines = json_log_lines(capsys.readouterr().out)
    debug = [line for line in lines if line["level"] == "DEBUG"]
    if sample_rate == "1":
        assert any(line["message"].startswith("sendMessage from ") for line in debug), lines
        assert all(line["function"] for line in debug)
    else:
        assert debug == []
    assert not any("debug me" in json.dumps(line) for line in lines)  # never the text
    assert logging.getLogger("chalicelib").level != logging.DEBUG  # back after the invocation
