"""Lambda's instances, locally (chatapp.instances): the handlers run in worker processes.

`chatapp serve --instances 2 --verbose` logs a line per invocation with the
instance's index, its pid and how many invocations that instance has run, and
CHATAPP_FAULTS=clock-skew=MS runs instance i's clock i * MS ahead: a message's
`sentAt` says which instance's clock made it. Concurrent invocations must land
on different processes; each process keeps its state (its clock offset, its
count, app.py imported once) across invocations.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from chatapp.faults import Faults, from_environment
from tests.support.chatclient import ChatClient, signup, unique
from tests.support.localserver import LocalServer, server_fixture

SLOW = "INSTANCE-SLOW-MARK"
SLOW_MS = 1500
SKEW_MS = 60_000  # instance 1 runs a minute ahead: far beyond any delay in this test
INVOCATION = re.compile(
    r"(?P<function>\w+) on instance (?P<index>\d+) \(pid (?P<pid>\d+)\): "
    r"invocation (?P<count>\d+) of this instance"
)


server = server_fixture(
    "--instances", "2", "--verbose", faults=f"slow-write={SLOW_MS}@{SLOW},clock-skew={SKEW_MS}"
)


def report(server: LocalServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/_local/instances.json", timeout=10) as answer:
        return json.load(answer)


def invocations(log: str, function: str | None = None) -> list[dict[str, Any]]:
    """The invocation lines of a log, as dicts (index, pid and count as ints)."""
    found = [
        {**match.groupdict(), **{k: int(match[k]) for k in ("index", "pid", "count")}}
        for match in INVOCATION.finditer(log)
    ]
    return [line for line in found if function is None or line["function"] == function]


def skew_s(message: dict[str, Any], received_at: float) -> float:
    """How far ahead of this machine's clock the writer's clock was, in seconds."""
    sent = datetime.fromisoformat(message["sentAt"].replace("Z", "+00:00")).timestamp()
    return sent - received_at


def next_messages(client: ChatClient, *texts: str) -> list[tuple[dict[str, Any], float]]:
    """The messages with these texts, in whatever order they come, each with when it came."""
    got: dict[str, tuple[dict[str, Any], float]] = {}

    def all_came(frame: dict[str, Any]) -> bool:
        assert frame["type"] != "error", frame
        if frame["type"] == "message" and frame["message"]["text"] in texts:
            got[frame["message"]["text"]] = frame["message"], time.time()
        return len(got) == len(texts)

    client.recv_until(all_came, timeout=30)
    return [got[text] for text in texts]


def test_two_concurrent_invocations_run_on_different_instances(server):
    pids = {i["pid"] for i in report(server)["instances"]}
    assert len(pids) == 2
    room = unique("instances")
    (_, alice_token), (_, bob_token) = signup(server.api_url), signup(server.api_url)
    with ChatClient(server.ws_url, alice_token, room) as alice, \
            ChatClient(server.ws_url, bob_token, room) as bob:
        mark = len(server.logs())
        # Both writes are held by the database: the two invocations overlap.
        alice.send("sendMessage", text=f"alice {SLOW}")
        bob.send("sendMessage", text=f"bob {SLOW}")
        got = next_messages(alice, f"alice {SLOW}", f"bob {SLOW}")  # either may commit first
    sends = invocations(server.logs()[mark:], "message")
    assert len(sends) == 2, sends
    assert {line["pid"] for line in sends} == pids  # one on each instance
    # Each message took the time of its own instance's clock: one of them a minute ahead.
    offsets = sorted(skew_s(message, received) for message, received in got)
    assert offsets[0] < SKEW_MS / 2000 < offsets[1] < SKEW_MS * 1.5 / 1000, offsets


def test_each_instance_keeps_its_state_across_invocations(server):
    before = report(server)["instances"]
    room = unique("state")
    _, token = signup(server.api_url)
    mark = len(server.logs())
    ahead = 0
    with ChatClient(server.ws_url, token, room) as client:
        for n in range(8):  # one at a time: consecutive invocations, whichever instance
            client.send("sendMessage", text=f"m{n}")
            ((message, received),) = next_messages(client, f"m{n}")
            ahead += skew_s(message, received) > SKEW_MS / 2000
    log = server.logs()
    sends = invocations(log[mark:], "message")
    assert len(sends) == 8
    # Instance 1's clock offset, set once when it started, held for every one of its sends.
    assert ahead == sum(line["index"] == 1 for line in sends)
    after = report(server)["instances"]
    # Same processes as before (never restarted), each importing app.py once, and each
    # counting its own invocations on from where it was: 1, 2, 3, ...
    assert [i["pid"] for i in after] == [i["pid"] for i in before]
    for instance in after:
        assert log.count(f"(pid {instance['pid']}): app.py imported") == 1
        counts = [line["count"] for line in invocations(log) if line["pid"] == instance["pid"]]
        assert counts == list(range(1, len(counts) + 1))


def test_the_clock_skew_fault_is_parsed():
    assert from_environment({"CHATAPP_FAULTS": "clock-skew=40"}) == Faults(clock_skew_ms=40)
    with pytest.raises(ValueError, match="clock-skew=MS"):
        from_environment({"CHATAPP_FAULTS": "clock-skew=-5"})
